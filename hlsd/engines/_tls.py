"""The certificate and key of ``tls:``, checked before any engine starts.

Both engines read the files only in their own start-up: granian panics in Rust on a
file it cannot use (a traceback per worker, after the main process said it listens),
uvicorn raises from deep in its config. Checked here, a bad file is one line that
names the setting, the path and what is wrong with it.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path

from hlsd.config import TlsSettings

__all__ = ["TlsFilesError", "check_tls_files"]

MAX_PEM_BYTES = 1 << 20
"""A certificate chain or a key is a few kilobytes: past this, a file is not one (and
a path such as /dev/zero is never read whole)."""

_CERTIFICATE = re.compile(rb"-----BEGIN CERTIFICATE-----")
_PRIVATE_KEY = re.compile(rb"-----BEGIN (?:RSA |EC )?PRIVATE KEY-----")
_ENCRYPTED = re.compile(rb"-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED")


class TlsFilesError(ValueError):
    """``tls.cert`` or ``tls.key`` cannot be served with; the message is one line."""


def check_tls_files(tls: TlsSettings) -> None:
    """Raise `TlsFilesError` unless the certificate and key can be served with (nothing
    to check without TLS)."""
    if tls.cert is None or tls.key is None:
        return
    cert = _read("tls.cert", tls.cert)
    key = _read("tls.key", tls.key)
    if not _CERTIFICATE.search(cert):
        raise TlsFilesError(f"tls.cert: {tls.cert} holds no PEM certificate "
                            "(-----BEGIN CERTIFICATE-----)")
    if _ENCRYPTED.search(key):
        raise TlsFilesError(f"tls.key: {tls.key} is encrypted; hlsd needs the key "
                            "unencrypted (openssl pkey -in KEY -out PLAIN)")
    if not _PRIVATE_KEY.search(key):
        raise TlsFilesError(f"tls.key: {tls.key} holds no PEM private key "
                            "(-----BEGIN PRIVATE KEY-----)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # A password callback, so that OpenSSL never prompts on the terminal.
        context.load_cert_chain(tls.cert, tls.key, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            raise TlsFilesError(f"tls.key: {tls.key} is not the key of the certificate "
                                f"in tls.cert ({tls.cert})") from None
        raise TlsFilesError(f"tls.cert {tls.cert} and tls.key {tls.key} cannot be "
                            f"served with: {exc.reason or exc}") from None


def _read(setting: str, path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(MAX_PEM_BYTES + 1)
    except OSError as exc:
        raise TlsFilesError(f"{setting}: cannot read {path}: "
                            f"{exc.strerror or exc}") from None
    if len(data) > MAX_PEM_BYTES:
        raise TlsFilesError(f"{setting}: {path} is larger than a PEM file "
                            f"({MAX_PEM_BYTES} bytes)")
    return data
