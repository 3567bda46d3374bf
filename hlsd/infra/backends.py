"""The backends a node depends on (database, object store, Redis), watched.

A backend that is down at start does not stop the server: everything that does not need
it is served, what needs it is refused at once (`BackendUnavailable`, a 503 for HTTP),
and a supervisor task retries with backoff until it answers, then runs its start-up
steps (a schema, the recoveries that read it) and marks it up, without a restart. A
backend that fails later is found by the same probe, or by a request whose error the
backend recognises as an outage (`Backends.classify`), which wakes the supervisor.

Each change of state is logged once, naming the backend and its address with any
credentials removed; retries in between are silent.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from hlsd.infra.logs import clip
from hlsd.infra.retry import Backoff, Failures

__all__ = ["Backend", "BackendState", "BackendUnavailable", "Backends", "address_of"]

log = logging.getLogger(__name__)


class BackendState(enum.StrEnum):
    PENDING = "pending"
    """Not reached yet."""
    STARTING = "starting"
    """Reached; being prepared (nothing else may use it yet)."""
    UP = "up"
    DOWN = "down"


class BackendUnavailable(Exception):
    """Work that needs a backend that is down; refused without trying it."""

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"the {backend} is unavailable ({reason}); it is retried, and "
                         "this is served again as soon as it answers")
        self.backend = backend
        self.reason = reason


@dataclass(kw_only=True, eq=False)
class Backend:
    """One backend: how to probe it, what to do the first time it answers, and which
    errors mean it is down."""

    name: str
    """As people say it: ``database``, ``object store``, ``Redis registry``."""
    address: str
    """Where it is, without credentials (for the log)."""
    probe: Callable[[], Awaitable[None]]
    """Raises unless the backend answers."""
    prepare: Callable[[], Awaitable[object]] | None = None
    """Run once it first answers, before anything else may use it (a schema)."""
    recover: Sequence[Callable[[], Awaitable[object]]] = ()
    """Run in order once it is up (what a previous run left to carry on); a step that
    fails is run again at the next probe, the ones before it are not."""
    is_outage: Callable[[BaseException], bool] = lambda exc: False
    state: BackendState = BackendState.PENDING
    reason: str = ""
    since: float = field(default_factory=time.time)
    _prepared: bool = False
    _recovered: int = 0
    _lost: bool = False
    """Its outage was logged, and its return is not yet."""
    _wake: asyncio.Event = field(default_factory=asyncio.Event)



class Backends:
    def __init__(self, backends: Sequence[Backend] = (), *, probe_timeout: float = 10.0,
                 interval: float = 10.0, min_delay: float = 0.5, max_delay: float = 30.0,
                 on_change: Callable[[Backend], None] = lambda backend: None) -> None:
        self._backends = {b.name: b for b in backends}
        self._probe_timeout = probe_timeout
        self._interval = interval
        self._backoff = Backoff(first=min_delay, cap=max_delay, jitter=0.2)
        self._max_delay = max_delay
        self._on_change = on_change
        self._tasks: list[asyncio.Task[None]] = []
        self._first: dict[str, asyncio.Event] = {}

    def add(self, backend: Backend) -> None:
        self._backends[backend.name] = backend

    @property
    def all(self) -> tuple[Backend, ...]:
        return tuple(self._backends.values())

    @property
    def ready(self) -> bool:
        return all(b.state is BackendState.UP for b in self._backends.values())

    def require(self, name: str) -> None:
        """Raise `BackendUnavailable` unless work on `name` may be tried now."""
        backend = self._backends.get(name)
        if backend is not None and backend.state is not BackendState.UP:
            raise BackendUnavailable(backend.name, backend.reason or (
                "starting" if backend.state is BackendState.STARTING else "not reached yet"))

    def classify(self, exc: BaseException) -> BackendUnavailable | None:
        """`exc` as the outage of a backend (which is then probed at once), or None.
        The state is left to the probe: a passing failure (a locked SQLite file, one
        dropped connection) is no outage."""
        if isinstance(exc, BackendUnavailable):
            return exc
        for backend in self._backends.values():
            if backend.is_outage(exc):
                backend._wake.set()  # the probe says whether it is down, and logs it
                return BackendUnavailable(backend.name, backend.reason or _describe(exc))
        return None

    async def start(self, *, wait: float) -> None:
        """Start watching; return once every backend was tried once (up, or its first
        attempt failed), or after `wait` seconds, whichever comes first."""
        for backend in self._backends.values():
            first = self._first[backend.name] = asyncio.Event()
            self._tasks.append(asyncio.create_task(self._supervise(backend, first),
                                                   name=f"hlsd-backend-{backend.name}"))
        if self._first:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await asyncio.gather(*(e.wait() for e in self._first.values()))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def _supervise(self, backend: Backend, first: asyncio.Event) -> None:
        failures = Failures(self._backoff)
        while True:
            try:
                async with asyncio.timeout(self._probe_timeout):
                    await backend.probe()
                if not backend._prepared and backend.prepare is not None:
                    self._set(backend, BackendState.STARTING, "")
                    await backend.prepare()
                backend._prepared = True
                self._set(backend, BackendState.UP, "")
                await self._recover(backend)
                failures.reset()
                first.set()
                backend._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._interval):
                        await backend._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever the driver raises: it is down
                self._set(backend, BackendState.DOWN, _describe(exc))
                first.set()
                backend._wake.clear()
                await asyncio.sleep(failures.failed())

    async def _recover(self, backend: Backend) -> None:
        """Its recovery steps, from the first not yet done. A failure is logged and left
        to the next probe: it is the step's, not the backend's (the probe just passed)."""
        steps = backend.recover
        while backend._recovered < len(steps):
            step = steps[backend._recovered]
            try:
                await step()
            except Exception:
                log.exception("the %s is up, but %s failed; tried again at its next probe",
                              backend.name, getattr(step, "__qualname__", step))
                return
            backend._recovered += 1

    def _set(self, backend: Backend, state: BackendState, reason: str) -> None:
        if backend.state is state and backend.reason == reason:
            return
        backend.state, backend.reason, backend.since = state, reason, time.time()
        if state is BackendState.DOWN and not backend._lost:
            backend._lost = True
            log.error("the %s at %s is unavailable: %s; serving without it and retrying "
                      "(up to every %.0fs)", backend.name, backend.address, reason,
                      self._max_delay)
        elif state is BackendState.UP and backend._lost:
            backend._lost = False
            log.warning("the %s at %s is back", backend.name, backend.address)
        self._on_change(backend)


def address_of(url: str) -> str:
    """`url` without its user and password, for a log line."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _describe(exc: BaseException) -> str:
    """A one-line reason: the innermost cause is usually the telling one (connection
    refused under a driver's wrapper)."""
    inner: BaseException = exc
    while inner.__cause__ is not None and inner.__cause__ is not inner:
        inner = inner.__cause__
    text = str(inner).strip() or type(inner).__name__
    if not isinstance(inner, TimeoutError) and type(inner).__name__ not in text:
        text = f"{type(inner).__name__}: {text}"
    return clip(text.splitlines()[0] if text else text, 300)
