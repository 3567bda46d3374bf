"""A backend that is down at start takes nothing else down (the 2026-12-06 attack: an
unreachable PostgreSQL ended the server with a 354-line traceback, on-demand HLS
included). The server starts, says which backend is missing (once, with no
credentials), refuses only what needs it (503), and recovers without a restart."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests._support.environment import in_ci
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.moto import moto_server
from tests._support.polling import wait_until
from tests._support.redis_server import own_redis
from tests._support.servers import Upstream
from tests._support.tcp_relay import TcpRelay
from tests.api.conftest import config, issue

PASSWORD = "S3cret-Db-Pw"
POSTGRES = os.environ.get("HLSD_TEST_POSTGRES_URL",
                          "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


@contextmanager
def fresh_database() -> Iterator[tuple[str, int, str, str]]:
    """A new, empty PostgreSQL database on the test server: (host, port, user, name)."""
    url = make_url(POSTGRES)
    host, port, user = url.host or "127.0.0.1", url.port or 5432, url.username or "postgres"
    name = f"hlsd_degraded_{uuid.uuid4().hex[:10]}"

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(host=host, port=port, user=user,
                                     password=url.password, database=url.database,
                                     timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if in_ci():
            pytest.fail(f"PostgreSQL is required when CI is set: {exc}")
        pytest.skip(f"no PostgreSQL at {host}:{port}: {exc}")
    try:
        yield host, port, user, name
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _health(c: httpx.Client) -> dict[str, object]:
    body: dict[str, object] = c.get("/api/health").json()
    return body


def _state(c: httpx.Client, backend: str) -> str:
    backends = _health(c)["backends"]
    assert isinstance(backends, dict)
    return str(backends[backend]["state"])


def test_a_database_down_at_start_degrades_the_server_and_comes_back(
        upstream: Upstream, tmp_path: Path) -> None:
    with fresh_database() as (host, port, user, name), TcpRelay((host, port)) as db:
        url = f"postgresql://{user}:{PASSWORD}@127.0.0.1:{db.port}/{name}"
        with HlsdServer(config(upstream, database_url=url), tmp_dir=tmp_path) as hlsd, \
                httpx.Client(base_url=hlsd.url, timeout=30) as c:
            health = _health(c)
            assert health["status"] == "degraded" and _state(c, "database") == "down"
            assert _state(c, "object store") == "up"
            ready = c.get("/api/ready")
            assert ready.status_code == 503 and ready.json()["waiting_for"] == ["database"]
            # What needs the database is refused at once, with a reason...
            refused = c.get("/api/channels")
            assert refused.status_code == 503 and refused.headers["retry-after"]
            assert "the database is unavailable" in refused.json()["error"]
            livemix = c.get("/v1/source")
            assert livemix.status_code == 503 and livemix.json()["success"] is False
            assert c.get("/recordings/0123456789abcdef/index.m3u8").status_code == 503
            # ...and what does not, is served: on-demand HLS, live state.
            stream = issue(c, "clip.mp4")
            segment = c.get(f"/hls/{stream['rid']}/seg-0.ts",
                            headers={"x-gostreamer-token": stream["token"]})
            assert segment.status_code == 200 and segment.content[:1] == b"\x47"
            assert c.get("/api/streams").status_code == 200
            log = hlsd.log_text()
            lines = [line for line in log.splitlines() if "is unavailable" in line]
            assert len(lines) == 1, lines
            assert f"the database at postgresql://127.0.0.1:{db.port}/{name}" in lines[0]
            assert PASSWORD not in log and "Traceback" not in log

            db.restore()  # the database is back: no restart
            wait_until(lambda: c.get("/api/ready").status_code == 200, 60)
            assert _health(c)["status"] == "ok"
            made = c.post("/v1/source", json={"name": "cam-back", "segment_len": 2})
            assert made.status_code == 200 and made.json()["success"] is True
            assert c.get("/api/channels").status_code == 200
            assert "is back" in hlsd.log_text()
            assert 'hlsd_backend_up{backend="database"} 1.0' in c.get("/metrics").text


def test_a_registry_redis_down_at_start_is_waited_for(tmp_path: Path) -> None:
    port = free_port()
    cfg = {"cluster": {"redis_url": f"redis://:{PASSWORD}@127.0.0.1:{port}/0"}}
    with HlsdServer(cfg, tmp_dir=tmp_path) as hlsd, \
            httpx.Client(base_url=hlsd.url, timeout=30) as c:
        assert _state(c, "Redis registry") == "down"
        assert c.get("/api/ready").json()["waiting_for"] == ["Redis registry"]
        assert c.get("/api/channels").status_code == 200  # the database is fine
        assert f"the Redis registry at redis://127.0.0.1:{port}/0 is unavailable" \
            in hlsd.log_text()
        with own_redis(port):
            wait_until(lambda: c.get("/api/ready").status_code == 200, 60)
        assert PASSWORD not in hlsd.log_text()


def test_an_object_store_down_then_restarted_empty(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "moto.log"
    storage = {"backend": "s3", "bucket": "hlsd-objects",
               "endpoint_url": f"http://127.0.0.1:{port}", "access_key": "testing",
               "secret_key": "testing", "create_bucket": True}
    with HlsdServer({"storage": storage}, tmp_dir=tmp_path / "made") as hlsd, \
            httpx.Client(base_url=hlsd.url, timeout=30) as c:
        assert _state(c, "object store") == "down"
        assert c.get("/api/channels").status_code == 200
        with moto_server(log, port=port):
            wait_until(lambda: c.get("/api/ready").status_code == 200, 60)
        # The store restarts empty: the bucket is made again.
        with moto_server(log, port=port) as endpoint:
            wait_until(lambda: _bucket_exists(endpoint, "hlsd-objects"), 60)
            wait_until(lambda: c.get("/api/ready").status_code == 200, 60)


def test_a_missing_bucket_that_may_not_be_made_is_reported_clearly(tmp_path: Path) -> None:
    with moto_server(tmp_path / "moto.log") as endpoint:
        storage = {"backend": "s3", "bucket": "nobody-made-me", "endpoint_url": endpoint,
                   "access_key": "testing", "secret_key": "testing"}
        with HlsdServer({"storage": storage}, tmp_dir=tmp_path / "hlsd") as hlsd, \
                httpx.Client(base_url=hlsd.url, timeout=30) as c:
            assert _state(c, "object store") == "down"
            assert "the bucket 'nobody-made-me' does not exist at " in hlsd.log_text()
            assert "storage.create_bucket: true" in hlsd.log_text()


def _bucket_exists(endpoint: str, bucket: str) -> bool:
    return httpx.head(f"{endpoint}/{bucket}", timeout=5).status_code == 200
