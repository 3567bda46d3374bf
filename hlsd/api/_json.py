"""How the JSON APIs write values."""

from __future__ import annotations

from hlsd.ingest.livemix_json import iso

__all__ = ["iso"]
