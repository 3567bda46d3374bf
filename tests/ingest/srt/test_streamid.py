"""SRT stream ids: what hlsd takes (publishers, in MediaMTX's and SRT's access-control
spelling) and what it refuses, with the code the caller is shown."""

from __future__ import annotations

import pytest

from hlsd.ingest.srt import PublishTarget, RejectCode, StreamIdRefused, parse_stream_id
from hlsd.ingest.srt.streamid import redacted


@pytest.mark.parametrize(("stream_id", "target"), [
    ("publish:cam1", PublishTarget("cam1", None)),
    ("publish:cam1:K", PublishTarget("cam1", "K")),
    ("publish:cam1:", PublishTarget("cam1", None)),
    ("publish:room/cam:secret", PublishTarget("room/cam", "secret")),
    ("publish:cam1:user:pass", PublishTarget("cam1", "user:pass")),
    ("#!::r=cam1,m=publish", PublishTarget("cam1", None)),
    ("#!::r=cam1,m=publish,key=K", PublishTarget("cam1", "K")),
    ("#!::key=K,u=bob,m=publish,r=room/cam", PublishTarget("room/cam", "K")),
    ("#!::m=publish,r=a:b,t=stream,h=example.com,acme_x=1", PublishTarget("a:b", None)),
    ("#!::m=publish,r=cam1,key=", PublishTarget("cam1", None)),
    ("#!::m=publish,r=cam1,key=a=b", PublishTarget("cam1", "a=b")),
])
def test_publishers_are_taken_in_both_forms(stream_id: str, target: PublishTarget) -> None:
    assert parse_stream_id(stream_id) == target


@pytest.mark.parametrize(("stream_id", "code", "says"), [
    (None, RejectCode.BAD_REQUEST, "no stream id"),
    ("", RejectCode.BAD_REQUEST, "no stream id"),
    ("cam1", RejectCode.BAD_REQUEST, "neither form"),
    ("publish", RejectCode.BAD_REQUEST, "neither form"),
    ("PUBLISH:cam1", RejectCode.BAD_REQUEST, "neither form"),
    ("play:cam1", RejectCode.BAD_REQUEST, "neither form"),
    ("publish:", RejectCode.BAD_REQUEST, "no stream"),
    ("publish::K", RejectCode.BAD_REQUEST, "no stream"),
    ("read:cam1", RejectCode.BAD_MODE, "publishers only"),
    ("read:cam1:K", RejectCode.BAD_MODE, "publishers only"),
    ("#!::r=cam1", RejectCode.BAD_MODE, "publishers only"),  # m defaults to request
    ("#!::r=cam1,m=request", RejectCode.BAD_MODE, "publishers only"),
    ("#!::r=cam1,m=bidirectional", RejectCode.BAD_MODE, "m=bidirectional"),
    ("#!::r=cam1,m=publish,t=file", RejectCode.NOTSUP_MEDIA, "t=file"),
    ("#!::m=publish", RejectCode.BAD_REQUEST, "no resource"),
    ("#!::m=publish,r=", RejectCode.BAD_REQUEST, "no resource"),
    ("#!::m=publish,r=a,r=b", RejectCode.BAD_REQUEST, "twice"),
    ("#!::m=publish,r", RejectCode.BAD_REQUEST, "no key=value"),
    ("#!::m=publish,,r=a", RejectCode.BAD_REQUEST, "no key=value"),
    ("#!::=x,m=publish,r=a", RejectCode.BAD_REQUEST, "no key=value"),
    ("#!:{r=cam1,m=publish}", RejectCode.BAD_REQUEST, "'#!::' form"),
    ("publish:" + "x" * 600, RejectCode.BAD_REQUEST, "longer than 512"),
])
def test_anything_else_is_refused_with_a_code_and_a_reason(
        stream_id: str | None, code: RejectCode, says: str) -> None:
    with pytest.raises(StreamIdRefused) as refused:
        parse_stream_id(stream_id)
    assert refused.value.code == code
    assert says in refused.value.message


def test_the_codes_are_libsrt_s_access_control_codes() -> None:
    # srtcore/access_control.h: SRT_REJX_* = 1000 + the HTTP status.
    assert RejectCode.BAD_REQUEST == 1400
    assert RejectCode.UNAUTHORIZED == 1401
    assert RejectCode.OVERLOAD == 1402
    assert RejectCode.FORBIDDEN == 1403
    assert RejectCode.BAD_MODE == 1405
    assert RejectCode.CONFLICT == 1409
    assert RejectCode.NOTSUP_MEDIA == 1415
    assert RejectCode.ISE == 1500
    assert RejectCode.DOWN == 1503


@pytest.mark.parametrize(("stream_id", "logged"), [
    ("publish:cam1:K", "publish:cam1:…"),
    ("read:cam1:user:pass", "read:cam1:…"),
    ("publish:cam1", "publish:cam1"),
    ("cam1", "cam1"),
    ("#!::r=cam1,key=K,m=publish", "#!::r=cam1,key=…,m=publish"),
    ("#!::key=K,u=bob,s=pass,r=cam1", "#!::key=…,u=bob,s=…,r=cam1"),
    ("#!::r=cam1,keyring=x", "#!::r=cam1,keyring=x"),
])
def test_keys_are_kept_out_of_log_lines(stream_id: str, logged: str) -> None:
    assert redacted(stream_id) == logged
