"""`api/` turns requests into calls on services: it holds no database queries, so no
module of it imports the database layer (`hlsd.db`) or SQLAlchemy."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hlsd.api

API = Path(hlsd.api.__file__).parent
FORBIDDEN = ("hlsd.db", "sqlalchemy")
NOT_YET = {"vod_assets.py"}
"""Its asset lookup moves to `AssetService.get` with the playback rewrite (`delivery/`)."""


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against hlsd.api
                base = ".".join(["hlsd", "api"][: 2 - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_no_api_module_imports_the_database_layer() -> None:
    offenders = {}
    for path in sorted(API.rglob("*.py")):
        if path.name in NOT_YET:
            continue
        found = _imports(path)
        if _forbidden(found):
            offenders[path.name] = sorted(m for m in found if _forbidden({m}))
    assert offenders == {}


def _forbidden(found: set[str]) -> bool:
    return any(m == f or m.startswith(f + ".") for m in found for f in FORBIDDEN)


@pytest.mark.parametrize("line", [
    "import hlsd.db.repo", "from hlsd.db import repo", "from hlsd import db",
    "from .. import db", "from ..db.models import AssetRow",
    "from sqlalchemy.ext.asyncio import AsyncSession", "import sqlalchemy as sa"])
def test_the_check_sees_imports_of_every_form(tmp_path: Path, line: str) -> None:
    module = tmp_path / "m.py"
    module.write_text(line + "\n")
    assert _forbidden(_imports(module))
    module.write_text("from hlsd.recording.queries import Recording\nfrom . import _json\n")
    assert not _forbidden(_imports(module))
