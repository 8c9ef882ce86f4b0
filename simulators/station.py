"""The station harness: the real firmware under `micropython` on the sim board, with its
hardware simulated, its network behind a proxy, and a JSON control API.

    station = Station("CP001", "ws://127.0.0.1:9000/ocpp", control_port=8701)
    await station.start()          # simulators, proxy, firmware, control API
    station.plug(); station.tap("04A1B2C3D4E5F6"); station.charge(max_amps=16, phases=3)
    await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)
    await station.power_cut(); await station.power_restore()
    await station.stop()

Several stations run in one event loop (`chargekit demo`); `chargekit station` runs one from
the command line (tools/station_cmd.py). The control API is documented in docs/simulators.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from chargekit.simulators import DEFAULT_HEAP
from chargekit.simulators.ev import EvSimulator
from chargekit.simulators.netproxy import NetProxy

logger = logging.getLogger("chargekit.station")

# boards/sim/board.py exits with this status from reset(): boot the firmware again.
RESET_STATUS = 75
READERS = ("pn532", "rdm6300")
METERS = ("sdm630", "sdm120", "abb_b23")
EV_FAULTS = ("rcd", "welded", "wont_close", "overtemp", "diode", "ev_error", "ventilation")
FAULTS = (*EV_FAULTS, "meter_offline", "reader_offline")
DEFAULT_PORTS = {"ws": 80, "wss": 443, "http": 80, "https": 443}


class StationError(RuntimeError):
    pass


def stage_image(dest: str | Path) -> Path:
    """Stage the sim board's device image (compiled) once; Station(image=...) shares it."""
    from chargekit.tools.micropython import stage_firmware

    return stage_firmware(dest, board="sim", compiled=True)


def proxied_url(central_url: str, host: str, port: int) -> tuple[str, str, int]:
    """(url through the proxy, central host, central port) for a ws:// or wss:// URL."""
    parts = urlsplit(central_url)
    if not parts.hostname:
        raise StationError(f"central URL without a host: {central_url!r}")
    target_port = parts.port or DEFAULT_PORTS.get(parts.scheme, 80)
    netloc = f"{host}:{port}"
    if parts.username:
        auth = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{auth}@{netloc}"
    return urlunsplit(parts._replace(netloc=netloc)), parts.hostname, target_port


class Station:
    """One simulated charge point. Operations are plain methods (sync where they only change
    the simulators, async where they wait for the firmware process)."""

    reboot_delay_s = 0.1  # between a firmware reset and its next boot
    boot_timeout_s = 10.0  # how long power_restore() waits for the board's IO line
    output_lines = 60  # last firmware output lines kept (shown when it crashes)

    def __init__(
        self,
        station_id: str,
        central_url: str,
        *,
        meter: str = "sdm630",
        reader: str = "pn532",
        heap: str = DEFAULT_HEAP,
        data_dir: str | Path | None = None,
        time_scale: float = 1.0,
        control_port: int | None = None,
        host: str = "127.0.0.1",
        image: str | Path | None = None,
        meter_address: int = 1,
        settings: dict[str, Any] | None = None,
        rfid_factory: Callable[[str], Any] | None = None,
        meter_factory: Callable[..., Any] | None = None,
    ) -> None:
        if reader not in READERS:
            raise StationError(f"reader must be one of {', '.join(READERS)}")
        if meter not in METERS:
            raise StationError(f"meter must be one of {', '.join(METERS)}")
        if time_scale <= 0:
            raise StationError("time_scale must be > 0")
        self.station_id = station_id
        self.central_url = central_url
        self.meter_model = meter
        self.reader_model = reader
        self.heap = heap
        self.time_scale = time_scale
        self.control_port = control_port
        self.host = host
        self.meter_address = meter_address
        self.extra_settings = dict(settings or {})
        self._rfid_factory = rfid_factory or _default_rfid
        self._meter_factory = meter_factory or _default_meter
        self._given_data_dir = data_dir is not None
        self._given_image = image is not None
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.image = Path(image) if image is not None else None
        self.workdir: Path | None = None
        self.rfid: Any = None
        self.meter: Any = None
        self.ev: EvSimulator | None = None
        self.proxy: NetProxy | None = None
        self.ports: dict[str, int] = {}
        self.control_url: str | None = None
        # firmware process
        self.process: asyncio.subprocess.Process | None = None
        self.powered = False
        self.boots = 0
        self.exit_code: int | None = None
        self.output: deque[str] = deque(maxlen=self.output_lines)
        self.firmware_log: deque[str] = deque(maxlen=self.output_lines)
        # what the firmware reported
        self.reports = 0
        self.connector_status: str | None = None
        self.error_code: str | None = None
        self.last_session: dict | None = None
        self.firmware_meter: dict | None = None
        self.firmware_health: dict | None = None  # heap figures the firmware reports
        self.last_command: dict | None = None  # outcome of the last maintenance command
        self.faults: dict[str, bool] = {}
        self.changed = asyncio.Event()
        self._sim_epoch0 = time.time()
        self._real0 = time.monotonic()
        self._watcher: asyncio.Task | None = None
        self._server: Any = None
        self._server_task: asyncio.Task | None = None
        self._started = False
        self._app: Starlette | None = None

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.workdir = Path(tempfile.mkdtemp(prefix=f"chargekit-{self.station_id}-"))
        if self.data_dir is None:
            self.data_dir = self.workdir / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.image is None:
            self.image = await asyncio.to_thread(stage_image, self.workdir / "image")
        try:
            self.rfid = self._rfid_factory(self.reader_model)
            self.ports["rfid"] = await self.rfid.start(self.host)
            self.meter = self._meter_factory(
                self.meter_model, address=self.meter_address, time_scale=self.time_scale
            )
            self.ports["meter"] = await self.meter.start(self.host)
            self.ev = EvSimulator(
                meter=self.meter,
                on_report=self._on_report,
                on_log=self.firmware_log.append,
                on_change=self.changed.set,
            )
            self.ports["io"] = await self.ev.start(self.host)
            _, central_host, central_port = proxied_url(self.central_url, self.host, 0)
            self.proxy = NetProxy(central_host, central_port)
            self.ports["proxy"] = await self.proxy.start(self.host)
            if self.control_port is not None:
                await self._serve_control(self.control_port)
            await self.power_restore()
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop the firmware, the control API and the simulators; remove temporary folders."""
        self.powered = False
        await self._kill()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        if self._server is not None:
            self._server.should_exit = True
            if self._server_task is not None:
                with contextlib.suppress(asyncio.CancelledError):
                    await self._server_task
            self._server = self._server_task = None
        for part in (self.proxy, self.ev, self.meter, self.rfid):
            if part is not None:
                with contextlib.suppress(Exception):
                    await part.close()
        if self.workdir is not None:
            if not self._given_data_dir and self.data_dir == self.workdir / "data":
                self.data_dir = None
            if not self._given_image and self.image == self.workdir / "image":
                self.image = None
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        self._started = False

    async def __aenter__(self) -> Station:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- operations ---------------------------------------------------------------------------

    def tap(self, uid: str) -> None:
        self._need(self.rfid).tap(uid)

    def remove_card(self) -> None:
        self._need(self.rfid).remove()

    def plug(self) -> None:
        self._need(self.ev).plug()

    def charge(self, max_amps: float | None = None, phases: int | None = None) -> None:
        self._need(self.ev).charge(max_amps=max_amps, phases=phases)

    def pause(self) -> None:
        self._need(self.ev).pause()

    def unplug(self) -> None:
        self._need(self.ev).unplug()

    def fault(self, kind: str, on: bool = True) -> None:
        if kind in EV_FAULTS:
            self._need(self.ev).set_fault(kind, on)
        elif kind == "meter_offline":
            self._need(self.meter).fault = "no_reply" if on else None
        elif kind == "reader_offline":
            self._need(self.rfid).absent = on
        else:
            raise StationError(f"unknown fault {kind!r}; one of {', '.join(FAULTS)}")
        self.faults[kind] = on
        self.changed.set()

    def clear_faults(self) -> None:
        """The technician's fault reset: the firmware clears latched faults whose cause is
        gone (RCD trip, welded contactor, missing diode) and reports what is still active."""
        if not self._need(self.ev).send_command("clear_faults"):
            raise StationError("the firmware is not connected")
        self.last_command = None

    def net_cut(self) -> None:
        self._need(self.proxy).cut()

    def net_restore(self) -> None:
        self._need(self.proxy).restore()

    async def power_cut(self) -> None:
        """SIGKILL the firmware: no chance to save anything, as when the supply fails."""
        self.powered = False
        await self._kill()

    async def power_restore(self) -> None:
        """Boot the firmware again (same data dir); nothing happens if it is running."""
        if self.firmware_alive:
            return
        self.powered = True
        await self._boot()
        # Powered up means the board has its hardware: wait for its IO line (or its death).
        with contextlib.suppress(TimeoutError):
            await self.wait_for(
                lambda s: self._need(self.ev).board_connected or not self.firmware_alive,
                timeout=self.boot_timeout_s,
            )

    @property
    def firmware_alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def sim_time(self) -> float:
        """The station's wall clock: real time since start() times time_scale."""
        return self._sim_epoch0 + (time.monotonic() - self._real0) * self.time_scale

    def state(self) -> dict[str, Any]:
        ev = self._need(self.ev).snapshot()
        meter = self.meter
        return {
            "station_id": self.station_id,
            **ev,
            "energy_wh": _number(getattr(meter, "energy_wh", None)),
            "power_w": _number(getattr(meter, "power_w", None)),
            "connector_status": self.connector_status,
            "error_code": self.error_code,
            "firmware_alive": self.firmware_alive,
            "exit_code": self.exit_code,
            "boots": self.boots,
            "last_session": self.last_session,
            "firmware_meter": self.firmware_meter,
            "firmware_health": self.firmware_health,
            "last_command": self.last_command,
            "reports": self.reports,
            "faults": {k: v for k, v in self.faults.items() if v},
            "net": self.proxy.counters() if self.proxy is not None else None,
            "ports": dict(self.ports),
            "data_dir": str(self.data_dir) if self.data_dir is not None else None,
        }

    async def wait_for(self, predicate: Callable[[dict], bool], timeout: float = 5.0) -> dict:
        """Wait until predicate(state()) holds; returns that state or raises TimeoutError."""
        async with asyncio.timeout(timeout):
            while True:
                self.changed.clear()
                current = self.state()
                if predicate(current):
                    return current
                with contextlib.suppress(TimeoutError):
                    # the meter's energy changes without an event: look again now and then
                    async with asyncio.timeout(0.2):
                        await self.changed.wait()

    # -- the firmware process -----------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        url, _, _ = proxied_url(self.central_url, self.host, self.ports["proxy"])
        return {
            "station_id": self.station_id,
            "central_url": url,
            "host": self.host,
            "io_port": self.ports["io"],
            "rfid_port": self.ports["rfid"],
            "meter_port": self.ports["meter"],
            "reader": self.reader_model,
            "meter": self.meter_model,
            "meter_address": self.meter_address,
            "time_scale": self.time_scale,
            "data_dir": str(self.data_dir),
            "epoch": int(self.sim_time()),
            **self.extra_settings,
        }

    async def _boot(self) -> None:
        from chargekit.tools.micropython import find_tool

        assert self.workdir is not None and self.image is not None
        settings_path = self.workdir / "settings.json"
        settings_path.write_text(json.dumps(self.settings(), indent=1))
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join([".frozen", str(self.image)])
        self.exit_code = None
        self.process = await asyncio.create_subprocess_exec(
            find_tool("micropython"),
            "-X",
            f"heapsize={self.heap}",
            "main.py",
            str(settings_path),
            cwd=self.image,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        if not self.powered:  # stop() or power_cut() came while the process was starting
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
            return
        self.boots += 1
        logger.info(
            "%s: firmware booted (pid %d, boot %d)", self.station_id, self.process.pid, self.boots
        )
        self._watcher = asyncio.create_task(self._watch(self.process))
        self.changed.set()

    async def _watch(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            text = line.decode("utf-8", "replace").rstrip()
            self.output.append(text)
            logger.info("%s| %s", self.station_id, text)
        code = await process.wait()
        self.exit_code = code
        self.changed.set()
        if not self.powered:
            logger.info("%s: firmware off (exit %s)", self.station_id, code)
        elif code == RESET_STATUS:
            logger.info("%s: firmware reset; booting again", self.station_id)
            await asyncio.sleep(self.reboot_delay_s)
            if self.powered and self.process is process:
                # self._watcher still names this task while it boots, so stop() cancels it.
                await self._boot()
        else:
            self.powered = False
            logger.error(
                "%s: firmware crashed (exit %s); last output:\n%s",
                self.station_id,
                code,
                "\n".join(list(self.output)[-20:]),
            )

    async def _kill(self) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        if self._watcher is not None:
            # let the watcher read the last output and record the exit code
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._watcher), 2)

    def _on_report(self, kind: str, data: Any) -> None:
        self.reports += 1
        if not isinstance(data, dict):
            return
        if kind == "status":
            self.connector_status = data.get("status", self.connector_status)
            self.error_code = data.get("error_code", self.error_code)
        elif kind == "session":
            self.last_session = data
        elif kind == "meter":
            self.firmware_meter = data
        elif kind == "health":
            self.firmware_health = data
        elif kind == "command":
            self.last_command = data

    # -- control API --------------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = build_app(self)
        return self._app

    async def _serve_control(self, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, port))
        sock.listen(64)
        sock.setblocking(False)
        self.ports["control"] = sock.getsockname()[1]
        self.control_url = f"http://{self.host}:{self.ports['control']}"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = _QuietServer(config)
        self._server_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._server_task.done():
                self._server_task.result()
                raise StationError("control API did not start")
            await asyncio.sleep(0.01)

    @staticmethod
    def _need(part: Any) -> Any:
        if part is None:
            raise StationError("station not started")
        return part


def _number(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _default_rfid(model: str) -> Any:
    from chargekit.simulators import rfid

    return rfid.Pn532Simulator() if model == "pn532" else rfid.Rdm6300Simulator()


def _default_meter(model: str, **options: Any) -> Any:
    from chargekit.simulators.meter import MeterSimulator

    return MeterSimulator(model, **options)


class _QuietServer(uvicorn.Server):
    """Leaves signals alone: the program that runs the stations handles them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


# -- the control API (JSON over HTTP) ---------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _ok(data: Any = None) -> JSONResponse:
    return JSONResponse({"success": True, "data": data})


def _fail(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(
        {"success": False, "error": {"code": code, "message": message}}, status_code=status
    )


async def _body(request: Request) -> dict[str, Any]:
    """The JSON object in the body; an empty body is an empty object."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError as error:
        raise ApiError(400, "bad_json", f"body is not JSON: {error}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "bad_json", "body must be a JSON object")
    return body


def _invalid(message: str) -> ApiError:
    return ApiError(422, "invalid", message)


def build_app(station: Station) -> Starlette:
    """The control API of one station (routes in docs/simulators.md)."""

    async def state(request: Request) -> JSONResponse:
        return _ok(station.state())

    async def rfid_tap(request: Request) -> JSONResponse:
        uid = (await _body(request)).get("uid")
        if not isinstance(uid, str) or not _HEX_UID.fullmatch(uid):
            raise _invalid("uid must be a hex string of 4 to 10 bytes, e.g. 04A1B2C3D4E5F6")
        try:
            station.tap(uid.upper())
        except ValueError as error:
            raise _invalid(str(error)) from None
        return _ok(station.state())

    async def rfid_remove(request: Request) -> JSONResponse:
        await _body(request)
        station.remove_card()
        return _ok(station.state())

    def simple(operation: Callable[[], None]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> JSONResponse:
            await _body(request)
            operation()
            return _ok(station.state())

        return endpoint

    async def ev_charge(request: Request) -> JSONResponse:
        body = await _body(request)
        max_amps = body.get("max_amps")
        phases = body.get("phases")
        if max_amps is not None and (
            isinstance(max_amps, bool)
            or not isinstance(max_amps, int | float)
            or not 0 < max_amps <= 80
        ):
            raise _invalid("max_amps must be a number in (0, 80]")
        if phases is not None and (isinstance(phases, bool) or phases not in (1, 3)):
            raise _invalid("phases must be 1 or 3")
        station.charge(max_amps=max_amps, phases=phases)
        return _ok(station.state())

    async def fault(request: Request) -> JSONResponse:
        body = await _body(request)
        kind = body.get("kind")
        on = body.get("on", True)
        if kind not in FAULTS:
            raise _invalid(f"kind must be one of {', '.join(FAULTS)}")
        if not isinstance(on, bool):
            raise _invalid("on must be true or false")
        station.fault(kind, on)
        return _ok(station.state())

    async def power_cut(request: Request) -> JSONResponse:
        await _body(request)
        await station.power_cut()
        return _ok(station.state())

    async def power_restore(request: Request) -> JSONResponse:
        await _body(request)
        await station.power_restore()
        return _ok(station.state())

    async def api_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, ApiError)
        return _fail(error.status, error.code, error.message)

    async def http_error(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, HTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return _fail(error.status_code, code, str(error.detail))

    async def station_error(request: Request, error: Exception) -> JSONResponse:
        return _fail(409, "station", str(error))

    routes = [
        Route("/state", state, methods=["GET"]),
        Route("/rfid/tap", rfid_tap, methods=["POST"]),
        Route("/rfid/remove", rfid_remove, methods=["POST"]),
        Route("/ev/plug", simple(station.plug), methods=["POST"]),
        Route("/ev/charge", ev_charge, methods=["POST"]),
        Route("/ev/pause", simple(station.pause), methods=["POST"]),
        Route("/ev/unplug", simple(station.unplug), methods=["POST"]),
        Route("/maintenance/clear-faults", simple(station.clear_faults), methods=["POST"]),
        Route("/fault", fault, methods=["POST"]),
        Route("/power/cut", power_cut, methods=["POST"]),
        Route("/power/restore", power_restore, methods=["POST"]),
        Route("/net/cut", simple(station.net_cut), methods=["POST"]),
        Route("/net/restore", simple(station.net_restore), methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={
            ApiError: api_error,
            HTTPException: http_error,
            StationError: station_error,
        },
    )


_HEX_UID = re.compile(r"(?:[0-9A-Fa-f]{2}){4,10}")
