"""Rules between two fetches of the same Media Playlist (RFC 8216 §6.2.1-6.2.2).

A server may only append segments, remove them from the start (in order, with their
tags), raise EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE to match, and add
EXT-X-ENDLIST. A client relies on this to line the two fetches up by media sequence
number (MSN), so a break here is a stall or a skip in playback. The Low-Latency rules
between fetches (parts, hints, delta updates) are in `_lowlatency_live`.
"""

from __future__ import annotations

from datetime import timedelta

from hlsd.hls.check._lowlatency_live import compare_low_latency, delta_misaligned
from hlsd.hls.check._scan import MediaScan
from hlsd.hls.check._violation import Violation

__all__ = ["compare_media"]

# Two fetches write the same instant; allow for the millisecond rounding of either.
_SAME_TIME = timedelta(milliseconds=1)


def compare_media(previous: MediaScan, current: MediaScan) -> list[Violation]:
    """Violations in `current` given that `previous` was fetched earlier."""
    found: list[Violation] = []
    if (
        previous.target_duration is not None
        and current.target_duration is not None
        and previous.target_duration != current.target_duration
    ):
        found.append(Violation(
            "target-duration-changed",
            f"EXT-X-TARGETDURATION changed from {previous.target_duration} "
            f"to {current.target_duration}",
        ))
    if previous.playlist_type != current.playlist_type:
        found.append(Violation(
            "playlist-type-changed",
            f"EXT-X-PLAYLIST-TYPE changed from {previous.playlist_type} "
            f"to {current.playlist_type}",
        ))
    if current.discontinuity_sequence < previous.discontinuity_sequence:
        found.append(Violation(
            "discontinuity-sequence-decreased",
            f"EXT-X-DISCONTINUITY-SEQUENCE went from {previous.discontinuity_sequence} "
            f"down to {current.discontinuity_sequence}",
        ))
    removed = current.media_sequence - previous.media_sequence
    if removed < 0:
        found.append(Violation(
            "media-sequence-decreased",
            f"EXT-X-MEDIA-SEQUENCE went from {previous.media_sequence} "
            f"down to {current.media_sequence}",
        ))
        return found  # the two fetches cannot be lined up
    misaligned = delta_misaligned(previous, current)
    if misaligned is not None:
        # Every segment would differ from its MSN's: the one finding says why.
        return [*found, misaligned]
    found.extend(_compare_segments(previous, current))
    # Delta updates (EXT-X-SKIP) hide which tags were removed; only "never decreases"
    # can be checked then.
    if not (previous.skipped or current.skipped):
        found.extend(_check_discontinuities(previous, current, removed))
    found.extend(_check_ending(previous, current, removed))
    found.extend(compare_low_latency(previous, current))
    return found


def _compare_segments(previous: MediaScan, current: MediaScan) -> list[Violation]:
    found: list[Violation] = []
    for index, segment in enumerate(current.segments):
        msn = current.first_msn + index
        old_index = msn - previous.first_msn
        if old_index < 0:
            continue  # skipped in the earlier delta update
        if old_index >= len(previous.segments):
            break
        old = previous.segments[old_index]
        if segment.uri != old.uri:
            found.append(Violation(
                "segment-uri-changed",
                f"MSN {msn} was {old.uri} and is now {segment.uri}",
                segment.line,
            ))
            continue
        if segment.duration != old.duration:
            found.append(Violation(
                "segment-changed",
                f"MSN {msn} ({segment.uri}) lasted {old.duration} s and now {segment.duration} s",
                segment.line,
            ))
        # The first segment may lose its EXT-X-DISCONTINUITY into the sequence number
        # (counted in _check_discontinuities); no other segment may gain or lose one.
        if segment.discontinuity != old.discontinuity and not (index == 0 and old.discontinuity):
            found.append(Violation(
                "segment-changed",
                f"MSN {msn} ({segment.uri}) gained or lost an EXT-X-DISCONTINUITY",
                segment.line,
            ))
        if (
            segment.program_date_time is not None
            and old.program_date_time is not None
            and abs(segment.program_date_time - old.program_date_time) > _SAME_TIME
        ):
            found.append(Violation(
                "program-date-time-changed",
                f"MSN {msn} ({segment.uri}) moved from {old.program_date_time.isoformat()} "
                f"to {segment.program_date_time.isoformat()}",
                segment.line,
            ))
    return found


def _check_discontinuities(
    previous: MediaScan, current: MediaScan, removed: int
) -> list[Violation]:
    gone = sum(segment.discontinuity for segment in previous.segments[:removed])
    if removed > len(previous.segments):
        # Segments went that this client never saw: only a lower bound is known.
        least = previous.discontinuity_sequence + gone
        if current.discontinuity_sequence < least:
            return [Violation(
                "discontinuity-sequence",
                f"EXT-X-DISCONTINUITY-SEQUENCE is {current.discontinuity_sequence}, but at "
                f"least {gone} discontinuities were removed since it was "
                f"{previous.discontinuity_sequence}",
            )]
        return []
    if (
        removed < len(previous.segments)
        and current.segments
        and previous.segments[removed].discontinuity
        and not current.segments[0].discontinuity
    ):
        gone += 1  # the server folded the first segment's tag into the sequence number
    expected = previous.discontinuity_sequence + gone
    if current.discontinuity_sequence != expected:
        return [Violation(
            "discontinuity-sequence",
            f"EXT-X-MEDIA-SEQUENCE advanced by {removed}, removing {gone} "
            f"EXT-X-DISCONTINUITY tags, so EXT-X-DISCONTINUITY-SEQUENCE should be {expected}, "
            f"not {current.discontinuity_sequence}",
        )]
    return []


def _check_ending(previous: MediaScan, current: MediaScan, removed: int) -> list[Violation]:
    found: list[Violation] = []
    previous_end = previous.first_msn + len(previous.segments)
    current_end = current.first_msn + len(current.segments)
    if current_end < previous_end:
        found.append(Violation(
            "segment-removed",
            f"the playlist ended at MSN {previous_end - 1} and now ends at {current_end - 1}: "
            "segments may only be removed from the start",
        ))
    if previous.endlist and (
        not current.endlist or removed or current_end != previous_end
    ):
        found.append(Violation(
            "playlist-changed", "a playlist with EXT-X-ENDLIST must not change"
        ))
    if previous.playlist_type == "VOD" == current.playlist_type and current_end != previous_end:
        found.append(Violation("playlist-changed", "a VOD playlist must not change"))
    if previous.playlist_type == "EVENT" == current.playlist_type and removed:
        found.append(Violation(
            "event-segment-removed", "segments must not be removed from an EVENT playlist"
        ))
    if (
        removed
        and not current.endlist
        and not current.skipped
        and current.target_duration is not None
    ):
        total = sum(segment.duration or 0.0 for segment in current.segments)
        if total < 3 * current.target_duration:
            found.append(Violation(
                "live-window-too-short",
                f"segments were removed, leaving {total:.3f} s: less than three target "
                f"durations ({3 * current.target_duration} s)",
            ))
    return found
