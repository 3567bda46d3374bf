import pytest

from hlsd.api._asgi import Cors, byte_range


@pytest.mark.parametrize(("spec", "expected"), [
    (b"bytes=0-99", (0, 100)), (b"bytes=10-", (10, 1000)), (b"bytes=-100", (900, 1000)),
    (b"bytes=900-5000", (900, 1000)), (b"bytes=1000-", (1000, 1000)),
    (b"bytes=0-1,5-9", None), (b"items=0-1", None), (b"bytes=a-b", None), (b"bytes=-0", None),
    (b"bytes=5-2", (1000, 1000)),
])
def test_byte_ranges(spec: bytes, expected: tuple[int, int] | None) -> None:
    assert byte_range(spec, 1000) == expected


def test_cors_for_listed_origins_only() -> None:
    cors = Cors(["https://a.example"])
    assert cors.headers(None) == []
    assert dict(cors.headers(b"https://a.example"))[b"access-control-allow-origin"] == \
        b"https://a.example"
    assert cors.headers(b"https://evil.example") == []
    assert dict(Cors(["*"]).headers(b"https://x"))[b"access-control-allow-origin"] == b"*"
