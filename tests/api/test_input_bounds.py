"""Bounds on what clients send the HTTP APIs, against a real hlsd: every value past them
is refused in its surface's envelope (``{"error"}`` 422, LiveMix's 400), with a message
that names the field, and never a 5xx."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests._support import media as fx
from tests._support.hlsd_server import HlsdServer
from tests._support.servers import Upstream

YEAR = 366 * 24 * 3600


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    with Upstream() as up:
        up.add_file("/media/tone.mp3",
                    fx.mp3(tmp_path_factory.mktemp("bounds-media") / "tone.mp3", seconds=2))
        yield up


@pytest.fixture(scope="module")
def hlsd(upstream: Upstream, tmp_path_factory: pytest.TempPathFactory,
         ) -> Iterator[HlsdServer]:
    cfg = {"url": {"video": f"{upstream.url}/media"}, "recording": {"reach_back": "30s"}}
    with HlsdServer(cfg, tmp_dir=tmp_path_factory.mktemp("bounds")) as server:
        yield server


@pytest.fixture
def client(hlsd: HlsdServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hlsd.url, timeout=30) as c:
        yield c


def _raw(client: httpx.Client, url: str, body: str | bytes) -> httpx.Response:
    return client.post(url, content=body, headers={"content-type": "application/json"})


def _refused(r: httpx.Response, field: str) -> str:
    assert r.status_code == 422, r.text
    message: str = r.json()["error"]
    assert message.startswith(f"{field}: "), message
    return message


# -- recordings ---------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ('{"start_time_epoch": 1e308}', "start_time_epoch"),
    ('{"start_time_epoch": 1e400}', "start_time_epoch"),
    ('{"start_time_epoch": 253402300800}', "start_time_epoch"),
    ('{"start_time_epoch": -1}', "start_time_epoch"),
    ('{"start_time_epoch": "1700000000"}', "start_time_epoch"),
    ('{"start_time": "9999-12-31T23:59:59-10:00"}', "start_time"),
    ('{"start_time": "0001-01-01T00:00:00+01:00"}', "start_time"),
    ('{"start_time": 1700000000}', "start_time"),
    ('{"alias": "' + "a" * 10_000 + '"}', "alias"),
    ('{"description": "' + "d" * 4097 + '"}', "description"),
])
def test_recording_starts_out_of_bounds_are_422(client: httpx.Client, body: str,
                                                field: str) -> None:
    _refused(_raw(client, "/api/streams/cam/recordings", body), field)


def test_a_start_far_ahead_or_long_ago_is_422(client: httpx.Client) -> None:
    for start in (time.time() + 2 * YEAR, time.time() - 3600):
        r = client.post("/api/streams/cam/recordings", json={"start_time_epoch": start})
        assert r.status_code == 422, r.text
        assert "ahead" in r.json()["error"] or "reach back" in r.json()["error"]
    # Within the bounds: armed now, and a month ahead.
    for start in (time.time(), time.time() + 30 * 24 * 3600):
        r = client.post("/api/streams/cam/recordings", json={"start_time_epoch": start})
        assert r.status_code == 201, r.text
        assert client.delete(f"/api/recordings/{r.json()['id']}").status_code == 200


@pytest.mark.parametrize("body", [
    {"start_time_epoch": 10**20}, {"start_time_epoch": 1.5e9}, {"start_time_epoch": -1},
    {"start_time_epoch": int(time.time()) + 2 * YEAR}, {"alias": "a" * 256},
    {"description": "d" * 4097},
])
def test_livemix_recording_bounds_keep_its_400_envelope(client: httpx.Client,
                                                        body: dict[str, Any]) -> None:
    source = client.post("/v1/source", json={"name": "bounds-cam", "segment_len": 2})
    sid = source.json()["source"]["id"] if source.status_code == 200 else next(
        s["id"] for s in client.get("/v1/source").json()["sources"]
        if s["name"] == "bounds-cam")
    r = client.post(f"/v1/source/{sid}/recording", json=body)
    assert r.status_code == 400, r.text
    answer = r.json()
    assert answer["success"] is False and answer["request_id"]
    assert answer["error"]["code"] == 400
    message = answer["error"]["message"]
    assert message.startswith("invalid recording session parameters: ")
    assert "\n" not in message and "errors.pydantic.dev" not in message


@pytest.mark.parametrize("body", [
    {"name": "src-a", "segment_len": -5}, {"name": "src-b", "segment_len": 10**9},
    {"name": "src-c", "segment_len": 2.5}, {"name": "src-d", "segment_len": 2,
                                            "description": "d" * 4097},
    {"name": "n" * 129, "segment_len": 2}, {"name": "cam\n", "segment_len": 2},
])
def test_livemix_source_bounds(client: httpx.Client, body: dict[str, Any]) -> None:
    r = client.post("/v1/source", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["success"] is False and r.json()["error"]["code"] == 400


# -- Go-HLS-Streamer ----------------------------------------------------------------------

BAD_EXPIRIES = ["-5", "-5", '"-5"', '"99999999h"', "1e308", '"1e308"', "NaN", "Infinity",
                "1" + "0" * 400, '"0s"', "0", '" 5m"', '"5m "', "true", '"48h"', "86401"]


@pytest.mark.parametrize("expiry", BAD_EXPIRIES)
@pytest.mark.parametrize("route", ["/api/token", "/api/batch"])
def test_expiry_out_of_bounds_is_422(client: httpx.Client, route: str, expiry: str) -> None:
    ids = '"qid": "tone.mp3"' if route == "/api/token" else '"qids": ["tone.mp3"]'
    r = _raw(client, route, f'{{{ids}, "expiry": {expiry}}}')
    assert r.status_code == 422, r.text
    assert r.json()["error"].startswith("expiry: ") or "not JSON" in r.json()["error"]


def _rid_expiry(rid: str) -> int:
    payload = rid.split(".")[0]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return int(claims["e"])


@pytest.mark.parametrize(("expiry", "seconds"), [("90s", 90), (600, 600), ("1h30m", 5400),
                                                 ("24h", 86400)])
def test_an_expiry_in_bounds_sets_the_streams_life(client: httpx.Client, expiry: Any,
                                                   seconds: int) -> None:
    r = client.post("/api/token", json={"qid": "tone.mp3", "expiry": expiry})
    assert r.status_code == 201, r.text
    assert abs(_rid_expiry(r.json()["rid"]) - (time.time() + seconds)) < 5
    token_expiry = int(r.json()["token"].split(".")[0])
    assert abs(token_expiry - (time.time() + seconds)) < 5


def test_form_bodies_take_the_same_bounds(client: httpx.Client) -> None:
    ok = client.post("/api/token", data={"qid": "tone.mp3", "expiry": "2m"})
    assert ok.status_code == 201, ok.text
    bad = client.post("/api/batch", data={"qids": ["tone.mp3", "x"], "expiry": "-5m"})
    assert bad.status_code == 422 and bad.json()["error"].startswith("expiry: ")


def test_a_batch_has_at_most_1000_ids_of_at_most_1024_characters(
        client: httpx.Client) -> None:
    _refused(client.post("/api/batch", json={"qids": ["q"] * 1001}), "qids")
    _refused(client.post("/api/batch", json={"qids": ["q" * 1025]}), "qids.0")
    _refused(client.post("/api/token", json={"qid": "q" * 1025}), "qid")


# -- the body reader ----------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    '{"ttl": NaN}', '{"ttl": Infinity}', '{"ttl": -Infinity}', '{"ttl": ' + "9" * 5000 + "}",
    "[" * 100_000, '{"ttl": "\\ud800"}', '{"ttl": 1e400}', "{", "\xff",
])
@pytest.mark.parametrize("route", ["/api/streams/cam/token", "/api/streams/cam/recordings",
                                   "/api/channels", "/api/assets", "/api/token"])
def test_json_that_is_not_rfc_8259_is_422(client: httpx.Client, route: str,
                                          body: str) -> None:
    r = _raw(client, route, body.encode("utf-8", "surrogatepass") if "\xff" not in body
             else b"\xff")
    assert r.status_code == 422, r.text
    assert r.json()["error"]


@pytest.mark.parametrize("ttl", ["8d", 10**400, -1, 0, "1e3s", "NaN"])
def test_a_playback_token_ttl_is_bounded(client: httpx.Client, ttl: Any) -> None:
    _refused(client.post("/api/streams/cam/token", json={"ttl": ttl}), "ttl")


def test_a_lone_surrogate_never_reaches_the_database(client: httpx.Client) -> None:
    r = _raw(client, "/api/streams/cam/recordings", b'{"description": "a\\udc00b"}')
    assert r.status_code == 422, r.text


# -- assets -------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ({"size": -1}, "size"), ({"size": 2**64}, "size"), ({"size": 1.5}, "size"),
    ({"title": "t" * 256}, "title"), ({"url": "http://x/" + "a" * 4096}, "url"),
])
def test_asset_bounds(client: httpx.Client, body: dict[str, Any], field: str) -> None:
    _refused(client.post("/api/assets", json=body), field)


@pytest.mark.parametrize(("query", "field"), [
    ("offset=" + "9" * 30, "offset"), ("offset=-1", "offset"), ("limit=0", "limit"),
    ("limit=1001", "limit"), ("state=bogus", "state"),
])
def test_asset_listing_bounds(client: httpx.Client, query: str, field: str) -> None:
    r = client.get(f"/api/assets?{query}")
    assert r.status_code == 422, r.text
    assert field in r.json()["error"]


# -- HTTP ingest --------------------------------------------------------------------------

@pytest.mark.parametrize("stream", ["cam%0A", "cam%0D%0Ax", "a%00"])
def test_http_ingest_ids_end_where_the_rule_says(client: httpx.Client, stream: str) -> None:
    r = client.put(f"/ingest/{stream}/seg-0.ts", content=b"x")
    assert r.status_code == 400, r.text
    assert client.get("/api/streams").json()["streams"] == []


def _push_playlist(client: httpx.Client, stream: str, playlist: str) -> httpx.Response:
    assert client.put(f"/ingest/{stream}/seg-0.ts", content=b"\x47" * 188).status_code == 201
    return client.put(f"/ingest/{stream}/index.m3u8", content=playlist.encode())


@pytest.mark.parametrize(("tags", "extinf"), [
    ("#EXT-X-TARGETDURATION:4", "1e308"),
    ("#EXT-X-TARGETDURATION:4", "3601"),
    ("#EXT-X-TARGETDURATION:4", "nan"),
    ("#EXT-X-TARGETDURATION:4", "-2"),
    ("#EXT-X-TARGETDURATION:99999999999999999999999", "2"),
    ("#EXT-X-TARGETDURATION:3601", "2"),
    ("#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:18446744073709551616", "2"),
    ("#EXT-X-TARGETDURATION:4\n#EXT-X-PROGRAM-DATE-TIME:9999-12-31T23:59:59.999Z", "2"),
])
def test_pushed_playlists_past_the_bounds_are_400(client: httpx.Client, tags: str,
                                                  extinf: str) -> None:
    playlist = f"#EXTM3U\n{tags}\n#EXTINF:{extinf},\nseg-0.ts\n"
    r = _push_playlist(client, "bounded", playlist)
    assert r.status_code == 400, r.text
    assert r.json()["error"].startswith("malformed playlist index.m3u8: ")


def test_a_pushed_playlist_in_bounds_is_taken(client: httpx.Client) -> None:
    r = _push_playlist(client, "in-bounds",
                       "#EXTM3U\n#EXT-X-TARGETDURATION:3600\n#EXTINF:3600,\nseg-0.ts\n")
    assert r.status_code == 201 and r.json() == {"committed": 1, "awaited": []}, r.text
