"""``--scheduler`` checked before Dask connects: one message within :data:`CONNECT_TIMEOUT` seconds.

Handed a malformed address, a port nobody listens on, an address that never answers, ``tls://``
without certificates or a server that is not a Dask scheduler, ``distributed.Client`` raises
assorted tracebacks, waits minutes, or reads the server's first bytes as a frame length and runs out
of memory. :func:`check_scheduler` parses the address, opens one TCP (or TLS) connection with a
timeout and reads the greeting a Dask scheduler sends first: a 64-bit length of at most
:data:`MAX_GREETING_BYTES`, then that many bytes that hold a frame count and frame lengths. Anything
else is a :class:`~voxpop.core.errors.ConfigError` naming the address and what happened.
"""

from __future__ import annotations

import re
import socket
import ssl
import struct
import time
from typing import Any, NamedTuple

from voxpop.core.errors import ConfigError

CONNECT_TIMEOUT = 10.0
"""Seconds the connection to a ``--scheduler`` and its greeting may take (each of the two steps)."""

DEFAULT_PORT = 8786
"""Dask's scheduler port, used when the address names none."""

MAX_GREETING_BYTES = 1 << 20
"""The largest greeting (handshake message) accepted from a scheduler; Dask's is a few hundred bytes."""

_ADDRESS = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)"
                      r"(?::(?P<port>[0-9]{1,5}))?/?$")  # fmt: skip
_LENGTH = struct.Struct("<Q")


class SchedulerAddress(NamedTuple):
    """A parsed ``--scheduler``: ``scheme`` (tcp or tls), ``host`` (IPv6 without brackets) and ``port``."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def parse_scheduler(address: str) -> SchedulerAddress:
    """Parse ``[tcp://|tls://]HOST[:PORT]`` (PORT default :data:`DEFAULT_PORT`).

    Raises:
        ConfigError: another scheme, no host, a port that is not 1-65535, or anything else after the host.

    Example:
        >>> parse_scheduler("10.1.2.3"), str(parse_scheduler("tls://[::1]:9000"))
        (SchedulerAddress(scheme='tcp', host='10.1.2.3', port=8786), 'tls://[::1]:9000')
    """
    match = _ADDRESS.match(address.strip())
    expected = "expected tcp://HOST:PORT or tls://HOST:PORT (e.g. tcp://10.1.2.3:8786)"
    if match is None:
        raise ConfigError(f"--scheduler {address!r}: not a scheduler address; {expected}.")
    scheme = (match["scheme"] or "tcp").lower()
    if scheme not in ("tcp", "tls"):
        raise ConfigError(
            f"--scheduler {address!r}: voxpop connects over tcp:// or tls://, not {scheme}://; {expected}."
        )
    port = int(match["port"]) if match["port"] is not None else DEFAULT_PORT
    if not 1 <= port <= 65535:
        raise ConfigError(f"--scheduler {address!r}: port {port} is outside 1-65535; {expected}.")
    return SchedulerAddress(scheme, match["host"].strip("[]"), port)


def tls_context(address: SchedulerAddress, security: Any) -> ssl.SSLContext | None:
    """The client TLS context for ``address`` (None for tcp://), from ``security`` or Dask's TLS configuration.

    Raises:
        ConfigError: ``tls://`` without certificates (neither the ``--tls-*`` files nor Dask's
            ``distributed.comm.tls`` settings), or certificates given for a ``tcp://`` address.
    """
    if address.scheme == "tcp":
        if security is not None:
            raise ConfigError(
                f"--scheduler {address}: TLS certificates are given but the address is tcp://; write tls:// "
                "(or leave out --tls-ca-file, --tls-cert and --tls-key)."
            )
        return None
    if security is None:
        from distributed.security import Security

        security = Security()  # Dask's distributed.comm.tls configuration, if any
    context = security.get_connection_args("client").get("ssl_context")
    if context is None:
        raise ConfigError(
            f"--scheduler {address}: tls:// needs certificates: give --tls-ca-file, --tls-cert and --tls-key "
            "(or set Dask's distributed.comm.tls configuration)."
        )
    return context


def check_scheduler(address: str, security: Any = None, timeout: float = CONNECT_TIMEOUT) -> SchedulerAddress:
    """Check that a Dask scheduler answers at ``address`` before ``distributed.Client`` connects to it.

    Args:
        address: the ``--scheduler`` value.
        security: a ``distributed.security.Security`` (the ``--tls-*`` files) or None.
        timeout: seconds for the connection and again for the scheduler's greeting.

    Returns:
        The parsed address (:func:`parse_scheduler`).

    Raises:
        ConfigError: a malformed address, TLS settings that do not fit it (:func:`tls_context`), a host that
            cannot be resolved, nothing listening on the port, no answer within ``timeout`` (an unroutable
            address, or a server that does not speak first), a failed TLS handshake, or a greeting that is
            not Dask's (another kind of server).
    """
    parsed = parse_scheduler(address)
    context = tls_context(parsed, security)
    fail = f"--scheduler {parsed}:"
    try:
        raw = socket.create_connection((parsed.host, parsed.port), timeout=timeout)
    except socket.gaierror as exc:
        raise ConfigError(f"{fail} cannot resolve the host {parsed.host!r} ({exc.strerror}).") from None
    except ConnectionRefusedError:
        raise ConfigError(
            f"{fail} nothing listens on port {parsed.port} (connection refused); is the scheduler running?"
        ) from None
    except TimeoutError:
        raise ConfigError(
            f"{fail} no answer within {timeout:g} s; check the host, the port and the firewall."
        ) from None
    except OSError as exc:
        raise ConfigError(f"{fail} cannot connect ({exc.strerror or exc}).") from None
    with raw:
        try:
            stream = context.wrap_socket(raw, server_hostname=parsed.host) if context is not None else raw
            _read_greeting(stream, timeout, fail)
        except ssl.SSLError as exc:
            raise ConfigError(
                f"{fail} the TLS handshake failed ({exc.reason or exc}); check the certificates."
            ) from None
        except TimeoutError:
            raise ConfigError(
                f"{fail} connected, but no Dask greeting came within {timeout:g} s: not a Dask scheduler, or it hangs."
            ) from None
        except OSError as exc:
            raise ConfigError(f"{fail} the connection failed ({exc.strerror or exc}).") from None
    return parsed


def _read_greeting(stream: socket.socket, timeout: float, fail: str) -> None:
    """Read the scheduler's first message and check that it is framed as Dask frames it (see the module)."""
    deadline = time.monotonic() + timeout
    (size,) = _LENGTH.unpack(_receive(stream, _LENGTH.size, deadline, fail))
    if not _LENGTH.size <= size <= MAX_GREETING_BYTES:
        raise ConfigError(f"{fail} the server's first message ({size:,} bytes announced) is not a Dask greeting; "
                          "is this the scheduler's port (not its dashboard or another service)?")  # fmt: skip
    body = _receive(stream, size, deadline, fail)
    (frames,) = _LENGTH.unpack_from(body)
    if not 1 <= frames <= (size - _LENGTH.size) // _LENGTH.size:
        raise ConfigError(f"{fail} the server's first message is not a Dask greeting (it announces {frames} frames).")


def _receive(stream: socket.socket, size: int, deadline: float, fail: str) -> bytes:
    data = bytearray()
    while len(data) < size:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        stream.settimeout(remaining)
        chunk = stream.recv(min(size - len(data), 1 << 16))
        if not chunk:
            raise ConfigError(f"{fail} the server closed the connection without a Dask greeting.")
        data += chunk
    return bytes(data)
