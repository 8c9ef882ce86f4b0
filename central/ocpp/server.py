"""`OcppServer`: the `/ocpp/{station_id}` WebSocket endpoint and the handshake in front of it.

Before the WebSocket is accepted:
1. the station id (the last path segment) must pass chargekit.protocol.topics.check_station_id
   (1-48 of A-Z a-z 0-9 - _ .; it is also an MQTT topic level and the Basic user name);
2. the client must offer subprotocol `ocpp1.6`;
3. HTTP Basic auth (security profile 1): the user must be the station id and
   `domain.authenticate` must say "ok"; an unknown station is registered instead when
   `auto_register` is on.
A refusal is an HTTP response (ASGI WebSocket Denial Response): 400 with the reason for a bad
id or a missing subprotocol; 401 with `WWW-Authenticate: Basic` for unknown stations and
wrong passwords, with one body for both so ids cannot be probed (the log says which).

    server = OcppServer(domain, auto_register=False, heartbeat_interval=300)
    app = Starlette(routes=server.routes(), lifespan=...)   # app.py does this
    await server.send_command("CP-1", "Reset", {"type": "Soft"})
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable
from typing import Any

from starlette.responses import PlainTextResponse
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from chargekit.protocol.ocpp16 import PROTOCOL
from chargekit.protocol.topics import TopicError, check_station_id

from ..api.metrics import instrument
from .connection import StationConnection
from .ports import CsmsDomain
from .registry import ConnectionRegistry

log = logging.getLogger("chargekit.central.ocpp")

PATH = "/ocpp/{station_id}"
REALM = 'Basic realm="chargekit", charset="UTF-8"'


class OcppServer:
    """The OCPP 1.6J side of the CSMS: handshake, connections, commands.

    `registry` holds the live connections; `routes()` gives the Starlette route; `start()` and
    `stop()` run the silence monitor and close connections on shutdown.
    """

    def __init__(
        self,
        domain: CsmsDomain,
        *,
        auto_register: bool = False,
        heartbeat_interval: int = 300,
        offline_after: float = 3.0,
        command_timeout: float = 30.0,
        monitor_period: float | None = None,
        id_factory: Callable[[], object] | None = None,
    ) -> None:
        self.domain = domain
        self.auto_register = auto_register
        self.command_timeout = command_timeout
        self.id_factory = id_factory
        self.registry = ConnectionRegistry(
            domain,
            default_interval=heartbeat_interval,
            offline_after=offline_after,
            monitor_period=monitor_period,
            command_timeout=command_timeout,
        )

    def routes(self, path: str = PATH) -> list[BaseRoute]:
        return [WebSocketRoute(path, self.endpoint, name="ocpp")]

    async def start(self) -> None:
        await self.registry.start()

    async def stop(self) -> None:
        await self.registry.stop()

    async def send_command(
        self,
        station_id: str,
        name: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a command and return the station's answer (see commands.send_command)."""
        return await self.registry.send_command(station_id, name, payload, timeout=timeout)

    # --- the WebSocket endpoint --------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        station_id = websocket.path_params["station_id"]
        try:
            check_station_id(station_id)
        except TopicError as exc:
            await _refuse(websocket, 400, f"invalid station id: {exc}")
            return
        offered = websocket.scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            log.warning("%s: refused: subprotocols %s lack %s", station_id, offered, PROTOCOL)
            await _refuse(websocket, 400, f"WebSocket subprotocol {PROTOCOL} required")
            return
        if not await self._authenticate(websocket, station_id):
            return
        await websocket.accept(subprotocol=PROTOCOL)
        conn = StationConnection(
            station_id,
            websocket,
            self.domain,
            response_timeout=self.command_timeout,
            id_factory=self.id_factory,
        )
        instrument(conn)  # messages by action, handler latency and errors for /metrics
        await self.registry.attach(conn)
        try:
            await conn.serve()
        finally:
            await self.registry.detach(conn)

    async def _authenticate(self, websocket: WebSocket, station_id: str) -> bool:
        """Security profile 1; answers the refusal itself and returns False when refused."""
        try:
            password = basic_password(websocket.headers.get("authorization"), station_id)
        except ValueError as exc:
            log.warning("%s: refused: %s", station_id, exc)
            await _refuse(websocket, 401, f"unauthorized: {exc}", {"WWW-Authenticate": REALM})
            return False
        try:
            verdict = await self.domain.authenticate(station_id, password)
            if verdict == "unknown" and self.auto_register:
                if await self.domain.register(station_id, password) is False:
                    # Another connection or process registered it first: this connection's
                    # password must pass like any other.
                    verdict = await self.domain.authenticate(station_id, password)
                else:
                    log.info("%s: unknown station registered (auto_register)", station_id)
                    verdict = "ok"
        except Exception:
            log.exception("%s: authentication failed with an error", station_id)
            await _refuse(websocket, 503, "authentication unavailable, retry later")
            return False
        if verdict == "ok":
            return True
        log.warning("%s: refused: %s", station_id, verdict.replace("_", " "))
        await _refuse(
            websocket,
            401,
            "unauthorized: unknown station or wrong password",
            {"WWW-Authenticate": REALM},
        )
        return False


def basic_password(header: str | None, station_id: str) -> str | None:
    """The password of an `Authorization: Basic` header whose user is `station_id`.

    None when there is no header; ValueError for another scheme, bad base64 or UTF-8, or a
    user that is not the station id.
    """
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise ValueError("Authorization must be HTTP Basic")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError("malformed Basic credentials") from None
    user, colon, password = decoded.partition(":")
    if not colon:
        raise ValueError("malformed Basic credentials")
    if user != station_id:
        raise ValueError("Basic user must be the station id")
    return password


async def _refuse(
    websocket: WebSocket, status: int, reason: str, headers: dict[str, str] | None = None
) -> None:
    """Refuse the handshake with an HTTP response, or a close if the server cannot."""
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(
            PlainTextResponse(reason + "\n", status_code=status, headers=headers)
        )
    else:  # the server answers 403 without a body
        await websocket.close(1008, reason[:120])
