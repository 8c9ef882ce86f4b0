"""`open_store(url)`: the database, migrated, behind one object with a repository per table."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from urllib.parse import parse_qsl, urlsplit

from . import codec
from .api_keys import ApiKeys
from .audit import AuditLog
from .codec import Clock
from .db import Database
from .errors import InvalidValue, StoreError
from .migrate import history, migrate
from .records import AppliedMigration
from .stations import Connectors, Stations
from .tokens import Tokens
from .transactions import Transactions


class Store:
    """The central's persistence: ``store.stations``, ``.connectors``, ``.tokens``,
    ``.transactions``, ``.audit``. Open with `open_store`, end with ``await store.close()``
    (or ``async with store:``)."""

    def __init__(
        self, db: Database, *, url: str, clock: Clock, applied_migrations: list[int]
    ) -> None:
        self._db = db
        self.url = url
        self.backend = db.dialect  # "sqlite" or "postgresql"
        self.applied_migrations = tuple(applied_migrations)  # by this open, usually ()
        self.stations = Stations(db, clock)
        self.connectors = Connectors(db, clock)
        self.tokens = Tokens(db, clock)
        self.transactions = Transactions(db, clock)
        self.audit = AuditLog(db, clock)
        self.api_keys = ApiKeys(db, clock)  # the REST API's keys (central/api/auth.py)
        self._closed = False

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers (for /health)."""
        await self._db.fetchval("SELECT 1")

    async def migrations(self) -> list[AppliedMigration]:
        """Every migration recorded in the database, oldest first."""
        return await history(self._db)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self._db.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _checked_clock(clock: Clock) -> Clock:
    def now() -> datetime:
        return codec.utc(clock(), "clock()")

    return now


async def open_database(url: str, *, pool_size: int = 10) -> Database:
    """The backend for a URL, not yet migrated.

    ``sqlite:///relative.db``, ``sqlite:////absolute/path.db``, ``sqlite:///:memory:``
    (``?synchronous=full`` to fsync every commit), ``postgresql://user@host:port/db``.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        from .sqlite import SqliteDatabase

        if parts.netloc or not parts.path.startswith("/") or len(parts.path) < 2:
            raise InvalidValue(
                f"{url!r}: write sqlite:///relative/path.db, sqlite:////absolute/path.db "
                "or sqlite:///:memory:"
            )
        options = dict(parse_qsl(parts.query))
        unknown = set(options) - {"synchronous"}
        if unknown:
            raise InvalidValue(f"{url!r}: unknown option(s) {', '.join(sorted(unknown))}")
        return await SqliteDatabase.open(
            parts.path[1:], synchronous=options.get("synchronous", "NORMAL")
        )
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresDatabase

        return await PostgresDatabase.open(url, pool_size=pool_size)
    raise InvalidValue(f"{url!r}: the store speaks sqlite:/// and postgresql:// URLs")


async def open_store(url: str, *, clock: Clock | None = None, pool_size: int = 10) -> Store:
    """Open the database at `url`, apply pending migrations, and return the store.

    >>> store = await open_store("sqlite:///:memory:")
    >>> await store.stations.create("CP001")
    >>> await store.close()

    `clock` (returning aware datetimes) stamps created/updated/seen times; tests fix it.
    `pool_size` is PostgreSQL's maximum number of connections.
    """
    clock = _checked_clock(clock or codec.system_clock)
    db = await open_database(url, pool_size=pool_size)
    try:
        applied = await migrate(db, clock=clock)
    except BaseException:
        await db.close()
        raise
    return Store(db, url=url, clock=clock, applied_migrations=applied)


__all__ = ["Store", "StoreError", "open_database", "open_store"]
