"""The websocket CDN: hls-websocket-cdn's wire protocol over the stream hub."""

from hlsd.wscdn.server import CdnConfig, WebsocketCdn

__all__ = ["CdnConfig", "WebsocketCdn"]
