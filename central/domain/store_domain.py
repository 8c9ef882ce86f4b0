"""`StoreDomain`: the OCPP server's domain port (`CsmsDomain`) over the store.

    store = await open_store("sqlite:///chargekit.db")
    domain = StoreDomain(store, heartbeat_interval=300)
    server = OcppServer(domain)                 # create_app does this from the settings

It behaves as `MemoryDomain` (the reference) does, with the state in the database:

- authenticate: the station's scrypt password hash (passwords.py); "unknown" for a station
  not in the store. A station stored without a hash connects without credentials only with
  `allow_passwordless` (security profile 0); otherwise it is refused until a password is set.
  A verified password is remembered in memory (a keyed digest, per station and stored hash),
  so reconnects do not pay the KDF again; changing the hash forgets it.
- register (auto-register): creates the station with the first password's hash.
- boot: stores the BootNotification fields and answers the station's registration status.
- every message marks the station seen (`stations.touch`), at most once per
  `seen_resolution` seconds per station (BootNotification and Heartbeat always).
- authorize / start / stop: token status from `store.tokens` (Accepted, Blocked, Expired
  also by expiry, Invalid for unknown tags) with parentIdTag and expiryDate. StartTransaction
  opens a transaction even for a refused tag (OCPP 1.6 gives every StartTransaction a
  transactionId; the station stops it) and is idempotent in the database. StopTransaction
  and MeterValues for an unknown transaction, or one of another station, are acknowledged and
  stored nowhere (a refused stop would be retried forever).
- MeterValues without a transactionId are not stored (the store has no table for them yet);
  non-numeric values (format SignedData) are skipped.

Messages from a station deleted while connected are answered and change nothing
(BootNotification answers Rejected).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from chargekit.central.ocpp.ports import (
    AuthResult,
    BootInfo,
    BootResult,
    DataTransferResult,
    IdTagInfo,
    MeterValue,
    RegistrationStatus,
    StartResult,
)
from chargekit.central.store import (
    REGISTRATION_STATUSES,
    Conflict,
    InvalidValue,
    MeterSample,
    NotFound,
    Store,
    Token,
)

from .passwords import hash_password, verify_password

log = logging.getLogger("chargekit.central.domain")

# DataTransfer handler for one vendorId: (station_id, message_id, data) -> answer.
DataTransferHandler = Callable[[str, str | None, str | None], Awaitable[DataTransferResult]]

T = TypeVar("T")

# The KDF runs on its own threads: the default executor also validates every OCPP message
# (ocpp.messages.ASYNC_VALIDATION), and a burst of handshakes must not stall that.
_KDF_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="kdf")
_OWNERS_CACHED = 10_000  # transaction id -> station id, most recently used


async def _off_loop(func: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_KDF_POOL, func, *args)


def id_tag_info_of(token: Token, now: datetime) -> IdTagInfo:
    """The idTagInfo for a stored token: an Accepted token past its expiry is Expired."""
    status = token.status
    if status == "Accepted" and token.expires_at is not None and token.expires_at <= now:
        status = "Expired"
    return IdTagInfo(status, token.expires_at, token.parent_id_tag)  # type: ignore[arg-type]


def samples_of(meter_values: Iterable[MeterValue]) -> list[MeterSample]:
    """Store samples of OCPP meter values; values that are not finite numbers are skipped."""
    samples = []
    for mv in meter_values:
        for sv in mv.sampled_values:
            if sv.format != "Raw":  # SignedData: no column for it yet
                continue
            try:
                value = float(sv.value)
            except ValueError:
                continue
            if not math.isfinite(value):
                continue
            samples.append(
                MeterSample(
                    timestamp=mv.timestamp,
                    value=value,
                    measurand=sv.measurand,
                    unit=sv.unit,
                    phase=sv.phase or None,
                    location=sv.location or None,
                    context=sv.context,
                )
            )
    return samples


class StoreDomain:
    """`CsmsDomain` over a `Store` (see the module docstring for the behaviour).

    `store` may be bound later with `bind()` (create_app opens it in the lifespan).
    `clock` (aware UTC datetimes) decides token expiry and caps station timestamps;
    `data_transfer` maps a vendorId to its handler (others answer UnknownVendorId).
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        heartbeat_interval: int = 300,
        allow_passwordless: bool = False,
        register_status: RegistrationStatus = "Accepted",
        accept_unknown_tags: bool = False,
        seen_resolution: float = 1.0,
        data_transfer: Mapping[str, DataTransferHandler] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if heartbeat_interval < 1:
            raise ValueError("heartbeat_interval must be at least 1 second")
        if register_status not in REGISTRATION_STATUSES:
            raise ValueError(f"register_status must be one of {REGISTRATION_STATUSES}")
        self._store = store
        self.heartbeat_interval = heartbeat_interval
        self.allow_passwordless = allow_passwordless
        self.register_status: RegistrationStatus = register_status
        self.accept_unknown_tags = accept_unknown_tags
        self.seen_resolution = seen_resolution
        self.data_transfer_handlers: dict[str, DataTransferHandler] = dict(data_transfer or {})
        self.clock = clock or (lambda: datetime.now(UTC))
        self._touched: dict[str, float] = {}  # station -> monotonic time of the last touch
        self._owners: OrderedDict[int, str] = OrderedDict()  # transaction -> station
        self._digest_key = os.urandom(32)  # keys the remembered-password digests
        self._verified: dict[str, tuple[str, bytes]] = {}  # station -> (hash, digest)

    # --- the store ---------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("StoreDomain has no store yet: bind() one (create_app does)")
        return self._store

    @property
    def bound_store(self) -> Store | None:
        """The store, or None before `bind()`."""
        return self._store

    def bind(self, store: Store | None) -> None:
        """Use `store` from now on (None: unbind, e.g. after it was closed)."""
        self._store = store
        self._touched.clear()
        self._owners.clear()

    # --- connection --------------------------------------------------------------------------

    async def authenticate(self, station_id: str, password: str | None) -> AuthResult:
        try:
            station = await self.store.stations.get(station_id)
        except NotFound:
            return "unknown"
        stored = station.password_hash
        if stored is None:
            if self.allow_passwordless:
                return "ok"
            log.warning(
                "%s: has no password and allow_passwordless is off: set one to admit it",
                station_id,
            )
            return "bad_password"
        if not password:
            return "bad_password"
        if self._remembered(station_id, stored, password):
            return "ok"
        try:
            ok = await _off_loop(verify_password, password, stored)
        except ValueError as exc:
            log.error(
                "%s: the stored password hash is unusable (%s): set a new one", station_id, exc
            )
            return "bad_password"
        if not ok:
            return "bad_password"
        self._remember(station_id, stored, password)
        return "ok"

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self._digest_key, password.encode("utf-8"), "sha256")

    def _remembered(self, station_id: str, stored: str, password: str) -> bool:
        entry = self._verified.get(station_id)
        return (
            entry is not None
            and entry[0] == stored
            and hmac.compare_digest(entry[1], self._digest(password))
        )

    def _remember(self, station_id: str, stored: str, password: str) -> None:
        self._verified[station_id] = (stored, self._digest(password))

    async def register(self, station_id: str, password: str | None) -> bool:
        """Create the station; False when it was not created (already there, or no password
        while passwordless stations are not allowed: nobody may claim an id without one)."""
        if not password and not self.allow_passwordless:
            log.warning("%s: not registered: no password (allow_passwordless is off)", station_id)
            return False
        hashed = await _off_loop(hash_password, password) if password else None
        try:
            await self.store.stations.create(
                station_id, registration_status=self.register_status, password_hash=hashed
            )
        except Conflict:  # another connection (or process) registered it first
            log.info("%s: already registered", station_id)
            return False
        if hashed is not None:
            self._remember(station_id, hashed, password or "")
        log.info("%s: registered (%s)", station_id, self.register_status)
        return True

    async def connected(self, station_id: str) -> None:
        await self._seen(station_id, always=True)

    async def disconnected(self, station_id: str) -> None:
        self._touched.pop(station_id, None)

    async def _seen(self, station_id: str, *, always: bool = False) -> None:
        """Touch last_seen, at most once per seen_resolution unless `always`."""
        now = time.monotonic()
        last = self._touched.get(station_id)
        if not always and last is not None and now - last < self.seen_resolution:
            return
        self._touched[station_id] = now  # before the await: concurrent callers skip
        try:
            await self.store.stations.touch(station_id)
        except NotFound:
            pass

    # --- station messages --------------------------------------------------------------------

    async def boot(self, station_id: str, info: BootInfo) -> BootResult:
        try:
            station = await self.store.stations.set_boot_info(
                station_id,
                vendor=info.vendor or "unknown",
                model=info.model or "unknown",
                serial_number=info.serial or None,
                charge_box_serial_number=info.charge_box_serial or None,
                firmware_version=info.firmware_version or None,
                iccid=info.iccid or None,
                imsi=info.imsi or None,
                meter_type=info.meter_type or None,
                meter_serial_number=info.meter_serial or None,
            )
        except NotFound:
            log.warning(
                "%s: BootNotification from a station no longer stored: Rejected", station_id
            )
            return BootResult("Rejected", self.heartbeat_interval)
        self._touched[station_id] = time.monotonic()  # set_boot_info set last_seen
        status: RegistrationStatus = station.registration_status  # type: ignore[assignment]
        return BootResult(status, self.heartbeat_interval)

    async def heartbeat(self, station_id: str) -> None:
        await self._seen(station_id, always=True)

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
        # A station clock ahead of ours would make every later (true) status look older than
        # the stored one and be ignored: take its timestamp, but never later than now.
        now = self.clock()
        at = now if timestamp is None else min(timestamp, now)
        try:
            await self.store.connectors.upsert_status(
                station_id,
                connector_id,
                status=status,
                error_code=error_code,
                info=info or None,
                vendor_id=vendor_id or None,
                vendor_error_code=vendor_error_code or None,
                at=at,
            )
        except NotFound:
            return
        await self._seen(station_id)

    async def authorize(self, station_id: str, id_tag: str) -> IdTagInfo:
        await self._seen(station_id)
        return await self.id_tag_info(id_tag)

    async def id_tag_info(self, id_tag: str) -> IdTagInfo:
        """The answer for an idTag now (unknown tags: Invalid unless accept_unknown_tags)."""
        try:
            token = await self.store.tokens.get(id_tag)
        except (NotFound, InvalidValue):
            return IdTagInfo("Accepted" if self.accept_unknown_tags else "Invalid")
        return id_tag_info_of(token, self.clock())

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
        info = await self.id_tag_info(id_tag)
        # Opened whatever the tag's status: OCPP 1.6 answers every StartTransaction with a
        # transactionId, and a station told Invalid/Blocked stops that transaction itself.
        tx, created = await self.store.transactions.start(
            station_id,
            connector_id,
            id_tag=id_tag,
            started_at=timestamp,
            meter_start=meter_start,
            reservation_id=reservation_id,
        )
        self._own(tx.id, station_id)
        if created:
            log.info(
                "%s: transaction %d started on connector %d, idTag %s %s, meter %d Wh",
                station_id,
                tx.id,
                connector_id,
                id_tag,
                info.status,
                meter_start,
            )
        else:
            log.info("%s: replayed StartTransaction: transaction %d again", station_id, tx.id)
        await self._seen(station_id)
        return StartResult(tx.id, info)

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
        if await self._owned_by(station_id, transaction_id, "StopTransaction"):
            tx, stopped_now = await self.store.transactions.stop(
                transaction_id,
                stopped_at=timestamp,
                meter_stop=meter_stop,
                reason=reason,
                id_tag=id_tag or None,
                samples=samples_of(transaction_data),
            )
            if stopped_now:
                log.info(
                    "%s: transaction %d stopped (%s), %s Wh",
                    station_id,
                    transaction_id,
                    reason,
                    tx.energy_wh,
                )
            else:
                log.info("%s: transaction %d was stopped already", station_id, transaction_id)
        await self._seen(station_id)
        return None if id_tag is None else await self.id_tag_info(id_tag)

    async def meter_values(
        self,
        station_id: str,
        *,
        connector_id: int,
        transaction_id: int | None,
        meter_values: tuple[MeterValue, ...],
    ) -> None:
        if transaction_id is None:
            log.debug("%s: MeterValues without a transaction not stored", station_id)
        elif await self._owned_by(station_id, transaction_id, "MeterValues"):
            samples = samples_of(meter_values)
            if samples:
                await self.store.transactions.add_samples(transaction_id, samples)
        await self._seen(station_id)

    async def data_transfer(
        self,
        station_id: str,
        *,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
    ) -> DataTransferResult:
        await self._seen(station_id)
        handler = self.data_transfer_handlers.get(vendor_id)
        if handler is None:
            log.info(
                "%s: DataTransfer for unknown vendor %r (%s)", station_id, vendor_id, message_id
            )
            return DataTransferResult("UnknownVendorId")
        return await handler(station_id, message_id, data)

    async def diagnostics_status(self, station_id: str, status: str) -> None:
        try:
            await self.store.stations.update(station_id, diagnostics_status=status)
        except NotFound:
            return
        await self._seen(station_id)

    async def firmware_status(self, station_id: str, status: str) -> None:
        try:
            await self.store.stations.update(station_id, firmware_status=status)
        except NotFound:
            return
        await self._seen(station_id)

    # --- transaction ownership ----------------------------------------------------------------

    def _own(self, transaction_id: int, station_id: str) -> None:
        self._owners[transaction_id] = station_id
        self._owners.move_to_end(transaction_id)
        if len(self._owners) > _OWNERS_CACHED:
            self._owners.popitem(last=False)

    async def _owned_by(self, station_id: str, transaction_id: int, action: str) -> bool:
        """True if the transaction exists and is the station's (a transaction's station never
        changes, so the answer is cached)."""
        owner = self._owners.get(transaction_id)
        if owner is None:
            try:
                tx = await self.store.transactions.get(transaction_id, samples=False)
            except (NotFound, InvalidValue):
                log.warning(
                    "%s: %s for unknown transaction %s: acknowledged, not stored",
                    station_id,
                    action,
                    transaction_id,
                )
                return False
            owner = tx.station_id
        self._own(transaction_id, owner)
        if owner != station_id:
            log.warning(
                "%s: %s for transaction %d of station %s: ignored",
                station_id,
                action,
                transaction_id,
                owner,
            )
            return False
        return True
