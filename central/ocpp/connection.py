"""`StationConnection`: one accepted WebSocket, adapted to the `recv()`/`send()` connection the
`ocpp` library expects, with our strict frame check in front of the library.

Every frame first goes through `chargekit.protocol.ocppj.decode` (the same code the firmware
runs): invalid JSON, wrong frame shapes, unknown actions, bad types, missing or unknown fields
are answered here with the CALLERROR code OCPP 1.6 names (docs/decisions/0002) and never
reach the library, which would drop some of them silently (invalid JSON, wrong element
count) or answer with codes 1.6 lacks ("FormatViolation"). Only well-formed frames are
handed on; the library then validates them again with its JSON schemas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket

from chargekit.protocol import errors as ocpp_errors
from chargekit.protocol import ocppj
from chargekit.protocol.ocpp16 import ACTIONS, FROM_CS

from .errors import CommandError, StationNotConnected
from .handlers import CentralChargePoint
from .ports import CsmsDomain

log = logging.getLogger("chargekit.central.ocpp")


class ConnectionClosed(Exception):
    """The WebSocket closed; ends the library's receive loop."""


@dataclass(frozen=True, slots=True)
class ConnectionInfo:
    """A snapshot of one live connection, for the API and metrics."""

    station_id: str
    connected_at: datetime
    last_seen: datetime
    heartbeat_interval: int | None  # from this connection's BootNotification, if any
    registration: str | None
    frames_in: int
    frames_rejected: int


class StationConnection:
    """One station's live WebSocket and the CentralChargePoint serving it.

    `serve()` runs until the socket closes or `close()` is called (from the registry, when a
    newer connection replaces this one or the station fell silent).
    """

    def __init__(
        self,
        station_id: str,
        websocket: WebSocket,
        domain: CsmsDomain,
        *,
        response_timeout: float = 30,
        id_factory: Callable[[], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.station_id = station_id
        self.websocket = websocket
        self.clock = clock
        self.charge_point = CentralChargePoint(
            station_id, self, domain, response_timeout=response_timeout, id_factory=id_factory
        )
        self.connected_at = datetime.now(UTC)
        self.last_seen = clock()  # monotonic seconds, for the silence check
        self._last_seen_wall = time.time()
        self.frames_in = 0
        self.frames_rejected = 0
        self.closed = False
        self._closed_event = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._serve_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def heartbeat_interval(self) -> int | None:
        return self.charge_point.heartbeat_interval

    def info(self) -> ConnectionInfo:
        return ConnectionInfo(
            self.station_id,
            self.connected_at,
            datetime.fromtimestamp(self._last_seen_wall, UTC),
            self.charge_point.heartbeat_interval,
            self.charge_point.registration,
            self.frames_in,
            self.frames_rejected,
        )

    # --- the connection the ocpp library reads and writes -----------------------------------

    async def recv(self) -> str:
        """The next well-formed frame; faulty ones are answered or dropped here."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                raise ConnectionClosed(message.get("code"))
            self.last_seen = self.clock()
            self._last_seen_wall = time.time()
            self.frames_in += 1
            data = message.get("text")
            if data is None:
                data = message.get("bytes") or b""
            try:
                frame = ocppj.decode(data, validate=True)
                if isinstance(frame, ocppj.Call) and ACTIONS[frame.action][1] == FROM_CS:
                    raise ocpp_errors.OcppError(
                        ocpp_errors.NOT_SUPPORTED,
                        frame.action + " is sent by the central system, not to it",
                        message_id=frame.unique_id,
                        message_type_id=ocppj.CALL,
                    )
            except ocpp_errors.OcppError as exc:
                self.frames_rejected += 1
                await self._reject(exc, data)
                continue
            return data if isinstance(data, str) else data.decode("utf-8")

    async def send(self, text: str) -> None:
        async with self._send_lock:
            await self.websocket.send_text(text)

    async def _reject(self, exc: ocpp_errors.OcppError, data: str | bytes) -> None:
        if not exc.answerable():
            # A faulty CALLRESULT/CALLERROR is never answered; a command waiting for it
            # times out.
            log.warning("%s: dropped faulty response frame: %s", self.station_id, exc)
            return
        log.info("%s: CALLERROR %s for %.200r", self.station_id, exc, data)
        await self.send(ocppj.encode(ocppj.error_for(exc)))

    # --- lifecycle ---------------------------------------------------------------------------

    async def serve(self) -> None:
        """Run the library's receive loop until the socket closes or close() is called."""
        self._serve_task = asyncio.create_task(
            self.charge_point.start(), name=f"ocpp:{self.station_id}"
        )
        try:
            await asyncio.wait({self._serve_task})
        finally:
            if not self._serve_task.done():  # serve() itself was cancelled
                self._serve_task.cancel()
            self._finish()
        task = self._serve_task
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, ConnectionClosed):
            log.warning("%s: connection ended: %r", self.station_id, exc)

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task:
        """Run `coro` as a task owned by this connection (cancelled when it closes); for
        work that must not run inside an @on handler, such as calling the station."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _finish(self) -> None:
        self.closed = True
        self._closed_event.set()
        for task in list(self._tasks):
            task.cancel()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Stop serving and close the socket (idempotent)."""
        if self.closed:
            return
        self._finish()
        if self._serve_task is not None:
            self._serve_task.cancel()
        with contextlib.suppress(Exception):  # already closed by the peer or the server
            await self.websocket.close(code, reason)

    async def call(
        self,
        action: str,
        payload: dict[str, Any],
        *,
        timeout: float,
        on_sent: Callable[[str], None] | None = None,
    ) -> dict[str, Any]:
        """Send a CALL and return the answer's payload; StationNotConnected if the connection
        closes first. The caller bounds the whole wait (commands.send_command)."""
        if self.closed:
            raise StationNotConnected(self.station_id, action, "not connected")
        waiter = asyncio.ensure_future(
            self.charge_point.call_raw(action, payload, timeout=timeout, on_sent=on_sent)
        )
        closing = asyncio.ensure_future(self._closed_event.wait())
        try:
            await asyncio.wait({waiter, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closing.cancel()
            if not waiter.done():
                waiter.cancel()
        if not waiter.done() or waiter.cancelled():
            raise StationNotConnected(
                self.station_id, action, "connection closed before the answer"
            )
        exc = waiter.exception()
        if exc is not None and not isinstance(exc, CommandError | TimeoutError):
            # sending on a socket that is closing: the station is gone
            raise StationNotConnected(self.station_id, action, f"connection lost: {exc}") from exc
        return waiter.result()
