"""SQLite through aiosqlite: one writer connection behind an asyncio lock, one reader.

WAL lets the reader see committed data while the writer works. Writes go through one
connection (SQLite allows one writer at a time anyway); the lock keeps one coroutine's
transaction from interleaving with another's on it. ``:memory:`` has a single connection,
because a second one would open a different, empty database.

Durability: ``synchronous=NORMAL`` in WAL mode writes every commit into the WAL file before
COMMIT returns, so a process killed with SIGKILL loses nothing it committed (the data is in the
kernel's page cache); only a power cut or kernel crash can lose the last commits. Pass
``?synchronous=full`` in the URL to fsync at every commit as well.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from functools import lru_cache
from typing import Any

import aiosqlite

from .codec import time_text
from .errors import (
    Conflict,
    InvalidValue,
    ReferenceConflict,
    StoreError,
    Unavailable,
)

SYNCHRONOUS = ("OFF", "NORMAL", "FULL", "EXTRA")
MIN_VERSION = (3, 35, 0)  # RETURNING
_PLACEHOLDER = re.compile(r"\$(\d+)")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """asyncpg's ``$1`` placeholders as SQLite's numbered ``?1``."""
    return _PLACEHOLDER.sub(r"?\1", sql)


def _params(args: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(time_text(a) if isinstance(a, datetime) else a for a in args)


def _translate_error(exc: Exception) -> StoreError:
    message = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        if "FOREIGN KEY" in message:
            return ReferenceConflict(message)
        if "UNIQUE" in message or "PRIMARY KEY" in message:
            return Conflict(message)
        return InvalidValue(message)  # NOT NULL, CHECK
    if isinstance(exc, sqlite3.OperationalError) and any(
        word in message for word in ("locked", "busy", "unable to open", "disk I/O")
    ):
        return Unavailable(message)
    if isinstance(exc, sqlite3.InterfaceError | OverflowError | sqlite3.DataError):
        return InvalidValue(message)
    if isinstance(exc, ValueError) and (
        "no active connection" in message or "Connection closed" in message
    ):  # aiosqlite's words for a closed connection differ between code paths
        return Unavailable("the store is closed")
    return StoreError(message)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except (sqlite3.Error, OverflowError, ValueError) as exc:
        if isinstance(exc, StoreError):
            raise
        raise _translate_error(exc) from exc


class _Conn:
    """Statements on one aiosqlite connection (the caller holds whatever lock it needs)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        with _errors():
            return list(await self._conn.execute_fetchall(translate(sql), _params(args)))

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def execute(self, sql: str, *args: Any) -> None:
        with _errors():
            await self._conn.execute_fetchall(translate(sql), _params(args))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with _errors():
            await (await self._conn.executemany(translate(sql), [_params(r) for r in rows])).close()


async def _connect(path: str, *, busy_timeout_s: float) -> aiosqlite.Connection:
    # isolation_level=None: no implicit BEGIN; transactions are ours (BEGIN IMMEDIATE).
    conn = await aiosqlite.connect(path, isolation_level=None, timeout=busy_timeout_s)
    conn.row_factory = sqlite3.Row
    return conn


async def _journal_mode_wal(conn: aiosqlite.Connection, busy_timeout_s: float) -> str:
    """Switch a database to WAL; returns the journal mode it ends up in.

    The first switch of a new file needs an exclusive lock, and SQLite answers "database is
    locked" at once, without its busy handler, when another connection opening the same new
    file holds the lock meanwhile (seen with four stores opened together). Retry within the
    busy timeout, as the busy handler would have."""
    deadline = time.monotonic() + busy_timeout_s
    while True:
        try:
            return (await conn.execute_fetchall("PRAGMA journal_mode=WAL"))[0][0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


class SqliteDatabase:
    dialect = "sqlite"
    types = {
        # AUTOINCREMENT: an id is never reused, even after the highest row is deleted;
        # a transactionId a station still holds must never name another transaction.
        "serial": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "timestamp": "TEXT",
        "json": "TEXT",
    }

    def __init__(
        self, writer: aiosqlite.Connection, reader: aiosqlite.Connection | None, path: str
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self._write_conn = _Conn(writer)
        self._read_conn = _Conn(reader) if reader is not None else None

    @classmethod
    async def open(
        cls, path: str, *, synchronous: str = "NORMAL", busy_timeout_s: float = 10.0
    ) -> SqliteDatabase:
        if sqlite3.sqlite_version_info < MIN_VERSION:
            raise StoreError(
                f"SQLite {sqlite3.sqlite_version} is too old: the store needs "
                f"{'.'.join(map(str, MIN_VERSION))} or newer (RETURNING)"
            )
        synchronous = synchronous.upper()
        if synchronous not in SYNCHRONOUS:
            raise InvalidValue(f"synchronous: {synchronous!r} is not one of {SYNCHRONOUS}")
        memory = path == ":memory:"
        with _errors():
            writer = await _connect(path, busy_timeout_s=busy_timeout_s)
            try:
                mode = await _journal_mode_wal(writer, busy_timeout_s)
                if mode.lower() != ("memory" if memory else "wal"):
                    raise StoreError(f"{path}: SQLite refused WAL mode (journal_mode={mode})")
                await writer.execute_fetchall(f"PRAGMA synchronous={synchronous}")
                await writer.execute_fetchall("PRAGMA foreign_keys=ON")
                reader = None
                if not memory:
                    reader = await _connect(path, busy_timeout_s=busy_timeout_s)
                    await reader.execute_fetchall("PRAGMA query_only=ON")
            except BaseException:
                await writer.close()
                raise
        return cls(writer, reader, path)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        if self._read_conn is not None:
            return await self._read_conn.fetch(sql, *args)
        async with self._lock:
            return await self._write_conn.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Any:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else row[0]

    async def write(self, sql: str, *args: Any) -> Any:
        # Autocommit: one statement is its own transaction, one round trip to the thread.
        async with self._lock:
            return await self._write_conn.fetchrow(sql, *args)

    async def write_all(self, sql: str, *args: Any) -> list[Any]:
        async with self._lock:
            return await self._write_conn.fetch(sql, *args)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        async with self._lock:
            # IMMEDIATE takes the write lock now, so a read-then-write cannot be overtaken
            # by another process between the two (and waits busy_timeout for it otherwise).
            try:
                # Inside the try: a task cancelled while BEGIN runs in aiosqlite's thread
                # must still roll back, or the connection stays in an open transaction.
                await self._write_conn.execute("BEGIN IMMEDIATE")
                yield self._write_conn
                await self._write_conn.execute("COMMIT")
            except BaseException:
                try:
                    await self._writer.execute_fetchall("ROLLBACK")
                except (sqlite3.Error, ValueError):
                    pass  # nothing to roll back: COMMIT went through or the connection is gone
                raise

    migration_transaction = transaction  # BEGIN IMMEDIATE already excludes other processes

    async def close(self) -> None:
        async with self._lock:
            if self._reader is not None:
                await self._reader.close()
            await self._writer.close()
