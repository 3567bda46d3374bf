"""LiveMix's ``POST /v1/playlist``: a playlist whose segments hlsd fetches itself from
the ``MPEG-TS-URI-Prefix`` the sender names (``file://`` or ``http(s)://``).

Only the segments the stream has not committed yet are fetched, each looked up within
its own source. They then go through the same commit as HTTP push, so the window,
sequence numbers, discontinuities and times follow the same rules. ``file://`` reads
are confined to the configured roots: a sender can never make hlsd read any other file.
``http(s)://`` fetches go through the outbound policy (`hlsd.infra.guarded_http`): a
sender can never make hlsd fetch from its own loopback or the private network behind it,
unless ``fetch.allow`` says so; a refusal is a 403.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import httpx

from hlsd.hls import PlaylistError, parse_media
from hlsd.infra.bounded import read_file, read_response
from hlsd.infra.guarded_http import FetchRefused, check_url
from hlsd.infra.outbound import FetchPolicy
from hlsd.ingest.errors import MalformedPush, PushForbidden
from hlsd.ingest.http_push import Accepted, HttpPushIngest, Publisher
from hlsd.streams import PublisherKind

PLAYLIST_PATH = "index.m3u8"
_MAX_SETTING = "live.max_segment_bytes"


class LiveMixIngest:
    def __init__(self, push: HttpPushIngest, *, client: httpx.Client, policy: FetchPolicy,
                 file_roots: tuple[Path, ...], max_segment_bytes: int) -> None:
        """`client` obeys `policy` (a guarded client); `policy` also refuses a prefix
        whose host is a refused address before anything is fetched."""
        self._push = push
        self._client = client
        self._policy = policy
        self._roots = tuple(root.resolve() for root in file_roots)
        self._max = max_segment_bytes

    async def receive(self, stream: str, body: bytes, prefix: str,
                      publisher: Publisher) -> Accepted:
        publisher = dataclasses.replace(publisher, kind=PublisherKind.LIVEMIX)
        try:
            playlist = parse_media(body.decode("utf-8"))
        except (UnicodeDecodeError, PlaylistError, ValueError) as exc:
            raise MalformedPush(f"unable to parse sent playlist: {exc}") from exc
        base = prefix if prefix.endswith("/") else prefix + "/"
        scheme = urlsplit(base).scheme
        if scheme not in ("file", "http", "https"):
            raise MalformedPush("MPEG-TS-URI-Prefix must be file://, http:// or https://")
        if scheme != "file":
            # A host spelled as a refused address is refused at once (names, and every
            # segment's own URL, are checked as each connection is made).
            try:
                check_url(self._policy, base)
            except FetchRefused as exc:
                raise PushForbidden(str(exc)) from exc
        for uri in self._push.uncommitted(stream, PLAYLIST_PATH, playlist):
            name = uri.split("?")[0]
            self._push.admit_upload(stream, name, publisher)
            data = await asyncio.to_thread(self._read, urljoin(base, uri), scheme)
            self._push.receive_upload(stream, name, data, publisher)
        return await self._push.receive_playlist(stream, PLAYLIST_PATH, body, publisher)

    def _read(self, url: str, scheme: str) -> bytes:
        if scheme == "file":
            return self._read_file(Path(unquote(urlsplit(url).path)))
        try:
            with self._client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise MalformedPush(f"segment {url} answered {response.status_code}")
                return read_response(response, self._max, what=f"segment {url}",
                                     setting=_MAX_SETTING)
        except FetchRefused as exc:
            raise PushForbidden(str(exc)) from exc
        except httpx.HTTPError as exc:
            raise MalformedPush(f"segment {url} could not be fetched: "
                                f"{type(exc).__name__}") from exc
        except httpx.InvalidURL as exc:
            raise MalformedPush(f"segment {url} is not a valid URL: {exc}") from exc

    def _read_file(self, path: Path) -> bytes:
        real = Path(os.path.realpath(path))
        if not any(real.is_relative_to(root) for root in self._roots):
            raise PushForbidden("file:// segments must lie under a configured "
                                "livemix.file_roots folder")
        try:
            if not real.is_file():
                raise MalformedPush(f"segment {path.name} does not exist")
            return read_file(real, self._max, what=f"segment {path.name}",
                             setting=_MAX_SETTING)
        except OSError as exc:
            raise MalformedPush(f"segment {path.name} cannot be read") from exc
