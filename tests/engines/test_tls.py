"""The certificate and key of ``tls:``, checked before any engine starts: a file that is
missing, unreadable, not PEM, encrypted or not the other's pair is one line naming the
setting and the file, and `hlsd serve` exits with 2 before anything listens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hlsd.config import TlsSettings, load_settings
from hlsd.engines import TlsFilesError, check_tls_files
from hlsd.engines._granian import http_mode
from hlsd.features.cluster import default_websocket_url
from tests._support.hlsd_server import HlsdServer, free_port
from tests._support.tls import Pki, make_pki


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def other(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("other"))


def _check(cert: Path, key: Path) -> None:
    check_tls_files(TlsSettings(cert=cert, key=key))


def test_a_certificate_and_its_key_pass(pki: Pki) -> None:
    _check(pki.cert, pki.key)
    check_tls_files(TlsSettings())  # no TLS: nothing to check


def test_a_missing_or_unreadable_file_names_its_setting(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsFilesError, match=r"^tls\.cert: cannot read .*nowhere\.pem: No such"):
        _check(tmp_path / "nowhere.pem", pki.key)
    with pytest.raises(TlsFilesError, match=r"^tls\.key: cannot read .*: Is a directory"):
        _check(pki.cert, tmp_path)
    with pytest.raises(TlsFilesError, match=r"^tls\.key: /dev/zero is larger than a PEM"):
        _check(pki.cert, Path("/dev/zero"))


def test_files_that_are_not_what_they_should_be(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsFilesError, match=r"^tls\.cert: .* holds no PEM certificate"):
        _check(pki.key, pki.key)
    with pytest.raises(TlsFilesError, match=r"^tls\.key: .* holds no PEM private key"):
        _check(pki.cert, pki.cert)
    key = serialization.load_pem_private_key(pki.key.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(TlsFilesError, match=r"^tls\.key: .* is encrypted; hlsd needs"):
        _check(pki.cert, encrypted)


def test_a_key_of_another_certificate_is_refused(pki: Pki, other: Pki) -> None:
    with pytest.raises(TlsFilesError, match=r"^tls\.key: .*key\.pem is not the key of the "
                                            r"certificate in tls\.cert"):
        _check(pki.cert, other.key)


def test_both_files_or_neither(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"tls\.cert is set but tls\.key is not"):
        TlsSettings(cert=tmp_path / "cert.pem")
    with pytest.raises(ValueError, match=r"tls\.key is set but tls\.cert is not"):
        TlsSettings(key=tmp_path / "key.pem")
    assert not TlsSettings().enabled


def test_the_protocols_and_the_websocket_url_follow_tls(pki: Pki) -> None:
    plain = load_settings(None, port=8443)
    served = load_settings(None, port=8443, tls=pki.settings)
    assert http_mode(plain).value == "1"  # no h2c: every deadline holds
    assert http_mode(served).value == "auto"  # ALPN chooses
    assert http_mode(load_settings(None, tls={**pki.settings, "http2": False})).value == "1"
    assert default_websocket_url(plain) == "ws://127.0.0.1:8443/ws"
    assert default_websocket_url(served) == "wss://127.0.0.1:8443/ws"


def _serve(args: list[str], folder: Path, config: dict[str, object] | None = None,
           env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`hlsd serve` that must fail before it listens."""
    server = HlsdServer(config or {}, tmp_dir=folder, env=env)
    server.write_config()
    return subprocess.run(
        [sys.executable, "-m", "hlsd", "serve", "--config", str(server.config_path),
         "--port", str(free_port()), *args],
        cwd=folder, env=server.environment(), capture_output=True, text=True, timeout=60)


def test_serve_stops_at_once_on_a_half_or_a_bad_pair(pki: Pki, other: Pki,
                                                      tmp_path: Path) -> None:
    half = _serve([], tmp_path / "half", {"tls": {"cert": str(pki.cert)}})
    assert half.returncode == 2, half.stderr
    assert "tls.cert is set but tls.key is not" in half.stderr
    flag = _serve(["--tls-key", str(pki.key)], tmp_path / "flag")
    assert flag.returncode == 2, flag.stderr
    assert "tls.key is set but tls.cert is not" in flag.stderr
    missing = _serve(["--tls-key", str(pki.key)], tmp_path / "missing",
                     env={"HLSD_TLS__CERT": "gone.pem"})
    assert missing.returncode == 2, missing.stderr
    assert "hlsd cannot start: tls.cert: cannot read gone.pem: No such file" in \
        " ".join(missing.stderr.split())
    mismatched = _serve([], tmp_path / "mismatched", {"tls": pki.settings},
                        env={"HLSD_TLS__KEY": str(other.key)})
    assert mismatched.returncode == 2, mismatched.stderr
    assert "is not the key of the certificate" in mismatched.stderr
    assert "Traceback" not in half.stderr + flag.stderr + missing.stderr + mismatched.stderr
