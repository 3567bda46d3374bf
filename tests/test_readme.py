"""The README's examples run as written, in order, in one shell, from an empty folder:
an example can never rot again.

Its ``sh`` blocks are one bash script, its ``python`` blocks run as files, and a ``yaml``
block marked ``<!-- readme-test: file NAME -->`` is written to NAME. A block marked
``<!-- readme-test: skip (why) -->`` is not run, and says why. The README's ports (8080
for hlsd, 8081 for its edge, 1935 for its RTMP, 5000 for the upstream) become free ones,
so the tour never meets a server a developer runs; nothing else is changed. Every HTTP
answer must be a success: curl runs with ``--fail-with-body``, and the script stops at the
first command that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._support.hlsd_server import REPO_ROOT, free_port

README = REPO_ROOT / "README.md"
_BLOCK = re.compile(r"(?:<!-- readme-test: (?P<note>[^>]*?) -->\n)?```(?P<kind>\w+)\n"
                    r"(?P<code>.*?)```", re.S)
TOUR_TIMEOUT = 420.0


@dataclass(frozen=True)
class Block:
    kind: str
    code: str
    note: str
    line: int


def blocks(text: str) -> list[Block]:
    return [Block(m["kind"], m["code"], m["note"] or "", text[:m.start()].count("\n") + 1)
            for m in _BLOCK.finditer(text)]


def tour(text: str, folder: Path, ports: dict[str, int]) -> Path:
    """The README's runnable blocks as one script in `folder` (files written there)."""

    def ported(code: str) -> str:
        for written, port in ports.items():
            code = re.sub(rf"\b{written}\b", str(port), code)
        return code

    lines = ["set -eo pipefail",
             # Any HTTP error fails the command it is in (the README uses plain -s).
             'curl() { command curl --fail-with-body "$@"; }']
    for block in blocks(text):
        if block.note.startswith("skip"):
            assert "(" in block.note, f"README line {block.line}: say why it is skipped"
            continue
        if block.kind == "yaml" and block.note.startswith("file "):
            (folder / block.note.split()[1]).write_text(ported(block.code), encoding="utf-8")
        elif block.kind == "sh":
            lines += [f"echo '==== README line {block.line}' >&2", ported(block.code)]
        elif block.kind == "python":
            script = folder / f"readme_{block.line}.py"
            script.write_text(ported(block.code), encoding="utf-8")
            lines += [f"echo '==== README line {block.line}' >&2", f"python {script.name}"]
    path = folder / "tour.sh"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# One test per block: a block that neither runs nor says why is named by its line. (Also
# what makes this module the largest unit xdist hands out, so the tour starts first
# instead of last: its two minutes then overlap the rest of the suite.)
@pytest.mark.parametrize("block", blocks(README.read_text(encoding="utf-8")),
                         ids=lambda block: f"line-{block.line}")
def test_every_block_is_run_or_says_why_not(block: Block) -> None:
    if block.kind in ("sh", "python"):
        assert not block.note or block.note.startswith("skip ("), block
    if block.note.startswith("file "):
        assert block.kind == "yaml", block


def test_the_readme_metrics_are_the_servers(tmp_path: Path) -> None:
    """The metric table of the README names every metric hlsd exports, and no other."""
    from hlsd.app import build_features
    from hlsd.config import load_settings
    from hlsd.features.feature import close_all

    text = README.read_text(encoding="utf-8")
    table = text.split("The metrics (the suite checks", 1)[1].split("- `GET /docs`", 1)[0]
    listed = set(re.findall(r"`(hlsd_[a-z_]+)`", table))
    common, features, _ = build_features(load_settings(None, data_dir=tmp_path))
    try:
        exported = {line.split()[2] for line in common.metrics.render().decode().splitlines()
                    if line.startswith("# HELP hlsd_")}
    finally:
        asyncio.run(close_all(features, []))
    assert listed == {name for name in exported if not name.endswith("_created")}


def test_the_readme_runs_as_written(tmp_path: Path) -> None:
    ports = {"8080": free_port(), "8081": free_port(), "5000": free_port(),
             "1935": free_port()}
    script = tour(README.read_text(encoding="utf-8"), tmp_path, ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HLSD_", "PUSH_SECRET",
                                                                   "PUBLISH_KEY"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    log = tmp_path / "tour.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(["bash", str(script)], cwd=tmp_path, env=env,
                                stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=TOUR_TIMEOUT)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            # Whatever the tour left running (its server, upstream and publishers).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    output = log.read_text(encoding="utf-8", errors="replace")
    server_log = (tmp_path / "hlsd.log")
    tail = server_log.read_text(errors="replace")[-3000:] if server_log.exists() else ""
    assert code == 0, (f"the README's tour stopped (exit {code}); its output:\n"
                       f"{output[-6000:]}\n--- hlsd.log (tail) ---\n{tail}")
    assert "Traceback" not in tail, tail
