"""Clients of hlsd: the websocket publisher library and the live segmenter behind
``hlsd publish``."""

from hlsd.client.publisher import PublisherStats, PublishRefused, WebsocketPublisher
from hlsd.client.segmenter import fragments

__all__ = ["PublishRefused", "PublisherStats", "WebsocketPublisher", "fragments"]
