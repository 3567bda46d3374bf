"""Append a query (an access token, say) to every URI of a rendered playlist.

This runs per request on cached playlist text, so it is one pass over the lines with
no parsing beyond the attribute lists that hold a URI.
"""

from __future__ import annotations

import re

__all__ = ["with_query"]

# One attribute of an attribute list (RFC 8216 §4.2). Matching whole quoted-strings
# keeps a comma or `URI=` inside another attribute's value from being taken for one.
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^",]*)')
# RFC 3986 query characters. Anything else (a quote, white space, a line break) would
# let a client-supplied token rewrite the playlist, so it is refused, not escaped.
_QUERY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/?%]*")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_WEB_SCHEMES = frozenset({"http", "https"})


def with_query(text: str, query: str, *, relative_only: bool = False) -> str:
    """Return `text` with `query` (already URL-encoded, e.g. "token=abc") added to the
    URI lines and to every `URI="..."` attribute (EXT-X-MAP, EXT-X-MEDIA, EXT-X-KEY,
    EXT-X-I-FRAME-STREAM-INF, ...), with `?` or `&` as each URI needs.

    URIs with a scheme other than http(s) (`data:`, `skd:`) are left alone: a query
    would change what they mean. With `relative_only`, absolute URIs are left alone too,
    so a token for this server is not handed to another host.

    ValueError if `query` holds characters a URI query cannot (it must be URL-encoded).
    """
    if not _QUERY.fullmatch(query):
        raise ValueError(f"query is not URL-encoded: {query!r}")
    query = query.lstrip("?&")
    if not query:
        return text

    def add(uri: str) -> str:
        return _add_query(uri, query, relative_only)

    def replace(match: re.Match[str]) -> str:
        name, value = match.group(1), match.group(2)
        if name != "URI" or not value.startswith('"'):
            return match.group(0)
        return f'URI="{add(value[1:-1])}"'

    lines = text.split("\n")
    for index, line in enumerate(lines):
        if not line or line.isspace():
            continue
        if line.startswith("#"):
            # EXTINF carries a free-text title, never a URI attribute.
            if 'URI="' in line and line.startswith("#EXT") and not line.startswith("#EXTINF"):
                tag, colon, attributes = line.partition(":")
                lines[index] = tag + colon + _ATTRIBUTE.sub(replace, attributes)
            continue
        ending = "\r" if line.endswith("\r") else ""
        lines[index] = add(line[: len(line) - len(ending)]) + ending
    return "\n".join(lines)


def _add_query(uri: str, query: str, relative_only: bool) -> str:
    scheme = _SCHEME.match(uri)
    if scheme is not None:
        if relative_only or scheme.group(0)[:-1].lower() not in _WEB_SCHEMES:
            return uri
    elif relative_only and uri.startswith("//"):
        return uri
    base, hashmark, fragment = uri.partition("#")
    if "?" not in base:
        separator = "?"
    elif base.endswith(("?", "&")):
        separator = ""
    else:
        separator = "&"
    return f"{base}{separator}{query}{hashmark}{fragment}"
