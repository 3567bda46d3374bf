"""Guarded httpx clients against real servers: refused addresses are never connected
to, in any spelling or through a redirect; the connection goes to the address that was
checked (a resolver that answers differently the second time cannot redirect it); TLS
still verifies and names the URL's host; proxy variables cannot route around the check;
each refusal is logged once."""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import logging
import ssl
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from hlsd.infra.guarded_http import (
    FetchRefused,
    check_url,
    check_url_resolving,
    guarded_async_client,
    guarded_client,
)
from hlsd.infra.outbound import FetchPolicy, this_node_addresses
from tests._support.servers import Upstream

TIMEOUT = httpx.Timeout(5.0)
SPELLINGS = ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "[::1]",
             "[::ffff:127.0.0.1]", "localhost", "0.0.0.0", "0"]
NEVER_CONNECTED = ["169.254.169.254", "10.0.0.1", "172.16.0.1", "192.168.0.1", "[fd00::1]",
                   "[fe80::1]", "224.0.0.1", "100.64.0.1"]


@pytest.fixture
def up() -> Iterator[Upstream]:
    with Upstream() as server:
        server.add_bytes("/data", b"payload")
        yield server


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "hlsd.infra.guarded_http" and "refused to fetch" in r.getMessage()]


@pytest.mark.parametrize("host", SPELLINGS)
def test_every_spelling_of_this_machine_is_refused_before_connecting(
        up: Upstream, host: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with guarded_client(FetchPolicy(), timeout=TIMEOUT, max_redirects=3) as client, \
            pytest.raises(FetchRefused) as refused:
        client.get(f"http://{host}:{up.port}/data")
    message = str(refused.value)
    assert message.startswith(f"refused to fetch http://{host}:{up.port}/data: ")
    assert "fetch.allow" in message and ("loopback" in message or "unspecified" in message)
    assert up.requests == []
    assert len(refusals(caplog)) == 1


@pytest.mark.parametrize("host", NEVER_CONNECTED)
async def test_private_link_local_and_multicast_are_refused_without_a_connection(
        host: str) -> None:
    def no_dns(name: str, port: int) -> Sequence[str]:
        raise AssertionError("a literal address is never resolved")

    async with guarded_async_client(FetchPolicy(), timeout=TIMEOUT, max_redirects=0) as client:
        with pytest.raises(FetchRefused, match="refused to fetch"):
            await client.get(f"http://{host}:9/x")
    with guarded_client(FetchPolicy(), timeout=TIMEOUT, max_redirects=0,
                        resolver=no_dns) as sync, pytest.raises(FetchRefused):
        sync.get(f"http://{host}:9/x")


def test_this_nodes_own_interface_address_is_refused() -> None:
    own = [ip for ip in this_node_addresses() if not ip.is_loopback and not ip.is_link_local]
    if not own:
        pytest.skip("this machine has no non-loopback interface address")
    host = f"[{own[0]}]" if own[0].version == 6 else str(own[0])
    with guarded_client(FetchPolicy(), timeout=TIMEOUT, max_redirects=0) as client, \
            pytest.raises(FetchRefused, match="this node's own addresses"):
        client.get(f"http://{host}:9/x")


def test_spellings_httpx_calls_invalid_are_refused_by_the_early_check() -> None:
    for url in ("http://0177.0.0.1/x", "http://u:secret@127.1/x?token=t", "https://[::1]/",
                "http://169.254.169.254/latest/meta-data/"):
        with pytest.raises(FetchRefused) as refused:
            check_url(FetchPolicy(), url)
        assert "secret" not in str(refused.value) and "token" not in str(refused.value)
    check_url(FetchPolicy(), "http://example.com/x")  # names wait for the connection
    check_url(FetchPolicy(["127.0.0.0/8"]), "http://0177.0.0.1/x")


async def test_the_early_check_resolves_names() -> None:
    async def loopback(host: str, port: int) -> Sequence[str]:
        return ["127.0.0.1"]

    with pytest.raises(FetchRefused, match=r"media\.example resolves to 127\.0\.0\.1"):
        await check_url_resolving(FetchPolicy(), "http://media.example/a.mp4", loopback)
    await check_url_resolving(FetchPolicy(["media.example"]), "http://media.example/a",
                              loopback)
    await check_url_resolving(FetchPolicy(["127.0.0.1"]), "http://media.example/a", loopback)


def test_allowed_by_cidr_or_by_name(up: Upstream) -> None:
    for allow, host in ((["127.0.0.0/8"], "127.0.0.1"), (["127.0.0.1"], "2130706433"),
                        (["localhost"], "localhost"), (["LocalHost."], "localhost")):
        with guarded_client(FetchPolicy(allow), timeout=TIMEOUT, max_redirects=0) as client:
            response = client.get(f"http://{host}:{up.port}/data")
        assert response.content == b"payload", (allow, host)
    with guarded_client(FetchPolicy(["10.0.0.0/8", "other.lan"]), timeout=TIMEOUT,
                        max_redirects=0) as client, pytest.raises(FetchRefused):
        client.get(f"http://127.0.0.1:{up.port}/data")


def test_a_redirect_from_an_allowed_host_to_a_refused_one_is_refused(
        up: Upstream, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    up.add_redirect("/hop", f"http://127.0.0.1:{up.port}/data")
    with guarded_client(FetchPolicy(["localhost"]), timeout=TIMEOUT,
                        max_redirects=3) as client, pytest.raises(FetchRefused) as refused:
        client.get(f"http://localhost:{up.port}/hop")
    assert str(refused.value).startswith(f"refused to fetch http://127.0.0.1:{up.port}/data")
    assert [r.path for r in up.requests] == ["/hop"]
    assert len(refusals(caplog)) == 1
    # Both allowed: the same redirect is followed.
    with guarded_client(FetchPolicy(["localhost", "127.0.0.1"]), timeout=TIMEOUT,
                        max_redirects=3) as client:
        assert client.get(f"http://localhost:{up.port}/hop").content == b"payload"


async def test_a_redirect_is_refused_by_the_async_client_too(up: Upstream) -> None:
    up.add_redirect("/hop", f"http://[::ffff:127.0.0.1]:{up.port}/data")
    async with guarded_async_client(FetchPolicy(["localhost"]), timeout=TIMEOUT,
                                    max_redirects=3) as client:
        with pytest.raises(FetchRefused, match=r"IPv6 form of 127\.0\.0\.1"):
            await client.get(f"http://localhost:{up.port}/hop")
    assert [r.path for r in up.requests] == ["/hop"]


class Rebinding:
    """A DNS that answers the allowed address once, then a refused one (a rebinding
    attack): a check followed by a second lookup for the connection would connect to
    169.254.169.254."""

    def __init__(self) -> None:
        self.calls = 0

    def answer(self, host: str) -> list[str]:
        assert host == "rebind.test"
        self.calls += 1
        return ["127.0.0.1"] if self.calls == 1 else ["169.254.169.254"]

    def __call__(self, host: str, port: int) -> list[str]:
        return self.answer(host)

    async def lookup(self, host: str, port: int) -> list[str]:
        return self.answer(host)


def test_the_connection_goes_to_the_address_that_was_checked(up: Upstream) -> None:
    dns = Rebinding()
    with guarded_client(FetchPolicy(["127.0.0.1"]), timeout=TIMEOUT, max_redirects=0,
                        resolver=dns) as client:
        first = client.get(f"http://rebind.test:{up.port}/data",
                           headers={"connection": "close"})
        assert first.content == b"payload" and dns.calls == 1
        assert up.requests[0].header("host") == f"rebind.test:{up.port}"
        # A new connection looks the name up again, and that answer is checked.
        with pytest.raises(FetchRefused, match=r"resolves to 169\.254\.169\.254"):
            client.get(f"http://rebind.test:{up.port}/data")
    assert dns.calls == 2 and len(up.requests) == 1


async def test_the_async_connection_goes_to_the_address_that_was_checked(
        up: Upstream) -> None:
    dns = Rebinding()
    async with guarded_async_client(FetchPolicy(["127.0.0.1"]), timeout=TIMEOUT,
                                    max_redirects=0, resolver=dns.lookup) as client:
        first = await client.get(f"http://rebind.test:{up.port}/data",
                                 headers={"connection": "close"})
        assert first.content == b"payload" and dns.calls == 1
        with pytest.raises(FetchRefused, match=r"resolves to 169\.254\.169\.254"):
            await client.get(f"http://rebind.test:{up.port}/data")
    assert dns.calls == 2 and len(up.requests) == 1


def test_proxy_variables_cannot_route_around_the_check(
        up: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    with Upstream() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        with guarded_client(FetchPolicy(), timeout=TIMEOUT, max_redirects=0) as client, \
                pytest.raises(FetchRefused):
            client.get(f"http://127.0.0.1:{up.port}/data")
        with guarded_client(FetchPolicy(["127.0.0.1"]), timeout=TIMEOUT,
                            max_redirects=0) as client:
            assert client.get(f"http://127.0.0.1:{up.port}/data").content == b"payload"
        assert proxy.requests == []


# -- TLS: the socket reaches the checked address, the handshake names the URL's host ----


def _certificates(folder: Path, name: str) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for `name` it signed: (ca.pem, cert.pem, key.pem)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hlsd test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, key_cert_sign=True, crl_sign=True,
              content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("content-length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_tls_verifies_and_names_the_urls_host_not_the_address(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path, "media.test")
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        trust = ssl.create_default_context(cafile=str(ca))

        def to_loopback(host: str, port: int) -> list[str]:
            return ["127.0.0.1"]

        with guarded_client(FetchPolicy(["127.0.0.1"]), timeout=TIMEOUT, max_redirects=0,
                            resolver=to_loopback, verify=trust) as client:
            assert client.get(f"https://media.test:{port}/").content == b"hello"
            assert names == ["media.test"]
            # A name the certificate is not for fails verification, at the same address.
            with pytest.raises(httpx.ConnectError, match="certificate"):
                client.get(f"https://other.test:{port}/")
            assert ipaddress.ip_address(server.server_address[0]).is_loopback
    finally:
        server.shutdown()
        server.server_close()
