"""The seed's token API, exactly: /api/token, /api/batch, /api/unlock, /api/health."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests._support.hlsd_server import HlsdServer
from tests._support.polling import wait_until
from tests._support.servers import Upstream
from tests.api.conftest import HANDSHAKE, issue


def test_health(client: httpx.Client) -> None:
    r = client.get("/api/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_token_answers_201_with_token_and_rid(client: httpx.Client) -> None:
    body = issue(client, "tone.mp3")
    assert set(body) == {"token", "rid"}
    assert body["token"] and body["rid"]


def test_form_bodies_work_as_with_the_seeds_body_parser(client: httpx.Client) -> None:
    r = client.post("/api/token", data={"handshake": HANDSHAKE, "qid": "tone.mp3"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("body", [
    {"handshake": "wrong", "qid": "tone.mp3"},
    {"qid": "tone.mp3"},
])
def test_a_bad_handshake_is_401(client: httpx.Client, body: dict[str, str]) -> None:
    r = client.post("/api/token", json=body)
    assert r.status_code == 401
    assert r.json() == {"error": "Invalid Handshake"}


@pytest.mark.parametrize("content", [b"{not json", b"[1,2]", b'{"handshake": "x"}',
                                     b'{"handshake": "x", "qid": 5}'])
def test_a_malformed_body_is_422(client: httpx.Client, content: bytes) -> None:
    r = client.post("/api/token", content=content,
                    headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert isinstance(r.json()["error"], str)


@pytest.mark.parametrize("qid", ["", "x" * 300, "a\nb", "..", "."])
def test_invalid_ids_are_422(client: httpx.Client, qid: str) -> None:
    r = client.post("/api/token", json={"handshake": HANDSHAKE, "qid": qid})
    assert r.status_code == 422, r.text


@pytest.mark.parametrize(("qid", "status", "words"), [
    ("missing", 404, "not found"),
    ("broken", 502, "500"),
    ("notes.txt", 422, "media"),
    ("cut.mp4", 422, ""),
    ("broken-subs", 502, "500"),
])
def test_upstream_failures_get_clear_errors(client: httpx.Client, hlsd: HlsdServer,
                                            qid: str, status: int, words: str) -> None:
    r = client.post("/api/token", json={"handshake": HANDSHAKE, "qid": qid})
    assert r.status_code == status, r.text
    assert words in r.json()["error"]
    # ...and the server keeps serving everyone else.
    assert client.get("/api/health").status_code == 200
    issue(client, "tone.mp3")


def test_a_slow_upstream_times_out_with_504(client: httpx.Client) -> None:
    started = time.monotonic()
    r = client.post("/api/token", json={"handshake": HANDSHAKE, "qid": "slow"})
    assert r.status_code == 504 and "timed out" in r.json()["error"]
    assert time.monotonic() - started < 15


def test_concurrent_requests_for_one_id_share_one_fetch(
        client: httpx.Client, upstream: Upstream) -> None:
    upstream.add_drip("/media/drip.mp3", (upstream_file := _mp3(upstream)), chunk=20_000,
                      interval=0.05)
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(
            lambda _: client.post("/api/token", json={"handshake": HANDSHAKE,
                                                      "qid": "drip.mp3"}),
            range(8)))
    assert [r.status_code for r in results] == [201] * 8
    assert len({r.json()["rid"] for r in results}) == 8
    assert upstream.count("/media/drip.mp3") == 1
    assert upstream_file


def _mp3(up: Upstream) -> bytes:
    with httpx.Client() as c:
        return c.get(f"{up.url}/media/tone.mp3").content


def test_batch_keeps_request_order_and_reports_failures_per_item(
        client: httpx.Client) -> None:
    qids = ["tone.wav", "missing", "tone.mp3", "", "clip.mp4"]
    r = client.post("/api/batch", json={"handshake": HANDSHAKE, "qids": qids,
                                        "expiry": "5m30s"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["batchid"]
    streams = body["streams"]
    assert [s["qid"] for s in streams] == qids
    assert [("rid" in s) for s in streams] == [True, False, True, False, True]
    assert streams[1]["status"] == 404 and "not found" in streams[1]["error"]
    assert streams[3]["status"] == 422


@pytest.mark.parametrize("body", [
    {"handshake": HANDSHAKE, "qids": []},
    {"handshake": HANDSHAKE, "qids": ["a"], "expiry": "soon"},
    {"handshake": HANDSHAKE, "qids": ["a"], "expiry": "48h"},
    {"handshake": HANDSHAKE, "qids": "a"},
])
def test_bad_batches_are_422(client: httpx.Client, body: dict[str, object]) -> None:
    r = client.post("/api/batch", json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]


def test_unlock_gives_a_new_token_until_the_batch_expires(client: httpx.Client) -> None:
    r = client.post("/api/batch", json={"handshake": HANDSHAKE, "qids": ["tone.mp3"],
                                        "expiry": "2s"})
    rid = r.json()["streams"][0]["rid"]
    unlocked = client.post("/api/unlock", json={"handshake": HANDSHAKE, "rid": rid})
    assert unlocked.status_code == 201 and set(unlocked.json()) == {"token"}
    token = unlocked.json()["token"]
    ok = client.get(f"/hls/{rid}/index.m3u8", headers={"x-gostreamer-token": token})
    assert ok.status_code == 200
    wait_until(lambda: client.post("/api/unlock", json={"handshake": HANDSHAKE, "rid": rid})
               .status_code != 201, 10, "the batch's expiry")
    gone = client.post("/api/unlock", json={"handshake": HANDSHAKE, "rid": rid})
    assert gone.status_code == 410 and gone.json()["error"]
    expired = client.get(f"/hls/{rid}/index.m3u8", headers={"x-gostreamer-token": token})
    assert expired.status_code == 410


def test_unlock_refusals(client: httpx.Client) -> None:
    rid = issue(client, "tone.mp3")["rid"]
    assert client.post("/api/unlock", json={"handshake": "x", "rid": rid}).status_code == 401
    unknown = client.post("/api/unlock", json={"handshake": HANDSHAKE, "rid": "nope.nope"})
    assert unknown.status_code == 404
    assert client.post("/api/unlock", json={"handshake": HANDSHAKE}).status_code == 422


def test_cors_preflight_allows_the_token_header(client: httpx.Client) -> None:
    r = client.options("/hls/x/index.m3u8", headers={
        "origin": "http://player.example", "access-control-request-method": "GET",
        "access-control-request-headers": "x-gostreamer-token"})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] in ("*", "http://player.example")
    assert "x-gostreamer-token" in r.headers["access-control-allow-headers"].lower()


def test_openapi_docs_are_served(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    assert "/api/token" in client.get("/openapi.json").json()["paths"]
