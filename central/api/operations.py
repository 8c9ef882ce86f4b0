"""The route table's entries, `Operation`s, and the one endpoint wrapper every route goes through.

An Operation says what a route needs (role, path, query and body models) and what it answers
(the `data` type); `endpoint(api, op)` turns it into a Starlette endpoint that

1. authenticates the Bearer key and checks the role (401 / 403),
2. validates the path, the query string and the JSON body with the models (400 / 413 / 415 /
   422), before the handler sees anything,
3. runs the handler and wraps its answer: ``{"success": true, "data": ...}``,
4. turns every exception into the error envelope (errors.api_error), never a bare 500.

The OpenAPI document (openapi.py) is generated from the same table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from chargekit.central.store import Unavailable

from . import metrics
from .auth import Principal, authenticate, require
from .errors import ApiError, api_error, validation_error

if TYPE_CHECKING:
    from chargekit.central.ocpp import OcppServer
    from chargekit.central.settings import Settings
    from chargekit.central.store import Store

MAX_BODY = 4 * 1024 * 1024  # a 10,000-token import is ~1.5 MB
JSON_TYPES = ("application/json",)

# A health check of the message broker: None while none is configured, else an async function
# returning ("ok" | another status, detail or None).
BrokerCheck = Callable[[], Awaitable[tuple[str, str | None]]]


@dataclass(frozen=True, slots=True)
class Api:
    """What handlers work with: the store, the OCPP server, the settings."""

    store_source: Store | Callable[[], Store | None]
    ocpp: OcppServer
    settings: Settings
    broker: BrokerCheck | None = None

    @property
    def store(self) -> Store:
        """The store; when built with a function (the app opens the store in its lifespan),
        whatever it returns now."""
        source = self.store_source
        if not callable(source):
            return source
        try:
            store = source()
        except RuntimeError as exc:  # not opened yet, or closed: the lifespan owns it
            raise Unavailable(f"the store is not open: {exc}") from exc
        if store is None:
            raise Unavailable("the store is not open")
        return store


@dataclass(frozen=True, slots=True)
class Input:
    """A validated request, as a handler gets it."""

    principal: Principal
    path: Any  # the operation's path model, or None
    query: Any  # the query model, or None
    body: Any  # the body model, or None
    request: Request


Handler = Callable[[Api, Input], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path under /api/v1.

    `path` is a Starlette template with the JSON parameter names (``/stations/{stationId}``);
    `response` the type of `data` (None: ``"data": null``); `errors` the statuses the handler
    itself may answer with, besides the ones every operation has (auth, validation).
    """

    method: str
    path: str
    handler: Handler
    role: str  # the least role allowed: read-only, operator or admin
    summary: str
    tag: str
    name: str  # operationId
    path_model: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    body_optional: bool = False  # an empty body counts as {}
    response: Any = None
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""

    def replace(self, **changes: Any) -> Operation:
        return dataclasses.replace(self, **changes)


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The raw body, refused with 413 past `limit` bytes (before reading it, when the client
    says its length)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "payload_too_large", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ApiError(400, "bad_request", "the client went away while sending the body") from None
    return b"".join(chunks)


async def parse_body(op: Operation, request: Request) -> Any:
    raw = await read_body(request)
    if not raw.strip():
        if op.body_optional:
            raw = b"{}"
        else:
            raise ApiError(
                422,
                "validation_error",
                "body: a JSON object is required",
                details=[{"loc": "body", "message": "a JSON object is required"}],
            )
    elif _media_type(request) not in JSON_TYPES and not _media_type(request).endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the body must be application/json, not {_media_type(request) or 'untyped'}",
        )
    assert op.body is not None
    try:
        return op.body.model_validate_json(raw)
    except ValidationError as exc:
        raise validation_error(exc, where="body") from None


def parse_query(model: type[BaseModel] | None, request: Request) -> Any:
    items = request.query_params.multi_items()
    if model is None:
        if items:
            raise ApiError(
                422,
                "validation_error",
                f"query: this operation takes no parameters (got {items[0][0]!r})",
            )
        return None
    names = [name for name, _ in items]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ApiError(422, "validation_error", f"query: {', '.join(repeated)} given twice")
    try:
        return model.model_validate(dict(items))
    except ValidationError as exc:
        raise validation_error(exc, where="query") from None


def parse_path(model: type[BaseModel] | None, request: Request) -> Any:
    if model is None:
        return None
    try:
        return model.model_validate(dict(request.path_params))
    except ValidationError as exc:
        raise validation_error(exc, where="path") from None


def ok(data: Any, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status)


def error_response(exc: BaseException) -> Response:
    error = api_error(exc)
    metrics.API_ERRORS.labels(error.code).inc()
    return error.response()


def endpoint(api: Api, op: Operation) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of `op` (see the module docstring)."""
    adapter = None if op.response is None else TypeAdapter(op.response)

    async def handle(request: Request) -> Response:
        try:
            principal = await authenticate(
                api.store, api.settings, request.headers.get("authorization")
            )
            require(principal, op.role)
            path = parse_path(op.path_model, request)
            query = parse_query(op.query, request)
            body = await parse_body(op, request) if op.body is not None else None
            result = await op.handler(api, Input(principal, path, query, body, request))
            data = (
                None if adapter is None else adapter.dump_python(result, mode="json", by_alias=True)
            )
            return ok(data, op.status)
        except Exception as exc:  # every failure answers with the envelope
            return error_response(exc)

    handle.__name__ = op.name
    return handle
