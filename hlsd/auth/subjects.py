"""What a playback token is bound to: the subject the management API signs a token for
and the playback gate checks it against (`hlsd.delivery.gate`)."""

from __future__ import annotations

__all__ = ["asset_subject", "live_subject", "recording_subject"]


def live_subject(stream: str) -> str:
    return f"live/{stream}"


def recording_subject(recording_id: str) -> str:
    return f"recording/{recording_id}"


def asset_subject(asset_id: str) -> str:
    return f"asset/{asset_id}"
