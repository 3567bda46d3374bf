import pytest

from hlsd._units import parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("100MB", 100_000_000), ("512MB", 512_000_000), ("1.5GiB", 1_610_612_736),
    ("200mb", 200_000_000), ("4096", 4096), (10, 10), ("1 KiB", 1024),
])
def test_sizes(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("bad", ["", "MB", "12XB", "-5", True])
def test_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "expected"), [
    ("1m30s", 90.0), ("5m30s", 330.0), ("2h", 7200.0), ("500ms", 0.5), ("1h2m3s", 3723.0),
])
def test_go_durations(text: str, expected: float) -> None:
    assert parse_duration(text) == expected


def test_bare_numbers_use_the_given_unit() -> None:
    # The seed's first hls.yaml said `expiry: 2`, meaning minutes.
    assert parse_duration(2) == 120.0
    assert parse_duration("2") == 120.0
    assert parse_duration(90, bare_unit=1.0) == 90.0


@pytest.mark.parametrize("bad", ["", "m", "1x", "1m 30s", "0s", "-1m", False])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]
