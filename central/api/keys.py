"""API keys: /api/v1/keys (admin), and /api/v1/whoami for any key."""

from __future__ import annotations

from chargekit.central.store.api_keys import ApiKey as StoredKey

from . import schemas as s
from .auth import create_key
from .operations import Api, Input, Operation


def key_out(key: StoredKey) -> s.ApiKey:
    return s.ApiKey(
        id=key.id,
        role=key.role,
        name=key.name,
        active=key.active,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


async def list_keys(api: Api, inp: Input) -> s.ApiKeyPage:
    q: s.KeyQuery = inp.query
    items, total = await api.store.api_keys.list(
        role=q.role, include_revoked=q.include_revoked, offset=q.offset, limit=q.limit
    )
    return s.ApiKeyPage(
        items=[key_out(k) for k in items], total=total, offset=q.offset, limit=q.limit
    )


async def create(api: Api, inp: Input) -> s.NewApiKey:
    body: s.ApiKeyCreate = inp.body
    key, record = await create_key(api.store, role=body.role, name=body.name)
    return s.NewApiKey(**key_out(record).model_dump(), key=key)


async def get_key(api: Api, inp: Input) -> s.ApiKey:
    return key_out(await api.store.api_keys.get(inp.path.key_id))


async def revoke_key(api: Api, inp: Input) -> s.ApiKey:
    return key_out(await api.store.api_keys.revoke(inp.path.key_id))


async def whoami(api: Api, inp: Input) -> s.WhoAmI:
    return s.WhoAmI(key_id=inp.principal.key_id, role=inp.principal.role)


OPERATIONS = [
    Operation(
        "GET",
        "/whoami",
        whoami,
        "read-only",
        "The key this request was sent with",
        "keys",
        "whoAmI",
        response=s.WhoAmI,
    ),
    Operation(
        "GET",
        "/keys",
        list_keys,
        "admin",
        "List API keys",
        "keys",
        "listKeys",
        query=s.KeyQuery,
        response=s.ApiKeyPage,
        description="Active keys, oldest first; `includeRevoked=true` lists revoked ones too. "
        "The key set by CHARGEKIT_ADMIN_KEY (`admin-env`) is not stored and not listed.",
    ),
    Operation(
        "POST",
        "/keys",
        create,
        "admin",
        "Create an API key",
        "keys",
        "createKey",
        body=s.ApiKeyCreate,
        response=s.NewApiKey,
        status=201,
        description="The answer holds the key itself, this once; the central keeps only its "
        "SHA-256.",
    ),
    Operation(
        "GET",
        "/keys/{keyId}",
        get_key,
        "admin",
        "Get an API key's record",
        "keys",
        "getKey",
        path_model=s.KeyPath,
        response=s.ApiKey,
        errors=(404,),
    ),
    Operation(
        "DELETE",
        "/keys/{keyId}",
        revoke_key,
        "admin",
        "Revoke an API key",
        "keys",
        "revokeKey",
        path_model=s.KeyPath,
        response=s.ApiKey,
        errors=(404, 409),
        description="The record stays (the audit log names it). 409 for the last active admin key.",
    ),
]
