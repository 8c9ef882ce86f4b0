"""`create_app(settings)`: the central system as one Starlette application.

    app = create_app(Settings.load())           # opens settings.db_url in the lifespan
    uvicorn.run(app, **settings.uvicorn_options())

    app = create_app(settings, store=store)     # a store the caller opened (and closes)
    app = create_app(settings, domain=MemoryDomain(...))   # tests: no database at all

Without `domain` and `store` the lifespan opens the store at `settings.db_url` (applying
pending migrations), serves the OCPP server over a `StoreDomain` on it, and closes it at
shutdown. app.state carries `settings`, `domain`, `store` (the open Store, or None: before
startup, after shutdown, or with an injected non-store domain) and `ocpp` (the OcppServer:
`app.state.ocpp.registry` for live connections, `await app.state.ocpp.send_command(...)`).

Other parts plug in without editing this function's body: `extra_routes` (e.g. the REST API's
Mount) join the route list; `on_startup(app)` hooks run once the store is open (app.state.store
is set) and before stations are served, `on_shutdown(app)` hooks after the OCPP server stopped
and before the store closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from .api import announce_admin_key, build_api
from .domain import StoreDomain
from .ocpp import CsmsDomain, OcppServer
from .settings import Settings
from .store import Store, StoreError, open_store

log = logging.getLogger("chargekit.central")

Hook = Callable[[Starlette], Awaitable[None]]


def redact_url(url: str) -> str:
    """`url` with any password replaced by ***, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user, _, host = parts.netloc.rpartition("@")
    name = user.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{name}:***@{host}"))


def create_app(
    settings: Settings | None = None,
    *,
    domain: CsmsDomain | None = None,
    store: Store | None = None,
    extra_routes: Sequence[BaseRoute] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> Starlette:
    """The Starlette app: WebSocket /ocpp/{station_id} plus `extra_routes`; the lifespan opens
    the store (unless given), runs the hooks and the OCPP monitor."""
    settings = settings if settings is not None else Settings.load()
    owns_store = domain is None and store is None
    if domain is None:
        domain = StoreDomain(
            store,  # None: bound in the lifespan once opened
            heartbeat_interval=settings.heartbeat_interval,
            allow_passwordless=settings.allow_passwordless,
        )
    if store is None and isinstance(domain, StoreDomain) and not owns_store:
        store = domain.bound_store  # an injected StoreDomain already bound to a store
    ocpp = OcppServer(
        domain,
        auto_register=settings.auto_register,
        heartbeat_interval=settings.heartbeat_interval,
        offline_after=settings.offline_after,
        command_timeout=settings.command_timeout,
    )

    routes: list[BaseRoute] = [
        *ocpp.routes(),  # WebSocket /ocpp/{station_id}
        # REST /api/v1, /health, /metrics, /openapi.json, /docs. The store is looked up per
        # request: it is opened by the lifespan below (the API answers 503 until then).
        *build_api(store=lambda: app.state.store, ocpp=ocpp, settings=settings),
        # /api/v1/live, /ocpi and the dashboard join here.
        *extra_routes,
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened: Store | None = None
        if owns_store:
            assert isinstance(domain, StoreDomain)
            try:
                opened = await open_store(settings.db_url)
            except StoreError as exc:
                log.error("cannot open the store %s: %s", redact_url(settings.db_url), exc)
                raise
            domain.bind(opened)
            app.state.store = opened
            log.info(
                "store: %s (%s), migrations applied now: %s",
                redact_url(settings.db_url),
                opened.backend,
                list(opened.applied_migrations) or "none",
            )
        try:
            for hook in (announce_admin_key, *on_startup):
                await hook(app)
            await ocpp.start()
            try:
                yield
            finally:
                await ocpp.stop()
                for hook in on_shutdown:
                    await hook(app)
        finally:
            if opened is not None:
                assert isinstance(domain, StoreDomain)
                domain.bind(None)
                app.state.store = None
                await opened.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.domain = domain
    app.state.store = store
    app.state.ocpp = ocpp
    return app
