"""The hls-websocket-cdn wire protocol: text messages ``TYPE[:urlencoded-params]``.

Types are case-insensitive. ``F:duration=<seconds>`` is always followed by exactly one
binary frame holding the MPEG-TS fragment. Error codes and messages are the original's,
verbatim, so its clients recognise them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

from hlsd.streams.names import MAX_NAME_BYTES, name_problem
from hlsd.streams.segment import MAX_SEGMENT_DURATION

HEARTBEAT = "H"
ERROR = "E"
PUSH = "PUSH"
PULL = "PULL"
OK = "OK"
FRAGMENT = "F"
CLOSE = "CLOSE"

MAX_STREAM_ID = MAX_NAME_BYTES
"""Characters (bytes, as the original counts them) in a stream id."""

MAX_TEXT_MESSAGE = 1600
"""Bytes in a text message, as the original's fixed read limit."""


@dataclass(frozen=True, slots=True)
class Message:
    type: str
    params: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        if not self.params:
            return self.type
        return f"{self.type}:{urlencode(self.params)}"


def parse(text: str) -> Message:
    """A text frame as a message. A parameter string that does not parse leaves the
    message without parameters, as the original's parser does."""
    kind, colon, query = text.partition(":")
    if not colon or not query:
        return Message(text.upper())
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        return Message(kind.upper())
    params: dict[str, str] = {}
    for key, value in pairs:
        params[key] = params.get(key, "") + value  # repeated keys are joined, as in Go
    return Message(kind.upper(), params)


def fragment(duration: float) -> Message:
    return Message(FRAGMENT, {"duration": f"{duration:g}"})


class ProtocolError(Exception):
    """Answered with ``E:code=…&message=…``, then the connection is closed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def message_frame(self) -> str:
        return Message(ERROR, {"code": self.code, "message": self.message}).encode()


# The original's errors (code, message), verbatim.
EXPECTED_TEXT = ("PROTOCOL_ERROR", "Expected text message, but received a binary one")
EXPECTED_ACTION = ("PROTOCOL_ERROR", "Expected action message (PUSH, PULL) as the first message")
EXPECTED_BINARY = ("PROTOCOL_ERROR", "Expected binary message, but received a text one")
EMPTY_BINARY = ("PROTOCOL_ERROR", "Unexpected empty binary message")
ACTION_TWICE = ("PROTOCOL_ERROR", "A PUSH message may only be sent as the first message")
EMPTY_ID = ("PROTOCOL_ERROR", "Stream ID cannot be empty")
LONG_ID = ("PROTOCOL_ERROR", "Stream ID cannot be larger than 255 characters")
BAD_AUTH = ("AUTH_ERROR", "Invalid auth token")
BAD_INITIAL = ("PROTOCOL_ERROR", "max_initial_fragments must be a valid integer number")
ALREADY_PUSHING = ("PUSH_ERROR", "There is already another connection pushing an stream "
                                 "with the same identifier. Please, choose another one.")
FRAGMENT_NOT_PUSHING = ("PROTOCOL_ERROR", "A fragment message can only be sent in PUSH mode")
NO_DURATION = ("FRAGMENT_METADATA_ERROR", "The fragment duration must be provided")
BAD_DURATION = ("FRAGMENT_METADATA_ERROR",
                "The fragment duration is not a valid floating point number")
NEGATIVE_DURATION = ("FRAGMENT_METADATA_ERROR", "The fragment duration must be positive")
CLOSE_NOT_PUSHING = ("PROTOCOL_ERROR", "A close message can only be sent in PUSH mode")
# hlsd's own, for what the original does not check.
LONG_DURATION = ("FRAGMENT_METADATA_ERROR",
                 f"The fragment duration must be at most {MAX_SEGMENT_DURATION:.0f} seconds")
BAD_ID = ("PROTOCOL_ERROR", "Stream ID cannot have an empty, '.' or '..' part between "
                            "slashes, nor control or format characters")
TOO_LARGE = ("PROTOCOL_ERROR", "Message too large")
INTERNAL = ("INTERNAL_ERROR", "The server failed on this message")
SLOW = ("SLOW_CONSUMER", "The spectator fell too far behind the stream")
RELAY_LOOP = ("RELAY_LOOP", "This node is already in the relay chain of this request")


def error(pair: tuple[str, str]) -> ProtocolError:
    return ProtocolError(*pair)


def duration_of(message: Message) -> float:
    """The duration of an ``F`` message: positive, finite and at most
    `MAX_SEGMENT_DURATION` seconds; else the original's error (or hlsd's, past it)."""
    raw = message.params.get("duration", "")
    if not raw:
        raise error(NO_DURATION)
    try:
        value = float(raw)
    except ValueError:
        raise error(BAD_DURATION) from None
    if not value > 0 or value == float("inf"):  # NaN and inf are no durations either
        raise error(NEGATIVE_DURATION if value <= 0 else BAD_DURATION)
    if value > MAX_SEGMENT_DURATION:
        raise error(LONG_DURATION)
    return value


def stream_id(message: Message) -> str:
    """The ``stream`` of a PUSH or PULL: at most 255 bytes, ``/`` allowed, but no empty,
    ``.`` or ``..`` part and no control or format character (`hlsd.streams.names`)."""
    stream = message.params.get("stream", "")
    if not stream:
        raise error(EMPTY_ID)
    if len(stream.encode("utf-8", "surrogatepass")) > MAX_STREAM_ID:
        raise error(LONG_ID)
    if name_problem(stream) is not None:
        raise error(BAD_ID)
    return stream

