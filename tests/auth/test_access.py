import pytest

from hlsd.auth.access import Refused, bearer, check_admin, check_handshake
from hlsd.errors import Forbidden, Unauthorized


def test_bearer() -> None:
    assert bearer("Bearer abc") == "abc"
    assert bearer("bearer  abc ") == "abc"
    assert bearer("Basic abc") is None and bearer("Bearer ") is None and bearer(None) is None


def test_handshake_rules() -> None:
    check_handshake("k", "k", local=False)
    with pytest.raises(Refused) as wrong:
        check_handshake("x", "k", local=True)
    assert isinstance(wrong.value, Unauthorized)
    with pytest.raises(Refused) as missing:
        check_handshake(None, "k", local=True)
    assert isinstance(missing.value, Unauthorized)
    # With no handshake configured, loopback only.
    check_handshake(None, None, local=True)
    with pytest.raises(Refused) as remote:
        check_handshake("anything", None, local=False)
    assert isinstance(remote.value, Forbidden) and "handshake" in remote.value.message


def test_admin_rules() -> None:
    check_admin(None, None, local=True)
    with pytest.raises(Refused) as remote:
        check_admin(None, None, local=False)
    assert isinstance(remote.value, Forbidden) and "admin key" in remote.value.message
    check_admin("Bearer s3cret", "s3cret", local=False)
    with pytest.raises(Refused) as wrong:
        check_admin("Bearer nope", "s3cret", local=True)
    assert isinstance(wrong.value, Unauthorized)
