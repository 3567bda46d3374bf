"""Which addresses hlsd may fetch from when a request names the URL (SSRF policy).

A URL that comes from a request (a LiveMix ``MPEG-TS-URI-Prefix``, an asset import, a
channel's URL source) must not make hlsd reach what only hlsd can reach: this node's own
loopback services and admin routes, the private network behind it, cloud metadata.
`FetchPolicy` refuses every address that is not globally routable unicast: loopback,
unspecified, this node's own interface addresses, link-local (cloud metadata among
them), private (RFC 1918, IPv6 unique local), shared (RFC 6598), multicast, and the
reserved and special-purpose ranges; an IPv4 address inside an IPv6 one (IPv4-mapped,
-compatible, -translated, 6to4, Teredo, NAT64) is judged as that IPv4 address.

Every spelling of an address counts: `literal_address` reads a host as the C library
does (``127.1``, ``2130706433``, ``0177.0.0.1``, ``0x7f.0.0.1``), and names are judged
by what they resolve to (`hlsd.infra.guarded_http` resolves, checks, then connects to the
address it checked). The operator's ``fetch.allow`` lists host names (``cdn.lan``, or
``*.lan`` for the names under it) and addresses or CIDR ranges it trusts; an allowed
name or address is fetched whatever class it is in. URLs from the operator's own config
(``url.*``, cluster peers) never go through this policy.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import time
from collections.abc import Callable, Iterable, Sequence

import psutil

__all__ = ["AddressRefused", "FetchPolicy", "IPAddress", "IPNetwork", "address_class",
           "literal_address", "parse_allow", "this_node_addresses"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ALLOW_KEY = "fetch.allow"
"""Where an operator allows what the policy refuses (named in every refusal)."""

_OWN_TTL = 10.0
"""Seconds this node's interface addresses are remembered before they are read again."""

_RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12",
                                                     "192.168.0.0/16"))
_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean, ...
    "169.254.170.2",  # AWS ECS task metadata
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",  # Oracle Cloud
))
# IPv6 ranges whose last 32 bits are an IPv4 address standing for that address.
_TRANSLATED = tuple(ipaddress.IPv6Network(n) for n in (
    "64:ff9b::/96",  # NAT64, well-known prefix (RFC 6052)
    "64:ff9b:1::/48",  # NAT64, local use (RFC 8215)
    "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
))
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # IPv4-compatible (deprecated, RFC 4291)

_LABEL = r"(?!-)[a-z0-9_-]{1,63}(?<!-)"
_NAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")
_NUMERIC_PART = re.compile(r"0x[0-9a-f]*|[0-9]+")


class AddressRefused(Exception):
    """A host the policy refuses; `detail` says which address and why
    (``127.1 is 127.0.0.1, a loopback address``)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# -- spellings ------------------------------------------------------------------------


def literal_address(host: str) -> IPAddress | None:
    """The address `host` spells, as the C library reads it, or None for a name.

    IPv6 with or without brackets (a zone ``%eth0`` or ``%25eth0`` kept as the scope),
    and IPv4 in any inet_aton form: one to four parts, each decimal, octal (``0177``) or
    hexadecimal (``0x7f``), the last filling the bytes left (``127.1``, ``2130706433``).
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.replace("%25", "%")
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _inet_aton(text.removesuffix("."))


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.fullmatch(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part.startswith("0x"):
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                return None
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    number = last
    for n, value in enumerate(leading):
        number |= value << (8 * (3 - n))
    return ipaddress.IPv4Address(number)


# -- classes ----------------------------------------------------------------------------


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries, if it is a form that carries one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in _TRANSLATED) or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_class(ip: IPAddress) -> str | None:
    """Why `ip` is not a globally routable unicast address (``a loopback address``), or
    None when it is. An IPv4 address inside an IPv6 one is judged as itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_class(inner)
            if reason is not None:
                return f"an IPv6 form of {inner}, {reason}"
            if ip.ipv4_mapped is not None or any(ip in net for net in _TRANSLATED):
                return None  # it is that (public) IPv4 address
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "the unspecified address (this host)"
    if ip in _METADATA:
        return "a cloud metadata address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address):
        if any(ip in net for net in _RFC1918):
            return "a private (RFC 1918) address"
        if ip in _SHARED:
            return "a shared (carrier-grade NAT, RFC 6598) address"
    elif ip in _UNIQUE_LOCAL:
        return "a private (IPv6 unique local) address"
    if ip.is_multicast:
        return "a multicast address"
    if not ip.is_global:
        return "a reserved or special-purpose address (not globally routable)"
    return None


def _unscoped(ip: IPAddress) -> IPAddress:
    """`ip` without an IPv6 zone (``fe80::1%eth0`` → ``fe80::1``), for comparisons."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id is not None:
        return ipaddress.IPv6Address(int(ip))
    return ip


def this_node_addresses() -> frozenset[IPAddress]:
    """Every address of this machine's network interfaces (zones dropped)."""
    found: set[IPAddress] = set()
    for addresses in psutil.net_if_addrs().values():
        for entry in addresses:
            if entry.family in (socket.AF_INET, socket.AF_INET6):
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.ip_address(entry.address.split("%")[0]))
    return frozenset(found)


# -- the allow list ---------------------------------------------------------------------


def parse_allow(entry: str) -> IPNetwork | str:
    """One ``fetch.allow`` entry: an address or CIDR range (as a network), or a host name
    (lower case; ``*.example.com`` for every name under example.com). ValueError names
    what is wrong, so a typo stops the config from loading."""
    text = entry.strip()
    if not text:
        raise ValueError("an empty entry")
    if "://" in text:
        raise ValueError(f"{entry!r}: give the host alone, without a scheme or a path")
    if "/" in text:
        try:
            return ipaddress.ip_network(text, strict=True)
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not a CIDR range ({exc})") from None
    try:
        ip = ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        pass
    else:
        return ipaddress.ip_network(ip)
    name = text.lower().removesuffix(".")
    if not name.isascii():
        raise ValueError(f"{entry!r}: write an international name in its ASCII (xn--) form")
    if not _NAME.fullmatch(name) or len(name) > 253 or name.rsplit(".", 1)[-1].isdigit() \
            or _inet_aton(name) is not None:
        raise ValueError(f"{entry!r} is not a host name, an IP address or a CIDR range")
    return name


class FetchPolicy:
    """What request-given URLs may reach: globally routable unicast addresses, plus what
    the operator allows (`allow`: entries of ``fetch.allow``). `own_addresses` gives this
    node's addresses (injectable for tests; read again every few seconds)."""

    def __init__(self, allow: Iterable[str] = (), *,
                 own_addresses: Callable[[], Iterable[IPAddress]] = this_node_addresses,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._names: set[str] = set()
        self._suffixes: list[str] = []
        self._networks: list[IPNetwork] = []
        for entry in allow:
            parsed = parse_allow(entry)
            if isinstance(parsed, str):
                if parsed.startswith("*."):
                    self._suffixes.append(parsed[1:])
                else:
                    self._names.add(parsed)
            else:
                self._networks.append(parsed)
        self._own_source = own_addresses
        self._clock = clock
        self._own: tuple[float, frozenset[IPAddress]] | None = None

    def allows_name(self, host: str) -> bool:
        """Whether `host` (as a URL names it) is a name the operator allows."""
        name = host.strip("[]").lower().removesuffix(".")
        return name in self._names or any(name.endswith(s) for s in self._suffixes)

    def _own_addresses(self) -> frozenset[IPAddress]:
        now = self._clock()
        if self._own is None or now - self._own[0] > _OWN_TTL:
            self._own = (now, frozenset(self._own_source()))
        return self._own[1]

    def reason(self, ip: IPAddress) -> str | None:
        """Why `ip` may not be fetched from, or None when it may."""
        plain = _unscoped(ip)
        forms: list[IPAddress] = [plain]
        if isinstance(plain, ipaddress.IPv6Address) and (inner := _embedded_ipv4(plain)):
            forms.append(inner)
        if any(f in net for f in forms for net in self._networks if f.version == net.version):
            return None
        cls = address_class(plain)
        if cls is not None and ("loopback" in cls or "unspecified" in cls):
            return cls  # the more telling name for 127.0.0.1 than "own"
        own = self._own_addresses()
        if any(f in own for f in forms):
            return "one of this node's own addresses"
        return cls

    def check(self, host: str, addresses: Sequence[IPAddress], *, resolved: bool) -> None:
        """AddressRefused unless every address `host` stands for may be fetched from (an
        allowed name may be fetched whatever its addresses). `resolved`: the addresses
        came from resolving the name, rather than from spelling it."""
        if self.allows_name(host):
            return
        for ip in addresses:
            reason = self.reason(ip)
            if reason is None:
                continue
            shown = host.strip("[]")
            if resolved:
                raise AddressRefused(f"{shown} resolves to {ip}, {reason}")
            if shown == str(ip) or isinstance(ip, ipaddress.IPv6Address):
                raise AddressRefused(f"{shown} is {reason}")  # no other spelling to explain
            raise AddressRefused(f"{shown} is {ip}, {reason}")
