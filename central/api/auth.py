"""API keys and roles: ``Authorization: Bearer <key>``.

Keys are ``ck_<id>_<secret>``: a public 12-hex-digit id (listings, the audit log) and 32
random bytes. The store keeps only SHA-256 of the whole key (hex). No slow KDF is needed:
a KDF (scrypt, bcrypt) exists to make guessing a *human* password expensive; a 256-bit
random key cannot be guessed or brute-forced whatever the hash costs, so a leaked table of
SHA-256 digests gives nothing away, and every request stays one cheap lookup by digest.

    key, record = await create_key(store, role="operator", name="billing export")
    principal = await authenticate(store, settings, request.headers.get("authorization"))
    principal.allows("admin")                # False for an operator

The admin key: CHARGEKIT_ADMIN_KEY (``settings.admin_key``, compared in memory, never stored,
key id ``admin-env``), or `ensure_admin_key` creates one on the first start.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sys
from dataclasses import dataclass
from typing import Any, Final, Literal

from chargekit.central.settings import Settings
from chargekit.central.store import Store
from chargekit.central.store.api_keys import ROLES, ApiKey

from .errors import ApiError

Role = Literal["admin", "operator", "read-only"]
# What each role may do: read-only reads; operator also sends commands and manages tokens;
# admin everything, including stations and keys.
RANK: Final[dict[str, int]] = {"read-only": 0, "operator": 1, "admin": 2}
ENV_KEY_ID: Final = "admin-env"
PREFIX: Final = "ck_"
CHALLENGE: Final = {"WWW-Authenticate": 'Bearer realm="chargekit"'}

assert set(RANK) == set(ROLES)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who sent a request: the key's id and role."""

    key_id: str
    role: str

    def allows(self, needed: str) -> bool:
        return RANK[self.role] >= RANK[needed]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> tuple[str, str]:
    """(key id, key): ``ck_3f9a0c1d2e4b_<43 characters of base64url>``."""
    key_id = secrets.token_hex(6)
    return key_id, f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


async def create_key(store: Store, *, role: str, name: str | None = None) -> tuple[str, ApiKey]:
    """A new key in the store: (the key, shown once; its record)."""
    key_id, key = new_key()
    return key, await store.api_keys.create(key_id, key_hash=hash_key(key), role=role, name=name)


async def ensure_admin_key(store: Store, settings: Settings) -> str | None:
    """On the first start, a new admin key for the caller to print once; else None.

    None when CHARGEKIT_ADMIN_KEY (settings.admin_key) is set, or the store holds an active
    admin key already.
    """
    if settings.admin_key is not None:
        return None
    if await store.api_keys.count_active("admin"):
        return None
    key, _ = await create_key(store, role="admin", name="initial admin key")
    return key


async def announce_admin_key(app: Any) -> None:
    """A create_app on_startup hook: `ensure_admin_key`, and print a new key once (stderr).

    Needs app.state.store and app.state.settings; does nothing without a store.
    """
    store = getattr(app.state, "store", None)
    if store is None:
        return
    key = await ensure_admin_key(store, app.state.settings)
    if key is not None:
        print(
            "\nNo admin API key existed, so one was created. It is shown only now:\n\n"
            f"    {key}\n\n"
            "Send it as 'Authorization: Bearer <key>'; set CHARGEKIT_ADMIN_KEY to use your own.\n",
            file=sys.stderr,
            flush=True,
        )


def bearer_key(header: str | None) -> str:
    """The key of an ``Authorization: Bearer`` header; ApiError 401 otherwise."""
    if not header:
        raise ApiError(
            401, "unauthorized", "send Authorization: Bearer <API key>", headers=CHALLENGE
        )
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key or len(key) > 256:
        raise ApiError(
            401, "unauthorized", "Authorization must be Bearer <API key>", headers=CHALLENGE
        )
    return key


async def authenticate(store: Store, settings: Settings, header: str | None) -> Principal:
    """The principal of a request's Authorization header; ApiError 401 if there is none."""
    key = bearer_key(header)
    if settings.admin_key is not None and hmac.compare_digest(
        key.encode("utf-8"), settings.admin_key.encode("utf-8")
    ):
        return Principal(ENV_KEY_ID, "admin")
    record = await store.api_keys.find(hash_key(key))
    if record is None or not record.active:
        # One answer for unknown and revoked keys: a caller learns nothing from it.
        raise ApiError(401, "unauthorized", "unknown or revoked API key", headers=CHALLENGE)
    return Principal(record.id, record.role)


def require(principal: Principal, role: str) -> None:
    if not principal.allows(role):
        raise ApiError(
            403,
            "forbidden",
            f"this needs the {role} role; the key {principal.key_id!r} is {principal.role}",
        )
