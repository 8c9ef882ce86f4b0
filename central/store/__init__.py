"""The central system's store: SQLite (default) or PostgreSQL behind one async API.

    from chargekit.central.store import open_store, NotFound

    store = await open_store("sqlite:///chargekit.db")     # or postgresql://user@host/db
    station = await store.stations.create("CP001", password_hash=hashed)
    tx, created = await store.transactions.start(
        "CP001", 1, id_tag="04A1B2C3", started_at=when, meter_start=1200)
    await store.close()

Repositories: ``store.stations``, ``store.connectors``, ``store.tokens``,
``store.transactions``, ``store.audit``. Errors: NotFound, Conflict, InvalidValue, Unavailable,
all StoreError. Times are timezone-aware UTC datetimes. SQL lives in this package only.
"""

from .errors import (
    Conflict,
    InvalidValue,
    NotFound,
    ReferenceConflict,
    SchemaTooNew,
    StoreError,
    Unavailable,
)
from .records import (
    REGISTRATION_STATUSES,
    TOKEN_STATUSES,
    TRANSACTION_STATES,
    UNSET,
    AppliedMigration,
    AuditEntry,
    Connector,
    ImportResult,
    MeterSample,
    NewToken,
    Station,
    Token,
    Transaction,
    Unset,
)
from .store import Store, open_store

__all__ = [
    "REGISTRATION_STATUSES",
    "TOKEN_STATUSES",
    "TRANSACTION_STATES",
    "UNSET",
    "AppliedMigration",
    "AuditEntry",
    "Conflict",
    "Connector",
    "ImportResult",
    "InvalidValue",
    "MeterSample",
    "NewToken",
    "NotFound",
    "ReferenceConflict",
    "SchemaTooNew",
    "Station",
    "Store",
    "StoreError",
    "Token",
    "Transaction",
    "Unavailable",
    "Unset",
    "open_store",
]
