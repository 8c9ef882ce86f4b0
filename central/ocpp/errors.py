"""Errors of commands sent to stations (commands.send_command).

Each has a `kind` string the REST layer can put into its error envelope; the ADR
(docs/decisions/0005-ocpp-server.md) suggests an HTTP status for each.
"""

from __future__ import annotations

from typing import Any


class CommandError(Exception):
    """Base class: a command could not be carried out or got no usable answer."""

    kind = "command_error"

    def __init__(self, station_id: str, command: str, message: str) -> None:
        super().__init__(f"{command} to {station_id}: {message}")
        self.station_id = station_id
        self.command = command


class UnknownCommand(CommandError):
    """`command` is not an action the central system may send to a station."""

    kind = "unknown_command"


class InvalidPayload(CommandError):
    """The payload fails the action's schema; nothing was sent. `code` is the OCPP error code
    of the fault and `description` names the field ("type: not a valid ResetType")."""

    kind = "invalid_payload"

    def __init__(self, station_id: str, command: str, code: str, description: str) -> None:
        super().__init__(station_id, command, f"{code}: {description}")
        self.code = code
        self.description = description


class StationNotConnected(CommandError):
    """The station has no live connection here, or it closed before answering."""

    kind = "station_not_connected"


class CommandTimeout(CommandError):
    """No answer within `timeout` seconds. `message_id` is the CALL's unique id if it was
    sent, None if the station was still busy with an earlier command."""

    kind = "command_timeout"

    def __init__(
        self, station_id: str, command: str, timeout: float, message_id: str | None
    ) -> None:
        state = "no answer" if message_id else "not sent: the station is busy with another command"
        super().__init__(station_id, command, f"{state} within {timeout:g} s")
        self.timeout = timeout
        self.message_id = message_id


class CommandRejected(CommandError):
    """The station answered with a CALLERROR; `code` is its error code (any string)."""

    kind = "command_rejected"

    def __init__(
        self,
        station_id: str,
        command: str,
        code: str,
        description: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(station_id, command, f"CALLERROR {code}: {description}".rstrip(": "))
        self.code = code
        self.description = description
        self.details = details or {}


class InvalidResponse(CommandError):
    """The station's CALLRESULT fails the action's response schema; `payload` is what it sent."""

    kind = "invalid_response"

    def __init__(
        self, station_id: str, command: str, code: str, description: str, payload: Any
    ) -> None:
        super().__init__(station_id, command, f"{code}: {description}")
        self.code = code
        self.description = description
        self.payload = payload
