"""Default listeners step aside when they cannot start; explicit ones stop the start."""

from __future__ import annotations

import logging
import socket

import pytest

from hlsd.ingest.listeners import ListenerFailed, Listening, parse_listen, start_listener


class _Tcp:
    """A real listener: a TCP server socket."""

    def __init__(self) -> None:
        self._sock: socket.socket | None = None

    async def start(self, host: str, port: int) -> None:
        sock = socket.socket()
        try:
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.listen()
        self._sock = sock

    @property
    def port(self) -> int:
        assert self._sock is not None
        return int(self._sock.getsockname()[1])

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


class _Missing(RuntimeError):
    pass


class _NoLibrary(_Tcp):
    async def start(self, host: str, port: int) -> None:
        raise _Missing("libsrt is not installed")


@pytest.fixture
def taken() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


@pytest.mark.parametrize(("listen", "expected"), [
    (":1935", ("10.0.0.1", 1935)), ("127.0.0.1:0", ("127.0.0.1", 0)),
    ("[::1]:8890", ("::1", 8890)), ("0.0.0.0:65535", ("0.0.0.0", 65535))])
def test_listen_addresses(listen: str, expected: tuple[str, int]) -> None:
    assert parse_listen(listen, "10.0.0.1") == expected


@pytest.mark.parametrize("listen", ["1935", "host:", "host:port", ":70000", ""])
def test_bad_listen_addresses(listen: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen(listen, "127.0.0.1")


async def test_a_default_listener_whose_port_is_taken_warns_once_and_is_skipped(
        taken: socket.socket, caplog: pytest.LogCaptureFixture) -> None:
    port = taken.getsockname()[1]
    with caplog.at_level(logging.WARNING, logger="hlsd.ingest.listeners"):
        started = await start_listener(_Tcp(), Listening("rtmp", f":{port}", explicit=False),
                                       default_host="127.0.0.1")
    assert started is False
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert f"RTMP cannot listen on 127.0.0.1:{port}" in record.getMessage()
    assert "rtmp.listen" in record.getMessage()
    taken.close()


async def test_an_explicit_listener_whose_port_is_taken_stops_the_start(
        taken: socket.socket) -> None:
    port = taken.getsockname()[1]
    with pytest.raises(ListenerFailed, match=rf"RTMP cannot listen on 127.0.0.1:{port}.*rtmp"):
        await start_listener(_Tcp(), Listening("rtmp", f"127.0.0.1:{port}", explicit=True),
                             default_host="127.0.0.1")
    taken.close()


async def test_a_missing_library_is_a_warning_by_default_and_an_error_when_asked_for(
        caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hlsd.ingest.listeners"):
        assert not await start_listener(_NoLibrary(), Listening("srt", ":0", explicit=False),
                                        default_host="127.0.0.1", unavailable=_Missing)
    assert "SRT is unavailable: libsrt is not installed" in caplog.text
    with pytest.raises(ListenerFailed, match=r"srt\.listen"):
        await start_listener(_NoLibrary(), Listening("srt", ":0", explicit=True),
                             default_host="127.0.0.1", unavailable=_Missing)


async def test_a_free_port_starts() -> None:
    listener = _Tcp()
    assert await start_listener(listener, Listening("rtmp", ":0", explicit=False),
                                default_host="127.0.0.1")
    assert listener.port > 0
    await listener.close()
