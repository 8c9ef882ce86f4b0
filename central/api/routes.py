"""`build_api(...)`: the REST API as Starlette routes for create_app to add in one line.

    routes += build_api(store=store, ocpp=ocpp, settings=settings)

- ``/api/v1/...``: a Mount of a small Starlette app of its own, so unknown paths and wrong
  methods under /api/v1 also answer with the error envelope;
- ``/health`` (database and broker; 200 or 503), ``/metrics`` (Prometheus),
  ``/openapi.json`` (generated once from the route table) and ``/docs`` (HTML): public.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from chargekit import __version__

from . import commands, keys, metrics, stations, tokens, transactions
from . import schemas as s
from .errors import ApiError
from .openapi import PlainRoute, build_document, render_docs
from .operations import Api, BrokerCheck, Operation, endpoint, error_response

if TYPE_CHECKING:
    from chargekit.central.ocpp import OcppServer
    from chargekit.central.settings import Settings
    from chargekit.central.store import Store

PREFIX = "/api/v1"
PING_TIMEOUT = 2.0  # seconds: a hung database makes /health answer 503, not hang

OPERATIONS: list[Operation] = [
    *stations.OPERATIONS,
    *tokens.OPERATIONS,
    *transactions.OPERATIONS,
    *commands.OPERATIONS,
    *keys.OPERATIONS,
]

PLAIN_ROUTES = [
    PlainRoute(
        "GET",
        "/health",
        "Database and broker state",
        "health",
        "application/json",
        s.Health,
        (200, 503),
        "200 when the database answers (and the broker, once one is configured), else 503 "
        "with `success: false`; `data` is given either way. No API key needed.",
    ),
    PlainRoute(
        "GET",
        "/metrics",
        "Prometheus metrics",
        "metrics",
        metrics.CONTENT_TYPE_LATEST.split(";")[0],
        description="Connected stations, OCPP messages by action, handler latency, errors.",
    ),
    PlainRoute("GET", "/openapi.json", "This document", "openapi", "application/json"),
    PlainRoute("GET", "/docs", "The API described as a web page", "docs", "text/html"),
]


async def _not_routed(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(
            405,
            "method_not_allowed",
            f"{request.method} is not allowed on {request.url.path}",
            headers=exc.headers,
        )
    elif exc.status_code == 404:
        error = ApiError(404, "not_found", f"no route {request.method} {request.url.path}")
    else:
        error = ApiError(exc.status_code, "http_error", str(exc.detail))
    return error_response(error)


async def health(api: Api) -> tuple[s.Health, int]:
    database = s.Check(status="ok")
    try:
        store = api.store
        database = s.Check(status="ok", detail=store.backend)
        await asyncio.wait_for(store.ping(), PING_TIMEOUT)
    except TimeoutError:
        database = s.Check(status="unavailable", detail=f"no answer within {PING_TIMEOUT:g} s")
    except Exception as exc:
        database = s.Check(status="unavailable", detail=str(exc) or type(exc).__name__)
    if api.broker is None:
        broker = s.Check(status="not configured")
    else:
        try:
            state, detail = await asyncio.wait_for(api.broker(), PING_TIMEOUT)
            broker = s.Check(status=state, detail=detail)
        except Exception as exc:
            broker = s.Check(status="unavailable", detail=str(exc) or type(exc).__name__)
    healthy = database.status == "ok" and broker.status in ("ok", "not configured")
    report = s.Health(
        status="ok" if healthy else "unavailable",
        database=database,
        broker=broker,
        connected_stations=len(api.ocpp.registry),
    )
    return report, 200 if healthy else 503


def build_api(
    *,
    store: Store | Callable[[], Store | None],
    ocpp: OcppServer,
    settings: Settings,
    broker: BrokerCheck | None = None,
) -> list[BaseRoute]:
    """The REST API's routes: /api/v1 (Mount), /health, /metrics, /openapi.json, /docs.

    `store` is the Store, or a function returning it when the app opens the store in its
    lifespan (``store=lambda: app.state.store``); while it returns None (or raises
    RuntimeError) the API answers 503. `broker`
    reports the message broker for /health (None: "not configured").
    """
    api = Api(store, ocpp, settings, broker)
    api_app = Starlette(
        routes=[
            Route(op.path, endpoint(api, op), methods=[op.method], name=op.name)
            for op in OPERATIONS
        ],
        exception_handlers={HTTPException: _not_routed},
    )
    document = build_document(OPERATIONS, PLAIN_ROUTES, prefix=PREFIX, version=__version__)
    document_bytes = json.dumps(document, separators=(",", ":")).encode()
    docs_page = render_docs(document)
    collectors = metrics.registry_for(ocpp.registry)

    async def health_endpoint(request: Request) -> Response:
        report, status = await health(api)
        body: dict[str, Any] = {
            "success": status == 200,
            "data": report.model_dump(mode="json", by_alias=True),
        }
        if status != 200:
            problems = [
                f"{name}: {check.status}" + (f" ({check.detail})" if check.detail else "")
                for name, check in (("database", report.database), ("broker", report.broker))
                if check.status not in ("ok", "not configured")
            ]
            body["error"] = {"code": "unavailable", "message": "; ".join(problems)}
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.render(collectors), media_type=metrics.CONTENT_TYPE_LATEST)

    async def openapi_endpoint(request: Request) -> Response:
        return Response(document_bytes, media_type="application/json")

    async def docs_endpoint(request: Request) -> Response:
        return HTMLResponse(docs_page)

    return [
        Mount(PREFIX, app=api_app, name="api"),
        Route("/health", health_endpoint, methods=["GET"], name="health"),
        Route("/metrics", metrics_endpoint, methods=["GET"], name="metrics"),
        Route("/openapi.json", openapi_endpoint, methods=["GET"], name="openapi"),
        Route("/docs", docs_endpoint, methods=["GET"], name="docs"),
    ]
