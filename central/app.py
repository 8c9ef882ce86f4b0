"""`create_app(settings)`: the central system as one Starlette application.

    app = create_app(Settings.load(), domain=my_domain)
    uvicorn.run(app, **settings.uvicorn_options())

app.state carries `settings`, `domain` and `ocpp` (the OcppServer: `app.state.ocpp.registry`
for live connections, `await app.state.ocpp.send_command(...)` for commands).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from .ocpp import CsmsDomain, MemoryDomain, OcppServer
from .settings import Settings

log = logging.getLogger("chargekit.central")


def create_app(settings: Settings | None = None, *, domain: CsmsDomain | None = None) -> Starlette:
    """The Starlette app: WebSocket /ocpp/{station_id}; the lifespan runs the OCPP monitor."""
    settings = settings if settings is not None else Settings.load()
    if domain is None:
        # Until the store-backed domain exists (central/domain over central/store, opened
        # from settings.db_url), the default keeps everything in memory.
        log.warning("no domain given: using MemoryDomain, nothing is persisted")
        domain = MemoryDomain(heartbeat_interval=settings.heartbeat_interval)
    ocpp = OcppServer(
        domain,
        auto_register=settings.auto_register,
        heartbeat_interval=settings.heartbeat_interval,
        offline_after=settings.offline_after,
        command_timeout=settings.command_timeout,
    )

    routes: list[BaseRoute] = [
        *ocpp.routes(),  # WebSocket /ocpp/{station_id}
        # REST /api/v1 (Mount), /api/v1/live, /ocpi, /metrics, /health and the dashboard
        # are added here by their packages.
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await ocpp.start()
        try:
            yield
        finally:
            await ocpp.stop()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.settings = settings
    app.state.domain = domain
    app.state.ocpp = ocpp
    return app
