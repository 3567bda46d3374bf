"""The package carries its front-end files (hls.js, Swagger UI), made at build time and
never committed: a wheel built from the repository's files holds them, an installed
wheel serves them, and an editable install has them in place.

The builds are real: pip in its isolated build environment (setuptools from PyPI) runs
setup.py's ``build_web``, whose ``npm ci`` takes the pinned versions from the npm
registry (or npm's cache). Each build takes about 5 s here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hlsd import frontend
from tests._support.browser import REQUIRE_ENV
from tests._support.hlsd_server import REPO_ROOT, HlsdServer

VENDOR = "hlsd/web/vendor/"

pytestmark = pytest.mark.skipif(
    shutil.which("npm") is None and os.environ.get(REQUIRE_ENV, "") in ("", "0"),
    reason="building hlsd needs npm (scripts/test sets it up)")


def _tracked() -> list[str]:
    """The repository's files: committed, or new and not ignored (a work in progress)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO_ROOT, check=True, capture_output=True, text=True).stdout
    return out.splitlines()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository's files, as a fresh clone has them."""
    copy = tmp_path_factory.mktemp("source") / "hlsd"
    for name in _tracked():
        path = REPO_ROOT / name
        if path.is_symlink() or not path.is_file():
            continue  # a node_modules link of a work tree; deleted files
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, copy / name)
    return copy


def _pip(*args: str | Path) -> None:
    result = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q",
                             *map(str, args)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def wheel(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "--no-deps", "-w", out, source)
    [built] = out.glob("hlsd-*.whl")
    return built


def _locked_versions() -> dict[str, str]:
    lock = json.loads((REPO_ROOT / "package-lock.json").read_text())["packages"]
    return {name: lock[f"node_modules/{name}"]["version"]
            for name in {a.package for a in frontend.ASSETS}}


def test_the_wheel_carries_the_front_end_files_the_repository_does_not(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for asset in frontend.ASSETS:
            assert VENDOR + asset.name in names, asset.name
        assert len(z.read(VENDOR + "hls.min.js")) > 100_000
        assert b"SwaggerUIBundle" in z.read(VENDOR + "swagger-ui-bundle.js")
        assert json.loads(z.read(VENDOR + frontend.VERSIONS)) == _locked_versions()
        assert {"hlsd/web/pages.js", "hlsd/web/console/shell.html",
                "hlsd/web/console/lib.js", "hlsd/web/console/console.css",
                "hlsd/web/console/pages/spectate.js", "hlsd/web/console/pages/overview.js",
                "hlsd/web/client/hlsd-ws-client.js"} <= names
    committed = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, check=True,
                               capture_output=True, text=True).stdout.splitlines()
    bundles = {name for a in frontend.ASSETS if not a.media_type.startswith("text/plain")
               for name in (a.name, Path(a.path).name)}
    assert [f for f in committed if f.startswith(VENDOR) or Path(f).name in bundles] == []


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HlsdServer]:
    """hlsd installed from the wheel (not editable, no source checkout anywhere near)."""
    root = tmp_path_factory.mktemp("installed")
    _pip("install", "--no-deps", "--target", root / "site", wheel)
    with HlsdServer({}, tmp_dir=root / "node", env={"PYTHONPATH": str(root / "site")}) as hlsd:
        yield hlsd


def test_an_installed_wheel_serves_hls_js_and_swagger_ui(installed: HlsdServer,
                                                         wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z, httpx.Client(base_url=installed.url) as c:
        hls = c.get("/web/vendor/hls.min.js")
        assert hls.status_code == 200 and hls.content == z.read(VENDOR + "hls.min.js")
        assert hls.headers["content-type"].startswith("text/javascript")
        docs = c.get("/docs")
        assert docs.status_code == 200
        assert "/web/vendor/swagger-ui-bundle.js" in docs.text and "://" not in docs.text
        for asset in frontend.ASSETS:
            assert c.get(f"/web/vendor/{asset.name}").status_code == 200, asset.name
        console = c.get("/")  # the console: its shell, and every module it runs
        assert console.status_code == 200 and "/ui/static/pages/overview.js" in console.text
        for page in ("overview", "stream", "channels", "channel", "assets", "asset",
                     "recordings", "recording", "sources", "spectate"):
            assert c.get(f"/ui/static/pages/{page}.js").status_code == 200, page
        assert c.get("/ui/static/lib.js").status_code == 200


def test_an_editable_install_has_the_files_in_place(source: Path, tmp_path: Path) -> None:
    """``pip install -e .`` (the README's command), in a venv of its own."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    venv], check=True)
    python = str(venv / "bin" / "python")
    _pip("--python", python, "install", "--no-deps", "-e", source)
    for asset in frontend.ASSETS:
        assert (source / VENDOR / asset.name).is_file(), asset.name
    where = subprocess.run(
        [python, "-c", "from hlsd import frontend as f; "
                       "print(*(f.locate(a) for a in f.ASSETS), sep='\\n')"],
        cwd=tmp_path, check=True, capture_output=True, text=True).stdout.split()
    assert where == [str(source / VENDOR / a.name) for a in frontend.ASSETS]
