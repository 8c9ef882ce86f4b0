"""Pydantic models of every request and answer body, query string and path of the REST API.

JSON names are camelCase (``registrationStatus``, ``idTag``), as in OCPP and the seed APIs;
Python names are snake_case. Bodies are strict (``"connectorId": "1"`` is refused) and refuse
unknown fields; query strings and paths arrive as text and are converted. Times are RFC 3339
and must carry an offset (``Z`` or ``+01:00``); answers give UTC with ``Z``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel


def _not_only_dots(value: str) -> str:
    if not value.strip("."):
        raise ValueError("a station id cannot be only dots")
    return value


# The OCPP identity: the last URL segment, the Basic user name and an MQTT topic level
# (chargekit.protocol.topics.check_station_id).
StationId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9._-]+$"),
    AfterValidator(_not_only_dots),
]
# OCPP 1.6 IdToken: CiString20, printable ASCII; matched case-insensitively.
IdTag = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[ -~]+$")]
# Security profile 1/2 password (HTTP Basic), stored as a scrypt hash.
Password = Annotated[str, StringConstraints(min_length=16, max_length=40, pattern=r"^[ -~]+$")]
RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]
TokenStatus = Literal["Accepted", "Blocked", "Expired", "Invalid"]
Role = Literal["admin", "operator", "read-only"]
TransactionStatus = Literal["open", "closed"]
CommandName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z]+$")]
KeyId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Offset = Annotated[int, Field(ge=0, le=2**62, description="rows to skip")]
Limit = Annotated[int, Field(ge=1, le=1000, description="rows to return (at most 1000)")]


# Free text up to n characters (OCPP's CiString lengths for the BootNotification fields),
# without control characters (PostgreSQL's TEXT cannot even hold NUL).
_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Text20 = Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=_PRINTABLE)]
Text25 = Annotated[str, StringConstraints(min_length=1, max_length=25, pattern=_PRINTABLE)]
Text50 = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=_PRINTABLE)]
Text200 = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-23:59 is past year 9999 in UTC
        raise ValueError("outside the years 1 to 9999 in UTC") from None


# An RFC 3339 time with an offset (a naive one is ambiguous), as UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


def check_json(value: Any, loc: str = "") -> None:
    """ValueError unless `value` is JSON every store and station can take: finite numbers,
    strings without NUL (PostgreSQL's JSONB refuses it), at most 32 levels deep."""
    stack = [(value, loc, 0)]
    while stack:
        item, where, depth = stack.pop()
        if depth > 32:
            raise ValueError(f"{where or 'body'}: nested more than 32 levels")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{where or 'body'}: numbers must be finite")
        if isinstance(item, str) and "\x00" in item:
            raise ValueError(f"{where or 'body'}: NUL characters are not allowed")
        if isinstance(item, dict):
            for key, child in item.items():
                if "\x00" in key:
                    raise ValueError(f"{where or 'body'}: NUL characters are not allowed")
                stack.append((child, f"{where}.{key}" if where else key, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))


class Body(BaseModel):
    """A request body: strict types, camelCase names, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", strict=True, populate_by_name=False
    )


class Params(BaseModel):
    """A query string or path: values arrive as text and are converted."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", populate_by_name=False)


class Out(BaseModel):
    """An answer: built from Python names, written with camelCase names."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


T = TypeVar("T")


class Page(Out, Generic[T]):
    """One page of a list, and how many items match in all."""

    items: list[T]
    total: int = Field(description="items matching the filters, over all pages")
    offset: int
    limit: int


# --- paths -------------------------------------------------------------------------------------


class StationPath(Params):
    station_id: StationId


class TokenPath(Params):
    id_tag: IdTag


class TransactionPath(Params):
    transaction_id: Annotated[int, Field(ge=1, lt=2**63)]


class KeyPath(Params):
    key_id: KeyId


class CommandPath(Params):
    station_id: StationId
    name: CommandName


# --- query strings -----------------------------------------------------------------------------


class PageQuery(Params):
    offset: Offset = 0
    limit: Limit = 50


class StationQuery(PageQuery):
    registration_status: RegistrationStatus | None = None


class TokenQuery(PageQuery):
    status: TokenStatus | None = None


class TransactionQuery(PageQuery):
    station_id: StationId | None = None
    connector_id: Annotated[int, Field(ge=0, lt=2**31)] | None = None
    id_tag: IdTag | None = Field(None, description="any letter case")
    status: TransactionStatus | None = None
    from_: UtcDatetime | None = Field(None, alias="from", description="started at or after")
    to: UtcDatetime | None = Field(None, description="started before")


class AuditQuery(PageQuery):
    station_id: StationId | None = None
    key_id: KeyId | None = None
    command: CommandName | None = None
    from_: UtcDatetime | None = Field(None, alias="from", description="at or after")
    to: UtcDatetime | None = Field(None, description="before")


class KeyQuery(PageQuery):
    role: Role | None = None
    include_revoked: bool = False


class CommandQuery(Params):
    timeout: Annotated[float, Field(gt=0, le=300)] | None = Field(
        None, description="seconds to wait for the station's answer (default: the central's)"
    )


# --- stations ----------------------------------------------------------------------------------


class StationCreate(Body):
    id: StationId
    password: Password | None = Field(
        None, description="HTTP Basic password (16-40 printable ASCII); stored hashed"
    )
    registration_status: RegistrationStatus = "Accepted"
    vendor: Text20 | None = None
    model: Text20 | None = None
    serial_number: Text25 | None = None
    firmware_version: Text50 | None = None


class StationUpdate(Body):
    """Only the fields given change; null clears one (a null password: no credentials)."""

    registration_status: RegistrationStatus | None = None
    password: Password | None = None
    vendor: Text20 | None = None
    model: Text20 | None = None
    serial_number: Text25 | None = None
    firmware_version: Text50 | None = None


class Connector(Out):
    connector_id: int = Field(description="0 is the station as a whole")
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    updated_at: datetime


class Connection(Out):
    """The station's live OCPP connection to this central process."""

    connected_at: datetime
    last_seen: datetime
    heartbeat_interval: int | None
    registration: str | None
    frames_in: int
    frames_rejected: int


class Station(Out):
    id: str
    uuid: str
    registration_status: RegistrationStatus
    vendor: str | None
    model: str | None
    serial_number: str | None
    charge_box_serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    diagnostics_status: str | None
    firmware_status: str | None
    has_password: bool
    connected: bool = Field(description="has a live OCPP connection to this central process")
    last_seen: datetime | None
    created_at: datetime
    updated_at: datetime


class StationDetail(Station):
    connectors: list[Connector]
    connection: Connection | None


class StationPage(Page[Station]):
    pass


class ConnectorList(RootModel[list[Connector]]):
    pass


# --- tokens ------------------------------------------------------------------------------------


class TokenCreate(Body):
    id_tag: IdTag
    status: TokenStatus = "Accepted"
    expires_at: UtcDatetime | None = None
    parent_id_tag: IdTag | None = None


class TokenUpdate(Body):
    """Only the fields given change; null clears expiry or parent."""

    status: TokenStatus | None = None
    expires_at: UtcDatetime | None = None
    parent_id_tag: IdTag | None = None


class TokenImport(Body):
    """Create or overwrite every token in one transaction: all rows, or none."""

    tokens: Annotated[list[TokenCreate], Field(min_length=1, max_length=10_000)]


class Token(Out):
    id_tag: str
    status: TokenStatus
    expires_at: datetime | None
    parent_id_tag: str | None
    created_at: datetime
    updated_at: datetime


class TokenPage(Page[Token]):
    pass


class ImportResult(Out):
    created: int
    updated: int


# --- transactions ------------------------------------------------------------------------------


class MeterSample(Out):
    timestamp: datetime
    value: float
    measurand: str
    unit: str
    phase: str | None
    location: str | None
    context: str


class Transaction(Out):
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    status: TransactionStatus
    started_at: datetime
    meter_start: int = Field(description="Wh")
    reservation_id: int | None
    stopped_at: datetime | None
    meter_stop: int | None = Field(description="Wh")
    energy_wh: int | None = Field(description="meterStop - meterStart, once stopped")
    stop_reason: str | None
    stop_id_tag: str | None
    created_at: datetime
    updated_at: datetime


class TransactionDetail(Transaction):
    samples: list[MeterSample]


class TransactionPage(Page[Transaction]):
    pass


# --- commands and the audit log ----------------------------------------------------------------


class CommandPayload(RootModel[dict[str, Any]]):
    """The OCPP 1.6 request payload of the command, as it goes on the wire (camelCase)."""

    @model_validator(mode="after")
    def _plain_json(self) -> CommandPayload:
        check_json(self.root)
        return self


class CommandResult(Out):
    station_id: str
    command: str
    response: dict[str, Any] = Field(description="the station's CALLRESULT payload")
    audit_id: int | None = Field(description="the audit log entry (null if it failed)")


class AuditEntry(Out):
    id: int
    at: datetime
    key_id: str | None
    station_id: str | None
    command: str
    payload: Any
    result: Any = Field(
        description='{"success": true, "response": {...}} or {"success": false, "error": {...}}'
    )


class AuditPage(Page[AuditEntry]):
    pass


# --- API keys ----------------------------------------------------------------------------------


class ApiKeyCreate(Body):
    role: Role
    name: Text200 | None = None


class ApiKey(Out):
    id: str
    role: Role
    name: str | None
    active: bool
    created_at: datetime
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    key: str = Field(description="the secret key: shown this once, stored only as a hash")


class ApiKeyPage(Page[ApiKey]):
    pass


class WhoAmI(Out):
    key_id: str
    role: Role


# --- health ------------------------------------------------------------------------------------


class Check(Out):
    status: str = Field(description='"ok", "unavailable", "not configured", ...')
    detail: str | None = None


class Health(Out):
    status: Literal["ok", "unavailable"]
    database: Check
    broker: Check
    connected_stations: int


# --- errors (for the OpenAPI document; errors.py writes them) ---------------------------------


class ErrorDetail(Out):
    loc: str = Field(description='the field at fault, e.g. "tokens[3].status"')
    message: str


class ErrorInfo(Out):
    code: str = Field(description='stable, for programs: "not_found", "validation_error", ...')
    message: str = Field(description="for people")
    details: list[ErrorDetail] | None = Field(None, description="validation errors only")


class ErrorEnvelope(Out):
    success: Literal[False]
    error: ErrorInfo
