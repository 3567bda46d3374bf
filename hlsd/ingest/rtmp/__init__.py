"""RTMP ingest: encoders (OBS, FFmpeg) publish to ``rtmp://HOST:PORT/<app>/<stream>``;
their media goes as an FLV byte stream into `hlsd.ingest.continuous.Publishers`'
sessions. Publish only: nothing is played over RTMP."""

from hlsd.ingest.rtmp.server import RtmpServer

__all__ = ["RtmpServer"]
