"""Shared helpers of the central's store tests: a settable clock and PostgreSQL admin calls
(a fresh database per test module on 127.0.0.1:5432, user postgres, trust auth)."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import asyncpg

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


async def admin(sql: str) -> None:
    """Run one statement on the server's maintenance database (CREATE/DROP DATABASE)."""
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def admin_sync(sql: str) -> None:
    # In a thread of its own: asyncio.run() here would reset the test's event loop.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, admin(sql)).result()


# Every table the central's store writes, children first: TRUNCATE empties a database that
# a test module shares between its tests.
TABLES = "audit_log, meter_samples, transactions, connectors, tokens, stations"


def create_database(prefix: str = "chargekit_test") -> str:
    """A new, empty PostgreSQL database; returns its name."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin_sync(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name: str) -> None:
    admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def empty(url: str) -> None:
    """Empty the store's tables on PostgreSQL (a SQLite file is new for every test)."""
    if url.startswith("postgresql"):
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
        finally:
            await conn.close()
