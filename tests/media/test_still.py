"""`media.still`: a live segment's first picture as a small JPEG, from segments ffmpeg's
HLS muxer wrote (MPEG-TS, and fMP4 with its init section)."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from hlsd.media.errors import MediaError
from hlsd.media.still import still_jpeg
from tests._support.media import hls_folder

VIDEO = ["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2"]
AUDIO = ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2"]


def _picture(jpeg: bytes | None) -> tuple[int, int]:
    assert jpeg is not None and jpeg[:2] == b"\xff\xd8"  # a JPEG's start of image
    with av.open(io.BytesIO(jpeg)) as image:
        frame = next(image.decode(video=0))
    return frame.width, frame.height


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("still")
    hls_folder(root / "ts", *VIDEO, *AUDIO)
    hls_folder(root / "fmp4", *VIDEO, fmp4=True)
    hls_folder(root / "audio", *AUDIO)
    hls_folder(root / "small", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1")
    # 4:3 samples on a 480x360 frame: shown 640 wide (anamorphic SD).
    hls_folder(root / "anamorphic", *VIDEO, video_filter="scale=480:360,setsar=4/3")
    return root


def test_an_mpeg_ts_segment_gives_a_320_pixel_jpeg(media: Path) -> None:
    assert _picture(still_jpeg((media / "ts" / "seg-1.ts").read_bytes())) == (320, 180)


def test_an_fmp4_segment_is_read_with_its_init_section(media: Path) -> None:
    init = (media / "fmp4" / "init.mp4").read_bytes()
    segment = (media / "fmp4" / "seg-1.m4s").read_bytes()
    assert _picture(still_jpeg(segment, init=init)) == (320, 180)
    assert _picture(still_jpeg(segment, init=init, width=160)) == (160, 90)


def test_a_narrow_video_is_not_enlarged(media: Path) -> None:
    assert _picture(still_jpeg((media / "small" / "seg-0.ts").read_bytes())) == (160, 120)


def test_the_display_aspect_is_kept(media: Path) -> None:
    assert _picture(still_jpeg((media / "anamorphic" / "seg-0.ts").read_bytes())) == (320, 180)


def test_audio_only_gives_none(media: Path) -> None:
    assert still_jpeg((media / "audio" / "seg-0.ts").read_bytes()) is None


def test_what_is_no_media_is_a_media_error() -> None:
    with pytest.raises(MediaError, match="cannot be decoded"):
        still_jpeg(b"\x47" + b"\x00" * 187 * 3)
    with pytest.raises(MediaError):
        still_jpeg(b"not a segment at all" * 20)
