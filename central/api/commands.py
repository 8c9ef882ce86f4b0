"""Commands to stations and the audit log: POST /api/v1/stations/{stationId}/commands/{name},
GET /api/v1/audit.

A command waits for the station's answer (OcppServer.send_command, bounded by ``?timeout=``
or the central's command_timeout) and returns it. Every command that got past
authentication and body parsing is written to the audit log, answered or not: the key id,
the station, the command, the payload, and ``{"success": true, "response": ...}`` or
``{"success": false, "error": {"code", "message"}}``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from chargekit.central.ocpp.errors import CommandError, StationNotConnected
from chargekit.central.store import NotFound, StoreError

from . import metrics
from . import schemas as s
from .errors import api_error
from .operations import Api, Input, Operation

log = logging.getLogger("chargekit.central.api")


# Configuration keys whose values are secrets: the audit log (readable with a read-only key)
# records that they were set, not what to.
SECRET_KEYS = frozenset({"AuthorizationKey"})
REDACTED = "***"


def redact(name: str, payload: Any) -> Any:
    """The payload as the audit log keeps it."""
    if (
        name == "ChangeConfiguration"
        and isinstance(payload, dict)
        and payload.get("key") in SECRET_KEYS
    ):
        return {**payload, "value": REDACTED}
    return payload


async def _audit(api: Api, inp: Input, payload: Any, result: dict[str, Any]) -> int | None:
    """Append the entry; a failing store is logged, not hidden behind the station's answer."""
    try:
        entry = await api.store.audit.append(
            inp.path.name,
            key_id=inp.principal.key_id,
            station_id=inp.path.station_id,
            payload=redact(inp.path.name, payload),
            result=result,
        )
    except StoreError:
        log.exception(
            "audit log: could not record %s to %s by key %s",
            inp.path.name,
            inp.path.station_id,
            inp.principal.key_id,
        )
        return None
    return entry.id


async def send_command(api: Api, inp: Input) -> s.CommandResult:
    station_id, name = inp.path.station_id, inp.path.name
    payload = inp.body.root
    timeout = inp.query.timeout or api.settings.command_timeout
    try:
        try:
            answer = await api.ocpp.send_command(station_id, name, payload, timeout=timeout)
        except StationNotConnected:
            await api.store.stations.get(station_id)  # NotFound is the better answer
            raise
    except (CommandError, NotFound) as exc:
        error = api_error(exc)
        metrics.COMMANDS.labels(name, error.code).inc()
        await _audit(api, inp, payload, error.body())
        raise
    metrics.COMMANDS.labels(name, "ok").inc()
    audit_id = await _audit(api, inp, payload, {"success": True, "response": answer})
    return s.CommandResult(station_id=station_id, command=name, response=answer, audit_id=audit_id)


async def list_audit(api: Api, inp: Input) -> s.AuditPage:
    q: s.AuditQuery = inp.query
    items, total = await api.store.audit.list(
        station_id=q.station_id,
        key_id=q.key_id,
        command=q.command,
        since=q.from_,
        until=q.to,
        offset=q.offset,
        limit=q.limit,
    )
    return s.AuditPage(
        items=[s.AuditEntry(**asdict(e)) for e in items],
        total=total,
        offset=q.offset,
        limit=q.limit,
    )


COMMAND_PATH = "/stations/{stationId}/commands/{name}"

OPERATIONS = [
    Operation(
        "POST",
        COMMAND_PATH,
        send_command,
        "operator",
        "Send an OCPP command to a station and wait for its answer",
        "commands",
        "sendCommand",
        path_model=s.CommandPath,
        query=s.CommandQuery,
        body=s.CommandPayload,
        body_optional=True,
        response=s.CommandResult,
        errors=(404, 409, 502, 504),
        description="The body is the OCPP 1.6 request payload (camelCase, as on the wire), "
        "checked against the action's schema before anything is sent (422 "
        '`invalid_payload`). An answer such as `{"status": "Rejected"}` is a success. '
        "409 `station_not_connected`: the station has no live connection; 504 "
        "`command_timeout`: no answer in time; 502 `command_rejected`: it answered with a "
        "CALLERROR; 404 `unknown_command`: not a central-to-station action.",
    ),
    Operation(
        "GET",
        "/audit",
        list_audit,
        "read-only",
        "The audit log of commands",
        "commands",
        "listAudit",
        query=s.AuditQuery,
        response=s.AuditPage,
        description="Newest first.",
    ),
]
