"""Hypothesis strategies for valid playlist models: within what the renderer accepts and
in the canonical form that parses back equal (see `hlsd.hls.parse`)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from hlsd.hls import (
    ByteRange,
    ClosedCaptions,
    InitSection,
    MasterPlaylist,
    MediaPlaylist,
    MediaSegment,
    MediaType,
    PlaylistType,
    Rendition,
    VariantStream,
    min_master_version,
    min_media_version,
)

uris = st.from_regex(r"(/|\.\./)?[A-Za-z0-9_~-]{1,8}(/[A-Za-z0-9_.~-]{1,8})?\.(ts|m4s|mp4|aac)"
                     r"(\?[a-z]{1,3}=[A-Za-z0-9%]{0,4})?", fullmatch=True)
playlist_uris = st.from_regex(r"[A-Za-z0-9_-]{1,8}/index\.m3u8(\?v=[0-9])?", fullmatch=True)

# Free text: anything printable that stays on one line, in NFC. Surrounding white space
# does not survive a round trip through the m3u8 library in titles, so none there.
_TEXT_CHARS = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
titles = (
    st.text(_TEXT_CHARS, max_size=12)
    .map(lambda text: unicodedata.normalize("NFC", text).strip())
    .filter(lambda text: unicodedata.is_normalized("NFC", text))
)
quotable = (
    st.text(_TEXT_CHARS.filter(lambda c: c != '"'), min_size=1, max_size=10)
    .map(lambda text: unicodedata.normalize("NFC", text))
    .filter(lambda text: '"' not in text and unicodedata.is_normalized("NFC", text))
)
zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]
)


@st.composite
def media_playlists(draw: st.DrawFn) -> MediaPlaylist:
    target = draw(st.integers(1, 12))
    start = datetime(2026, 11, 21, 19, 0, tzinfo=UTC) + timedelta(
        milliseconds=draw(st.integers(0, 10**10))
    )
    clock = start
    segments: list[MediaSegment] = []
    for index in range(draw(st.integers(0, 7))):
        # Whole milliseconds, rounding to at most the target duration.
        millis = draw(st.integers(0, target * 1000 + 499))
        previous = segments[-1] if segments else None
        continues = (
            previous is not None and previous.byterange is not None and draw(st.booleans())
        )
        uri = previous.uri if continues and previous is not None else draw(uris)
        byterange = None
        if continues:
            byterange = ByteRange(length=draw(st.integers(1, 10**6)))
        elif draw(st.booleans()):
            byterange = ByteRange(length=draw(st.integers(1, 10**6)),
                                  offset=draw(st.integers(0, 10**9)))
        stamp = None
        if draw(st.booleans()):
            stamp = clock.astimezone(draw(zones))
        segments.append(MediaSegment(
            uri=uri,
            duration=millis / 1000,
            title=draw(titles),
            discontinuity=draw(st.booleans()),
            program_date_time=stamp,
            byterange=byterange,
            init=draw(st.none() | st.builds(InitSection, uri=uris)) if index else None,
            gap=draw(st.booleans()),
        ))
        # Strictly increasing, even across zero-length segments.
        clock += timedelta(milliseconds=millis + 1)
    kind = draw(st.sampled_from([None, PlaylistType.EVENT, PlaylistType.VOD]))
    playlist = MediaPlaylist(
        target_duration=target,
        segments=tuple(segments),
        media_sequence=draw(st.integers(0, 2**40)),
        discontinuity_sequence=draw(st.integers(0, 10**6)),
        playlist_type=kind,
        endlist=kind is PlaylistType.VOD or draw(st.booleans()),
        independent_segments=draw(st.booleans()),
        i_frames_only=draw(st.booleans()),
        init=draw(st.none() | st.builds(
            InitSection, uri=uris,
            byterange=st.none() | st.builds(ByteRange, length=st.integers(1, 10**4),
                                            offset=st.integers(0, 10**4)),
        )),
    )
    # A version equal to the minimum reads back as None, so only draw higher ones.
    version = draw(st.none() | st.integers(min_media_version(playlist) + 1, 12))
    return replace(playlist, version=version)


_INSTREAM_IDS = [f"CC{n}" for n in range(1, 5)] + [f"SERVICE{n}" for n in range(1, 64)]


@st.composite
def _group(draw: st.DrawFn, kind: MediaType, group_id: str) -> list[Rendition]:
    names = draw(st.lists(quotable, min_size=1, max_size=3, unique=True))
    default = draw(st.none() | st.integers(0, len(names) - 1))
    renditions = []
    for index, name in enumerate(names):
        is_default = default == index
        renditions.append(Rendition(
            type=kind,
            group_id=group_id,
            name=name,
            uri=None if kind is MediaType.CLOSED_CAPTIONS
            else draw(playlist_uris if kind is MediaType.SUBTITLES else st.none() | playlist_uris),
            language=draw(st.none() | st.sampled_from(["en", "de", "pt-BR", "zh-Hans"])),
            default=is_default,
            autoselect=is_default or draw(st.booleans()),
            forced=kind is MediaType.SUBTITLES and draw(st.booleans()),
            channels=draw(st.none() | st.sampled_from(["1", "2", "6", "16/JOC"]))
            if kind is MediaType.AUDIO else None,
            instream_id=draw(st.sampled_from(_INSTREAM_IDS))
            if kind is MediaType.CLOSED_CAPTIONS else None,
        ))
    return renditions


_CODECS = ["avc1.64001f,mp4a.40.2", "hvc1.1.6.L93.B0", "mp4a.40.2", "ec-3", "av01.0.04M.08",
           "avc1.4d401e"]


@st.composite
def master_playlists(draw: st.DrawFn) -> MasterPlaylist:
    renditions: list[Rendition] = []
    groups: dict[MediaType, list[str]] = {}
    for kind in MediaType:
        ids = draw(st.lists(quotable, max_size=2, unique=True))
        groups[kind] = ids
        for group_id in ids:
            renditions.extend(draw(_group(kind, group_id)))
    no_captions = draw(st.booleans())
    variants = []
    for _ in range(draw(st.integers(1, 4))):
        bandwidth = draw(st.integers(1, 10**9))
        codecs = draw(st.sampled_from(_CODECS))
        has_video = codecs.split(".")[0] in ("avc1", "hvc1", "av01")

        def pick(kind: MediaType) -> str | None:
            return draw(st.none() | st.sampled_from(groups[kind])) if groups[kind] else None

        captions: str | ClosedCaptions | None = (
            ClosedCaptions.NONE if no_captions else pick(MediaType.CLOSED_CAPTIONS)
        )
        variants.append(VariantStream(
            uri=draw(playlist_uris),
            bandwidth=bandwidth,
            average_bandwidth=draw(st.none() | st.integers(0, bandwidth)),
            codecs=codecs,
            resolution=draw(st.tuples(st.integers(1, 7680), st.integers(1, 4320)))
            if has_video else draw(st.none()),
            frame_rate=draw(st.none() | st.integers(1, 240_000).map(lambda n: n / 1000)),
            audio=pick(MediaType.AUDIO),
            video=pick(MediaType.VIDEO),
            subtitles=pick(MediaType.SUBTITLES),
            closed_captions=captions,
        ))
    playlist = MasterPlaylist(
        variants=tuple(variants),
        renditions=tuple(renditions),
        independent_segments=draw(st.booleans()),
    )
    version = draw(st.none() | st.integers(min_master_version(playlist) + 1, 12))
    return replace(playlist, version=version)
