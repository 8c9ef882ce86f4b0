"""Stations (one per OCPP identity) and their connectors' last reported status."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from . import codec
from .codec import Clock, decode_time
from .db import Database, Row
from .errors import Conflict, NotFound, ReferenceConflict
from .records import REGISTRATION_STATUSES, UNSET, Connector, Station, Unset

# What a BootNotification reports; set_boot_info replaces all of them at once.
BOOT_FIELDS = (
    "vendor",
    "model",
    "serial_number",  # chargePointSerialNumber
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
)
# Free-text columns `update` may change (column names in SQL come only from these tuples).
TEXT_FIELDS = (*BOOT_FIELDS, "diagnostics_status", "firmware_status", "password_hash")
_STATION = ", ".join(
    ("id", "uuid", "registration_status", *TEXT_FIELDS, "last_seen", "created_at", "updated_at")
)
_CONNECTOR = (
    "station_id, connector_id, status, error_code, info, vendor_id, vendor_error_code, updated_at"
)


def station_from_row(row: Row) -> Station:
    return Station(
        id=row["id"],
        uuid=row["uuid"],
        registration_status=row["registration_status"],
        **{name: row[name] for name in TEXT_FIELDS},
        last_seen=decode_time(row["last_seen"]),
        created_at=decode_time(row["created_at"]),
        updated_at=decode_time(row["updated_at"]),
    )


def connector_from_row(row: Row) -> Connector:
    return Connector(
        station_id=row["station_id"],
        connector_id=row["connector_id"],
        status=row["status"],
        error_code=row["error_code"],
        info=row["info"],
        vendor_id=row["vendor_id"],
        vendor_error_code=row["vendor_error_code"],
        updated_at=decode_time(row["updated_at"]),
    )


class Stations:
    """``store.stations``: create, get, list, update, delete, touch, set_boot_info."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self,
        station_id: str,
        *,
        registration_status: str = "Accepted",
        password_hash: str | None = None,
        vendor: str | None = None,
        model: str | None = None,
        serial_number: str | None = None,
        firmware_version: str | None = None,
    ) -> Station:
        """A new station with a fresh UUID; Conflict if the identity is taken."""
        station_id = codec.text(station_id, "station_id", max_length=255)
        codec.choice(registration_status, REGISTRATION_STATUSES, "registration_status")
        given = {
            "vendor": vendor,
            "model": model,
            "serial_number": serial_number,
            "firmware_version": firmware_version,
            "password_hash": password_hash,
        }
        values = [codec.optional_text(given.get(name), name) for name in TEXT_FIELDS]
        placeholders = ", ".join(f"${i}" for i in range(4, 4 + len(values)))
        now_at = 4 + len(values)
        row = await self._db.write(
            f"INSERT INTO stations (id, uuid, registration_status, {', '.join(TEXT_FIELDS)},"
            f" created_at, updated_at) VALUES ($1, $2, $3, {placeholders}, ${now_at}, ${now_at})"
            f" ON CONFLICT (id) DO NOTHING RETURNING {_STATION}",
            station_id,
            str(uuid.uuid4()),
            registration_status,
            *values,
            self._clock(),
        )
        if row is None:
            raise Conflict(f"station {station_id!r} already exists")
        return station_from_row(row)

    async def get(self, station_id: str) -> Station:
        row = await self._db.fetchrow(f"SELECT {_STATION} FROM stations WHERE id = $1", station_id)
        if row is None:
            raise NotFound(f"station {station_id!r} does not exist")
        return station_from_row(row)

    async def list(
        self, *, registration_status: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Station], int]:
        """A page of stations by id, and how many match in all."""
        offset, limit = codec.page(offset, limit)
        where, args = "", []
        if registration_status is not None:
            codec.choice(registration_status, REGISTRATION_STATUSES, "registration_status")
            where, args = " WHERE registration_status = $1", [registration_status]
        total = await self._db.fetchval(f"SELECT count(*) FROM stations{where}", *args)
        n = len(args)
        rows = await self._db.fetch(
            f"SELECT {_STATION} FROM stations{where} ORDER BY id LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [station_from_row(r) for r in rows], int(total)

    async def update(
        self,
        station_id: str,
        *,
        registration_status: str | Unset = UNSET,
        password_hash: str | Unset | None = UNSET,
        vendor: str | Unset | None = UNSET,
        model: str | Unset | None = UNSET,
        serial_number: str | Unset | None = UNSET,
        charge_box_serial_number: str | Unset | None = UNSET,
        firmware_version: str | Unset | None = UNSET,
        iccid: str | Unset | None = UNSET,
        imsi: str | Unset | None = UNSET,
        meter_type: str | Unset | None = UNSET,
        meter_serial_number: str | Unset | None = UNSET,
        diagnostics_status: str | Unset | None = UNSET,
        firmware_status: str | Unset | None = UNSET,
    ) -> Station:
        """Change the fields given (None clears one); NotFound if the station does not exist.

        diagnostics_status / firmware_status hold the last Diagnostics- and
        FirmwareStatusNotification.
        """
        given = locals()
        changes: dict[str, Any] = {}
        if registration_status is not UNSET:
            changes["registration_status"] = codec.choice(
                registration_status, REGISTRATION_STATUSES, "registration_status"
            )
        for name in TEXT_FIELDS:
            if given[name] is not UNSET:
                changes[name] = codec.optional_text(given[name], name)
        if not changes:
            return await self.get(station_id)
        return await self._update(station_id, changes)

    async def _update(self, station_id: str, changes: dict[str, Any]) -> Station:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=3))
        row = await self._db.write(
            f"UPDATE stations SET {sets}, updated_at = $2 WHERE id = $1 RETURNING {_STATION}",
            station_id,
            self._clock(),
            *changes.values(),
        )
        if row is None:
            raise NotFound(f"station {station_id!r} does not exist")
        return station_from_row(row)

    async def delete(self, station_id: str) -> None:
        """Remove a station and its connectors; Conflict while it has transactions."""
        try:
            row = await self._db.write(
                "DELETE FROM stations WHERE id = $1 RETURNING id", station_id
            )
        except ReferenceConflict as exc:
            raise Conflict(
                f"station {station_id!r} has transactions; set it Rejected instead"
            ) from exc
        if row is None:
            raise NotFound(f"station {station_id!r} does not exist")

    async def touch(self, station_id: str, at: datetime | None = None) -> None:
        """Record that the station was heard from (never moves last_seen backwards)."""
        at = self._clock() if at is None else codec.utc(at, "at")
        row = await self._db.write(
            "UPDATE stations SET last_seen = CASE WHEN last_seen IS NULL OR last_seen < $2"
            " THEN $2 ELSE last_seen END WHERE id = $1 RETURNING id",
            station_id,
            at,
        )
        if row is None:
            raise NotFound(f"station {station_id!r} does not exist")

    async def set_boot_info(
        self,
        station_id: str,
        *,
        vendor: str,
        model: str,
        serial_number: str | None = None,
        charge_box_serial_number: str | None = None,
        firmware_version: str | None = None,
        iccid: str | None = None,
        imsi: str | None = None,
        meter_type: str | None = None,
        meter_serial_number: str | None = None,
        at: datetime | None = None,
    ) -> Station:
        """Store what a BootNotification said (fields it left out become None) and mark the
        station seen at `at` (default now)."""
        given = locals()
        changes: dict[str, Any] = {
            name: codec.optional_text(given[name], name) for name in BOOT_FIELDS
        }
        codec.text(vendor, "vendor")
        codec.text(model, "model")
        changes["last_seen"] = self._clock() if at is None else codec.utc(at, "at")
        return await self._update(station_id, changes)


class Connectors:
    """``store.connectors``: the last StatusNotification of each connector."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def upsert_status(
        self,
        station_id: str,
        connector_id: int,
        *,
        status: str,
        error_code: str = "NoError",
        info: str | None = None,
        vendor_id: str | None = None,
        vendor_error_code: str | None = None,
        at: datetime | None = None,
    ) -> Connector:
        """Record a status; one older than the stored one (a late replay) changes nothing.

        Returns the connector as stored afterwards. NotFound if the station does not exist.
        """
        connector_id = codec.integer(connector_id, "connector_id", minimum=0)
        codec.text(status, "status")
        codec.text(error_code, "error_code")
        codec.optional_text(info, "info")
        codec.optional_text(vendor_id, "vendor_id")
        codec.optional_text(vendor_error_code, "vendor_error_code")
        at = self._clock() if at is None else codec.utc(at, "at")
        try:
            row = await self._db.write(
                f"INSERT INTO connectors ({_CONNECTOR}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (station_id, connector_id) DO UPDATE SET"
                " status = excluded.status, error_code = excluded.error_code,"
                " info = excluded.info, vendor_id = excluded.vendor_id,"
                " vendor_error_code = excluded.vendor_error_code,"
                " updated_at = excluded.updated_at"
                f" WHERE connectors.updated_at <= excluded.updated_at RETURNING {_CONNECTOR}",
                station_id,
                connector_id,
                status,
                error_code,
                info,
                vendor_id,
                vendor_error_code,
                at,
            )
        except ReferenceConflict as exc:
            raise NotFound(f"station {station_id!r} does not exist") from exc
        if row is None:  # a newer status is stored
            return await self.get(station_id, connector_id)
        return connector_from_row(row)

    async def get(self, station_id: str, connector_id: int) -> Connector:
        row = await self._db.fetchrow(
            f"SELECT {_CONNECTOR} FROM connectors WHERE station_id = $1 AND connector_id = $2",
            station_id,
            connector_id,
        )
        if row is None:
            raise NotFound(f"station {station_id!r} has no connector {connector_id}")
        return connector_from_row(row)

    async def list(self, station_id: str) -> list[Connector]:
        """The station's connectors by number; NotFound if the station does not exist."""
        rows = await self._db.fetch(
            f"SELECT {_CONNECTOR} FROM connectors WHERE station_id = $1 ORDER BY connector_id",
            station_id,
        )
        if (
            not rows
            and await self._db.fetchrow("SELECT 1 FROM stations WHERE id = $1", station_id) is None
        ):
            raise NotFound(f"station {station_id!r} does not exist")
        return [connector_from_row(r) for r in rows]
