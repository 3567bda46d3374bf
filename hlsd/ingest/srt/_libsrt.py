"""A private ctypes binding to libsrt, Haivision's SRT library: the few calls an SRT
publish listener needs, nothing else.

No maintained Python binding offers a listener with a connection callback (the stream
id is seen, and a caller refused with a code, before the handshake completes), so this
one is written against libsrt's C API as of 1.5.1 (``srtcore/srt.h``; the codes of
``srtcore/access_control.h`` are in `streamid`). Every call here may block: callers run
them off the event loop. Linux only (``struct sockaddr`` has no length byte).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import socket
import struct
from collections.abc import Callable

__all__ = ["DEBIAN_PACKAGE", "ErrorCode", "LibSrt", "ListenHook", "SockOpt", "SrtError",
           "SrtUnavailable", "load", "peer_of", "sockaddr"]

DEBIAN_PACKAGE = "libsrt1.5-openssl"
# Debian's two builds share the ABI (and the OpenSSL one also installs no dev symlink);
# the last name is whatever ldconfig knows as "srt" (another distribution, a local build).
_NAMES = ("libsrt.so.1.5", "libsrt-gnutls.so.1.5")
_SOCKADDR_BYTES = 128  # sizeof(struct sockaddr_storage)
_LOG_CRIT = 2  # syslog's level: libsrt's own stderr logging kept to its fatal lines


class SrtUnavailable(RuntimeError):
    """libsrt cannot be loaded; the message says what to install."""


class SrtError(OSError):
    """A libsrt call failed: `code` is libsrt's (`ErrorCode`), `errno` the system's
    error under it, if any."""

    def __init__(self, call: str, code: int, sys_errno: int, text: str) -> None:
        super().__init__(sys_errno or errno.EIO, f"{call}: {text}")
        self.code = code


class SockOpt(enum.IntEnum):
    """``SRT_SOCKOPT`` values used here (srt.h, stable across 1.5)."""

    RCVTIMEO = 14
    REUSEADDR = 15
    LATENCY = 23


class ErrorCode(enum.IntEnum):
    """``SRT_ERRNO`` values this package tells apart."""

    CONNLOST = 2001
    NOCONN = 2002
    INVSOCK = 5004
    TIMEOUT = 6003


ListenHook = Callable[[int, int, tuple[str, int] | None, bytes | None], int]
"""(new socket, handshake version, the caller's address, its stream id) → 0 to go on
with the handshake, -1 to refuse it (after `LibSrt.set_reject_reason`)."""

_HOOK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int,
                              ctypes.c_void_p, ctypes.c_char_p)


def sockaddr(family: int, address: tuple[object, ...]) -> bytes:
    """A ``struct sockaddr_in`` / ``sockaddr_in6`` from what `socket.getaddrinfo` gives."""
    host, port = str(address[0]), int(str(address[1]))
    if family == socket.AF_INET:
        return (struct.pack("=H", family) + struct.pack("!H", port)
                + socket.inet_pton(family, host) + bytes(8))
    if family == socket.AF_INET6:
        flowinfo = int(str(address[2])) if len(address) > 2 else 0
        scope = int(str(address[3])) if len(address) > 3 else 0
        return (struct.pack("=H", family) + struct.pack("!HI", port, flowinfo)
                + socket.inet_pton(family, host) + struct.pack("=I", scope))
    raise OSError(errno.EAFNOSUPPORT, f"SRT listens on IPv4 or IPv6, not family {family}")


def peer_of(raw: bytes) -> tuple[str, int] | None:
    """(host, port) from a ``struct sockaddr``'s bytes; an IPv4 address mapped into IPv6
    (a dual-stack listener) as the IPv4 it is, so loopback rules see it."""
    if len(raw) < 8:
        return None
    family = struct.unpack_from("=H", raw)[0]
    (port,) = struct.unpack_from("!H", raw, 2)
    if family == socket.AF_INET:
        return socket.inet_ntop(socket.AF_INET, raw[4:8]), port
    if family == socket.AF_INET6 and len(raw) >= 24:
        packed = raw[8:24]
        if packed[:12] == bytes(10) + b"\xff\xff":
            return socket.inet_ntop(socket.AF_INET, packed[12:]), port
        return socket.inet_ntop(socket.AF_INET6, packed), port
    return None


class LibSrt:
    """One loaded libsrt; its methods raise `SrtError` when a call fails."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        c_int, c_void_p, c_char_p = ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p
        int_p = ctypes.POINTER(c_int)
        signatures: dict[str, tuple[list[type], type | None]] = {
            "srt_startup": ([], c_int),
            "srt_cleanup": ([], c_int),
            "srt_setloglevel": ([c_int], None),
            "srt_create_socket": ([], ctypes.c_int32),
            "srt_setsockflag": ([ctypes.c_int32, c_int, c_void_p, c_int], c_int),
            "srt_bind": ([ctypes.c_int32, c_void_p, c_int], c_int),
            "srt_listen": ([ctypes.c_int32, c_int], c_int),
            "srt_listen_callback": ([ctypes.c_int32, _HOOK_TYPE, c_void_p], c_int),
            "srt_accept": ([ctypes.c_int32, c_void_p, int_p], ctypes.c_int32),
            "srt_recvmsg": ([ctypes.c_int32, c_void_p, c_int], c_int),
            "srt_close": ([ctypes.c_int32], c_int),
            "srt_getsockname": ([ctypes.c_int32, c_void_p, int_p], c_int),
            "srt_setrejectreason": ([ctypes.c_int32, c_int], c_int),
            "srt_getlasterror": ([int_p], c_int),
            "srt_getlasterror_str": ([], c_char_p),
        }
        for name, (argtypes, restype) in signatures.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = restype
        # The C function pointers handed to libsrt: kept alive as long as this object.
        self._hooks: list[object] = []

    def _check(self, call: str, result: int) -> int:
        if result < 0:
            sys_errno = ctypes.c_int(0)
            code = self._lib.srt_getlasterror(ctypes.byref(sys_errno))
            text = (self._lib.srt_getlasterror_str() or b"").decode(errors="replace")
            raise SrtError(call, code, sys_errno.value, text)
        return result

    def startup(self) -> None:
        """Counted by libsrt: each `startup` wants its `cleanup`."""
        self._check("srt_startup", self._lib.srt_startup())
        # libsrt writes its warnings to stderr by default (garbage datagrams, refused
        # handshakes): hlsd logs what matters itself, in its own format.
        self._lib.srt_setloglevel(_LOG_CRIT)

    def cleanup(self) -> None:
        self._lib.srt_cleanup()

    def create_socket(self) -> int:
        return self._check("srt_create_socket", self._lib.srt_create_socket())

    def set_int(self, sock: int, option: SockOpt, value: int) -> None:
        """An ``int32_t`` option (libsrt also takes a ``bool`` option as one)."""
        data = ctypes.c_int32(value)
        self._check(f"srt_setsockflag({option.name})",
                    self._lib.srt_setsockflag(sock, option, ctypes.byref(data), 4))

    def bind(self, sock: int, address: bytes) -> None:
        raw = ctypes.create_string_buffer(address, len(address))
        self._check("srt_bind", self._lib.srt_bind(sock, raw, len(address)))

    def listen(self, sock: int, backlog: int) -> None:
        self._check("srt_listen", self._lib.srt_listen(sock, backlog))

    def listen_callback(self, sock: int, hook: ListenHook) -> None:
        """`hook` runs on libsrt's receiving thread for each caller's handshake, before
        the connection exists. An exception in it refuses the caller (a ctypes callback
        that raises would return 0: accept)."""

        def call(_opaque: int | None, ns: int, hsversion: int, peer: int | None,
                 stream_id: bytes | None) -> int:
            try:
                address = peer_of(ctypes.string_at(peer, 28)) if peer else None
                return hook(ns, hsversion, address, stream_id)
            except BaseException:  # nothing may escape into C: a raise would accept
                return -1

        function = _HOOK_TYPE(call)
        self._hooks.append(function)
        self._check("srt_listen_callback", self._lib.srt_listen_callback(sock, function, None))

    def accept(self, sock: int) -> tuple[int, tuple[str, int] | None]:
        raw, size = ctypes.create_string_buffer(_SOCKADDR_BYTES), ctypes.c_int(_SOCKADDR_BYTES)
        new = self._check("srt_accept", self._lib.srt_accept(sock, raw, ctypes.byref(size)))
        return new, peer_of(raw.raw[:size.value])

    def receive(self, sock: int, buffer: ctypes.Array[ctypes.c_char]) -> bytes:
        """One message (in live mode: one packet's payload, up to 1456 bytes)."""
        size = self._check("srt_recvmsg", self._lib.srt_recvmsg(sock, buffer, len(buffer)))
        return ctypes.string_at(buffer, size)

    def close(self, sock: int) -> None:
        """Closing a socket wakes a thread blocked on it (`accept`, `receive`); closing
        one already closed is harmless (libsrt no longer knows the id)."""
        self._lib.srt_close(sock)

    def sockname(self, sock: int) -> tuple[str, int]:
        raw, size = ctypes.create_string_buffer(_SOCKADDR_BYTES), ctypes.c_int(_SOCKADDR_BYTES)
        self._check("srt_getsockname",
                    self._lib.srt_getsockname(sock, raw, ctypes.byref(size)))
        address = peer_of(raw.raw[:size.value])
        if address is None:
            raise OSError(errno.EAFNOSUPPORT, "srt_getsockname: not an IP address")
        return address

    def set_reject_reason(self, sock: int, code: int) -> None:
        self._lib.srt_setrejectreason(sock, code)


def load() -> LibSrt:
    """libsrt, or `SrtUnavailable` saying which package to install. Each call returns a
    new handle on the one shared library (the dynamic loader counts them)."""
    for name in _NAMES:
        try:
            return LibSrt(ctypes.CDLL(name))
        except (OSError, AttributeError):
            continue
    found = ctypes.util.find_library("srt")  # ldconfig's list: only when Debian's names fail
    if found:
        try:
            return LibSrt(ctypes.CDLL(found))
        except (OSError, AttributeError):
            pass
    raise SrtUnavailable(
        f"SRT ingest needs libsrt 1.5, which is not installed: "
        f"apt-get install {DEBIAN_PACKAGE}")
