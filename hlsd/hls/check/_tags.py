"""What the spec says about each tag: where it may appear, how often, and the types of
its attributes (RFC 8216 §4.3, rfc8216bis §4.4). Tables only; the checks are in
`_document` and the `_media` and `_master` modules.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ATTRIBUTE_LISTS",
    "MASTER_ONLY",
    "MEDIA_ONLY",
    "NO_VALUE",
    "ONCE",
    "AttributeSpec",
    "ValueKind",
]

MASTER_ONLY = frozenset({
    "EXT-X-MEDIA", "EXT-X-STREAM-INF", "EXT-X-I-FRAME-STREAM-INF", "EXT-X-SESSION-DATA",
    "EXT-X-SESSION-KEY", "EXT-X-CONTENT-STEERING",
})
MEDIA_ONLY = frozenset({
    # Media segment tags (§4.3.2, bis §4.4.4)
    "EXTINF", "EXT-X-BYTERANGE", "EXT-X-DISCONTINUITY", "EXT-X-KEY", "EXT-X-MAP",
    "EXT-X-PROGRAM-DATE-TIME", "EXT-X-DATERANGE", "EXT-X-GAP", "EXT-X-BITRATE", "EXT-X-PART",
    # Media playlist tags (§4.3.3, bis §4.4.3, §4.4.5)
    "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE", "EXT-X-DISCONTINUITY-SEQUENCE",
    "EXT-X-ENDLIST", "EXT-X-PLAYLIST-TYPE", "EXT-X-I-FRAMES-ONLY", "EXT-X-PART-INF",
    "EXT-X-SERVER-CONTROL", "EXT-X-SKIP", "EXT-X-PRELOAD-HINT", "EXT-X-RENDITION-REPORT",
})
# Tags a playlist MUST NOT hold more than once.
ONCE = frozenset({
    "EXTM3U", "EXT-X-VERSION", "EXT-X-TARGETDURATION", "EXT-X-MEDIA-SEQUENCE",
    "EXT-X-DISCONTINUITY-SEQUENCE", "EXT-X-PLAYLIST-TYPE", "EXT-X-ENDLIST",
    "EXT-X-I-FRAMES-ONLY", "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-START",
    "EXT-X-SERVER-CONTROL", "EXT-X-PART-INF", "EXT-X-SKIP", "EXT-X-CONTENT-STEERING",
})
NO_VALUE = frozenset({
    "EXTM3U", "EXT-X-DISCONTINUITY", "EXT-X-ENDLIST", "EXT-X-I-FRAMES-ONLY",
    "EXT-X-INDEPENDENT-SEGMENTS", "EXT-X-GAP",
})


class ValueKind(enum.Enum):
    """Attribute value types of RFC 8216 §4.2, with a pattern for their text."""

    INTEGER = re.compile(r"[0-9]{1,20}")
    FLOAT = re.compile(r"[0-9]+(?:\.[0-9]*)?")
    SIGNED_FLOAT = re.compile(r"-?[0-9]+(?:\.[0-9]*)?")
    HEX = re.compile(r"0[xX][0-9A-Fa-f]+")
    RESOLUTION = re.compile(r"[0-9]+x[0-9]+")
    ENUM = re.compile(r'[^",\s]+')
    QUOTED = re.compile(r".*")


@dataclass(frozen=True, slots=True)
class AttributeSpec:
    """`choices` limits an ENUM; `quoted_or` names enumerated values that may stand in
    for a quoted-string (CLOSED-CAPTIONS=NONE)."""

    kind: ValueKind
    required: bool = False
    choices: frozenset[str] = frozenset()
    quoted_or: frozenset[str] = frozenset()


def _spec(kind: ValueKind, *choices: str, required: bool = False) -> AttributeSpec:
    return AttributeSpec(kind, required, frozenset(choices))


_Q = AttributeSpec(ValueKind.QUOTED)
_Q_REQUIRED = AttributeSpec(ValueKind.QUOTED, required=True)
_INT = AttributeSpec(ValueKind.INTEGER)
_FLOAT = AttributeSpec(ValueKind.FLOAT)
_YES_NO = _spec(ValueKind.ENUM, "YES", "NO")
_YES = _spec(ValueKind.ENUM, "YES")

_KEY: Mapping[str, AttributeSpec] = {
    "METHOD": _spec(ValueKind.ENUM, "NONE", "AES-128", "SAMPLE-AES", "SAMPLE-AES-CTR",
                    required=True),
    "URI": _Q, "IV": AttributeSpec(ValueKind.HEX), "KEYFORMAT": _Q, "KEYFORMATVERSIONS": _Q,
}
_VARIANT: Mapping[str, AttributeSpec] = {
    "BANDWIDTH": _INT, "AVERAGE-BANDWIDTH": _INT, "SCORE": _FLOAT, "CODECS": _Q,
    "SUPPLEMENTAL-CODECS": _Q, "RESOLUTION": AttributeSpec(ValueKind.RESOLUTION),
    "HDCP-LEVEL": _spec(ValueKind.ENUM, "TYPE-0", "TYPE-1", "NONE"), "ALLOWED-CPC": _Q,
    "VIDEO-RANGE": _spec(ValueKind.ENUM, "SDR", "HLG", "PQ"), "REQ-VIDEO-LAYOUT": _Q,
    "STABLE-VARIANT-ID": _Q, "VIDEO": _Q, "PATHWAY-ID": _Q, "PROGRAM-ID": _INT,
}

# Attributes of every tag whose value is an attribute-list. Unknown attributes are not
# listed: clients ignore them (RFC 8216 §6.3.1).
ATTRIBUTE_LISTS: Mapping[str, Mapping[str, AttributeSpec]] = {
    "EXT-X-KEY": _KEY,
    "EXT-X-SESSION-KEY": _KEY,
    "EXT-X-MAP": {"URI": _Q_REQUIRED, "BYTERANGE": _Q},
    "EXT-X-MEDIA": {
        "TYPE": _spec(ValueKind.ENUM, "AUDIO", "VIDEO", "SUBTITLES", "CLOSED-CAPTIONS",
                      required=True),
        "URI": _Q, "GROUP-ID": _Q_REQUIRED, "LANGUAGE": _Q, "ASSOC-LANGUAGE": _Q,
        "NAME": _Q_REQUIRED, "STABLE-RENDITION-ID": _Q, "DEFAULT": _YES_NO,
        "AUTOSELECT": _YES_NO, "FORCED": _YES_NO, "INSTREAM-ID": _Q, "BIT-DEPTH": _INT,
        "SAMPLE-RATE": _INT, "CHARACTERISTICS": _Q, "CHANNELS": _Q,
    },
    "EXT-X-STREAM-INF": {
        **_VARIANT, "FRAME-RATE": _FLOAT, "AUDIO": _Q, "SUBTITLES": _Q,
        "CLOSED-CAPTIONS": AttributeSpec(ValueKind.QUOTED, quoted_or=frozenset({"NONE"})),
    },
    "EXT-X-I-FRAME-STREAM-INF": {**_VARIANT, "URI": _Q_REQUIRED},
    "EXT-X-SESSION-DATA": {
        "DATA-ID": _Q_REQUIRED, "VALUE": _Q, "URI": _Q, "LANGUAGE": _Q,
        "FORMAT": _spec(ValueKind.ENUM, "JSON", "RAW"),
    },
    "EXT-X-START": {
        "TIME-OFFSET": AttributeSpec(ValueKind.SIGNED_FLOAT, required=True),
        "PRECISE": _YES_NO,
    },
    "EXT-X-DATERANGE": {
        "ID": _Q_REQUIRED, "CLASS": _Q, "START-DATE": _Q, "CUE": _Q, "END-DATE": _Q,
        "DURATION": _FLOAT, "PLANNED-DURATION": _FLOAT, "END-ON-NEXT": _YES,
        "SCTE35-CMD": AttributeSpec(ValueKind.HEX), "SCTE35-OUT": AttributeSpec(ValueKind.HEX),
        "SCTE35-IN": AttributeSpec(ValueKind.HEX),
    },
    "EXT-X-DEFINE": {"NAME": _Q, "VALUE": _Q, "IMPORT": _Q, "QUERYPARAM": _Q},
    "EXT-X-SERVER-CONTROL": {
        "CAN-SKIP-UNTIL": _FLOAT, "CAN-SKIP-DATERANGES": _YES, "HOLD-BACK": _FLOAT,
        "PART-HOLD-BACK": _FLOAT, "CAN-BLOCK-RELOAD": _YES,
    },
    "EXT-X-PART-INF": {"PART-TARGET": AttributeSpec(ValueKind.FLOAT, required=True)},
    "EXT-X-PART": {
        "URI": _Q_REQUIRED, "DURATION": AttributeSpec(ValueKind.FLOAT, required=True),
        "INDEPENDENT": _YES, "BYTERANGE": _Q, "GAP": _YES,
    },
    "EXT-X-PRELOAD-HINT": {
        "TYPE": _spec(ValueKind.ENUM, "PART", "MAP", required=True), "URI": _Q_REQUIRED,
        "BYTERANGE-START": _INT, "BYTERANGE-LENGTH": _INT,
    },
    "EXT-X-RENDITION-REPORT": {"URI": _Q_REQUIRED, "LAST-MSN": _INT, "LAST-PART": _INT},
    "EXT-X-SKIP": {
        "SKIPPED-SEGMENTS": AttributeSpec(ValueKind.INTEGER, required=True),
        "RECENTLY-REMOVED-DATERANGES": _Q,
    },
    "EXT-X-CONTENT-STEERING": {"SERVER-URI": _Q_REQUIRED, "PATHWAY-ID": _Q},
}
