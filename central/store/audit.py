"""The audit log: which operator key sent which command to which station, and the answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from . import codec
from .codec import Clock, decode_time, load_json
from .db import Database, Row
from .records import AuditEntry

_ENTRY = "id, at, key_id, station_id, command, payload, result"


def entry_from_row(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=decode_time(row["at"]),
        key_id=row["key_id"],
        station_id=row["station_id"],
        command=row["command"],
        payload=load_json(row["payload"]),
        result=load_json(row["result"]),
    )


class AuditLog:
    """``store.audit``: append, list."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def append(
        self,
        command: str,
        *,
        key_id: str | None = None,
        station_id: str | None = None,
        payload: Any = None,
        result: Any = None,
        at: datetime | None = None,
    ) -> AuditEntry:
        """Record one operator command; payload and result are any JSON values."""
        row = await self._db.write(
            "INSERT INTO audit_log (at, key_id, station_id, command, payload, result)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_ENTRY}",
            self._clock() if at is None else codec.utc(at, "at"),
            codec.optional_text(key_id, "key_id"),
            codec.optional_text(station_id, "station_id"),
            codec.text(command, "command"),
            None if payload is None else codec.dump_json(payload, "payload"),
            None if result is None else codec.dump_json(result, "result"),
        )
        return entry_from_row(row)

    async def list(
        self,
        *,
        station_id: str | None = None,
        key_id: str | None = None,
        command: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[AuditEntry], int]:
        """A page of entries, newest first, and how many match in all."""
        offset, limit = codec.page(offset, limit)
        conditions: list[str] = []
        args: list[Any] = []
        for column, value in (("station_id", station_id), ("key_id", key_id), ("command", command)):
            if value is not None:
                args.append(codec.text(value, column))
                conditions.append(f"{column} = ${len(args)}")
        if since is not None:
            args.append(codec.utc(since, "since"))
            conditions.append(f"at >= ${len(args)}")
        if until is not None:
            args.append(codec.utc(until, "until"))
            conditions.append(f"at < ${len(args)}")
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        total = await self._db.fetchval(f"SELECT count(*) FROM audit_log{clause}", *args)
        n = len(args)
        rows = await self._db.fetch(
            f"SELECT {_ENTRY} FROM audit_log{clause} ORDER BY id DESC"
            f" LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [entry_from_row(r) for r in rows], int(total)
