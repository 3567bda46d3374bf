"""The root secret that signs rids and tokens, and the keys derived from it.

The root comes from ``token_secret`` when configured, else from the handshake (so every
node sharing one hls.yaml signs alike), else from a random secret kept in the data dir
(so tokens survive a restart on a single node).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

_SECRET_FILE = "token-secret"  # noqa: S105 (a file name, not a secret)


def load_root_secret(
    token_secret: str | None, handshake: str | None, data_dir: Path
) -> bytes:
    if token_secret:
        return token_secret.encode()
    if handshake:
        return hmac.new(handshake.encode(), b"hlsd root secret v1", hashlib.sha256).digest()
    return _persisted_secret(data_dir / _SECRET_FILE)


def derive_key(root: bytes, purpose: str) -> bytes:
    """A sub-key per purpose, so a signature for one kind of id never verifies as another."""
    return hmac.new(root, b"hlsd key:" + purpose.encode(), hashlib.sha256).digest()


def fingerprint(secret: bytes, value: str) -> str:
    """A short name for a secret `value` (a publish key) that can be logged and compared
    but reveals nothing of it: a keyed hash, so it cannot be tried against guesses
    without `secret` either."""
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()[:12]


def matches_any(given: str, keys: tuple[bytes, ...]) -> bool:
    """Whether `given` is one of `keys`. Every key is compared in constant time, so the
    time taken does not tell which one came close."""
    encoded = given.encode()
    return any([hmac.compare_digest(encoded, key) for key in keys])


def _persisted_secret(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    value = secrets.token_bytes(32)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex())
    try:
        # link() fails if another worker process won the race; then use theirs.
        os.link(tmp, path)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    finally:
        tmp.unlink()
    return value
