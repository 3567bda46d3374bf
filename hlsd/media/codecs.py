"""RFC 6381 codec strings (the HLS CODECS attribute) for tracks copied as they are."""

from __future__ import annotations

_AAC_PROFILES = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "LTP": 4}
_H264_PROFILE_IDC = {
    "Baseline": 66, "Constrained Baseline": 66, "Main": 77, "Extended": 88, "High": 100,
    "High 10": 110, "High 4:2:2": 122, "High 4:4:4 Predictive": 244,
}


def avc_string(extradata: bytes | None, profile: str | None, level: int | None) -> str:
    """``avc1.PPCCLL`` from the avcC record, or from in-band SPS bytes (Annex B)."""
    sps = _avc_sps_head(extradata or b"")
    if sps is not None:
        return "avc1." + sps.hex()
    profile_idc = _H264_PROFILE_IDC.get(profile or "", 100)
    constraints = 0x40 if profile == "Constrained Baseline" else 0
    return f"avc1.{profile_idc:02x}{constraints:02x}{(level or 31) & 0xFF:02x}"


def _avc_sps_head(data: bytes) -> bytes | None:
    if len(data) >= 4 and data[0] == 1:  # avcC: version, profile, constraints, level
        return data[1:4]
    for nal in _annexb_nals(data):
        if nal and nal[0] & 0x1F == 7 and len(nal) >= 4:
            return nal[1:4]
    return None


def hvc_string(extradata: bytes | None) -> str:
    """``hvc1.P.C.TL.B`` from the hvcC record (ISO/IEC 14496-15 annex E)."""
    ptl = _hevc_ptl(extradata or b"")
    if ptl is None:
        return "hvc1.1.6.L93.B0"  # Main profile, level 3.1: a safe default
    space = ("", "A", "B", "C")[ptl[0] >> 6]
    tier = "H" if ptl[0] & 0x20 else "L"
    profile_idc = ptl[0] & 0x1F
    compat = int.from_bytes(ptl[1:5], "big")
    compat_rev = int(f"{compat:032b}"[::-1], 2)
    constraints = list(ptl[5:11])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [f"hvc1.{space}{profile_idc}", f"{compat_rev:x}", f"{tier}{ptl[11]}"]
    parts += [f"{b:X}" for b in constraints]
    return ".".join(parts)


def _hevc_ptl(data: bytes) -> bytes | None:
    """The 12 general profile/tier/level bytes."""
    if len(data) >= 13 and data[0] == 1:
        return data[1:13]
    for nal in _annexb_nals(data):
        if len(nal) >= 15 and (nal[0] >> 1) & 0x3F == 33:  # SPS
            return _unescape(nal[2:20])[1:13]
    return None


def _annexb_nals(data: bytes) -> list[bytes]:
    chunks = data.split(b"\x00\x00\x01")
    return [c.rstrip(b"\x00") for c in chunks[1:]] if len(chunks) > 1 else []


def _unescape(rbsp: bytes) -> bytes:
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


def aac_string(extradata: bytes | None, profile: str | None) -> str:
    """``mp4a.40.N`` with N the audio object type (2 = AAC-LC, 5 = HE-AAC, 29 = HE-AAC
    v2), from the AudioSpecificConfig, else from the decoder's `profile`."""
    if extradata and len(extradata) >= 2:
        aot = extradata[0] >> 3
        if aot == 31:
            aot = 32 + ((extradata[0] & 0x07) << 3 | extradata[1] >> 5)
        if aot == 2 and profile in ("HE-AAC", "HE-AACv2"):
            # SBR (and PS) signalled implicitly (ADTS can only) or after an AAC-LC
            # core, found by the decoder: said as HE-AAC all the same, as HLS asks,
            # and as Chromium's MSE needs to play implicit SBR at its doubled rate.
            aot = _AAC_PROFILES[profile]
        if aot:
            return f"mp4a.40.{aot}"
    return f"mp4a.40.{_AAC_PROFILES.get(profile or '', 2)}"


MP3_STRING = "mp4a.40.34"


def av1_string(av1c: bytes) -> str:
    """``av01.P.LLT.DD`` from the av1C record (AV1 Codec ISO Media File Format Binding
    §5): profile, level and tier, bit depth."""
    if len(av1c) < 3 or av1c[0] & 0x7F != 1:
        return "av01.0.04M.08"  # Main profile, level 3.0: a safe default
    profile, level = av1c[1] >> 5, av1c[1] & 0x1F
    tier = "H" if av1c[2] & 0x80 else "M"
    depth = (12 if av1c[2] & 0x20 else 10) if av1c[2] & 0x40 else 8  # high_bitdepth, twelve_bit
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"
