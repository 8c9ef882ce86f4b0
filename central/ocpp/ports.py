"""The domain port: what the OCPP server asks of the rest of the CSMS.

The OCPP layer parses and validates frames, converts camelCase wire payloads into the value
types below (timestamps become aware UTC datetimes, spec defaults are filled in) and calls
one `CsmsDomain` method per message. The domain knows nothing of WebSockets or OCPP-J; the
store-backed implementation and `MemoryDomain` (memory.py) are interchangeable.

    result = await domain.boot("CP-1", BootInfo(vendor="ChargeKit", model="Sim"))
    result.status, result.interval        # ("Accepted", 300)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple, Protocol, runtime_checkable

AuthResult = Literal["ok", "unknown", "bad_password"]
RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]
AuthorizationStatus = Literal["Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"]
DataTransferStatus = Literal["Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId"]


@dataclass(frozen=True, slots=True)
class IdTagInfo:
    """The answer to an idTag (Authorize, StartTransaction, StopTransaction)."""

    status: AuthorizationStatus
    expiry_date: datetime | None = None
    parent_id_tag: str | None = None


@dataclass(frozen=True, slots=True)
class BootInfo:
    """What a BootNotification tells about the station."""

    vendor: str
    model: str
    serial: str | None = None  # chargePointSerialNumber
    charge_box_serial: str | None = None  # chargeBoxSerialNumber (deprecated in 1.6)
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial: str | None = None


class BootResult(NamedTuple):
    status: RegistrationStatus
    interval: int  # seconds: heartbeat interval if Accepted, boot retry interval otherwise


class StartResult(NamedTuple):
    transaction_id: int
    id_tag_info: IdTagInfo


class DataTransferResult(NamedTuple):
    status: DataTransferStatus
    data: str | None = None


@dataclass(frozen=True, slots=True)
class SampledValue:
    """One sampled value; absent optional fields carry the OCPP 1.6 defaults."""

    value: str
    context: str = "Sample.Periodic"
    format: str = "Raw"
    measurand: str = "Energy.Active.Import.Register"
    phase: str | None = None
    location: str = "Outlet"
    unit: str = "Wh"


@dataclass(frozen=True, slots=True)
class MeterValue:
    timestamp: datetime
    sampled_values: tuple[SampledValue, ...]


@runtime_checkable
class CsmsDomain(Protocol):
    """Everything the OCPP server needs from the CSMS; one method per event.

    Methods must be quick (a slow one stalls that station's receive loop) and may raise:
    the station then gets a CALLERROR InternalError and the connection stays up.
    """

    async def authenticate(self, station_id: str, password: str | None) -> AuthResult:
        """Check the HTTP Basic password (None when the handshake carried none)."""
        ...

    async def register(self, station_id: str, password: str | None) -> bool | None:
        """Create an unknown station (auto-register); keep `password` if one was sent.
        False: not created (someone else was first, or it may not register like this): the
        server then authenticates the connection against what is stored."""
        ...

    async def connected(self, station_id: str) -> None:
        """A connection was accepted (also when it replaces an older one)."""
        ...

    async def disconnected(self, station_id: str) -> None:
        """The station's connection ended or it fell silent; not called when replaced."""
        ...

    async def boot(self, station_id: str, info: BootInfo) -> BootResult: ...

    async def heartbeat(self, station_id: str) -> None: ...

    async def status_notification(
        self,
        station_id: str,
        *,
        connector_id: int,
        status: str,
        error_code: str,
        info: str | None = None,
        timestamp: datetime | None = None,
        vendor_id: str | None = None,
        vendor_error_code: str | None = None,
    ) -> None: ...

    async def authorize(self, station_id: str, id_tag: str) -> IdTagInfo: ...

    async def start_transaction(
        self,
        station_id: str,
        *,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: datetime,
        reservation_id: int | None = None,
    ) -> StartResult:
        """Open a transaction. Idempotent: a replay with the same station, connector,
        idTag, timestamp and meterStart returns the first answer's transaction id."""
        ...

    async def stop_transaction(
        self,
        station_id: str,
        *,
        transaction_id: int,
        meter_stop: int,
        timestamp: datetime,
        reason: str = "Local",
        id_tag: str | None = None,
        transaction_data: tuple[MeterValue, ...] = (),
    ) -> IdTagInfo | None:
        """Close a transaction (an unknown id must be accepted too, or the station retries
        forever); returns the idTag's info when `id_tag` is given."""
        ...

    async def meter_values(
        self,
        station_id: str,
        *,
        connector_id: int,
        transaction_id: int | None,
        meter_values: tuple[MeterValue, ...],
    ) -> None: ...

    async def data_transfer(
        self,
        station_id: str,
        *,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
    ) -> DataTransferResult: ...

    async def diagnostics_status(self, station_id: str, status: str) -> None: ...

    async def firmware_status(self, station_id: str, status: str) -> None: ...
