"""The on-demand fixtures of `tests.api.conftest` (test media, an upstream serving it, a
hlsd per module), for the playback tests of ``/hls``."""

from tests.api.conftest import client, hlsd, library, upstream

__all__ = ["client", "hlsd", "library", "upstream"]
