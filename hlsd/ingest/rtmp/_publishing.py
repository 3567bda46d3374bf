"""One publish on a connection: the session `Publishers.open` gave, and the FLV stream
its audio, video and metadata messages become. `SessionEnded` from the session goes to
the connection, which tells the client."""

from __future__ import annotations

from hlsd.ingest.continuous import IngestSession
from hlsd.ingest.rtmp._chunks import Message, MessageType
from hlsd.ingest.rtmp._flv import AUDIO, SCRIPT, VIDEO, FlvWriter, aggregate_tags, metadata_script

__all__ = ["MEDIA", "Publishing"]

MEDIA = frozenset({MessageType.AUDIO, MessageType.VIDEO, MessageType.AGGREGATE,
                   MessageType.DATA_AMF0, MessageType.DATA_AMF3})
"""The messages a publish writes (data: its metadata)."""


class Publishing:
    def __init__(self, session: IngestSession, *, stream: str, stream_id: int) -> None:
        self.session = session
        self.stream = stream
        self.stream_id = stream_id
        self._flv = FlvWriter()

    async def write(self, message: Message) -> bool:
        """Write one `MEDIA` message; whether it carried audio or video."""
        kind = message.type_id
        if kind in (MessageType.AUDIO, MessageType.VIDEO):
            return await self._media(kind, message.timestamp, message.body)
        if kind == MessageType.AGGREGATE:
            media = False
            for tag_kind, timestamp, body in aggregate_tags(message.body, message.timestamp):
                if tag_kind in (AUDIO, VIDEO):
                    media = await self._media(tag_kind, timestamp, body) or media
                elif tag_kind == SCRIPT:
                    await self._metadata(timestamp, body)
            return media
        # An AMF3 data message starts with a format byte, then AMF0.
        body = message.body[1:] if kind == MessageType.DATA_AMF3 else message.body
        await self._metadata(message.timestamp, body)
        return False

    async def _media(self, kind: int, timestamp: int, body: bytes) -> bool:
        if not body:
            return False
        await self.session.write(self._flv.tag(kind, timestamp, body))
        return True

    async def _metadata(self, timestamp: int, body: bytes) -> None:
        script = metadata_script(body)
        if script is not None:
            await self.session.write(self._flv.tag(SCRIPT, timestamp, script))
