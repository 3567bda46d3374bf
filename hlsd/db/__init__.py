"""Metadata: SQLAlchemy models and repositories. SQLite by default, PostgreSQL for clusters."""

from hlsd.db.engine import (
    SCHEMA_VERSION,
    Database,
    database_url,
    init_schema,
    make_engine,
    open_database,
    session_factory,
)
from hlsd.db.errors import Conflict, DbError, NotFound, SchemaMismatch
from hlsd.db.models import RecordedSegment, RecordedVariant, Recording, Source

__all__ = [
    "SCHEMA_VERSION",
    "Conflict",
    "Database",
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
    "open_database",
    "session_factory",
]
