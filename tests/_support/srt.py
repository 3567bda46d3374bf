"""SRT tests: libsrt (Debian's libsrt1.5-openssl) in this process, ffmpeg's own libsrt as
the publisher.

`srt_test` marks a module or test that needs libsrt. Where it is missing the test is
skipped with the reason, except under CI (``CI`` set, as ``.ci/run`` does, which also
installs the package) or with ``HLSD_TEST_REQUIRE_SRT=1``: then it runs and fails, saying
what to install, rather than passing unseen.
"""

from __future__ import annotations

import asyncio
import os
from urllib.parse import quote

import pytest

from hlsd.ingest.srt import srt_available
from tests._support.media import FFMPEG

__all__ = ["REQUIRE_ENV", "Published", "publish", "srt_test"]

REQUIRE_ENV = "HLSD_TEST_REQUIRE_SRT"


def _required() -> bool:
    return any(os.environ.get(name, "").lower() not in ("", "0", "false")
               for name in ("CI", REQUIRE_ENV))


srt_test = [
    pytest.mark.skipif(
        not srt_available() and not _required(),
        reason="SRT tests need libsrt: apt-get install libsrt1.5-openssl (.ci/run does)",
    ),
]

H264_AAC = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
            "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k"]
"""A test pattern and a tone, encoded live (``-re``) as H.264 and AAC."""

SILENT = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=0.05", "-c:v", "mpeg2video"]
"""A picture every 20 s: a publisher that connects, then says (almost) nothing."""


class Published:
    """An ffmpeg publishing to ``srt://127.0.0.1:<port>?streamid=<stream_id>``."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def finished(self, timeout: float = 20.0) -> tuple[int, str]:
        """ffmpeg's exit code and what it wrote to stderr."""
        _, err = await asyncio.wait_for(self.process.communicate(), timeout)
        assert self.process.returncode is not None
        return self.process.returncode, err.decode(errors="replace")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.communicate()


async def publish(port: int, stream_id: str, *, seconds: float = 1.0,
                  source: list[str] = H264_AAC, options: str = "",
                  host: str = "127.0.0.1") -> Published:
    """Start ffmpeg publishing `seconds` of `source` as MPEG-TS in real time. The stream
    id is URL-encoded in the URL (ffmpeg decodes it), so ``#!::`` forms pass whole;
    `options` are more of ffmpeg's ``srt://`` query (``&passphrase=…``)."""
    url = f"srt://{host}:{port}?streamid={quote(stream_id, safe='')}{options}"
    process = await asyncio.create_subprocess_exec(
        FFMPEG, "-hide_banner", "-nostdin", "-loglevel", "warning", "-re", *source,
        "-t", f"{seconds:g}", "-f", "mpegts", "-flush_packets", "1", url,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    return Published(process)
