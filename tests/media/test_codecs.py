from __future__ import annotations

import pytest

from hlsd.media.codecs import aac_string, av1_string, avc_string, hvc_string
from hlsd.media.encoders import fit_size, h264_level


def test_avc_from_avcc_and_annexb() -> None:
    assert avc_string(b"\x01\x64\x00\x1f\xff\xe1", None, None) == "avc1.64001f"
    annexb = b"\x00\x00\x00\x01\x67\x4d\x40\x28\xaa" + b"\x00\x00\x01\x68\xee"
    assert avc_string(annexb, None, None) == "avc1.4d4028"
    assert avc_string(None, "Constrained Baseline", 30) == "avc1.42401e"


def test_hvc_from_hvcc() -> None:
    # general: Main profile, compatibility flags 0x60000000, constraints 0xB0, level 93
    hvcc = bytes([1, 0x01, 0x60, 0, 0, 0, 0xB0, 0, 0, 0, 0, 0, 93, 0xF0])
    assert hvc_string(hvcc) == "hvc1.1.6.L93.B0"
    main10_high = bytes([1, 0x22, 0x20, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 120, 0xF0])
    assert hvc_string(main10_high) == "hvc1.2.4.H120.90"


def test_av1_from_av1c() -> None:
    # marker+version, profile 0 level 8 (4.0), tier 0, 8 bit; then 10-bit, high tier
    assert av1_string(bytes([0x81, 0x08, 0x0C, 0x00])) == "av01.0.08M.08"
    assert av1_string(bytes([0x81, 0x2D, 0xC0, 0x00])) == "av01.1.13H.10"
    assert av1_string(b"") == "av01.0.04M.08"


def test_aac_object_type() -> None:
    assert aac_string(b"\x11\x90", None) == "mp4a.40.2"  # AAC-LC, 48 kHz
    assert aac_string(b"\x2b\x92\x08\x00", None) == "mp4a.40.5"  # explicit HE-AAC
    assert aac_string(None, "HE-AAC") == "mp4a.40.5"
    # ADTS can only signal SBR and PS implicitly: the AudioSpecificConfig says AAC-LC
    # (at the core's 24 kHz), the decoder found HE-AAC.
    assert aac_string(b"\x13\x08", "HE-AAC") == "mp4a.40.5"
    assert aac_string(b"\x13\x08", "HE-AACv2") == "mp4a.40.29"
    assert aac_string(b"\x13\x08", "LC") == "mp4a.40.2"
    assert aac_string(b"\x2b\x92\x08\x00", "HE-AAC") == "mp4a.40.5"
    assert aac_string(b"\x08\x10", "Main") == "mp4a.40.1"


@pytest.mark.parametrize(
    ("size", "fitted"),
    [((320, 240), (320, 240)), ((3840, 2160), (1920, 1080)), ((1080, 1920), (1080, 1920)),
     ((2160, 3840), (1080, 1920)), ((1000, 3000), (640, 1920)), ((721, 405), (720, 404))],
)
def test_fit_size(size: tuple[int, int], fitted: tuple[int, int]) -> None:
    assert fit_size(*size) == fitted


def test_h264_level() -> None:
    assert h264_level(320, 240, 25, 400_000) == 30
    assert h264_level(1280, 720, 30, 3_000_000) == 31
    assert h264_level(1280, 720, 60, 6_000_000) == 32
    assert h264_level(1920, 1080, 30, 7_000_000) == 40
    assert h264_level(1920, 1080, 60, 8_000_000) == 42
