"""The one error type the media package raises for unusable input."""

from __future__ import annotations


class MediaError(Exception):
    """The input is not usable media; ``str(e)`` is a short reason fit for users."""
