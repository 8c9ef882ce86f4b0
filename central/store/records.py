"""What the store returns: frozen dataclasses, times as aware UTC datetimes.

``dataclasses.asdict(record)`` gives a plain dict for the REST layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

REGISTRATION_STATUSES: Final = ("Accepted", "Pending", "Rejected")
TOKEN_STATUSES: Final = ("Accepted", "Blocked", "Expired", "Invalid")
TRANSACTION_STATES: Final = ("open", "closed")

DEFAULT_MEASURAND: Final = "Energy.Active.Import.Register"
DEFAULT_CONTEXT: Final = "Sample.Periodic"
DEFAULT_UNIT: Final = "Wh"
DEFAULT_LOCATION: Final = "Outlet"


class Unset:
    """Marks an update argument that was not given (None means "set to NULL")."""

    _instance: Unset | None = None

    def __new__(cls) -> Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset()


@dataclass(frozen=True, slots=True)
class Station:
    id: str  # the OCPP identity: the last segment of /ocpp/{station_id}
    uuid: str
    registration_status: str  # Accepted | Pending | Rejected: the BootNotification answer
    vendor: str | None  # vendor .. meter_serial_number: the last BootNotification
    model: str | None
    serial_number: str | None  # chargePointSerialNumber
    charge_box_serial_number: str | None
    firmware_version: str | None
    iccid: str | None
    imsi: str | None
    meter_type: str | None
    meter_serial_number: str | None
    diagnostics_status: str | None  # the last DiagnosticsStatusNotification
    firmware_status: str | None  # the last FirmwareStatusNotification
    password_hash: str | None = field(repr=False)
    last_seen: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Connector:
    station_id: str
    connector_id: int  # 0 is the station as a whole, as in StatusNotification
    status: str
    error_code: str
    info: str | None
    vendor_id: str | None
    vendor_error_code: str | None
    updated_at: datetime  # the StatusNotification's timestamp (or when it arrived)


@dataclass(frozen=True, slots=True)
class Token:
    id_tag: str  # as first written; matched case-insensitively
    status: str  # Accepted | Blocked | Expired | Invalid
    expires_at: datetime | None
    parent_id_tag: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewToken:
    """One row of `Tokens.bulk_import`."""

    id_tag: str
    status: str = "Accepted"
    expires_at: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One sampled value; defaults are OCPP 1.6's for an absent field."""

    timestamp: datetime
    value: float
    measurand: str = DEFAULT_MEASURAND
    unit: str = DEFAULT_UNIT
    phase: str | None = None
    location: str | None = DEFAULT_LOCATION
    context: str = DEFAULT_CONTEXT


@dataclass(frozen=True, slots=True)
class Transaction:
    id: int  # the OCPP transactionId
    station_id: str
    connector_id: int
    id_tag: str
    started_at: datetime  # the station's StartTransaction timestamp
    meter_start: int  # Wh
    reservation_id: int | None
    stopped_at: datetime | None
    meter_stop: int | None
    stop_reason: str | None
    stop_id_tag: str | None
    created_at: datetime  # when the central recorded it
    updated_at: datetime
    samples: tuple[MeterSample, ...] | None = None  # None: not loaded (lists); () none stored

    @property
    def is_open(self) -> bool:
        return self.stopped_at is None

    @property
    def energy_wh(self) -> int | None:
        return None if self.meter_stop is None else self.meter_stop - self.meter_start


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    key_id: str | None  # the operator's API key id
    station_id: str | None
    command: str
    payload: Any  # JSON values
    result: Any


@dataclass(frozen=True, slots=True)
class ImportResult:
    created: int
    updated: int


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    applied_at: datetime
