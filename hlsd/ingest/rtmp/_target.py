"""Which stream a publisher names, and the key it gives.

``rtmp://HOST:PORT/<app>/<stream>``: any app. The key comes as ``?key=K`` on the publish
name (OBS's "Stream Key" field ``cam1?key=K``; FFmpeg keeps a URL's query on the name),
or on the server URL, which clients send as the ``connect`` command's ``tcUrl`` and
``app`` (OBS with ``rtmp://HOST/live?key=K``). The name's key wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Target", "publish_target"]

_MAX_FIELDS = 32


@dataclass(frozen=True, slots=True)
class Target:
    stream: str
    """The publish name without its query."""
    key: str | None


def _key(query: str) -> str | None:
    try:
        fields = parse_qsl(query, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except ValueError:  # more fields than any client sends
        return None
    return next((value for name, value in fields if name == "key" and value), None)


def _query(text: str) -> str:
    return text.partition("?")[2]


def publish_target(name: str, *, tc_url: str, app: str) -> Target:
    stream, _, query = name.partition("?")
    key = _key(query)
    if key is None:
        try:
            key = _key(urlsplit(tc_url).query)
        except ValueError:  # not a URL; its query may still be read from the app
            key = None
    if key is None:
        key = _key(_query(app))
    return Target(stream, key)
