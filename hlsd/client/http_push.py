"""``hlsd publish … --to http://…``: ffmpeg pushes HLS to ``/ingest/{stream}/`` itself
(``-method PUT``), with the publish key as a bearer token."""

from __future__ import annotations

from urllib.parse import quote

from hlsd.client.segmenter import encode_args


def http_push_command(source: str, base_url: str, stream: str, *, key: str | None,
                      loop: bool, segment_seconds: float, copy: bool) -> list[str]:
    target = f"{base_url.rstrip('/')}/ingest/{quote(stream, safe='')}/index.m3u8"
    args = encode_args(source, loop=loop, segment_seconds=segment_seconds, copy=copy)
    if key:
        args += ["-headers", f"Authorization: Bearer {key}\r\n"]
    return [*args, "-f", "hls", "-hls_time", f"{segment_seconds:g}", "-hls_list_size", "6",
            "-hls_flags", "program_date_time+independent_segments", "-method", "PUT",
            "-http_persistent", "0", target]
