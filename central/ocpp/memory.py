"""`MemoryDomain`: the domain port in plain dicts, for tests and as the reference behaviour a
store-backed domain is compared against. Nothing survives the process.

    domain = MemoryDomain(stations={"CP-1": "0123456789abcdef"}, tokens={"TAG1": "Accepted"})
    domain.stations["CP-1"].registration = "Pending"   # next BootNotification answers Pending
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .ports import (
    AuthResult,
    BootInfo,
    BootResult,
    DataTransferResult,
    IdTagInfo,
    MeterValue,
    RegistrationStatus,
    StartResult,
)


@dataclass(slots=True)
class ConnectorState:
    status: str
    error_code: str
    info: str | None = None
    timestamp: datetime | None = None
    vendor_id: str | None = None
    vendor_error_code: str | None = None


@dataclass(slots=True)
class StationState:
    password: str | None = None  # None: no password required (security profile 0)
    registration: RegistrationStatus = "Accepted"
    online: bool = False
    boot: BootInfo | None = None
    last_heartbeat: datetime | None = None
    connectors: dict[int, ConnectorState] = field(default_factory=dict)
    diagnostics_status: str | None = None
    firmware_status: str | None = None


@dataclass(slots=True)
class Transaction:
    id: int
    station_id: str
    connector_id: int
    id_tag: str
    meter_start: int
    start: datetime
    reservation_id: int | None = None
    meter_stop: int | None = None
    stop: datetime | None = None
    reason: str | None = None
    stop_id_tag: str | None = None
    meter_values: list[MeterValue] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.stop is None


class MemoryDomain:
    """In-memory CsmsDomain. `calls` logs every call as (method, station_id, arguments).

    stations: station id -> password (None for none); tokens: idTag -> status or IdTagInfo
    (keys compared case-insensitively). Unknown idTags are Invalid unless accept_unknown_tags.
    """

    def __init__(
        self,
        *,
        stations: Mapping[str, str | None] | None = None,
        tokens: Mapping[str, str | IdTagInfo] | None = None,
        heartbeat_interval: int = 300,
        boot_status: RegistrationStatus = "Accepted",
        accept_unknown_tags: bool = False,
    ) -> None:
        self.heartbeat_interval = heartbeat_interval
        self.boot_status: RegistrationStatus = boot_status
        self.accept_unknown_tags = accept_unknown_tags
        self.stations: dict[str, StationState] = {}
        for station_id, password in (stations or {}).items():
            self.add_station(station_id, password)
        self.tokens: dict[str, IdTagInfo] = {}
        for id_tag, info in (tokens or {}).items():
            self.add_token(id_tag, info)
        self.transactions: dict[int, Transaction] = {}
        self.data_transfers: list[tuple[str, str, str | None, str | None]] = []
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self._starts: dict[tuple[str, int, str, datetime, int], int] = {}
        self._next_transaction_id = 1

    def add_station(self, station_id: str, password: str | None = None) -> StationState:
        state = self.stations[station_id] = StationState(
            password=password, registration=self.boot_status
        )
        return state

    def add_token(self, id_tag: str, info: str | IdTagInfo = "Accepted") -> None:
        # idTags are CiString20: compared without regard to case.
        self.tokens[id_tag.upper()] = info if isinstance(info, IdTagInfo) else IdTagInfo(info)

    def _log(self, method: str, station_id: str, **arguments: Any) -> None:
        self.calls.append((method, station_id, arguments))

    def calls_to(self, method: str) -> list[tuple[str, dict[str, Any]]]:
        """(station_id, arguments) of every call to `method`, in order."""
        return [(station, args) for name, station, args in self.calls if name == method]

    def _id_tag_info(self, id_tag: str) -> IdTagInfo:
        info = self.tokens.get(id_tag.upper())
        if info is None:
            return IdTagInfo("Accepted" if self.accept_unknown_tags else "Invalid")
        if (
            info.status == "Accepted"
            and info.expiry_date is not None
            and info.expiry_date <= datetime.now(UTC)
        ):
            return IdTagInfo("Expired", info.expiry_date, info.parent_id_tag)
        return info

    async def authenticate(self, station_id: str, password: str | None) -> AuthResult:
        self._log("authenticate", station_id, password=password)
        state = self.stations.get(station_id)
        if state is None:
            return "unknown"
        if state.password is None:
            return "ok"
        if password is None or not hmac.compare_digest(
            password.encode("utf-8"), state.password.encode("utf-8")
        ):
            return "bad_password"
        return "ok"

    async def register(self, station_id: str, password: str | None) -> bool:
        self._log("register", station_id, password=password)
        if station_id in self.stations:
            return False
        self.add_station(station_id, password)
        return True

    async def connected(self, station_id: str) -> None:
        self._log("connected", station_id)
        self.stations[station_id].online = True

    async def disconnected(self, station_id: str) -> None:
        self._log("disconnected", station_id)
        self.stations[station_id].online = False

    async def boot(self, station_id: str, info: BootInfo) -> BootResult:
        self._log("boot", station_id, info=info)
        state = self.stations[station_id]
        state.boot = info
        return BootResult(state.registration, self.heartbeat_interval)

    async def heartbeat(self, station_id: str) -> None:
        self._log("heartbeat", station_id)
        self.stations[station_id].last_heartbeat = datetime.now(UTC)

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
    ) -> None:
        state = ConnectorState(status, error_code, info, timestamp, vendor_id, vendor_error_code)
        self._log("status_notification", station_id, connector_id=connector_id, state=state)
        self.stations[station_id].connectors[connector_id] = state

    async def authorize(self, station_id: str, id_tag: str) -> IdTagInfo:
        self._log("authorize", station_id, id_tag=id_tag)
        return self._id_tag_info(id_tag)

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
        self._log(
            "start_transaction",
            station_id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=meter_start,
            timestamp=timestamp,
            reservation_id=reservation_id,
        )
        info = self._id_tag_info(id_tag)
        key = (station_id, connector_id, id_tag, timestamp, meter_start)
        existing = self._starts.get(key)
        if existing is not None:  # a replay after a lost answer: same transaction
            return StartResult(existing, info)
        transaction_id = self._next_transaction_id
        self._next_transaction_id += 1
        self._starts[key] = transaction_id
        self.transactions[transaction_id] = Transaction(
            transaction_id, station_id, connector_id, id_tag, meter_start, timestamp, reservation_id
        )
        return StartResult(transaction_id, info)

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
        self._log(
            "stop_transaction",
            station_id,
            transaction_id=transaction_id,
            meter_stop=meter_stop,
            timestamp=timestamp,
            reason=reason,
            id_tag=id_tag,
            transaction_data=transaction_data,
        )
        tx = self.transactions.get(transaction_id)
        if tx is not None and tx.station_id == station_id and tx.active:
            tx.meter_stop, tx.stop = meter_stop, timestamp
            tx.reason, tx.stop_id_tag = reason, id_tag
            tx.meter_values.extend(transaction_data)
        return None if id_tag is None else self._id_tag_info(id_tag)

    async def meter_values(
        self,
        station_id: str,
        *,
        connector_id: int,
        transaction_id: int | None,
        meter_values: tuple[MeterValue, ...],
    ) -> None:
        self._log(
            "meter_values",
            station_id,
            connector_id=connector_id,
            transaction_id=transaction_id,
            meter_values=meter_values,
        )
        tx = self.transactions.get(transaction_id) if transaction_id is not None else None
        if tx is not None and tx.station_id == station_id:
            tx.meter_values.extend(meter_values)

    async def data_transfer(
        self,
        station_id: str,
        *,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
    ) -> DataTransferResult:
        self._log(
            "data_transfer", station_id, vendor_id=vendor_id, message_id=message_id, data=data
        )
        self.data_transfers.append((station_id, vendor_id, message_id, data))
        return DataTransferResult("UnknownVendorId")

    async def diagnostics_status(self, station_id: str, status: str) -> None:
        self._log("diagnostics_status", station_id, status=status)
        self.stations[station_id].diagnostics_status = status

    async def firmware_status(self, station_id: str, status: str) -> None:
        self._log("firmware_status", station_id, status=status)
        self.stations[station_id].firmware_status = status
