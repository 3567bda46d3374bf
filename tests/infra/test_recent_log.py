"""`RecentLog`: the newest warnings and errors of a logger, bounded in number and size,
escaped, one ring per app that leaves nothing behind."""

from __future__ import annotations

import logging
import re
import threading

from hlsd.infra.recent_log import RecentLog


def test_it_keeps_the_newest_warnings_and_errors_only() -> None:
    recent = RecentLog(capacity=3)
    recent.install("hlsd.test.ring")
    log = logging.getLogger("hlsd.test.ring.child")
    try:
        log.info("not kept")
        for n in range(5):
            log.warning("warning %d", n)
        log.error("failed: %s", "the disk")
    finally:
        recent.remove()
    entries = recent.entries()
    assert [e.message for e in entries] == ["warning 3", "warning 4", "failed: the disk"]
    assert [e.level for e in entries] == ["WARNING", "WARNING", "ERROR"]
    assert {e.logger for e in entries} == {"hlsd.test.ring.child"}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e.time) for e in entries)
    assert recent.version == 6


def test_client_text_is_cut_and_escaped() -> None:
    recent = RecentLog(max_message=100)
    recent.install("hlsd.test.cut")
    try:
        logging.getLogger("hlsd.test.cut").warning(
            "stream %r refused", "x\n2026-12-07 ERROR forged line\x1b[2J" + "y" * 10_000)
    finally:
        recent.remove()
    [entry] = recent.entries()
    assert "\n" not in entry.message and "\x1b" not in entry.message
    assert "\\n2026-12-07 ERROR forged line" in entry.message
    assert entry.message.startswith("stream 'x")
    assert len(entry.message) < 130  # 100 characters and a note of how many were cut
    assert entry.message.endswith("chars)")


def test_an_exception_says_what_it_was() -> None:
    recent = RecentLog()
    recent.install("hlsd.test.exc")
    try:
        try:
            raise OSError("no space left on device")
        except OSError:
            logging.getLogger("hlsd.test.exc").exception("writing segment %d failed", 7)
    finally:
        recent.remove()
    # A broken call still leaves its line (handed over directly: other handlers of the
    # test run would fail on it).
    recent.handle(logging.LogRecord("hlsd.test.exc", logging.WARNING, __file__, 1,
                                    "bad %d format", ("not a number",), None))
    first, second = recent.entries()
    assert first.message == "writing segment 7 failed: OSError: no space left on device"
    assert "bad %d format" in second.message


def test_each_app_keeps_its_own_ring_and_removes_it() -> None:
    logger = logging.getLogger("hlsd.test.apps")
    before = list(logger.handlers)
    first, second = RecentLog(), RecentLog()
    first.install("hlsd.test.apps")
    first.install("hlsd.test.apps")  # once, however often asked
    second.install("hlsd.test.apps")
    assert logger.handlers == [*before, first, second]
    logger.warning("both see it")
    first.remove()
    logger.warning("only the second")
    second.remove()
    logger.warning("neither")
    assert logger.handlers == before
    assert [e.message for e in first.entries()] == ["both see it"]
    assert [e.message for e in second.entries()] == ["both see it", "only the second"]


def test_records_from_threads_are_all_kept_within_the_bound() -> None:
    recent = RecentLog(capacity=50)
    recent.install("hlsd.test.threads")
    log = logging.getLogger("hlsd.test.threads")

    def burst(n: int) -> None:
        for i in range(200):
            log.warning("thread %d record %d", n, i)

    try:
        threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        recent.remove()
    assert recent.version == 800
    assert len(recent.entries()) == 50
