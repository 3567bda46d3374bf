"""A certificate authority of the test's own and a server certificate it signed, written
as the PEM files an operator gives hlsd (``tls.cert``, ``tls.key``), with the client
context that trusts them.

    pki = make_pki(tmp_path)
    HlsdServer({"tls": pki.settings}, client_tls=pki.client_context())
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["Pki", "make_pki"]

SERVER_NAMES = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    cert: Path
    """The server's certificate, then its chain."""
    key: Path
    ca_cert: Path
    """The CA's certificate, for clients (curl's ``--cacert``)."""

    @property
    def settings(self) -> dict[str, str]:
        """The ``tls:`` section serving these files."""
        return {"cert": str(self.cert), "key": str(self.key)}

    def client_context(self, alpn: list[str] | None = None) -> ssl.SSLContext:
        """A client context that trusts the CA, offering `alpn` if given."""
        context = ssl.create_default_context()
        self.ca.configure_trust(context)
        if alpn:
            context.set_alpn_protocols(alpn)
        return context


def make_pki(folder: Path, names: tuple[str, ...] = SERVER_NAMES) -> Pki:
    """A new CA and a certificate for `names`, as ``cert.pem``, ``key.pem`` and
    ``ca.pem`` in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert(*names)
    pki = Pki(ca=ca, cert=folder / "cert.pem", key=folder / "key.pem",
              ca_cert=folder / "ca.pem")
    pki.cert.write_bytes(b"".join(blob.bytes() for blob in issued.cert_chain_pems))
    issued.private_key_pem.write_to_path(str(pki.key))
    ca.cert_pem.write_to_path(str(pki.ca_cert))
    return pki
