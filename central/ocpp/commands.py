"""Commands from the central system to a station: validate, send, wait, answer as a dict.

    answer = await send_command(registry, "CP-1", "RemoteStartTransaction",
                                {"connectorId": 1, "idTag": "TAG1"}, timeout=10)
    answer                                      # {"status": "Accepted"}

Payloads and answers are wire JSON (camelCase), exactly what crosses the socket. The payload
is checked with chargekit.protocol.validate before anything is sent (the firmware checks it
with the same specs); the answer with the `ocpp` library's JSON schema for the action.
Errors (errors.py): UnknownCommand, InvalidPayload, StationNotConnected, CommandTimeout,
CommandRejected (the station's CALLERROR and its code), InvalidResponse.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from chargekit.protocol import errors as ocpp_errors
from chargekit.protocol.ocpp16 import FROM_CS, actions_sent_by
from chargekit.protocol.validate import check_request

from .errors import (
    CommandError,
    CommandRejected,
    CommandTimeout,
    InvalidPayload,
    InvalidResponse,
    StationNotConnected,
    UnknownCommand,
)

if TYPE_CHECKING:
    from .registry import ConnectionRegistry

# Every action the central system may send in OCPP 1.6 (DataTransfer goes both ways).
COMMANDS: tuple[str, ...] = tuple(actions_sent_by(FROM_CS))

__all__ = [
    "COMMANDS",
    "CommandError",
    "CommandRejected",
    "CommandTimeout",
    "InvalidPayload",
    "InvalidResponse",
    "StationNotConnected",
    "UnknownCommand",
    "check_command",
    "send_command",
]


def check_command(station_id: str, name: str, payload: Any) -> dict[str, Any]:
    """Raise UnknownCommand / InvalidPayload unless `payload` is a valid `name` request."""
    if name not in COMMANDS:
        raise UnknownCommand(station_id, name, f"not one of {', '.join(COMMANDS)}")
    try:
        return check_request(name, payload)
    except ocpp_errors.OcppError as exc:
        raise InvalidPayload(station_id, name, exc.code, exc.description) from None


async def send_command(
    registry: ConnectionRegistry,
    station_id: str,
    name: str,
    payload: dict[str, Any] | None = None,
    *,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Send command `name` to the station and return its answer's payload.

    `timeout` bounds the whole wait, including waiting for an earlier command to the same
    station to finish (OCPP allows one outstanding CALL per direction).
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    payload = check_command(station_id, name, {} if payload is None else payload)
    conn = registry.get(station_id)
    if conn is None:
        raise StationNotConnected(station_id, name, "not connected")
    sent: list[str] = []
    try:
        async with asyncio.timeout(timeout):
            return await conn.call(name, payload, timeout=timeout, on_sent=sent.append)
    except TimeoutError:
        raise CommandTimeout(station_id, name, timeout, sent[0] if sent else None) from None
