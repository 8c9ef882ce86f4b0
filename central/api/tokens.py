"""Tokens (idTags the central authorizes): /api/v1/tokens. Reading needs read-only, changing
needs operator. idTags match in any letter case (OCPP CiString)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from chargekit.central.store import NewToken

from . import schemas as s
from .errors import ApiError
from .operations import Api, Input, Operation


async def list_tokens(api: Api, inp: Input) -> s.TokenPage:
    q: s.TokenQuery = inp.query
    items, total = await api.store.tokens.list(status=q.status, offset=q.offset, limit=q.limit)
    return s.TokenPage(
        items=[s.Token(**asdict(t)) for t in items], total=total, offset=q.offset, limit=q.limit
    )


async def create_token(api: Api, inp: Input) -> s.Token:
    body: s.TokenCreate = inp.body
    token = await api.store.tokens.create(
        body.id_tag,
        status=body.status,
        expires_at=body.expires_at,
        parent_id_tag=body.parent_id_tag,
    )
    return s.Token(**asdict(token))


async def get_token(api: Api, inp: Input) -> s.Token:
    return s.Token(**asdict(await api.store.tokens.get(inp.path.id_tag)))


async def update_token(api: Api, inp: Input) -> s.Token:
    body: s.TokenUpdate = inp.body
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    if "status" in changes and changes["status"] is None:
        raise ApiError(422, "validation_error", "body: status: may not be null")
    token = await api.store.tokens.update(inp.path.id_tag, **changes)
    return s.Token(**asdict(token))


async def delete_token(api: Api, inp: Input) -> None:
    await api.store.tokens.delete(inp.path.id_tag)


async def import_tokens(api: Api, inp: Input) -> s.ImportResult:
    body: s.TokenImport = inp.body
    result = await api.store.tokens.bulk_import(
        NewToken(t.id_tag, t.status, t.expires_at, t.parent_id_tag) for t in body.tokens
    )
    return s.ImportResult(created=result.created, updated=result.updated)


_PATH = "/tokens/{idTag:path}"  # :path, so an idTag may hold any printable character

OPERATIONS = [
    Operation(
        "GET",
        "/tokens",
        list_tokens,
        "read-only",
        "List tokens",
        "tokens",
        "listTokens",
        query=s.TokenQuery,
        response=s.TokenPage,
    ),
    Operation(
        "POST",
        "/tokens",
        create_token,
        "operator",
        "Create a token",
        "tokens",
        "createToken",
        body=s.TokenCreate,
        response=s.Token,
        status=201,
        errors=(409,),
        description="409 if the idTag exists in any letter case.",
    ),
    Operation(
        "POST",
        "/tokens/import",
        import_tokens,
        "operator",
        "Create or overwrite many tokens at once",
        "tokens",
        "importTokens",
        body=s.TokenImport,
        response=s.ImportResult,
        description="One database transaction: every row, or none. An error names the row "
        "(`tokens[3].status`); an idTag given twice (in any letter case) is an error.",
    ),
    Operation(
        "GET",
        _PATH,
        get_token,
        "read-only",
        "Get a token",
        "tokens",
        "getToken",
        path_model=s.TokenPath,
        response=s.Token,
        errors=(404,),
    ),
    Operation(
        "PATCH",
        _PATH,
        update_token,
        "operator",
        "Change a token",
        "tokens",
        "updateToken",
        path_model=s.TokenPath,
        body=s.TokenUpdate,
        response=s.Token,
        errors=(404,),
        description="Only the fields given change; null clears expiresAt or parentIdTag.",
    ),
    Operation(
        "DELETE",
        _PATH,
        delete_token,
        "operator",
        "Delete a token",
        "tokens",
        "deleteToken",
        path_model=s.TokenPath,
        errors=(404,),
    ),
]
