"""``hlsd publish … --to http://…``: ffmpeg pushes HLS to ``/ingest/{stream}/`` itself
(``-method PUT``), with the publish key as a bearer token.

ffmpeg never reads the answers to its uploads: pushed with a wrong key it would go on
for ever while the server refuses every upload. So `check_publish` asks first, with a
request authorised exactly as a push is and that changes nothing: ``DELETE
/ingest/{stream}/hlsd-publish-check`` (a delete forgets an upload no playlist has named;
no publisher uploads that name). 2xx: the key may publish; 401/403: it may not; 400: the
stream id is refused. Any other answer (a server that is not hlsd) does not stop it.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx

from hlsd.client.segmenter import encode_args

__all__ = ["CHECK_NAME", "PushRefused", "PushUnreachable", "check_publish",
           "http_push_command"]

CHECK_NAME = "hlsd-publish-check"


class PushRefused(Exception):
    """The server will not take this push: the key (`key_problem`), or the stream id."""

    def __init__(self, message: str, *, key_problem: bool) -> None:
        super().__init__(message)
        self.key_problem = key_problem


class PushUnreachable(Exception):
    """No answer from the server."""


def check_publish(http: httpx.Client, stream: str, *, key: str | None) -> None:
    """Raise `PushRefused` if the server refuses pushes to `stream` with `key` (which
    `http` sends as its bearer token), `PushUnreachable` if it does not answer."""
    path = f"/ingest/{quote(stream, safe='')}/{CHECK_NAME}"
    try:
        response = http.delete(path)
    except httpx.TransportError as exc:
        raise PushUnreachable(f"cannot reach {http.base_url}: "
                              f"{exc or type(exc).__name__}") from exc
    status = response.status_code
    if status in (401, 403):
        reason = f"{status} {_reason(response)}"
        if key:
            raise PushRefused(f"the server refused the publish key ({reason}): check --key "
                              "(or HLSD_PUBLISH_KEY) against its live.publish_keys",
                              key_problem=True)
        raise PushRefused(f"the server refused a publish without a key ({reason}): give "
                          "one of its live.publish_keys with --key or HLSD_PUBLISH_KEY",
                          key_problem=True)
    if status == 400:
        raise PushRefused(f"the server refused the stream id {stream!r} "
                          f"({_reason(response)})", key_problem=False)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return " ".join(body["error"].split())[:300]
    return response.reason_phrase or "refused"


def http_push_command(source: str, base_url: str, stream: str, *, key: str | None,
                      loop: bool, segment_seconds: float, copy: bool) -> list[str]:
    target = f"{base_url.rstrip('/')}/ingest/{quote(stream, safe='')}/index.m3u8"
    args = encode_args(source, loop=loop, segment_seconds=segment_seconds, copy=copy)
    if key:
        args += ["-headers", f"Authorization: Bearer {key}\r\n"]
    return [*args, "-f", "hls", "-hls_time", f"{segment_seconds:g}", "-hls_list_size", "6",
            "-hls_flags", "program_date_time+independent_segments", "-method", "PUT",
            "-http_persistent", "0", target]
