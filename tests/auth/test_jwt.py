from __future__ import annotations

import time

import jwt as pyjwt

from hlsd.auth import jwt

SECRET = "a-secret-that-is-long-enough-for-hs256"


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
    hs512 = pyjwt.encode({"sub": "PUSH:x", "exp": int(time.time()) + 60}, SECRET,
                         algorithm="HS512")
    assert not jwt.valid(no_exp, SECRET, "PUSH", "x")
    assert not jwt.valid(expired, SECRET, "PUSH", "x")
    assert jwt.valid(hs512, SECRET, "PUSH", "x")  # any HMAC, as the original
