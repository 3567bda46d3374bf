"""`Common`: what every feature shares, made once per app (and, for the database and
the object store, by `hlsd worker` too)."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hlsd.auth.keys import load_root_secret
from hlsd.auth.tokens import TokenSigner
from hlsd.backends import DATABASE, watch_store
from hlsd.backends import gauge as backend_gauge
from hlsd.config import Settings
from hlsd.db import Database, open_database, session_factory
from hlsd.features.feature import Feature
from hlsd.infra.backends import Backends
from hlsd.infra.disk_budget import DiskBudget
from hlsd.infra.download import Fetcher, make_client
from hlsd.infra.folders import prepare_folders
from hlsd.infra.outbound import FetchPolicy
from hlsd.metrics import Metrics
from hlsd.node import NodeRole, Replication, node_role
from hlsd.recording.export import TEMP_PATTERN as EXPORT_TEMP_PATTERN
from hlsd.storage import ObjectStore, make_store

__all__ = ["Common", "build_common"]


@dataclass(frozen=True, kw_only=True)
class Common:
    settings: Settings
    metrics: Metrics
    backends: Backends
    database: Database
    sessions: async_sessionmaker[AsyncSession]
    """Sessions that refuse work while the database is down (`BackendUnavailable`)."""
    store: ObjectStore
    executor: ThreadPoolExecutor
    """Threads for media work (PyAV releases the GIL)."""
    signer: TokenSigner
    root_secret: bytes
    policy: FetchPolicy
    """What URLs given in requests may reach."""
    client: httpx.Client
    """For the operator's upstream URLs (`url.*`): trusted."""
    request_client: httpx.Client
    """For URLs that come from requests (LiveMix prefixes, asset imports): guarded."""
    fetcher: Fetcher
    temp_budget: DiskBudget
    admin_key: str | None
    role: NodeRole
    """This process's part among the node's workers (`hlsd.node`)."""
    replication: Replication | None
    """Where this worker's producers' writes go, for the node's other workers (None
    with one worker)."""


def build_common(settings: Settings) -> tuple[Common, Feature]:
    prepare_folders(settings.working_folders())  # `hlsd serve` checked them already
    role = node_role(settings.workers)
    if not role.shared:  # `hlsd serve` cleans it for several workers, before they start
        clean_temp(settings.temp_dir)
    metrics = Metrics()
    backends = Backends(on_change=backend_gauge(metrics))
    database = open_database(settings.data_dir, settings.database_url.get_secret_value()
                             if settings.database_url else None)
    store = make_store(settings.storage)
    watch_store(backends, store)
    up = settings.upstream
    killsize = settings.cache.killsize
    # Every cache and budget of the app is made or registered in metrics.caches.
    temp_budget = metrics.caches.budget(DiskBudget("tempdir", killsize.tempdir,
                                                   enforced=killsize.enabled))
    client = make_client(connect_timeout=up.connect_timeout, read_timeout=up.read_timeout,
                         max_redirects=up.max_redirects)
    # URLs given in requests reach only what the outbound policy allows; the client above
    # trusts its URLs, which are the operator's (url.*).
    policy = FetchPolicy(settings.fetch.allow)
    request_client = make_client(connect_timeout=up.connect_timeout,
                                 read_timeout=up.read_timeout,
                                 max_redirects=up.max_redirects, policy=policy)
    handshake = settings.handshake.get_secret_value() if settings.handshake else None
    token_secret = settings.token_secret.get_secret_value() if settings.token_secret else None
    root_secret = load_root_secret(token_secret, handshake, settings.data_dir)
    executor = ThreadPoolExecutor(max_workers=settings.packager.threads,
                                  thread_name_prefix="hlsd-media")
    common = Common(
        settings=settings, metrics=metrics, backends=backends, database=database,
        sessions=session_factory(database.engine,
                                 gate=functools.partial(backends.require, DATABASE)),
        store=store, executor=executor, signer=TokenSigner(root_secret),
        root_secret=root_secret, policy=policy, client=client,
        request_client=request_client,
        fetcher=Fetcher(client, settings.temp_dir, deadline=up.total_timeout,
                        budget=temp_budget),
        temp_budget=temp_budget,
        admin_key=settings.admin_key.get_secret_value() if settings.admin_key else None,
        role=role, replication=Replication.of(role))
    return common, Feature(name="common", close=[
        store.close, client.close, request_client.close, database.engine.dispose,
        lambda: executor.shutdown(wait=False, cancel_futures=True)])


def clean_temp(temp_dir: Path) -> None:
    """Downloads cut off by a crash are debris: nothing leaks in the temp dir."""
    for pattern in ("fetch-*.part", EXPORT_TEMP_PATTERN):
        for debris in temp_dir.glob(pattern):
            debris.unlink(missing_ok=True)
