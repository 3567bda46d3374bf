from __future__ import annotations

from pathlib import Path

import pytest

from hlsd.media import MediaError, probe
from tests._support import media as fx
from tests.media.conftest import MediaFiles, mp3_with_cover, still_png


def test_h264_aac_mp4(media: MediaFiles) -> None:
    info = probe(media("h264_aac_mp4"))
    assert info.duration == pytest.approx(8.0, abs=0.05)
    assert info.start_time == pytest.approx(0.0, abs=0.05)
    assert info.format_name.startswith("mov,")
    assert info.video is not None and info.audio is not None
    assert (info.video.codec, info.video.width, info.video.height) == ("h264", 320, 240)
    assert info.video.frame_rate == pytest.approx(25.0)
    assert info.video.bit_rate and info.video.bit_rate > 0
    assert (info.audio.codec, info.audio.sample_rate, info.audio.channels) == ("aac", 48000, 1)
    assert info.bit_rate and info.bit_rate > 0


@pytest.mark.parametrize(
    ("kind", "video", "audio", "duration"),
    [
        ("h264_mp3_mp4", "h264", "mp3", 6.0),
        ("wav", None, "pcm_s16le", 8.0),
        ("mp3", None, "mp3", 8.0),  # the codec, not the decoder's name ("mp3float")
        ("flac", None, "flac", 8.0),
        ("ogg_opus", None, "opus", 8.0),
        ("vp9_opus_webm", "vp9", "opus", 6.0),
    ],
)
def test_each_kind(media: MediaFiles, kind: str, video: str | None, audio: str,
                   duration: float) -> None:
    info = probe(media(kind))
    assert (info.video.codec if info.video else None) == video
    assert info.audio is not None and info.audio.codec == audio
    assert info.audio.sample_rate == 48000
    assert info.duration == pytest.approx(duration, abs=0.05)


def test_text_file_is_not_media(tmp_path: Path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("just some words\nand more words\n")
    with pytest.raises(MediaError, match="not a media file"):
        probe(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(MediaError):
        probe(path)


def test_truncated_mp4(media: MediaFiles, tmp_path: Path) -> None:
    # faststart keeps the sample table, which then points past the end of the file
    cut = fx.truncated(media("h264_aac_mp4"), tmp_path / "cut.mp4")
    with pytest.raises(MediaError, match="truncated"):
        probe(cut)


def test_truncated_mp4_without_moov(tmp_path: Path) -> None:
    src = fx.h264_aac_mp4(tmp_path / "slow.mp4", seconds=2, faststart=False)
    with pytest.raises(MediaError, match="truncated"):
        probe(fx.truncated(src, tmp_path / "cut.mp4"))


def test_truncated_flac(media: MediaFiles, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="truncated"):
        probe(fx.truncated(media("flac"), tmp_path / "cut.flac"))


def test_subtitles_alone_are_not_playable(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no audio or video stream"):
        probe(fx.vtt(tmp_path / "subs.vtt"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MediaError):
        probe(tmp_path / "nope.mp4")


def test_mp3_cover_art_is_not_video(tmp_path: Path) -> None:
    info = probe(mp3_with_cover(tmp_path / "song.mp3"))
    assert info.video is None
    assert info.audio is not None and info.audio.codec == "mp3"


def test_still_image_is_not_media(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="not a media file"):
        probe(still_png(tmp_path / "image.png"))


def test_mpegts_timeline_origin(media: MediaFiles) -> None:
    info = probe(media("h264_aac_ts"))
    assert info.start_time == pytest.approx(1.4, abs=0.1)  # ffmpeg's own muxer offset
    assert info.duration == pytest.approx(8.0, abs=0.1)
