"""``/api/channels``: VOD-to-live channels (management: admin key, or loopback without one).

A channel is a schedule over VOD sources (``{"url": …}``, ``{"library": …}`` or
``{"upstream": …}``) that plays at ``/live/{name}/index.m3u8``. ``PUT`` replaces the
schedule, ``POST …/items`` adds an item and ``DELETE …/items/{id}`` removes one; every
change takes over after the item on air (or at the next segment with ``"cut": true``),
so players never see what they already have change.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from hlsd.api._admin import require_admin
from hlsd.api._body import read_body
from hlsd.api._bounds import Body, Time
from hlsd.api._json import iso
from hlsd.api._openapi import ERRORS, body
from hlsd.channels import (
    ChannelNotFound,
    ChannelService,
    ChannelSpec,
    ItemRequest,
    Mode,
    Playout,
    ScheduleRequest,
    Source,
    SourceKind,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SourceBody(Body):
    model_config = ConfigDict(extra="forbid")
    url: StrictStr | None = Field(default=None, max_length=4096)
    library: StrictStr | None = Field(default=None, max_length=1024)
    upstream: StrictStr | None = Field(default=None, max_length=1024)
    file: StrictStr | None = Field(default=None, max_length=1024)
    """A media file in the library (``{"library": …}`` not ending in .m3u8 is one too)."""
    asset: StrictStr | None = Field(default=None, max_length=64)
    """A ready asset (``/api/assets``)."""

    @model_validator(mode="after")
    def _one(self) -> SourceBody:
        given = (self.url, self.library, self.upstream, self.file, self.asset)
        if sum(v is not None for v in given) != 1:
            raise ValueError('a source is one of {"url"}, {"library"}, {"upstream"}, '
                             '{"file"} or {"asset"}')
        return self

    def source(self) -> Source:
        for kind in SourceKind:
            ref = getattr(self, kind.value)
            if ref is not None:
                return Source(kind=kind, ref=ref)
        raise AssertionError("validated")


class ItemBody(Body):
    model_config = ConfigDict(extra="forbid")
    id: StrictStr | None = Field(default=None, max_length=32)
    source: SourceBody
    start: Time | None = None
    """When it airs, in a timed schedule."""

    def request(self) -> ItemRequest:
        start = None if self.start is None else _micros(self.start)
        return ItemRequest(source=self.source.source(), start_us=start, id=self.id)


class ScheduleBody(Body):
    model_config = ConfigDict(extra="forbid")
    mode: Literal["loop", "timed"] = "loop"
    items: list[ItemBody] = Field(default_factory=list)
    """At most ``channels.max_items``."""
    filler: SourceBody | None = None
    cut: StrictBool = False

    def request(self, **more: Any) -> ScheduleRequest:
        return ScheduleRequest(mode=Mode(self.mode), items=tuple(i.request() for i in self.items),
                               filler=self.filler.source() if self.filler else None,
                               cut=self.cut, **more)


class NewChannel(ScheduleBody):
    name: StrictStr = Field(max_length=64, json_schema_extra={
        "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"})
    """Checked by the service, which says what a name may be."""
    window: float | None = Field(default=None, gt=0, le=3600, strict=True)
    target_duration: StrictInt | None = Field(default=None, ge=1, le=60)


class NewItem(ItemBody):
    cut: StrictBool = False


def _micros(value: datetime) -> int:
    return (value - _EPOCH) // timedelta(microseconds=1)


def _time(us: int) -> str | None:
    return iso(_EPOCH + timedelta(microseconds=us))


def channel_json(spec: ChannelSpec, now_us: int) -> dict[str, Any]:
    latest = spec.revisions[-1]
    on_air = spec.timeline().on_air(now_us)
    return {
        "name": spec.name,
        "playlist": f"/live/{spec.name}/index.m3u8",
        "mode": latest.mode.value,
        "items": [{"id": i.id, "source": i.source.to_json(),
                   "start": _time(i.start_us) if i.start_us is not None else None,
                   "duration": spec.programs[i.source.key].duration_us / 1_000_000}
                  for i in latest.items],
        "filler": latest.filler.to_json() if latest.filler else None,
        "target_duration": spec.target_duration,
        "window": spec.window_us / 1_000_000,
        "variants": [{"bandwidth": r.bandwidth, "codecs": r.codecs,
                      "resolution": f"{r.resolution[0]}x{r.resolution[1]}"
                      if r.resolution else None} for r in spec.ladder],
        "created": _time(spec.created_us),
        "pending": {"effective": _time(latest.effective_us)}
        if latest.effective_us > now_us else None,
        "on_air": None if on_air is None else {
            "item": on_air.clip.item, "media_sequence": on_air.msn,
            "since": _time(on_air.start_us)},
    }


def _kept(spec: ChannelSpec) -> tuple[ItemRequest, ...]:
    return tuple(ItemRequest(source=i.source, start_us=i.start_us, id=i.id)
                 for i in spec.revisions[-1].items)


def router(*, service: ChannelService, playout: Playout, admin_key: str | None) -> APIRouter:
    api = APIRouter(prefix="/api/channels", tags=["channels"], responses=ERRORS)

    def admin(request: Request) -> None:
        require_admin(request, admin_key)

    def answer(spec: ChannelSpec, status: int = 200) -> JSONResponse:
        playout.forget(spec.name)
        return JSONResponse(channel_json(spec, service.now_us()), status_code=status)

    @api.post("", status_code=201, openapi_extra=body(NewChannel))
    async def create(request: Request) -> JSONResponse:
        """Make a channel and put it on air at once."""
        admin(request)
        body = await read_body(request, NewChannel)
        spec = await service.create(body.name, body.request(
            window=body.window, target_duration=body.target_duration))
        return answer(spec, 201)

    @api.get("")
    async def list_all(request: Request) -> JSONResponse:
        admin(request)
        now = service.now_us()
        specs = await service.list()
        # Laying out many schedules is CPU work: off the event loop, so players are not
        # kept waiting by a listing.
        listed = await asyncio.to_thread(lambda: [channel_json(s, now) for s in specs])
        return JSONResponse({"channels": listed})

    @api.get("/{name}")
    async def get(name: str, request: Request) -> JSONResponse:
        admin(request)
        return JSONResponse(channel_json(await service.get(name), service.now_us()))

    @api.put("/{name}", openapi_extra=body(ScheduleBody))
    async def replace(name: str, request: Request) -> JSONResponse:
        """Replace the schedule; items given with their `id` keep it."""
        admin(request)
        body = await read_body(request, ScheduleBody)
        return answer(await service.update(name, lambda _spec: body.request()))

    @api.post("/{name}/items", openapi_extra=body(NewItem))
    async def add_item(name: str, request: Request) -> JSONResponse:
        admin(request)
        body = await read_body(request, NewItem)

        def appended(spec: ChannelSpec) -> ScheduleRequest:
            latest = spec.revisions[-1]
            return ScheduleRequest(mode=latest.mode, items=(*_kept(spec), body.request()),
                                   filler=latest.filler, cut=body.cut)

        return answer(await service.update(name, appended))

    @api.delete("/{name}/items/{item}")
    async def remove_item(name: str, item: str, request: Request,
                          cut: bool = False) -> JSONResponse:
        admin(request)
        def removed(spec: ChannelSpec) -> ScheduleRequest:
            latest = spec.revisions[-1]
            if item not in {i.id for i in latest.items}:
                raise ChannelNotFound(f"channel {name!r} has no item {item!r}")
            return ScheduleRequest(mode=latest.mode,
                                   items=tuple(i for i in _kept(spec) if i.id != item),
                                   filler=latest.filler, cut=cut)

        return answer(await service.update(name, removed))

    @api.delete("/{name}", status_code=204)
    async def delete(name: str, request: Request) -> Response:
        admin(request)
        await service.delete(name)
        playout.forget(name)
        return Response(status_code=204)

    return api
