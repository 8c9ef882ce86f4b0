"""`ConnectionRegistry`: the live connection of each station, in this process.

- One connection per station: a reconnecting station replaces the old connection, which is
  closed (code 1000, "replaced by a new connection") with its tasks cancelled; the domain
  hears `connected` again and never `disconnected` for the replaced one.
- last_seen is updated by the connection on every frame it receives.
- A monitor task marks a station offline (`domain.disconnected`) and closes its socket when
  it has sent nothing for `offline_after` times its heartbeat interval (the interval its
  BootNotification on this connection was given, else `default_interval`).

    registry = ConnectionRegistry(domain, default_interval=300, offline_after=3)
    await registry.start()            # the monitor; app.py does this in the lifespan
    registry.get("CP-1")              # StationConnection | None
    await registry.send_command("CP-1", "Reset", {"type": "Soft"})
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from .commands import send_command
from .connection import ConnectionInfo, StationConnection
from .ports import CsmsDomain

log = logging.getLogger("chargekit.central.ocpp")


class ConnectionRegistry:
    def __init__(
        self,
        domain: CsmsDomain,
        *,
        default_interval: int = 300,
        offline_after: float = 3.0,
        monitor_period: float | None = None,
        command_timeout: float = 30.0,
    ) -> None:
        if default_interval <= 0:
            raise ValueError("default_interval must be positive")
        if offline_after < 0:
            raise ValueError("offline_after must be >= 0 (0 turns the monitor off)")
        self.domain = domain
        self.default_interval = default_interval
        self.offline_after = offline_after
        # Check often enough to notice silence within ~a quarter of the shortest threshold.
        self.monitor_period = monitor_period or min(
            5.0, max(0.05, offline_after * default_interval / 4)
        )
        self.command_timeout = command_timeout
        self._connections: dict[str, StationConnection] = {}
        self._monitor: asyncio.Task[None] | None = None

    # --- lookup ------------------------------------------------------------------------------

    def get(self, station_id: str) -> StationConnection | None:
        return self._connections.get(station_id)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._connections

    def __len__(self) -> int:
        return len(self._connections)

    def station_ids(self) -> list[str]:
        return sorted(self._connections)

    def snapshot(self) -> list[ConnectionInfo]:
        return [self._connections[sid].info() for sid in sorted(self._connections)]

    # --- attach / detach ---------------------------------------------------------------------

    async def attach(self, conn: StationConnection) -> None:
        """Make `conn` the station's live connection, closing any older one."""
        old = self._connections.get(conn.station_id)
        self._connections[conn.station_id] = conn
        if old is not None and old is not conn:
            log.info("%s: new connection replaces the old one", conn.station_id)
            await old.close(1000, "replaced by a new connection")
        await self._tell("connected", conn.station_id)

    async def detach(self, conn: StationConnection) -> None:
        """`conn` ended; the station is offline unless a newer connection replaced it."""
        if self._connections.get(conn.station_id) is not conn:
            return  # replaced, or already marked offline by the monitor
        del self._connections[conn.station_id]
        await self._tell("disconnected", conn.station_id)

    async def _tell(self, method: str, station_id: str) -> None:
        try:
            await getattr(self.domain, method)(station_id)
        except Exception:
            log.exception("%s: domain.%s failed", station_id, method)

    # --- silence monitor ---------------------------------------------------------------------

    def threshold(self, conn: StationConnection) -> float:
        """Seconds of silence after which `conn`'s station counts as offline."""
        return self.offline_after * (conn.heartbeat_interval or self.default_interval)

    async def check_silent(self) -> list[str]:
        """One monitor pass: mark silent stations offline and close them; their ids."""
        silent = []
        for station_id, conn in list(self._connections.items()):
            quiet = conn.clock() - conn.last_seen
            limit = self.threshold(conn)
            if quiet <= limit or self._connections.get(station_id) is not conn:
                continue
            silent.append(station_id)
            del self._connections[station_id]
            log.warning("%s: silent for %.1f s (limit %.1f s): offline", station_id, quiet, limit)
            await self._tell("disconnected", station_id)
            await conn.close(1000, f"silent for more than {limit:g} s")
        return silent

    async def _run_monitor(self) -> None:
        while True:
            await asyncio.sleep(self.monitor_period)
            try:
                await self.check_silent()
            except Exception:  # never let one bad pass stop the monitor
                log.exception("connection monitor pass failed")

    async def start(self) -> None:
        """Start the silence monitor (unless offline_after is 0); idempotent."""
        if self._monitor is None and self.offline_after > 0:
            self._monitor = asyncio.create_task(self._run_monitor(), name="ocpp-monitor")

    async def stop(self) -> None:
        """Stop the monitor and close every connection (code 1001, server going away)."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        for conn in list(self._connections.values()):
            await conn.close(1001, "server shutting down")
            await self.detach(conn)

    # --- commands ----------------------------------------------------------------------------

    async def send_command(
        self,
        station_id: str,
        name: str,
        payload: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """commands.send_command with this registry and its default timeout."""
        return await send_command(
            self, station_id, name, payload, timeout=timeout or self.command_timeout
        )
