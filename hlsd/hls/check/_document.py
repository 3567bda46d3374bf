"""A playlist read for rule checking, with the checks that hold for master and media
playlists alike: the #EXTM3U line, tag values and attribute lists, tags that may appear
once, EXT-X-VERSION against the features used (RFC 8216 §7, rfc8216bis §8), and
whether the `m3u8` library can read the text at all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import m3u8

from hlsd.hls.check._lines import Attribute, Tag, UriLine, lex, parse_attribute_list
from hlsd.hls.check._tags import (
    ATTRIBUTE_LISTS,
    NO_VALUE,
    ONCE,
    AttributeSpec,
    ValueKind,
)
from hlsd.hls.check._violation import Violation
from hlsd.hls.values import is_decimal_integer

__all__ = ["Document", "read"]

_NO_ATTRIBUTES: Mapping[str, Attribute] = {}


@dataclass(frozen=True)
class Document:
    """Tags and URI lines in order, the attribute lists that could be read (by line),
    and the violations found while reading."""

    items: tuple[Tag | UriLine, ...]
    attributes: Mapping[int, Mapping[str, Attribute]]
    violations: tuple[Violation, ...]

    def tags(self, *names: str) -> Iterator[Tag]:
        return (item for item in self.items if isinstance(item, Tag) and item.name in names)

    def first(self, name: str) -> Tag | None:
        return next(self.tags(name), None)

    def attrs(self, tag: Tag) -> Mapping[str, Attribute]:
        return self.attributes.get(tag.line, _NO_ATTRIBUTES)


def read(text: str) -> Document:
    """Read `text` and run the checks common to every playlist."""
    items, violations = lex(text)
    attributes: dict[int, Mapping[str, Attribute]] = {}
    counts: Counter[str] = Counter()
    for item in items:
        if not isinstance(item, Tag):
            continue
        counts[item.name] += 1
        if counts[item.name] == 2 and item.name in ONCE:
            violations.append(
                Violation("duplicate-tag", f"#{item.name} must not appear twice", item.line)
            )
        if item.name in NO_VALUE and item.value is not None:
            violations.append(
                Violation("tag-value", f"#{item.name} takes no value", item.line)
            )
        specs = ATTRIBUTE_LISTS.get(item.name)
        if specs is not None:
            parsed = _attribute_list(item, specs, violations)
            if parsed is not None:
                attributes[item.line] = parsed
    document = Document(tuple(items), attributes, ())
    violations.extend(_version_violations(document))
    try:
        m3u8.parse(text)
    except Exception as error:  # any failure of the reference parser is the finding
        violations.append(Violation("m3u8-parse", f"the m3u8 library fails: {error!r}"))
    return Document(document.items, attributes, tuple(violations))


def _attribute_list(
    tag: Tag, specs: Mapping[str, AttributeSpec], violations: list[Violation]
) -> Mapping[str, Attribute] | None:
    try:
        parsed = parse_attribute_list(tag.value or "")
    except ValueError as error:
        violations.append(
            Violation("attribute-syntax", f"#{tag.name} attribute list: {error}", tag.line)
        )
        return None
    for name, spec in specs.items():
        attribute = parsed.get(name)
        if attribute is None:
            if spec.required:
                violations.append(
                    Violation("attribute-missing", f"#{tag.name} needs {name}", tag.line)
                )
            continue
        problem = _attribute_problem(name, attribute, spec)
        if problem is not None:
            rule, message = problem
            violations.append(Violation(rule, f"#{tag.name}: {message}", tag.line))
    return parsed


def _attribute_problem(
    name: str, attribute: Attribute, spec: AttributeSpec
) -> tuple[str, str] | None:
    if spec.kind is ValueKind.QUOTED:
        if attribute.quoted or attribute.value in spec.quoted_or:
            return None
        return "attribute-type", f"{name} must be a quoted-string"
    if attribute.quoted:
        return "attribute-type", f"{name} must not be quoted"
    if not spec.kind.value.fullmatch(attribute.value):
        kind = spec.kind.name.lower().replace("_", " ")
        return "attribute-type", f"{name}={attribute.value} is not a valid {kind}"
    if spec.choices and attribute.value not in spec.choices:
        allowed = ", ".join(sorted(spec.choices))
        return "attribute-value", f"{name}={attribute.value} is not one of {allowed}"
    return None


def _declared_version(document: Document) -> tuple[int, list[Violation]]:
    tag = document.first("EXT-X-VERSION")
    if tag is None:
        return 1, []  # no tag means version 1 (RFC 8216 §4.3.1.2)
    if tag.value is None or not is_decimal_integer(tag.value):
        return 1, [Violation("tag-value", "EXT-X-VERSION must be an integer", tag.line)]
    return int(tag.value), []


# Tags whose use may need a higher EXT-X-VERSION.
_VERSIONED = (
    "EXT-X-KEY", "EXT-X-SESSION-KEY", "EXTINF", "EXT-X-BYTERANGE", "EXT-X-I-FRAMES-ONLY",
    "EXT-X-MAP", "EXT-X-MEDIA", "EXT-X-DEFINE", "EXT-X-SKIP", "EXT-X-STREAM-INF",
    "EXT-X-I-FRAME-STREAM-INF",
)


def _features(document: Document, i_frames: bool) -> Iterator[tuple[int, str, int]]:
    """(version needed, feature, line) for each versioned feature in use."""
    for tag in document.tags(*_VERSIONED):
        attrs = document.attrs(tag)
        name = tag.name
        if name in ("EXT-X-KEY", "EXT-X-SESSION-KEY"):
            if "IV" in attrs:
                yield 2, f"the IV attribute of #{name}", tag.line
            if attrs.get("METHOD", Attribute("", False)).value.startswith("SAMPLE-AES"):
                yield 5, "METHOD=SAMPLE-AES", tag.line
            if "KEYFORMAT" in attrs or "KEYFORMATVERSIONS" in attrs:
                yield 5, "KEYFORMAT or KEYFORMATVERSIONS", tag.line
        elif name == "EXTINF" and "." in (tag.value or "").split(",", 1)[0]:
            yield 3, "a decimal EXTINF duration", tag.line
        elif name in ("EXT-X-BYTERANGE", "EXT-X-I-FRAMES-ONLY"):
            yield 4, f"#{name}", tag.line
        elif name == "EXT-X-MAP":
            if i_frames:
                yield 5, "#EXT-X-MAP in an I-frame playlist", tag.line
            else:
                yield 6, "#EXT-X-MAP", tag.line
        elif name == "EXT-X-MEDIA":
            if attrs.get("INSTREAM-ID", Attribute("", True)).value.startswith("SERVICE"):
                yield 7, 'INSTREAM-ID="SERVICEn"', tag.line
        elif name == "EXT-X-DEFINE":
            yield 8, "#EXT-X-DEFINE (variable substitution)", tag.line
            if "QUERYPARAM" in attrs:
                yield 11, "#EXT-X-DEFINE with QUERYPARAM", tag.line
        elif name == "EXT-X-SKIP":
            yield 9, "#EXT-X-SKIP", tag.line
            if "RECENTLY-REMOVED-DATERANGES" in attrs:
                yield 10, "RECENTLY-REMOVED-DATERANGES", tag.line
        if any(attribute.startswith("REQ-") for attribute in attrs):
            yield 12, "a REQ- attribute", tag.line


def _version_violations(document: Document) -> list[Violation]:
    declared, violations = _declared_version(document)
    i_frames = document.first("EXT-X-I-FRAMES-ONLY") is not None
    reported: set[str] = set()
    for required, feature, line in _features(document, i_frames):
        if declared < required and feature not in reported:
            reported.add(feature)
            violations.append(Violation(
                "version",
                f"{feature} needs EXT-X-VERSION {required} or higher, not {declared}",
                line,
            ))
    # Features removed from the protocol (RFC 8216 §7).
    if declared >= 7 and (tag := document.first("EXT-X-ALLOW-CACHE")) is not None:
        violations.append(Violation(
            "version-removed", "EXT-X-ALLOW-CACHE was removed in version 7", tag.line
        ))
    if declared >= 6:
        for tag in document.tags("EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF"):
            if "PROGRAM-ID" in document.attrs(tag):
                violations.append(Violation(
                    "version-removed", "PROGRAM-ID was removed in version 6", tag.line
                ))
    return violations
