"""Clients of hlsd: the websocket publisher library and the live segmenter behind
``hlsd publish``, the tus uploads of ``hlsd assets``, and the stream checker behind
``hlsd check`` (`checker`, which checks any HLS server's streams)."""

from hlsd.client.publisher import PublisherStats, PublishRefused, WebsocketPublisher
from hlsd.client.segmenter import fragments

__all__ = ["PublishRefused", "PublisherStats", "WebsocketPublisher", "fragments"]
