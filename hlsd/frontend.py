"""The front-end's third-party files: hls.js (the players), tus-js-client (the console's
resumable uploads) and Swagger UI (``/docs``).

They are never in the repository and never fetched while hlsd runs. The build puts them
into the package, at ``hlsd/web/vendor/``: ``setup.py``'s ``build_web`` step runs
``npm ci`` on ``package.json`` and ``package-lock.json`` (the versions pinned, each
tarball checked against the lock's integrity hash) and copies the files below out of
``node_modules``; a wheel carries them, an editable install has them in place. In a
source checkout that was never built (run from the tree), the checkout's own
``node_modules`` (``npm ci``) is the fallback. This module is plain standard library:
``setup.py`` loads it by path, before hlsd or its dependencies are installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["ASSETS", "CHECKOUT", "VENDOR", "Asset", "by_name", "locate", "missing_reason"]

VENDOR = Path(__file__).resolve().parent / "web" / "vendor"
"""Where the build puts the files (served at ``/web/vendor/<name>``)."""
CHECKOUT = Path(__file__).resolve().parent.parent
"""The source checkout, when hlsd runs from one (it has ``package-lock.json``)."""


@dataclass(frozen=True, slots=True)
class Asset:
    name: str
    """Its file name in `VENDOR`, and in the URL ``/web/vendor/<name>``."""
    package: str
    """The npm package that ships it (pinned in ``package-lock.json``)."""
    path: str
    """Its path inside that package."""
    media_type: str
    what: str
    """What it is, for messages."""


_TEXT = "text/plain; charset=utf-8"
ASSETS: tuple[Asset, ...] = (
    Asset("hls.min.js", "hls.js", "dist/hls.min.js", "text/javascript", "hls.js"),
    Asset("hls.js.LICENSE.txt", "hls.js", "LICENSE", _TEXT, "hls.js's licence"),
    Asset("tus.min.js", "tus-js-client", "dist/tus.min.js", "text/javascript",
          "tus-js-client"),
    Asset("tus-js-client.LICENSE.txt", "tus-js-client", "LICENSE", _TEXT,
          "tus-js-client's licence"),
    Asset("swagger-ui-bundle.js", "swagger-ui-dist", "swagger-ui-bundle.js", "text/javascript",
          "Swagger UI"),
    Asset("swagger-ui.css", "swagger-ui-dist", "swagger-ui.css", "text/css", "Swagger UI"),
    Asset("swagger-ui-favicon.png", "swagger-ui-dist", "favicon-32x32.png", "image/png",
          "Swagger UI"),
    Asset("swagger-ui.LICENSE.txt", "swagger-ui-dist", "LICENSE", _TEXT, "Swagger UI's licence"),
    Asset("swagger-ui.NOTICE.txt", "swagger-ui-dist", "NOTICE", _TEXT, "Swagger UI's notice"),
    Asset("swagger-ui-bundle.js.LICENSE.txt", "swagger-ui-dist",
          "swagger-ui-bundle.js.LICENSE.txt", _TEXT, "the licences bundled in Swagger UI"),
)
VERSIONS = "versions.json"
"""Written beside the files by the build: {npm package: version}."""


def by_name(name: str) -> Asset | None:
    for asset in ASSETS:
        if asset.name == name:
            return asset
    return None


def locate(asset: Asset, *, vendor: Path = VENDOR, checkout: Path = CHECKOUT) -> Path | None:
    """The file, from the package (built), else from a source checkout's
    ``node_modules``; None when neither has it."""
    built = vendor / asset.name
    if built.is_file():
        return built
    if (checkout / "package-lock.json").is_file():
        installed = checkout / "node_modules" / asset.package / asset.path
        if installed.is_file():
            return installed
    return None


def missing_reason(asset: Asset) -> str:
    """What to tell a user whose installation lacks `asset`."""
    return (f"{asset.what} is not part of this hlsd installation (hlsd/web/vendor/"
            f"{asset.name} is missing). It is put there when hlsd is installed or built "
            "(`pip install .`, `pip install -e .`), by npm from the versions "
            "package-lock.json pins: install npm (e.g. `apt-get install npm`) and install "
            "hlsd again. In a source checkout, `npm ci` also provides it.")
