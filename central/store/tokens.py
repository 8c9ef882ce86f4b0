"""Tokens: the idTags the central authorizes, matched case-insensitively."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from . import codec
from .codec import Clock, decode_time, tag_key
from .db import Database, Row
from .errors import Conflict, InvalidValue, NotFound
from .records import TOKEN_STATUSES, UNSET, ImportResult, NewToken, Token, Unset

ID_TAG_MAX = 20  # OCPP 1.6 IdToken is CiString20: a longer tag could never be presented
_TOKEN = "id_tag, status, expires_at, parent_id_tag, created_at, updated_at"
_UPSERT = (
    "INSERT INTO tokens (id_tag_key, id_tag, status, expires_at, parent_id_tag, created_at,"
    " updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
    " ON CONFLICT (id_tag_key) DO UPDATE SET id_tag = excluded.id_tag, status = excluded.status,"
    " expires_at = excluded.expires_at, parent_id_tag = excluded.parent_id_tag,"
    " updated_at = excluded.updated_at"
)


def token_from_row(row: Row) -> Token:
    return Token(
        id_tag=row["id_tag"],
        status=row["status"],
        expires_at=decode_time(row["expires_at"]),
        parent_id_tag=row["parent_id_tag"],
        created_at=decode_time(row["created_at"]),
        updated_at=decode_time(row["updated_at"]),
    )


def _checked(token: NewToken, where: str = "") -> tuple[str, str, str, datetime | None, str | None]:
    id_tag = codec.text(token.id_tag, f"{where}id_tag", max_length=ID_TAG_MAX)
    return (
        tag_key(id_tag),
        id_tag,
        codec.choice(token.status, TOKEN_STATUSES, f"{where}status"),
        codec.optional_utc(token.expires_at, f"{where}expires_at"),
        codec.optional_text(token.parent_id_tag, f"{where}parent_id_tag", max_length=ID_TAG_MAX),
    )


class Tokens:
    """``store.tokens``: create, get, list, update, delete, bulk_import."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def create(
        self,
        id_tag: str,
        *,
        status: str = "Accepted",
        expires_at: datetime | None = None,
        parent_id_tag: str | None = None,
    ) -> Token:
        """Conflict if the idTag exists in any letter case."""
        values = _checked(NewToken(id_tag, status, expires_at, parent_id_tag))
        row = await self._db.write(
            "INSERT INTO tokens (id_tag_key, id_tag, status, expires_at, parent_id_tag,"
            " created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)"
            f" ON CONFLICT (id_tag_key) DO NOTHING RETURNING {_TOKEN}",
            *values,
            self._clock(),
        )
        if row is None:
            raise Conflict(f"token {id_tag!r} already exists")
        return token_from_row(row)

    async def get(self, id_tag: str) -> Token:
        """The token whatever the letter case of `id_tag`; NotFound if there is none."""
        codec.text(id_tag, "id_tag")
        row = await self._db.fetchrow(
            f"SELECT {_TOKEN} FROM tokens WHERE id_tag_key = $1", tag_key(id_tag)
        )
        if row is None:
            raise NotFound(f"token {id_tag!r} does not exist")
        return token_from_row(row)

    async def list(
        self, *, status: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Token], int]:
        offset, limit = codec.page(offset, limit)
        where, args = "", []
        if status is not None:
            where, args = " WHERE status = $1", [codec.choice(status, TOKEN_STATUSES, "status")]
        total = await self._db.fetchval(f"SELECT count(*) FROM tokens{where}", *args)
        n = len(args)
        rows = await self._db.fetch(
            f"SELECT {_TOKEN} FROM tokens{where} ORDER BY id_tag_key"
            f" LIMIT ${n + 1} OFFSET ${n + 2}",
            *args,
            limit,
            offset,
        )
        return [token_from_row(r) for r in rows], int(total)

    async def update(
        self,
        id_tag: str,
        *,
        status: str | Unset = UNSET,
        expires_at: datetime | Unset | None = UNSET,
        parent_id_tag: str | Unset | None = UNSET,
    ) -> Token:
        """Change the fields given (None clears expiry or parent)."""
        codec.text(id_tag, "id_tag")
        changes: dict[str, Any] = {}
        if status is not UNSET:
            changes["status"] = codec.choice(status, TOKEN_STATUSES, "status")
        if expires_at is not UNSET:
            changes["expires_at"] = codec.optional_utc(expires_at, "expires_at")
        if parent_id_tag is not UNSET:
            changes["parent_id_tag"] = codec.optional_text(
                parent_id_tag, "parent_id_tag", max_length=ID_TAG_MAX
            )
        if not changes:
            return await self.get(id_tag)
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(changes, start=3))
        row = await self._db.write(
            f"UPDATE tokens SET {sets}, updated_at = $2 WHERE id_tag_key = $1 RETURNING {_TOKEN}",
            tag_key(id_tag),
            self._clock(),
            *changes.values(),
        )
        if row is None:
            raise NotFound(f"token {id_tag!r} does not exist")
        return token_from_row(row)

    async def delete(self, id_tag: str) -> None:
        codec.text(id_tag, "id_tag")
        row = await self._db.write(
            "DELETE FROM tokens WHERE id_tag_key = $1 RETURNING id_tag", tag_key(id_tag)
        )
        if row is None:
            raise NotFound(f"token {id_tag!r} does not exist")

    async def bulk_import(self, tokens: Iterable[NewToken]) -> ImportResult:
        """Create or overwrite every token in one transaction: all of them, or none.

        InvalidValue (naming the row) if any row is bad or two rows are one idTag.
        """
        rows = []
        seen: dict[str, int] = {}
        for index, token in enumerate(tokens):
            if not isinstance(token, NewToken):
                raise InvalidValue(f"tokens[{index}]: expected a NewToken")
            values = _checked(token, f"tokens[{index}].")
            if values[0] in seen:
                raise InvalidValue(
                    f"tokens[{index}]: {token.id_tag!r} repeats tokens[{seen[values[0]]}]"
                )
            seen[values[0]] = index
            rows.append(values)
        if not rows:
            return ImportResult(created=0, updated=0)
        now = self._clock()
        async with self._db.transaction() as tx:
            before = await tx.fetchval("SELECT count(*) FROM tokens")
            await tx.executemany(_UPSERT, [(*r, now) for r in rows])
            after = await tx.fetchval("SELECT count(*) FROM tokens")
        created = int(after) - int(before)
        return ImportResult(created=created, updated=len(rows) - created)
