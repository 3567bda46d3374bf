"""The one build step pyproject.toml cannot say: the front-end's third-party files.

``build_web`` (a ``build`` sub-command, so it runs for wheels, sdists' wheels and
editable installs alike) runs ``npm ci`` on a copy of package.json and
package-lock.json in a temporary folder: npm fetches the pinned versions from the
registry it is configured for and checks each against the lock's integrity hash; no
install script runs. The files `hlsd.frontend.ASSETS` names are then copied into
``hlsd/web/vendor/``: into the build folder for a wheel, in place (the source tree, where
an editable install reads them) for an editable install. They are never committed
(.gitignore) and never fetched at run time.

Without npm the build stops and says so; ``HLSD_WEB_ASSETS=skip`` builds without the
files (the pages then say on the page what is missing).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from setuptools import Command, setup
from setuptools.command.build import build
from setuptools.errors import ExecError

ROOT = Path(__file__).resolve().parent
LOCK_FILES = ("package.json", "package-lock.json")
VENDOR = Path("hlsd", "web", "vendor")


def _frontend() -> ModuleType:
    """`hlsd.frontend`, loaded by path: hlsd's dependencies are not installed yet."""
    spec = importlib.util.spec_from_file_location("_hlsd_frontend", ROOT / "hlsd" / "frontend.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


class BuildWeb(Command):
    description = ("put hls.js, tus-js-client and Swagger UI into hlsd/web/vendor (npm ci of "
                   "package-lock.json)")
    user_options: list[tuple[str, str | None, str]] = []
    editable_mode = False

    def initialize_options(self) -> None:
        self.build_lib: str | None = None

    def finalize_options(self) -> None:
        self.set_undefined_options("build_py", ("build_lib", "build_lib"))

    def _target(self) -> Path:
        if self.editable_mode or self.build_lib is None:
            return ROOT / VENDOR
        return Path(self.build_lib) / VENDOR

    def run(self) -> None:
        if os.environ.get("HLSD_WEB_ASSETS", "").lower() == "skip":
            print("build_web: HLSD_WEB_ASSETS=skip: hls.js and Swagger UI left out; the "
                  "pages will say they are missing", file=sys.stderr)
            return
        npm = shutil.which("npm")
        if npm is None:
            raise ExecError(
                "hlsd's build needs npm to bring hls.js and Swagger UI (the versions "
                "package-lock.json pins) into the package: install npm (e.g. `apt-get "
                "install npm`) and build again, or set HLSD_WEB_ASSETS=skip to build "
                "without them")
        frontend = _frontend()
        target = self._target()
        with tempfile.TemporaryDirectory(prefix="hlsd-web-") as work:
            folder = Path(work)
            for name in LOCK_FILES:
                shutil.copyfile(ROOT / name, folder / name)
            try:
                subprocess.run([npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund",
                                "--prefer-offline", "--loglevel=error"],
                               cwd=folder, check=True, stdout=subprocess.DEVNULL)
            except subprocess.CalledProcessError as exc:
                raise ExecError(f"npm ci failed (exit code {exc.returncode}): hls.js and "
                                "Swagger UI could not be fetched; see npm's message "
                                "above") from exc
            modules = folder / "node_modules"
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            versions = {}
            for asset in frontend.ASSETS:
                source = modules / asset.package / asset.path
                if not source.is_file():
                    raise ExecError(f"npm's {asset.package} has no {asset.path}: does "
                                    "package-lock.json pin the version hlsd expects?")
                shutil.copyfile(source, target / asset.name)
                manifest = json.loads((modules / asset.package / "package.json").read_text())
                versions[asset.package] = manifest["version"]
            (target / frontend.VERSIONS).write_text(json.dumps(versions, indent=1) + "\n")
        print(f"build_web: {', '.join(f'{k} {v}' for k, v in versions.items())} "
              f"into {target}", file=sys.stderr)

    def get_outputs(self) -> list[str]:
        target = self._target()
        frontend = _frontend()
        names = [a.name for a in frontend.ASSETS] + [frontend.VERSIONS]
        return [str(target / name) for name in names]

    def get_output_mapping(self) -> dict[str, str]:
        return {}  # made, not copied from a source file

    def get_source_files(self) -> list[str]:
        return list(LOCK_FILES)  # so an sdist can build its wheel


build.sub_commands.append(("build_web", None))
setup(cmdclass={"build_web": BuildWeb})
