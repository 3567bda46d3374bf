"""hlsd: one Python server for HTTP Live Streaming."""

__version__ = "0.1.0"
