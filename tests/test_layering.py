"""The layers hold: `api/` and `delivery/` turn requests into calls on services, so
neither imports the database layer (`hlsd.db`) or SQLAlchemy, and `delivery/` does not
lean on `api/`; `hls/`, `media/` and `console/` know no HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import hlsd

PACKAGE = Path(hlsd.__file__).parent
DATABASE = ("hlsd.db", "sqlalchemy")
HTTP = ("starlette", "fastapi", "httpx", "hlsd.api", "hlsd.delivery")
RULES = {"api": DATABASE, "delivery": (*DATABASE, "hlsd.api"), "hls": HTTP, "media": HTTP,
         "console": (*HTTP, *DATABASE)}
"""Each package, and what none of its modules may import."""


def _imports(path: Path, package: tuple[str, ...]) -> set[str]:
    """Every module `path` imports, relative imports resolved against `package`."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - (node.level - 1)])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize("package", sorted(RULES))
def test_no_module_imports_what_its_layer_may_not(package: str) -> None:
    forbidden = RULES[package]
    offenders = {}
    for path in sorted((PACKAGE / package).rglob("*.py")):
        found = _imports(path, path.parent.relative_to(PACKAGE.parent).parts)
        if _forbidden(found, forbidden):
            offenders[path.name] = sorted(m for m in found if _forbidden({m}, forbidden))
    assert offenders == {}


def _forbidden(found: set[str], forbidden: tuple[str, ...] = DATABASE) -> bool:
    return any(m == f or m.startswith(f + ".") for m in found for f in forbidden)


@pytest.mark.parametrize("line", [
    "import hlsd.db.repo", "from hlsd.db import repo", "from hlsd import db",
    "from .. import db", "from ..db.models import AssetRow",
    "from sqlalchemy.ext.asyncio import AsyncSession", "import sqlalchemy as sa"])
def test_the_check_sees_imports_of_every_form(tmp_path: Path, line: str) -> None:
    module = tmp_path / "m.py"
    module.write_text(line + "\n")
    assert _forbidden(_imports(module, ("hlsd", "api")))
    module.write_text("from hlsd.recording.queries import Recording\nfrom . import _json\n")
    assert not _forbidden(_imports(module, ("hlsd", "api")))
