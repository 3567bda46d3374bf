from __future__ import annotations

import time

import jwt as pyjwt
import pytest

from hlsd.auth import jwt

SECRET = "a-secret-that-is-long-enough-for-hs256"
LONG_SECRET = SECRET * 2
"""Long enough for HS512 (64 bytes)."""


def test_tokens_are_bound_to_action_and_stream() -> None:
    token = jwt.sign(SECRET, "PULL", "room/cam")
    assert jwt.valid(token, SECRET, "PULL", "room/cam")
    assert not jwt.valid(token, SECRET, "PUSH", "room/cam")
    assert not jwt.valid(token, SECRET, "PULL", "room/other")
    assert not jwt.valid(token, "another-secret-that-is-long-enough!", "PULL", "room/cam")
    assert not jwt.valid("garbage", SECRET, "PULL", "room/cam")


def test_exp_is_required_and_checked() -> None:
    no_exp = pyjwt.encode({"sub": "PUSH:x"}, SECRET, algorithm="HS256")
    expired = pyjwt.encode({"sub": "PUSH:x", "exp": int(time.time()) - 5}, SECRET,
                           algorithm="HS256")
    assert not jwt.valid(no_exp, SECRET, "PUSH", "x")
    assert not jwt.valid(expired, SECRET, "PUSH", "x")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_the_algorithm_is_pinned_to_hs256(algorithm: str) -> None:
    claims = {"sub": "PUSH:x", "exp": int(time.time()) + 60}
    assert jwt.valid(pyjwt.encode(claims, LONG_SECRET, algorithm="HS256"), LONG_SECRET,
                     "PUSH", "x")
    assert not jwt.valid(pyjwt.encode(claims, LONG_SECRET, algorithm=algorithm), LONG_SECRET,
                         "PUSH", "x")


def test_unsigned_tokens_are_refused() -> None:
    unsigned = pyjwt.encode({"sub": "PUSH:x", "exp": int(time.time()) + 60}, None,
                            algorithm="none")
    assert not jwt.valid(unsigned, SECRET, "PUSH", "x")
