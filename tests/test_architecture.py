"""docs/ARCHITECTURE.md stays true to the code: it names every module there is (by its
path below ``hlsd/``, in backticks), and no module that is gone."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hlsd"
DOC = ROOT / "docs" / "ARCHITECTURE.md"


def _defines_something(init: Path) -> bool:
    """A package's ``__init__.py`` is a module to name when it defines functions or
    classes, not when it only gathers its package's public names."""
    tree = ast.parse(init.read_text())
    return any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
               for node in tree.body)


def _modules() -> set[str]:
    return {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
            if path.name != "__init__.py" or _defines_something(path)}


def _named() -> set[str]:
    """Backticked paths of modules below ``hlsd/`` (``tests/``, ``bench/`` and
    ``scripts/`` paths are other trees)."""
    return {name for name in re.findall(r"`([\w/]+\.py)`", DOC.read_text())
            if not name.startswith(("tests/", "bench/", "scripts/")) and name != "setup.py"}


def test_every_module_is_named_in_the_architecture_doc() -> None:
    missing = sorted(_modules() - _named())
    assert not missing, f"docs/ARCHITECTURE.md does not name: {', '.join(missing)}"


def test_the_architecture_doc_names_no_module_that_is_gone() -> None:
    gone = sorted(name for name in _named() if not (PACKAGE / name).is_file())
    assert not gone, f"docs/ARCHITECTURE.md names modules that are not there: {gone}"
