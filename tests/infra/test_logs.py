"""Log lines no client can stall or forge: values cut and escaped, bounded formatting."""

from __future__ import annotations

import json
import logging
import sys
import time

from hlsd.infra.logs import (
    MAX_MESSAGE,
    MAX_VALUE,
    JsonFormatter,
    LogFormat,
    PlainFormatter,
    clip,
    escape,
    server_log_config,
)


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\x1b[2Jthing")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("hlsd.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_clip_cuts_long_values_and_says_how_much() -> None:
    out = clip("x" * 70_000)
    assert out.startswith("x" * MAX_VALUE)
    assert out.endswith(f"…(+{70_000 - MAX_VALUE} chars)")
    assert clip("short") == "short"
    assert clip(12345, limit=3) == "123…(+2 chars)"


def test_control_characters_and_terminal_escapes_are_written_out() -> None:
    hostile = "cam\n2026-12-06 INFO hlsd: admin logged in\r\x1b[31mred\x00\x7f\x85\u2028"
    out = clip(hostile)
    assert "\n" not in out and "\r" not in out and "\x1b" not in out and "\x00" not in out
    assert "\u2028" not in out and "\x85" not in out
    assert out == ("cam\\n2026-12-06 INFO hlsd: admin logged in\\r\\x1b[31mred\\x00\\x7f"
                   "\\x85\\u2028")
    assert escape("é ü 日本") == "é ü 日本"  # printable text is left alone


def test_clipping_is_linear_in_the_limit_not_the_value() -> None:
    huge = "a\n" * 5_000_000
    started = time.perf_counter()
    for _ in range(100):
        clip(huge)
    assert time.perf_counter() - started < 1.0  # 100 cuts of a 10 MB value: a slice each


def test_the_plain_formatter_keeps_every_message_on_one_bounded_line() -> None:
    line = PlainFormatter().format(_record("ingest %s refused: %s", "a\nb", "z" * 100_000))
    assert "\n" not in line
    assert len(line) < MAX_MESSAGE + 200
    assert "INFO hlsd.test: ingest a\\nb refused: zzz" in line


def test_a_traceback_keeps_its_lines_but_not_its_escapes() -> None:
    text = PlainFormatter().format(_record("failed", exc=True))
    assert text.startswith(text.splitlines()[0]) and "Traceback" in text
    assert "\x1b" not in text and "ValueError: bad\\x1b[2Jthing" in text


def test_a_broken_format_string_still_logs_a_line() -> None:
    line = PlainFormatter().format(_record("%d items", "not a number"))
    assert "%d items" in line


def test_json_lines_are_one_object_per_line() -> None:
    line = JsonFormatter().format(_record("stream %r: published", "cam\n1", exc=True))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "info" and entry["logger"] == "hlsd.test"
    assert entry["message"] == "stream 'cam\\n1': published"
    assert "ValueError" in entry["exception"]
    assert entry["time"].endswith("Z")


def test_the_server_config_routes_the_engines_loggers_to_one_handler() -> None:
    config = server_log_config("INFO", LogFormat.JSON)
    assert config["formatters"]["hlsd"]["()"] == "hlsd.infra.logs.JsonFormatter"
    assert config["root"] == {"handlers": ["stderr"], "level": "INFO"}
    for engine in ("_granian", "granian.access", "uvicorn", "uvicorn.error",
                   "uvicorn.access"):
        assert config["loggers"][engine]["handlers"] == []
        assert config["loggers"][engine]["propagate"] is True
