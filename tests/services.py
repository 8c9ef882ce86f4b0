"""Probes for the local services some tests need (Mosquitto, PostgreSQL, Redis).

A test calls `require_service("redis")` first. Where the service does not answer the test
skips, except under CI=true (set by .ci/run), where a missing service must fail loudly.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable

import pytest

SERVICES: dict[str, tuple[str, int]] = {
    "mqtt": ("127.0.0.1", 1883),
    "postgres": ("127.0.0.1", 5432),
    "redis": ("127.0.0.1", 6379),
}


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read `size` bytes, or fewer if the peer closes first."""
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _mqtt_connect_packet(client_id: str) -> bytes:
    """An MQTT 3.1.1 CONNECT with a clean session and a 10 s keep-alive."""
    encoded_id = client_id.encode()
    variable_header = b"\x00\x04MQTT" + bytes([4, 0x02]) + struct.pack("!H", 10)
    payload = struct.pack("!H", len(encoded_id)) + encoded_id
    remaining = len(variable_header) + len(payload)  # < 128, so one length byte suffices
    return bytes([0x10, remaining]) + variable_header + payload


def _probe_mqtt(sock: socket.socket) -> bool:
    sock.sendall(_mqtt_connect_packet(f"chargekit-probe-{os.getpid()}"))
    connack = _recv_exactly(sock, 4)
    # CONNACK: type 0x20, remaining length 2, session-present flags, return code 0 (accepted).
    if len(connack) != 4 or connack[:2] != b"\x20\x02" or connack[3] != 0:
        return False
    sock.sendall(b"\xe0\x00")  # DISCONNECT, so the broker does not log a lost client
    return True


def _probe_redis(sock: socket.socket) -> bool:
    sock.sendall(b"PING\r\n")
    return _recv_exactly(sock, 7) == b"+PONG\r\n"


def _probe_postgres(sock: socket.socket) -> bool:
    # An SSLRequest needs no credentials, and every PostgreSQL server answers it with one byte.
    sock.sendall(struct.pack("!II", 8, 80877103))
    return _recv_exactly(sock, 1) in (b"S", b"N")


_PROBES: dict[str, Callable[[socket.socket], bool]] = {
    "mqtt": _probe_mqtt,
    "postgres": _probe_postgres,
    "redis": _probe_redis,
}


def service_answers(
    name: str, timeout: float = 1.0, address: tuple[str, int] | None = None
) -> bool:
    """True if the service speaks its protocol at `address` (default: SERVICES[name])."""
    probe = _PROBES[name]
    try:
        with socket.create_connection(address or SERVICES[name], timeout=timeout) as sock:
            return probe(sock)
    except OSError:  # refused, reset, timed out: all mean "does not answer"
        return False


def require_service(name: str) -> None:
    """Skip the calling test if `name` does not answer; fail instead under CI=true."""
    if service_answers(name):
        return
    host, port = SERVICES[name]
    if os.environ.get("CI") == "true":
        pytest.fail(f"{name} on {host}:{port} is required under CI=true and does not answer")
    pytest.skip(f"{name} on {host}:{port} does not answer (start it to run this test)")
