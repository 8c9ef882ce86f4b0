"""API keys of the operator REST API: an id, a role and the SHA-256 of the secret key.

The store never sees a key itself; central/api/auth.py makes keys and hashes them::

    record = await store.api_keys.create("3f9a0c1d2e4b", key_hash=digest, role="operator")
    record = await store.api_keys.find(digest)        # None if unknown
    await store.api_keys.revoke("3f9a0c1d2e4b")

A key is revoked, never deleted: the audit log names key ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from . import codec
from .codec import Clock, decode_time
from .db import Database, Row
from .errors import Conflict, NotFound

ROLES: Final = ("admin", "operator", "read-only")

_KEY = "id, key_hash, role, name, created_at, revoked_at"


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str  # public: shown in listings and written to the audit log
    key_hash: str  # hex SHA-256 of the secret key
    role: str  # admin | operator | read-only
    name: str | None  # what the key is for
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def api_key_from_row(row: Row) -> ApiKey:
    return ApiKey(
        id=row["id"],
        key_hash=row["key_hash"],
        role=row["role"],
        name=row["name"],
        created_at=decode_time(row["created_at"]),
        revoked_at=decode_time(row["revoked_at"]),
    )


class ApiKeys:
    """``store.api_keys``: create, get, find, list, count_active, revoke."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self, key_id: str, *, key_hash: str, role: str, name: str | None = None
    ) -> ApiKey:
        """A new active key; Conflict if the id or the hash is taken."""
        row = await self._db.write(
            "INSERT INTO api_keys (id, key_hash, role, name, created_at)"
            f" VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING {_KEY}",
            codec.text(key_id, "key_id", max_length=64),
            codec.text(key_hash, "key_hash", max_length=128),
            codec.choice(role, ROLES, "role"),
            codec.optional_text(name, "name", max_length=200),
            self._clock(),
        )
        if row is None:
            raise Conflict(f"API key {key_id!r} (or its hash) already exists")
        return api_key_from_row(row)

    async def get(self, key_id: str) -> ApiKey:
        row = await self._db.fetchrow(f"SELECT {_KEY} FROM api_keys WHERE id = $1", key_id)
        if row is None:
            raise NotFound(f"API key {key_id!r} does not exist")
        return api_key_from_row(row)

    async def find(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not; None if there is none."""
        row = await self._db.fetchrow(f"SELECT {_KEY} FROM api_keys WHERE key_hash = $1", key_hash)
        return None if row is None else api_key_from_row(row)

    async def list(
        self,
        *,
        role: str | None = None,
        include_revoked: bool = False,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[ApiKey], int]:
        """A page of keys, oldest first, and how many match in all."""
        offset, limit = codec.page(offset, limit)
        conditions, args = [], []
        if role is not None:
            args.append(codec.choice(role, ROLES, "role"))
            conditions.append(f"role = ${len(args)}")
        if not include_revoked:
            conditions.append("revoked_at IS NULL")
        clause = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        total = await self._db.fetchval(f"SELECT count(*) FROM api_keys{clause}", *args)
        n = len(args)
        rows = await self._db.fetch(
            f"SELECT {_KEY} FROM api_keys{clause} ORDER BY created_at, id"
            f" LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [api_key_from_row(r) for r in rows], int(total)

    async def count_active(self, role: str | None = None) -> int:
        if role is None:
            return int(
                await self._db.fetchval("SELECT count(*) FROM api_keys WHERE revoked_at IS NULL")
            )
        return int(
            await self._db.fetchval(
                "SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND role = $1",
                codec.choice(role, ROLES, "role"),
            )
        )

    async def revoke(self, key_id: str, *, keep_one_admin: bool = True) -> ApiKey:
        """Revoke a key (revoking a revoked key changes nothing); NotFound if unknown.

        With `keep_one_admin`, the last active admin key is refused (Conflict): nobody could
        manage keys afterwards. The UPDATE itself checks, which is exact on SQLite (one
        writer); on PostgreSQL two concurrent revocations of the last two could both pass.
        """
        guard = (
            " AND (role <> 'admin' OR (SELECT count(*) FROM api_keys"
            " WHERE role = 'admin' AND revoked_at IS NULL AND id <> $1) > 0)"
            if keep_one_admin
            else ""
        )
        row = await self._db.write(
            f"UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL{guard}"
            f" RETURNING {_KEY}",
            key_id,
            self._clock(),
        )
        if row is not None:
            return api_key_from_row(row)
        key = await self.get(key_id)  # NotFound
        if key.active:
            raise Conflict(f"API key {key_id!r} is the last admin key; create another first")
        return key
