"""Metadata: SQLAlchemy models and repositories. SQLite by default, PostgreSQL for clusters."""

from hlsd.db.engine import (
    SCHEMA_VERSION,
    database_url,
    init_schema,
    make_engine,
    session_factory,
)
from hlsd.db.errors import Conflict, DbError, NotFound, SchemaMismatch
from hlsd.db.models import RecordedSegment, RecordedVariant, Recording, Source

__all__ = [
    "SCHEMA_VERSION",
    "Conflict",
    "DbError",
    "NotFound",
    "RecordedSegment",
    "RecordedVariant",
    "Recording",
    "SchemaMismatch",
    "Source",
    "database_url",
    "init_schema",
    "make_engine",
    "session_factory",
]
