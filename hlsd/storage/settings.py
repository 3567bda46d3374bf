"""`StorageSettings`: the ``storage:`` section of the config tree."""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from hlsd.storage.base import validate_key

__all__ = ["StorageSettings"]


class StorageSettings(BaseModel):
    """Where recordings and assets go: a local directory (default) or an S3 bucket.

    ``dir`` left empty means the config tree's default (a folder in the data dir); a
    store can only be made once it is set. For ``s3``, ``bucket`` and both keys are
    required; ``endpoint_url`` is the S3-compatible service (MinIO, Ceph, R2, …), AWS when
    empty; ``prefix`` puts every key under ``<prefix>/`` in the bucket.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    backend: Literal["local", "s3"] = "local"
    """``local`` (a folder) or ``s3`` (an S3-compatible bucket)."""
    dir: Path | None = None
    """The ``local`` store's folder (default ``data_dir/objects``)."""
    bucket: str | None = None
    """The ``s3`` store's bucket (required for s3)."""
    endpoint_url: str | None = None
    """The S3-compatible service, ``http(s)://host[:port]`` (MinIO, Ceph, R2, …); AWS when empty."""
    region: str = "us-east-1"
    """The S3 region."""
    access_key: SecretStr | None = None
    """The S3 access key (required for s3)."""
    secret_key: SecretStr | None = None
    """The S3 secret key (required for s3)."""
    prefix: str = ""
    """Every key goes under ``<prefix>/`` in the bucket."""
    create_bucket: bool = False
    """Make the bucket when it is missing (at start, or after the store restarted empty)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    """Seconds to open a connection to the S3 endpoint."""
    read_timeout: float = Field(default=60.0, gt=0)
    """Seconds a response may stall between two reads."""
    max_connections: int = Field(default=32, ge=1, le=1024)
    """The S3 client's connection pool bound."""

    @field_validator("endpoint_url")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if not value:
            return None
        url = urlsplit(value)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError("endpoint_url must be http(s)://host[:port]")
        if url.path.strip("/") or url.query or url.fragment:
            raise ValueError("endpoint_url must have no path: the bucket is set apart")
        return value

    @field_validator("prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        value = value.strip("/")
        if value:
            validate_key(value)
        return value

    @model_validator(mode="after")
    def _check_backend(self) -> StorageSettings:
        if self.backend == "s3":
            if not self.bucket:
                raise ValueError("storage.bucket is required for the s3 backend")
            if self.access_key is None or self.secret_key is None:
                raise ValueError(
                    "storage.access_key and storage.secret_key are required for the s3 backend"
                )
        return self
