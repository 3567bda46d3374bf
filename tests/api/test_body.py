"""JSON bodies are JSON whatever their content-type says: `curl -d` labels them as a
form (the README's `TOKEN=$(curl … -d '{"ttl":"1h"}')` was `null`)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests._support.hlsd_server import HlsdServer

FORM = {"content-type": "application/x-www-form-urlencoded"}  # what curl -d sends


@pytest.fixture(scope="module")
def hlsd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    with HlsdServer({}, tmp_dir=tmp_path_factory.mktemp("body")) as server:
        yield server


def test_json_labelled_as_a_form_is_read_as_json(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10, headers=FORM) as c:
        token = c.post("/api/streams/cam1/token", content=b'{"ttl":"1h"}')
        assert token.status_code == 201 and token.json()["token"]
        issued = c.post("/api/token", content=b'{"handshake":"x","qid":"a"}')
        assert issued.status_code != 422, issued.text  # no upstream here: a 5xx/4xx of its own
        recording = c.post("/api/streams/cam1/recordings", content=b' {"alias":"goal"}')
        assert recording.status_code == 201 and recording.json()["alias"] == "goal"
        channel = c.post("/api/channels", content=b'{"name":"c1","items":[]}')
        assert channel.status_code == 422 and "at least one item" in channel.json()["error"]


def test_a_real_form_still_works(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=10) as c:
        token = c.post("/api/streams/cam1/token", data={"ttl": "1h"})
        assert token.status_code == 201


def _chunks(total: int) -> Iterator[bytes]:
    """A body with no Content-Length, sent in 64 KiB chunks."""
    for _ in range(total // (64 << 10)):
        yield b" " * (64 << 10)


@pytest.mark.parametrize("route", ["/api/token", "/api/assets", "/api/streams/cam1/token",
                                   "/api/streams/cam1/recordings", "/api/channels"])
def test_a_body_past_its_bound_is_413_declared_or_not(hlsd: HlsdServer, route: str) -> None:
    # 422 before for a declared length; /api/assets, the tokens and recordings read the
    # whole body before any bound applied.
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        declared = c.post(route, content=b" " * ((1 << 20) + 1))
        assert declared.status_code == 413, declared.text
        assert declared.json()["error"] == "the request body is larger than 1048576 bytes"
        streamed = c.post(route, content=_chunks(4 << 20))
        assert streamed.status_code == 413, streamed.text


def test_livemix_bodies_past_their_bound_are_413_in_its_envelope(hlsd: HlsdServer) -> None:
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        r = c.post("/v1/source", content=_chunks(1 << 20))
        assert r.status_code == 413, r.text
        assert r.json()["success"] is False and r.json()["error"]["code"] == 413
