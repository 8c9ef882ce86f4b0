"""Shared helpers of the central's store tests: a settable clock and PostgreSQL admin calls
(a fresh database per test module on 127.0.0.1:5432, user postgres, trust auth)."""

from __future__ import annotations

import asyncio
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
