"""Charging transactions and their meter samples.

StartTransaction and StopTransaction are idempotent here, because stations replay them after a
reconnect or a reboot (their journal resends what was not acknowledged):

- ``start`` with the same station, connector, idTag, timestamp and meterStart returns the
  transaction it opened the first time (``created`` False): the UNIQUE constraint
  ``transactions_start_once`` decides, inside the database, so two central processes receiving
  the same replay still open one transaction.
- ``stop`` of a stopped transaction returns it unchanged (``stopped_now`` False).
- A replayed sample (same transaction, time, measurand, phase, location, context) is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from . import codec
from .codec import Clock, decode_time, tag_key
from .db import Database, Row
from .errors import InvalidValue, NotFound, ReferenceConflict
from .records import TRANSACTION_STATES, MeterSample, Transaction

_TRANSACTION = (
    "id, station_id, connector_id, id_tag, started_at, meter_start, reservation_id,"
    " stopped_at, meter_stop, stop_reason, stop_id_tag, created_at, updated_at"
)
_SAMPLE = "sampled_at, value, measurand, unit, phase, location, context"
_SAMPLE_COLUMNS = 8
# Rows per INSERT: 8 parameters each stays far below both databases' limit (32766 / 32767).
SAMPLES_PER_STATEMENT = 500


def _insert_samples_sql(count: int) -> str:
    """One INSERT of `count` samples; RETURNING names the rows that were new."""
    values = ", ".join(
        "(" + ", ".join(f"${r * _SAMPLE_COLUMNS + c}" for c in range(1, _SAMPLE_COLUMNS + 1)) + ")"
        for r in range(count)
    )
    return (
        "INSERT INTO meter_samples (transaction_id, sampled_at, value, measurand, unit, phase,"
        f" location, context) VALUES {values}"
        " ON CONFLICT (transaction_id, sampled_at, measurand, phase, location, context)"
        " DO NOTHING RETURNING id"
    )


def _chunks(rows: list[tuple[Any, ...]]) -> list[tuple[str, list[Any]]]:
    """(sql, flat arguments) per statement."""
    statements = []
    for first in range(0, len(rows), SAMPLES_PER_STATEMENT):
        chunk = rows[first : first + SAMPLES_PER_STATEMENT]
        statements.append((_insert_samples_sql(len(chunk)), [v for row in chunk for v in row]))
    return statements


def transaction_from_row(row: Row, samples: tuple[MeterSample, ...] | None = None) -> Transaction:
    return Transaction(
        id=row["id"],
        station_id=row["station_id"],
        connector_id=row["connector_id"],
        id_tag=row["id_tag"],
        started_at=decode_time(row["started_at"]),
        meter_start=row["meter_start"],
        reservation_id=row["reservation_id"],
        stopped_at=decode_time(row["stopped_at"]),
        meter_stop=row["meter_stop"],
        stop_reason=row["stop_reason"],
        stop_id_tag=row["stop_id_tag"],
        created_at=decode_time(row["created_at"]),
        updated_at=decode_time(row["updated_at"]),
        samples=samples,
    )


def sample_from_row(row: Row) -> MeterSample:
    return MeterSample(
        timestamp=decode_time(row["sampled_at"]),
        value=row["value"],
        measurand=row["measurand"],
        unit=row["unit"],
        phase=row["phase"] or None,
        location=row["location"] or None,
        context=row["context"],
    )


def _sample_rows(transaction_id: int, samples: Iterable[MeterSample]) -> list[tuple[Any, ...]]:
    rows = []
    for index, s in enumerate(samples):
        if not isinstance(s, MeterSample):
            raise InvalidValue(f"samples[{index}]: expected a MeterSample")
        where = f"samples[{index}]."
        rows.append(
            (
                transaction_id,
                codec.utc(s.timestamp, where + "timestamp"),
                codec.number(s.value, where + "value"),
                codec.text(s.measurand, where + "measurand"),
                codec.text(s.unit, where + "unit"),
                codec.optional_text(s.phase, where + "phase") or "",
                codec.optional_text(s.location, where + "location") or "",
                codec.text(s.context, where + "context"),
            )
        )
    return rows


class Transactions:
    """``store.transactions``: start, stop, get, list, add_samples."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def start(
        self,
        station_id: str,
        connector_id: int,
        *,
        id_tag: str,
        started_at: datetime,
        meter_start: int,
        reservation_id: int | None = None,
    ) -> tuple[Transaction, bool]:
        """(transaction, created): a replayed start returns the first one with created False.

        NotFound if the station does not exist.
        """
        args = (
            codec.text(station_id, "station_id"),
            codec.integer(connector_id, "connector_id", minimum=0),
            codec.text(id_tag, "id_tag"),
            codec.utc(started_at, "started_at"),
            codec.integer(meter_start, "meter_start"),
        )
        if reservation_id is not None:
            codec.integer(reservation_id, "reservation_id")
        try:
            row = await self._db.write(
                "INSERT INTO transactions (station_id, connector_id, id_tag, started_at,"
                " meter_start, id_tag_key, reservation_id, created_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)"
                " ON CONFLICT (station_id, connector_id, id_tag, started_at, meter_start)"
                f" DO NOTHING RETURNING {_TRANSACTION}",
                *args,
                tag_key(id_tag),
                reservation_id,
                self._clock(),
            )
        except ReferenceConflict as exc:
            raise NotFound(f"station {station_id!r} does not exist") from exc
        if row is not None:
            return transaction_from_row(row), True
        # A replay: the first start is committed (PostgreSQL's ON CONFLICT waits for a
        # concurrent insert of the same key to commit before it does nothing).
        row = await self._db.fetchrow(
            f"SELECT {_TRANSACTION} FROM transactions WHERE station_id = $1"
            " AND connector_id = $2 AND id_tag = $3 AND started_at = $4 AND meter_start = $5",
            *args,
        )
        return transaction_from_row(row), False

    async def stop(
        self,
        transaction_id: int,
        *,
        stopped_at: datetime,
        meter_stop: int,
        reason: str | None = None,
        id_tag: str | None = None,
        samples: Iterable[MeterSample] = (),
    ) -> tuple[Transaction, bool]:
        """(transaction, stopped_now): stopping a stopped transaction changes nothing in it.

        `samples` (StopTransaction's transactionData) are stored in the same database
        transaction, replayed ones dropped. NotFound if there is no such transaction.
        """
        transaction_id = codec.integer(transaction_id, "transaction_id")
        stopped_at = codec.utc(stopped_at, "stopped_at")
        meter_stop = codec.integer(meter_stop, "meter_stop")
        codec.optional_text(reason, "reason")
        codec.optional_text(id_tag, "id_tag")
        sample_rows = _sample_rows(transaction_id, samples)
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE transactions SET stopped_at = $2, meter_stop = $3, stop_reason = $4,"
                " stop_id_tag = $5, updated_at = $6 WHERE id = $1 AND stopped_at IS NULL"
                f" RETURNING {_TRANSACTION}",
                transaction_id,
                stopped_at,
                meter_stop,
                reason,
                id_tag,
                self._clock(),
            )
            stopped_now = row is not None
            if row is None:
                row = await tx.fetchrow(
                    f"SELECT {_TRANSACTION} FROM transactions WHERE id = $1", transaction_id
                )
                if row is None:
                    raise NotFound(f"transaction {transaction_id} does not exist")
            for sql, args in _chunks(sample_rows):
                await tx.fetch(sql, *args)
        return transaction_from_row(row), stopped_now

    async def add_samples(self, transaction_id: int, samples: Iterable[MeterSample]) -> int:
        """Store a MeterValues batch in one database transaction; how many were new.

        A closed transaction still takes samples (a late replay). NotFound if it does not exist.
        """
        transaction_id = codec.integer(transaction_id, "transaction_id")
        statements = _chunks(_sample_rows(transaction_id, samples))
        if not statements:
            await self.get(transaction_id, samples=False)  # NotFound if there is none
            return 0
        try:
            if len(statements) == 1:  # the usual MeterValues: one statement, its own commit
                sql, args = statements[0]
                return len(await self._db.write_all(sql, *args))
            new = 0
            async with self._db.transaction() as tx:
                for sql, args in statements:
                    new += len(await tx.fetch(sql, *args))
            return new
        except ReferenceConflict as exc:
            raise NotFound(f"transaction {transaction_id} does not exist") from exc

    async def get(self, transaction_id: int, *, samples: bool = True) -> Transaction:
        """The transaction, with its samples in time order unless `samples` is False."""
        transaction_id = codec.integer(transaction_id, "transaction_id")
        row = await self._db.fetchrow(
            f"SELECT {_TRANSACTION} FROM transactions WHERE id = $1", transaction_id
        )
        if row is None:
            raise NotFound(f"transaction {transaction_id} does not exist")
        loaded = None
        if samples:
            sample_rows = await self._db.fetch(
                f"SELECT {_SAMPLE} FROM meter_samples WHERE transaction_id = $1"
                " ORDER BY sampled_at, id",
                transaction_id,
            )
            loaded = tuple(sample_from_row(r) for r in sample_rows)
        return transaction_from_row(row, loaded)

    async def list(
        self,
        *,
        station_id: str | None = None,
        connector_id: int | None = None,
        id_tag: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Transaction], int]:
        """A page of transactions, newest start first, and how many match in all.

        `status` is "open" or "closed"; `since` (inclusive) and `until` (exclusive) bound the
        start time; `id_tag` matches in any letter case. Samples are not loaded.
        """
        offset, limit = codec.page(offset, limit)
        conditions: list[str] = []
        args: list[Any] = []

        def where(condition: str, value: Any) -> None:
            args.append(value)
            conditions.append(condition.replace("?", f"${len(args)}"))

        if station_id is not None:
            where("station_id = ?", codec.text(station_id, "station_id"))
        if connector_id is not None:
            where("connector_id = ?", codec.integer(connector_id, "connector_id"))
        if id_tag is not None:
            where("id_tag_key = ?", tag_key(codec.text(id_tag, "id_tag")))
        if since is not None:
            where("started_at >= ?", codec.utc(since, "since"))
        if until is not None:
            where("started_at < ?", codec.utc(until, "until"))
        if status is not None:
            codec.choice(status, TRANSACTION_STATES, "status")
            conditions.append(f"stopped_at IS {'' if status == 'open' else 'NOT '}NULL")
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        total = await self._db.fetchval(f"SELECT count(*) FROM transactions{clause}", *args)
        n = len(args)
        rows = await self._db.fetch(
            f"SELECT {_TRANSACTION} FROM transactions{clause}"
            f" ORDER BY started_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [transaction_from_row(r) for r in rows], int(total)
