import pytest

from hlsd.auth.keys import load_root_secret
from hlsd.auth.tokens import Expired, InvalidId, InvalidToken, TokenSigner, handshake_matches
from tests._support.clock import FakeClock


def test_a_token_grants_its_rid_until_it_expires() -> None:
    clock = FakeClock(1_800_000_000.0)
    signer = TokenSigner(b"root", clock=clock)
    stream = signer.issue_rid("song 1/a?b", 120)
    token = signer.issue_token(stream, 60)
    signer.check_token(token, stream.rid)
    assert signer.read_rid(stream.rid).qid == "song 1/a?b"
    clock.now += 61
    with pytest.raises(Expired):
        signer.check_token(token, stream.rid)
    clock.now += 60
    with pytest.raises(Expired):
        signer.read_rid(stream.rid)


def test_a_token_never_outlives_its_stream() -> None:
    clock = FakeClock(1_800_000_000.0)
    signer = TokenSigner(b"root", clock=clock)
    stream = signer.issue_rid("q", 30)
    token = signer.issue_token(stream, 3600)
    clock.now += 31
    with pytest.raises(Expired):
        signer.check_token(token, stream.rid)


def test_a_token_for_another_rid_is_refused() -> None:
    signer = TokenSigner(b"root")
    a, b = signer.issue_rid("a", 60), signer.issue_rid("a", 60)
    assert a.rid != b.rid  # every issue is a new stream, as the seed's uuids were
    with pytest.raises(InvalidToken):
        signer.check_token(signer.issue_token(a, 60), b.rid)


def test_signatures_from_another_secret_are_refused() -> None:
    ours, theirs = TokenSigner(b"ours"), TokenSigner(b"theirs")
    forged = theirs.issue_rid("q", 60)
    with pytest.raises(InvalidId):
        ours.read_rid(forged.rid)
    stream = ours.issue_rid("q", 60)
    with pytest.raises(InvalidToken):
        ours.check_token(theirs.issue_token(stream, 60), stream.rid)


@pytest.mark.parametrize("token", ["", "abc", "123.", "x.y", "9" * 40 + ".AAAA", "1.%%%"])
def test_malformed_tokens(token: str) -> None:
    signer = TokenSigner(b"root")
    with pytest.raises((InvalidToken, Expired)):
        signer.check_token(token, signer.issue_rid("q", 60).rid)


@pytest.mark.parametrize("rid", ["", "..", "a.b.c", "x" * 5000, "eyJ9.AAAA", "../../etc"])
def test_malformed_rids(rid: str) -> None:
    with pytest.raises(InvalidId):
        TokenSigner(b"root").read_rid(rid)


def test_tampering_with_the_rid_payload_breaks_the_signature() -> None:
    signer = TokenSigner(b"root")
    rid = signer.issue_rid("q", 60).rid
    payload, sig = rid.split(".")
    tampered = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + sig
    with pytest.raises(InvalidId):
        signer.read_rid(tampered)


def test_batch_rids_share_the_batch_expiry() -> None:
    clock = FakeClock(1_800_000_000.0)
    signer = TokenSigner(b"root", clock=clock)
    batch, exp = signer.issue_batch(330)
    stream = signer.issue_rid("q", 330, batch=batch, expires_at=exp)
    assert signer.read_rid(stream.rid).batch == batch
    clock.now += 331
    with pytest.raises(Expired):
        signer.read_rid(stream.rid)


def test_the_root_secret_survives_a_restart(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_root_secret(None, None, tmp_path)
    assert load_root_secret(None, None, tmp_path) == first
    assert (tmp_path / "token-secret").stat().st_mode & 0o077 == 0
    # Nodes sharing one hls.yaml derive the same secret from the handshake.
    assert load_root_secret(None, "hs", tmp_path / "a") == load_root_secret(None, "hs", tmp_path)
    assert load_root_secret("explicit", "hs", tmp_path) == b"explicit"


def test_handshake_comparison() -> None:
    assert handshake_matches("I-AM-A-SECRET-KEY", "I-AM-A-SECRET-KEY")
    assert not handshake_matches("I-AM-A-SECRET-KE", "I-AM-A-SECRET-KEY")
    assert not handshake_matches("", "I-AM-A-SECRET-KEY")


@pytest.mark.parametrize("qid", ['"' * 1024, "\\" * 1024, "é" * 512, "🎥" * 256, "q" * 1024])
def test_a_rid_holds_any_id_of_up_to_1024_bytes(qid: str) -> None:
    signer = TokenSigner(b"root")
    stream = signer.issue_rid(qid, 60)
    assert signer.read_rid(stream.rid).qid == qid
    assert signer.check_token(signer.issue_token(stream, 60), stream.rid) > 0
