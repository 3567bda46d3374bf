"""VOD-to-live channels: linear live streams computed from a schedule of VOD sources.

`ChannelService` makes and changes channels (stored as `ChannelSpec`s); `Playout` serves
the watched ones: `Channel` playlists are a pure function of the spec and the clock.
"""

from hlsd.channels.channel import Channel, ChannelSpec, Served, Slate, Unknown
from hlsd.channels.playout import Playout
from hlsd.channels.program import Program, ProgramVariant, SourceKind
from hlsd.channels.schedule import Mode, Source
from hlsd.channels.service import (
    ChannelError,
    ChannelNotFound,
    ChannelService,
    ItemRequest,
    ScheduleRequest,
)

__all__ = [
    "Channel",
    "ChannelError",
    "ChannelNotFound",
    "ChannelService",
    "ChannelSpec",
    "ItemRequest",
    "Mode",
    "Playout",
    "Program",
    "ProgramVariant",
    "ScheduleRequest",
    "Served",
    "Slate",
    "Source",
    "SourceKind",
    "Unknown",
]
