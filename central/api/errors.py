"""The REST error envelope and the one table from exceptions to HTTP statuses and codes.

    {"success": false, "error": {"code": "not_found", "message": "station 'CP-9' does not exist"}}

Validation errors add ``details``: one ``{"loc": "tokens[3].status", "message": ...}`` per
fault. Every exception a handler raises goes through `api_error`; what it does not know
becomes 500 ``internal_error`` (logged with its traceback, never shown to the client).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import JSONResponse

from chargekit.central.ocpp.errors import (
    CommandError,
    CommandRejected,
    CommandTimeout,
    InvalidPayload,
    InvalidResponse,
    StationNotConnected,
    UnknownCommand,
)
from chargekit.central.store import Conflict, InvalidValue, NotFound, StoreError, Unavailable

log = logging.getLogger("chargekit.central.api")

MAX_DETAILS = 20  # a 10,000-row import with every row wrong still gets a short answer


class ApiError(Exception):
    """An error answer: HTTP `status`, a stable `code` for programs, a `message` for people."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        return {"success": False, "error": error}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers)


# Store errors (docs/decisions/0004) and command errors (docs/decisions/0005): status, code.
# Subclasses first: the first isinstance match wins.
_TABLE: tuple[tuple[type[Exception], int, str], ...] = (
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (InvalidValue, 422, "invalid_value"),
    (Unavailable, 503, "unavailable"),
    (UnknownCommand, 404, UnknownCommand.kind),
    (InvalidPayload, 422, InvalidPayload.kind),
    # 409, not 503: the central is fine, the station is not there (docs/decisions/0006).
    (StationNotConnected, 409, StationNotConnected.kind),
    (CommandTimeout, 504, CommandTimeout.kind),
    (CommandRejected, 502, CommandRejected.kind),
    (InvalidResponse, 502, InvalidResponse.kind),
    (CommandError, 502, CommandError.kind),
)

# Every status and code the API answers with, for the OpenAPI document and the docs.
STATUS_TEXT = {
    400: "Malformed request (invalid JSON)",
    401: "Missing, unknown or revoked API key",
    403: "The key's role may not do this",
    404: "No such resource, route or command",
    405: "Method not allowed on this path",
    409: "Conflicts with the stored state, or the station is not connected",
    413: "Request body too large",
    415: "Request body must be application/json",
    422: "A value fails validation",
    500: "Internal error",
    502: "The station answered with an error or an invalid answer",
    503: "The database is unavailable",
    504: "The station did not answer in time",
}


def loc_text(loc: Sequence[int | str]) -> str:
    """("tokens", 3, "status") -> "tokens[3].status"."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def validation_error(exc: ValidationError, *, where: str = "body") -> ApiError:
    """400 for JSON that does not parse, else 422 naming each field that fails."""
    errors = exc.errors(include_url=False, include_input=False)
    if any(e["type"] == "json_invalid" for e in errors):
        detail = next(e for e in errors if e["type"] == "json_invalid")
        reason = (detail.get("ctx") or {}).get("error", detail["msg"])
        return ApiError(400, "invalid_json", f"{where}: not valid JSON ({reason})")
    details = [
        {"loc": loc_text(e["loc"]) or where, "message": e["msg"]} for e in errors[:MAX_DETAILS]
    ]
    first = details[0]
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    message = f"{where}: {first['loc']}: {first['message']}{more}"
    if first["loc"] == where:
        message = f"{where}: {first['message']}{more}"
    return ApiError(422, "validation_error", message, details=details)


def api_error(exc: BaseException) -> ApiError:
    """The answer for any exception a handler raised."""
    if isinstance(exc, ApiError):
        return exc
    # A ValidationError here did not come from parsing the request (operations.py turns
    # those into ApiErrors): a stored value the answer's model refuses is our fault, a 500.
    for kind, status, code in _TABLE:
        if isinstance(exc, kind):
            return ApiError(status, code, str(exc))
    if isinstance(exc, StoreError):
        log.error("store error: %s", exc, exc_info=exc)
        return ApiError(500, "internal_error", "the store failed; see the central's log")
    log.error("unexpected error in the REST API", exc_info=exc)
    return ApiError(500, "internal_error", "internal error; see the central's log")
