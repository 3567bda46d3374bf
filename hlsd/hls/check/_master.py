"""Rules for a Master (Multivariant) Playlist (RFC 8216 §4.3.4, rfc8216bis §4.4.6)."""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from hlsd.hls.check._document import Document, read
from hlsd.hls.check._lines import Attribute, Tag, UriLine, lex, parse_attribute_list
from hlsd.hls.check._tags import MEDIA_ONLY
from hlsd.hls.check._violation import Violation
from hlsd.hls.values import is_decimal_integer

__all__ = ["Reference", "ReferenceKind", "check_master", "master_references"]

# Sample entry codes (the part of a CODECS entry before the first dot) of video formats.
_VIDEO_CODECS = frozenset({
    "avc1", "avc3", "hvc1", "hev1", "dvh1", "dvhe", "dva1", "dvav", "av01", "dav1",
    "vp08", "vp09", "mp4v", "vvc1", "vvi1",
})
_INSTREAM_ID = re.compile(r"CC[1-4]|SERVICE(?:[1-9]|[1-5][0-9]|6[0-3])")
# Variant attributes that name a group of renditions, and the TYPE that group must have.
_GROUP_REFERENCES = (
    ("AUDIO", "AUDIO"), ("VIDEO", "VIDEO"), ("SUBTITLES", "SUBTITLES"),
    ("CLOSED-CAPTIONS", "CLOSED-CAPTIONS"),
)

_Attrs = Mapping[str, Attribute]


def _value(attrs: _Attrs, name: str) -> str | None:
    attribute = attrs.get(name)
    return None if attribute is None else attribute.value


def _is_none_keyword(attribute: Attribute | None) -> bool:
    # CLOSED-CAPTIONS="NONE" names a group; only the unquoted NONE is the keyword.
    return attribute is not None and not attribute.quoted and attribute.value == "NONE"


class ReferenceKind(enum.Enum):
    """How a master playlist names a media playlist."""

    VARIANT = "variant"  # the URI line after EXT-X-STREAM-INF
    I_FRAMES = "i-frames"  # the URI of EXT-X-I-FRAME-STREAM-INF
    RENDITION = "rendition"  # the URI of EXT-X-MEDIA


@dataclass(frozen=True, slots=True)
class Reference:
    """A media playlist a master names, at `line`; `media_type` is a rendition's TYPE."""

    uri: str
    line: int
    kind: ReferenceKind
    media_type: str | None = None


def master_references(text: str) -> list[Reference]:
    """Every media playlist `text` names, in order (what could be read: unreadable
    attribute lists are reported by `check_master`, not here)."""
    items, _ = lex(text)
    found: list[Reference] = []
    for index, item in enumerate(items):
        if not isinstance(item, Tag):
            continue
        if item.name == "EXT-X-STREAM-INF":
            following = items[index + 1] if index + 1 < len(items) else None
            if isinstance(following, UriLine):
                found.append(Reference(following.uri, following.line, ReferenceKind.VARIANT))
            continue
        kind = {"EXT-X-I-FRAME-STREAM-INF": ReferenceKind.I_FRAMES,
                "EXT-X-MEDIA": ReferenceKind.RENDITION}.get(item.name)
        if kind is None:
            continue
        try:
            attrs = parse_attribute_list(item.value or "")
        except ValueError:
            continue
        uri = attrs.get("URI")
        if uri is not None and uri.quoted and uri.value:
            media_type = _value(attrs, "TYPE") if kind is ReferenceKind.RENDITION else None
            found.append(Reference(uri.value, item.line, kind, media_type))
    return found


def check_master(text: str) -> list[Violation]:
    """Every rule for a master playlist."""
    document = read(text)
    found = list(document.violations)
    for tag in document.tags(*MEDIA_ONLY):
        found.append(Violation("tag-wrong-playlist", f"#{tag.name} belongs in a media playlist",
                               tag.line))
    found.extend(_check_uri_lines(document))
    groups = _check_renditions(document, found)
    variants = list(document.tags("EXT-X-STREAM-INF"))
    if not variants:
        found.append(Violation("stream-inf-missing", "a master playlist needs #EXT-X-STREAM-INF"))
    for tag in document.tags("EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF"):
        attrs = document.attributes.get(tag.line)
        if attrs is not None:  # else the attribute list did not parse, reported already
            found.extend(_check_variant(tag, attrs, groups))
    none = [_is_none_keyword(document.attrs(tag).get("CLOSED-CAPTIONS")) for tag in variants]
    if any(none) and not all(none):
        found.append(Violation(
            "closed-captions-none",
            "when one #EXT-X-STREAM-INF has CLOSED-CAPTIONS=NONE, all must",
        ))
    return found


def _check_uri_lines(document: Document) -> list[Violation]:
    found: list[Violation] = []
    expecting: Tag | None = None
    for item in document.items:
        if isinstance(item, UriLine):
            if expecting is None:
                found.append(Violation("uri-unexpected",
                                       f"URI line {item.uri} does not follow #EXT-X-STREAM-INF",
                                       item.line))
            expecting = None
            continue
        if expecting is not None:
            found.append(Violation("stream-inf-uri",
                                   "#EXT-X-STREAM-INF must be followed by its URI line",
                                   expecting.line))
        expecting = item if item.name == "EXT-X-STREAM-INF" else None
    if expecting is not None:
        found.append(Violation("stream-inf-uri",
                               "#EXT-X-STREAM-INF must be followed by its URI line",
                               expecting.line))
    return found


def _check_renditions(document: Document, found: list[Violation]) -> set[tuple[str, str]]:
    """Check EXT-X-MEDIA tags; return the (TYPE, GROUP-ID) pairs they define."""
    groups: set[tuple[str, str]] = set()
    names: Counter[tuple[str, str, str]] = Counter()
    defaults: Counter[tuple[str, str]] = Counter()
    for tag in document.tags("EXT-X-MEDIA"):
        attrs = document.attrs(tag)
        kind, group, name = (_value(attrs, n) for n in ("TYPE", "GROUP-ID", "NAME"))
        if kind is None or group is None:
            continue  # reported as attribute-missing
        groups.add((kind, group))
        if name is not None:
            names[kind, group, name] += 1
            if names[kind, group, name] == 2:
                found.append(Violation("name-duplicate",
                                       f"{kind} group {group!r} has two renditions named {name!r}",
                                       tag.line))
        default = _value(attrs, "DEFAULT") == "YES"
        if default:
            defaults[kind, group] += 1
            if defaults[kind, group] == 2:
                found.append(Violation("default-multiple",
                                       f"{kind} group {group!r} has more than one DEFAULT=YES",
                                       tag.line))
            if _value(attrs, "AUTOSELECT") == "NO":
                found.append(Violation("default-autoselect",
                                       "DEFAULT=YES needs AUTOSELECT=YES", tag.line))
        if "FORCED" in attrs and kind != "SUBTITLES":
            found.append(Violation("forced-type", "FORCED is only for SUBTITLES", tag.line))
        if kind == "SUBTITLES" and "URI" not in attrs:
            found.append(Violation("subtitles-uri", "SUBTITLES renditions need a URI", tag.line))
        if kind == "CLOSED-CAPTIONS":
            found.extend(_check_captions(tag, attrs))
    return groups


def _check_captions(tag: Tag, attrs: _Attrs) -> list[Violation]:
    found: list[Violation] = []
    if "URI" in attrs:
        found.append(Violation("closed-captions-uri",
                               "CLOSED-CAPTIONS renditions must not have a URI", tag.line))
    instream = _value(attrs, "INSTREAM-ID")
    if instream is None:
        found.append(Violation("instream-id-missing",
                               "CLOSED-CAPTIONS renditions need INSTREAM-ID", tag.line))
    elif not _INSTREAM_ID.fullmatch(instream):
        found.append(Violation("attribute-value",
                               f"INSTREAM-ID {instream!r} is not CC1-CC4 or SERVICE1-SERVICE63",
                               tag.line))
    return found


def _has_video(codecs: str) -> bool:
    return any(c.strip().split(".", 1)[0].lower() in _VIDEO_CODECS for c in codecs.split(","))


def _check_variant(tag: Tag, attrs: _Attrs, groups: set[tuple[str, str]]) -> list[Violation]:
    found: list[Violation] = []
    bandwidth = _value(attrs, "BANDWIDTH")
    if bandwidth is None:
        found.append(Violation("bandwidth-missing", f"#{tag.name} needs BANDWIDTH", tag.line))
    codecs = _value(attrs, "CODECS")
    if codecs is None:
        found.append(Violation("codecs-missing", f"#{tag.name} should have CODECS", tag.line))
    elif _has_video(codecs) and "RESOLUTION" not in attrs:
        found.append(Violation("resolution-missing",
                               f"#{tag.name} with video codecs {codecs!r} should have RESOLUTION",
                               tag.line))
    average = _value(attrs, "AVERAGE-BANDWIDTH")
    if (
        bandwidth is not None and average is not None
        and is_decimal_integer(bandwidth)
        and is_decimal_integer(average)
        and int(average) > int(bandwidth)
    ):
        found.append(Violation("average-bandwidth",
                               f"AVERAGE-BANDWIDTH {average} is above BANDWIDTH {bandwidth}",
                               tag.line))
    for attribute, kind in _GROUP_REFERENCES:
        group = attrs.get(attribute)
        if group is None or not group.quoted:
            continue  # absent, or CLOSED-CAPTIONS=NONE
        if (kind, group.value) not in groups:
            found.append(Violation("group-missing",
                                   f"{attribute}={group.value!r} names no #EXT-X-MEDIA with "
                                   f"TYPE={kind} and that GROUP-ID", tag.line))
    return found
