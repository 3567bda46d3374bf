import pytest

from hlsd.auth.access import Refused, bearer, check_admin, check_handshake, is_loopback


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("127.8.9.1")
    assert not is_loopback("10.0.0.1") and not is_loopback("") and not is_loopback(None)
    assert not is_loopback("example.com")


def test_bearer() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Bearer ") is None and bearer(None) is None


def test_handshake_rules() -> None:
    check_handshake("k", "k", "10.0.0.1")
    with pytest.raises(Refused) as wrong:
        check_handshake("x", "k", "127.0.0.1")
    assert wrong.value.status == 401
    with pytest.raises(Refused) as missing:
        check_handshake(None, "k", "127.0.0.1")
    assert missing.value.status == 401
    # With no handshake configured, loopback only.
    check_handshake(None, None, "127.0.0.1")
    with pytest.raises(Refused) as remote:
        check_handshake("anything", None, "192.0.2.7")
    assert remote.value.status == 403 and "handshake" in remote.value.message


def test_admin_rules() -> None:
    check_admin(None, None, "::1")
    with pytest.raises(Refused) as remote:
        check_admin(None, None, "192.0.2.7")
    assert remote.value.status == 403 and "admin key" in remote.value.message
    check_admin("Bearer s3cret", "s3cret", "192.0.2.7")
    with pytest.raises(Refused) as wrong:
        check_admin("Bearer nope", "s3cret", "127.0.0.1")
    assert wrong.value.status == 401
