"""StorageSettings and make_store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from hlsd.storage import LocalStore, S3Store, StorageSettings, make_store


def s3_settings(**overrides: Any) -> StorageSettings:
    fields: dict[str, Any] = {
        "backend": "s3",
        "bucket": "recordings",
        "access_key": "AKIA",
        "secret_key": "very-secret",
    }
    return StorageSettings(**{**fields, **overrides})


def test_defaults_to_a_local_store(tmp_path: Path) -> None:
    settings = StorageSettings()
    assert settings.backend == "local"
    assert settings.dir is None
    with pytest.raises(ValueError, match=r"storage\.dir"):
        make_store(settings)
    store = make_store(StorageSettings(dir=tmp_path / "objects"))
    assert isinstance(store, LocalStore)
    assert store.root == (tmp_path / "objects").resolve()


async def test_s3_store_from_settings(s3_endpoint: str) -> None:
    store = make_store(
        s3_settings(
            bucket="from-settings",
            endpoint_url=s3_endpoint,
            create_bucket=True,
            prefix="/node-1/",
        )
    )
    assert isinstance(store, S3Store)
    try:
        await store.put("rec/a", b"a")
        assert await store.get("rec/a") == b"a"
        assert [i.key async for i in store.list()] == ["rec/a"]
    finally:
        await store.close()


def test_s3_needs_a_bucket_and_keys() -> None:
    with pytest.raises(ValidationError, match="bucket"):
        s3_settings(bucket=None)
    with pytest.raises(ValidationError, match="access_key"):
        s3_settings(secret_key=None)
    with pytest.raises(ValidationError, match="access_key"):
        s3_settings(access_key=None)


def test_secrets_stay_secret() -> None:
    settings = s3_settings()
    assert "very-secret" not in repr(settings)
    assert "very-secret" not in str(settings.model_dump())
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == "very-secret"


@pytest.mark.parametrize(
    "endpoint",
    ["ftp://host", "host:9000", "http://", "http://host/bucket", "http://host?x=1"],
)
def test_endpoint_url_is_scheme_host_port(endpoint: str) -> None:
    with pytest.raises(ValidationError, match="endpoint_url"):
        s3_settings(endpoint_url=endpoint)


def test_endpoint_url_forms() -> None:
    assert s3_settings(endpoint_url="http://127.0.0.1:9000").endpoint_url
    assert s3_settings(endpoint_url="https://minio.example/").endpoint_url
    assert s3_settings(endpoint_url="").endpoint_url is None  # AWS


def test_prefix_is_normalized_and_validated() -> None:
    assert s3_settings(prefix="/hlsd/node-1/").prefix == "hlsd/node-1"
    assert s3_settings(prefix="").prefix == ""
    for bad in ("../up", "a//b", "sp ace"):
        with pytest.raises(ValidationError):
            s3_settings(prefix=bad)


def test_unknown_and_wrong_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        StorageSettings(backend="gcs")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        StorageSettings(bukket="x")  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        s3_settings(max_connections=0)
    with pytest.raises(ValidationError):
        s3_settings(read_timeout=0)


def test_settings_from_plain_mapping_as_yaml_gives() -> None:
    settings = StorageSettings.model_validate(
        {
            "backend": "s3",
            "bucket": "b",
            "endpoint_url": "http://127.0.0.1:9000",
            "access_key": "k",
            "secret_key": "s",
            "create_bucket": "true",
            "read_timeout": "12.5",
        }
    )
    assert settings.create_bucket is True
    assert settings.read_timeout == 12.5


def test_importing_the_package_does_not_load_the_s3_client() -> None:
    code = (
        "import sys, hlsd.storage\n"
        "assert 'miniopy_async' not in sys.modules and 'aiohttp' not in sys.modules\n"
        "from hlsd.storage import S3Store\n"
        "assert S3Store.__module__ == 'hlsd.storage.s3'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
