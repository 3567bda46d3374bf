"""The stream id and the publish key, from wherever clients put them."""

from __future__ import annotations

import pytest

from hlsd.ingest.rtmp._target import Target, publish_target


@pytest.mark.parametrize(("name", "tc_url", "app", "expected"), [
    # FFmpeg rtmp://h/live/cam1?key=K, OBS's Stream Key "cam1?key=K"
    ("cam1?key=K", "rtmp://h/live", "live", Target("cam1", "K")),
    # OBS's Server "rtmp://h/live?key=K": both tcUrl and app carry the query
    ("cam1", "rtmp://h:1935/live?key=K", "live?key=K", Target("cam1", "K")),
    # a client that only puts it on the app
    ("cam1", "rtmp://h/live", "live?key=K", Target("cam1", "K")),
    # the name's key wins
    ("cam1?key=A", "rtmp://h/live?key=B", "live?key=B", Target("cam1", "A")),
    ("cam1?other=1&key=K", "", "", Target("cam1", "K")),
    ("cam1", "rtmp://h/live", "live", Target("cam1", None)),
    ("cam1?key=", "rtmp://h/live?key=K", "live", Target("cam1", "K")),
    ("cam1", "http://[bad", "live?key=K", Target("cam1", "K")),
    ("", "", "", Target("", None)),
])
def test_publish_target(name: str, tc_url: str, app: str, expected: Target) -> None:
    assert publish_target(name, tc_url=tc_url, app=app) == expected


def test_a_query_of_too_many_fields_gives_no_key() -> None:
    assert publish_target("cam1?" + "a=1&" * 100 + "key=K", tc_url="", app="").key is None
