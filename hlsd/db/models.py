"""Declarative models of the LiveMix surface: sources, recordings, recorded segments.

Column names follow LiveMix's JSON where a field surfaces there (`segment_length`,
`streaming`, `start_ts`, `end_ts`, `active`, ...); `api/` maps the rest. The same
models serve SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hlsd.db.timestamps import UTCDateTime, utcnow

# Named constraints, so that a later migration can address them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


FEED_EDGE = "edge"
"""`Recording.feed` of a recording fed by the edge holding its source."""


def new_id() -> str:
    return str(uuid.uuid4())


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


class SchemaVersion(Base):
    """One row (`id` = 1): the version of the schema the database holds."""

    __tablename__ = "schema_version"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Source(Base):
    """A LiveMix video source: an edge pushing one live stream."""

    __tablename__ = "sources"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    segment_length: Mapped[int]
    description: Mapped[str | None] = mapped_column(Text)
    streaming: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    rr_target: Mapped[str | None] = mapped_column(String(255))
    """The name of the edge that last reported the source (LiveMix's ``rr_target``)."""
    local_time: Mapped[datetime | None]
    """The edge's clock in its last report (LiveMix's ``local_time``)."""
    reported_at: Mapped[datetime | None]
    """When the last report came, on the control's clock: what ``online`` is judged by."""


class Recording(Base):
    """A recording session of one hlsd stream, its segments under `storage_prefix`.

    `source_id` is NULL for recordings made through hlsd's own surface (a stream that
    is not a LiveMix source), and becomes NULL when the source is deleted: the
    recording and its objects outlive the source, as they do in LiveMix.
    """

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    source_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("sources.id", ondelete="SET NULL")
    )
    stream: Mapped[str] = mapped_column(String(255))
    alias: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    start_ts: Mapped[datetime]
    end_ts: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    storage_prefix: Mapped[str] = mapped_column(String(1024))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    feed: Mapped[str | None] = mapped_column(String(16))
    """What brings its segments: NULL, the recorder reading the hub; ``edge``, the edge
    link alone (`FEED_EDGE`), so no segment is stored twice."""

    __table_args__ = (
        Index("ix_recordings_source_id_start_ts", "source_id", "start_ts"),
        Index("ix_recordings_start_ts", "start_ts"),
        Index("ix_recordings_stream_active", "stream", "active"),
    )


class RecordedVariant(Base):
    """One variant of a recording, with what its master playlist entry says of it
    (EXT-X-STREAM-INF). A single-variant stream records one, named ``""``."""

    __tablename__ = "recorded_variants"

    recording_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int]
    """Its order of appearance, which also names its folder in the object store."""
    bandwidth: Mapped[int | None] = mapped_column(BigInteger)
    average_bandwidth: Mapped[int | None] = mapped_column(BigInteger)
    codecs: Mapped[str | None] = mapped_column(String(255))
    width: Mapped[int | None]
    height: Mapped[int | None]
    frame_rate: Mapped[float | None]


class RecordedSegment(Base):
    """One committed segment of a recording; (recording_id, variant, sequence) orders them.

    `init_key` names the fMP4 initialization section (EXT-X-MAP) the segment needs.
    """

    __tablename__ = "recorded_segments"

    recording_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    variant: Mapped[str] = mapped_column(String(255), primary_key=True, default="")
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    duration: Mapped[float]
    program_date_time: Mapped[datetime]
    object_key: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    discontinuity: Mapped[bool] = mapped_column(default=False)
    init_key: Mapped[str | None] = mapped_column(String(1024))
    committed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelRow(Base):
    """A VOD-to-live channel: its whole definition (`hlsd.channels.ChannelSpec`) as one
    JSON document, replaced by compare-and-set on `version` so that two nodes editing
    one channel never lose a change."""

    __tablename__ = "channels"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    definition: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetRow(Base):
    """An uploaded or imported video and what its processing made of it.

    `state` is an `hlsd.assets.AssetState` value; `outputs` is the object-store prefix
    of the published ladder, set only once every output is stored (so nothing partial
    is ever played). `attempt` counts processing runs, each writing under its own prefix.
    """

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    title: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(16))
    progress: Mapped[float] = mapped_column(default=0.0)
    reason: Mapped[str | None] = mapped_column(Text)
    source_kind: Mapped[str] = mapped_column(String(16))
    source_ref: Mapped[str | None] = mapped_column(Text)
    upload_id: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    duration: Mapped[float | None]
    access: Mapped[str] = mapped_column(String(16), default="public")
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    outputs: Mapped[str | None] = mapped_column(String(1024))
    details: Mapped[str | None] = mapped_column(Text)
    """JSON: the ladder made (rungs, codecs), thumbnails, subtitles."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_assets_state", "state"),)
