"""What the machine the tests run on offers, and whether this is CI (where a missing
dependency fails a test instead of skipping it)."""

from __future__ import annotations

import os
import socket

import psutil
import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def lan_address() -> str:
    """An IPv4 address of this machine that is not loopback: a client that binds to it
    reaches hlsd (on 127.0.0.1) as a peer from elsewhere."""
    for addresses in psutil.net_if_addrs().values():
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return str(address.address)
    pytest.fail("this machine has no non-loopback IPv4 address to test from")
