"""The outbound policy alone: every spelling of a refused address is read as the C
library reads it and refused with its class; the allow list takes names, addresses and
CIDR ranges, and refuses typos."""

from __future__ import annotations

import ipaddress
import socket

import psutil
import pytest

from hlsd.config import load_settings
from hlsd.infra.outbound import (
    AddressRefused,
    FetchPolicy,
    address_class,
    literal_address,
    parse_allow,
    this_node_addresses,
)

# host as a URL may spell it → (the address it is, words its refusal must hold)
REFUSED = {
    "127.0.0.1": ("127.0.0.1", "loopback"),
    "127.1": ("127.0.0.1", "loopback"),
    "2130706433": ("127.0.0.1", "loopback"),
    "0177.0.0.1": ("127.0.0.1", "loopback"),
    "0x7f.0.0.1": ("127.0.0.1", "loopback"),
    "0x7f000001": ("127.0.0.1", "loopback"),
    "127.0.0.1.": ("127.0.0.1", "loopback"),
    "[::1]": ("::1", "loopback"),
    "[::ffff:127.0.0.1]": ("::ffff:127.0.0.1", "loopback"),
    "[::ffff:7f00:1]": ("::ffff:127.0.0.1", "loopback"),
    "[2002:7f00:1::]": ("2002:7f00:1::", "loopback"),  # 6to4
    "[64:ff9b::7f00:1]": ("64:ff9b::7f00:1", "loopback"),  # NAT64
    "[::127.0.0.1]": ("::127.0.0.1", "loopback"),  # IPv4-compatible
    "0.0.0.0": ("0.0.0.0", "unspecified"),
    "0": ("0.0.0.0", "unspecified"),
    "[::]": ("::", "unspecified"),
    "169.254.169.254": ("169.254.169.254", "metadata"),
    "[fd00:ec2::254]": ("fd00:ec2::254", "metadata"),
    "169.254.1.1": ("169.254.1.1", "link-local"),
    "10.1.2.3": ("10.1.2.3", "private (RFC 1918)"),
    "172.16.0.1": ("172.16.0.1", "private (RFC 1918)"),
    "172.31.255.254": ("172.31.255.254", "private (RFC 1918)"),
    "192.168.1.1": ("192.168.1.1", "private (RFC 1918)"),
    "[::ffff:10.0.0.1]": ("::ffff:10.0.0.1", "private (RFC 1918)"),
    "[fd00::1]": ("fd00::1", "unique local"),
    "[fe80::1]": ("fe80::1", "link-local"),
    "[fe80::1%25eth0]": ("fe80::1%eth0", "link-local"),
    "224.0.0.1": ("224.0.0.1", "multicast"),
    "[ff02::1]": ("ff02::1", "multicast"),
    "100.64.0.1": ("100.64.0.1", "shared"),
    "255.255.255.255": ("255.255.255.255", "not globally routable"),
    "198.18.0.1": ("198.18.0.1", "not globally routable"),
}


def no_own_addresses() -> list[ipaddress.IPv4Address]:
    return []


@pytest.mark.parametrize("host", sorted(REFUSED))
def test_every_spelling_is_read_as_its_address_and_refused(host: str) -> None:
    address, words = REFUSED[host]
    ip = literal_address(host)
    assert ip == ipaddress.ip_address(address)
    with pytest.raises(AddressRefused) as refused:
        FetchPolicy(own_addresses=no_own_addresses).check(host, [ip], resolved=False)
    assert words in refused.value.detail, refused.value.detail
    assert refused.value.detail.startswith(host.strip("[]"))


@pytest.mark.parametrize("host", ["8.8.8.8", "1.1.1.1", "[2606:4700:4700::1111]",
                                  "[::ffff:8.8.8.8]", "[64:ff9b::808:808]", "134744072"])
def test_globally_routable_unicast_passes(host: str) -> None:
    ip = literal_address(host)
    assert ip is not None and address_class(ip) is None
    FetchPolicy(own_addresses=no_own_addresses).check(host, [ip], resolved=False)


@pytest.mark.parametrize("host", ["example.com", "localhost", "1e100.net", "deadbeef",
                                  "256.1.1.1", "1.2.3.4.5", "08.1.1.1", "[nope]"])
def test_names_and_impossible_numbers_are_not_addresses(host: str) -> None:
    assert literal_address(host) is None


def test_a_name_is_judged_by_every_address_it_resolves_to() -> None:
    policy = FetchPolicy(own_addresses=no_own_addresses)
    public = ipaddress.ip_address("8.8.8.8")
    policy.check("dns.example", [public], resolved=True)
    with pytest.raises(AddressRefused) as refused:
        policy.check("dns.example", [public, ipaddress.ip_address("10.0.0.7")],
                     resolved=True)
    assert refused.value.detail == \
        "dns.example resolves to 10.0.0.7, a private (RFC 1918) address"


def test_this_nodes_own_addresses_are_refused() -> None:
    public = ipaddress.ip_address("8.8.8.8")
    assert FetchPolicy(own_addresses=no_own_addresses).reason(public) is None
    mine = FetchPolicy(own_addresses=lambda: [public])
    assert mine.reason(public) == "one of this node's own addresses"
    assert mine.reason(ipaddress.ip_address("::ffff:8.8.8.8")) == \
        "one of this node's own addresses"


def test_the_machines_interface_addresses_are_read() -> None:
    found = {ipaddress.ip_address(a.address.split("%")[0])
             for addrs in psutil.net_if_addrs().values() for a in addrs
             if a.family in (socket.AF_INET, socket.AF_INET6)}
    assert this_node_addresses() == found
    policy = FetchPolicy()
    for ip in found:
        assert policy.reason(ip) is not None, ip
    outside = [ip for ip in found if not ip.is_loopback and not ip.is_link_local]
    if not outside:
        pytest.skip("this machine has no non-loopback interface address")
    for ip in outside:
        assert policy.reason(ip) == "one of this node's own addresses", ip


def test_the_allow_list_takes_names_addresses_and_ranges() -> None:
    policy = FetchPolicy(["10.1.0.0/16", "127.0.0.1", "fd00::/8", "Media.LAN.", "*.cdn.lan"],
                         own_addresses=no_own_addresses)
    for allowed in ("10.1.2.3", "127.0.0.1", "::ffff:127.0.0.1", "fd00::1"):
        assert policy.reason(ipaddress.ip_address(allowed)) is None, allowed
    for refused in ("10.2.0.1", "127.0.0.2", "::1", "fe80::1"):
        assert policy.reason(ipaddress.ip_address(refused)) is not None, refused
    loopback = [ipaddress.ip_address("127.0.0.9")]
    for name in ("media.lan", "MEDIA.lan.", "a.cdn.lan", "b.a.cdn.lan"):
        assert policy.allows_name(name), name
        policy.check(name, loopback, resolved=True)
    for name in ("cdn.lan", "xmedia.lan", "media.lan.evil", "acdn.lan"):
        assert not policy.allows_name(name), name
        with pytest.raises(AddressRefused):
            policy.check(name, loopback, resolved=True)


@pytest.mark.parametrize(("entry", "words"), [
    ("10.0.0.1/8", "host bits"), ("10.0.0.0/33", "CIDR"), ("http://cdn.lan", "scheme"),
    ("127.1", "not a host name"), ("0x7f.0.0.1", "not a host name"), ("", "empty"),
    ("a b", "not a host name"), ("-x.lan", "not a host name"), ("*.", "not a host name"),
    ("médias.lan", "ASCII"), ("x" * 64, "not a host name"),
])
def test_a_typo_in_the_allow_list_is_a_config_error(entry: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_allow(entry)
    with pytest.raises(ValueError, match=r"fetch\.allow"):
        load_settings(fetch={"allow": ["cdn.lan", entry]})


def test_the_fetch_section_loads() -> None:
    settings = load_settings(fetch={"allow": ["127.0.0.1", "localhost", "10.0.0.0/8"]})
    assert settings.fetch.allow == ("127.0.0.1", "localhost", "10.0.0.0/8")
    assert load_settings().fetch.allow == ()
