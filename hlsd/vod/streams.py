"""Token-gated on-demand streams: the Go-HLS-Streamer model, stateless.

A stream is a signed rid naming a source id and an expiry; a token grants one rid
until its own expiry. Issuing a stream prepares its source, so a backend learns of a
bad id at once, as it did with the seed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from hlsd import errors
from hlsd.auth.grants import GrantCache
from hlsd.auth.tokens import Expired, InvalidId, InvalidToken, StreamId, TokenSigner
from hlsd.infra.cache import Caches
from hlsd.infra.logs import clip
from hlsd.vod.errors import SourceError
from hlsd.vod.packager import Package, Packager
from hlsd.vod.sources import validate_qid

log = logging.getLogger(__name__)


class StreamGone(errors.Gone):
    """The stream (or its batch) has expired."""


class UnknownStream(errors.NotFound):
    """Not a rid this service issued."""


class AccessDenied(errors.DomainError):
    """A token that does not grant the stream."""


class TokenMissing(AccessDenied, errors.Unauthorized):
    """No token, or an expired one: the client must (re)unlock the stream."""


class WrongToken(AccessDenied, errors.Forbidden):
    """A token that is not for this stream, or not one of ours."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Issued:
    rid: str
    token: str


@dataclass(frozen=True, kw_only=True, slots=True)
class BatchItem:
    qid: str
    rid: str | None = None
    error: SourceError | None = None
    """Why no stream was issued for `qid` (`api/` gives its status)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    batch_id: str
    expires_at: int
    items: tuple[BatchItem, ...]


class OnDemandStreams:
    def __init__(self, *, signer: TokenSigner, packager: Packager, expiry: float,
                 max_id_length: int, caches: Caches, batch_concurrency: int = 4,
                 max_granted: int = 10_000) -> None:
        self._signer = signer
        self._granted: GrantCache[StreamId] = GrantCache(
            now=signer.now, max_entries=max_granted, caches=caches, name="hls-grants")
        self._packager = packager
        self._expiry = expiry
        self._max_id_length = max_id_length
        self._batch_concurrency = batch_concurrency

    async def issue(self, qid: str, expiry: float | None = None) -> Issued:
        """A stream of `qid` and a token for it, both for `expiry` seconds (default
        ``cache.expiry``)."""
        validate_qid(qid, self._max_id_length)
        await self._packager.prepare(qid)
        life = self._expiry if expiry is None else expiry
        stream = self._signer.issue_rid(qid, life)
        return Issued(rid=stream.rid, token=self._signer.issue_token(stream, life))

    async def issue_batch(self, qids: list[str], expiry: float) -> Batch:
        batch_id, expires_at = self._signer.issue_batch(expiry)
        gate = asyncio.Semaphore(self._batch_concurrency)

        async def one(qid: str) -> BatchItem:
            try:
                validate_qid(qid, self._max_id_length)
                async with gate:
                    await self._packager.prepare(qid)
            except SourceError as exc:
                log.info("batch item %r failed: %s", clip(qid), clip(exc.message))
                return BatchItem(qid=qid, error=exc)
            stream = self._signer.issue_rid(qid, expiry, batch=batch_id, expires_at=expires_at)
            return BatchItem(qid=qid, rid=stream.rid)

        items = await asyncio.gather(*(one(q) for q in qids))
        return Batch(batch_id=batch_id, expires_at=expires_at, items=tuple(items))

    def unlock(self, rid: str) -> str:
        """A fresh token for `rid`, bounded by the stream's (or batch's) expiry."""
        stream = self._stream(rid)
        return self._signer.issue_token(stream, self._expiry)

    def authorize(self, rid: str, token: str | None) -> StreamId:
        if token and (granted := self._granted.get(rid, token)) is not None:
            return granted
        stream = self._stream(rid)
        if not token:
            raise TokenMissing("a token is required (header x-gostreamer-token)")
        try:
            token_expiry = self._signer.check_token(token, rid)
        except Expired as exc:
            raise TokenMissing("token expired; unlock the stream again") from exc
        except InvalidToken as exc:
            raise WrongToken(str(exc)) from exc
        self._granted.put(rid, token, min(token_expiry, stream.expires_at), stream)
        return stream

    async def package(self, stream: StreamId) -> Package:
        return await self._packager.prepare(stream.qid)

    def _stream(self, rid: str) -> StreamId:
        try:
            return self._signer.read_rid(rid)
        except Expired as exc:
            raise StreamGone("stream expired") from exc
        except (InvalidId, ValueError, KeyError) as exc:
            raise UnknownStream("unknown stream") from exc
