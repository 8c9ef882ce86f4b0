"""Benchmark of an OCPP 1.6J server under a fleet of simulated stations.

    .venv/bin/python tools/bench/fleet_bench.py --stations 1000 --rate 0.1 --duration 30

One process of lightweight stations (asyncio + websockets, no `ocpp` library: JSON frames are
built once per action and get their ids from a counter) connects to
``ws://host:port/ocpp/{station_id}`` with subprotocol ``ocpp1.6`` (HTTP Basic auth with
--password), sends BootNotification, then Heartbeat, StatusNotification and MeterValues in turn
at --rate messages per second per station, one CALL outstanding per station as OCPP requires.
Each CALL's round trip is timed with perf_counter_ns.

The baseline is measured in the same run with the same fleet: a bare `websockets` server in a
separate process that answers every CALL ``[2, id, action, payload]`` with ``[3, id, {}]``.
The target is the ChargeKit central: started by the bench with --target-cmd (``{port}`` is
replaced by a free port, ``{tmp}`` by a scratch directory), reached with --url (plus
--server-pid for its memory), or by default ``chargekit.central.app:create_app`` on uvicorn
with a scratch SQLite database and auto-registration (CENTRAL_ENV). Without the central only
the baseline runs and the report says the target is pending.

Report per side: connected and failed stations, messages per second, p50/p99/max round trip,
and the server's RSS per 1,000 stations (the server's resident memory with the fleet connected
minus its memory before the fleet connected) when the server's pid is known.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import dataclasses
import gc
import importlib.util
import itertools
import json
import math
import os
import random
import resource
import select
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

SUBPROTOCOL = "ocpp1.6"
# Station traffic in the order each station cycles through it.
ACTIONS = ("Heartbeat", "StatusNotification", "MeterValues")
READY_LINE = "LISTENING"
# Sockets the bench needs besides one per station (pipes, log files, the loop's own).
SPARE_FDS = 256
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- frames ---------------------------------------------------------------------------------


def payloads(timestamp: str) -> dict[str, dict[str, Any]]:
    """The payload of every CALL a station sends (valid OCPP 1.6 .req payloads)."""
    return {
        "BootNotification": {
            "chargePointVendor": "ChargeKit",
            "chargePointModel": "FleetBench",
            "firmwareVersion": "bench",
        },
        "Heartbeat": {},
        "StatusNotification": {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        "MeterValues": {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": timestamp,
                    "sampledValue": [
                        {
                            "value": "1234567",
                            "context": "Sample.Periodic",
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {"value": "7360", "measurand": "Power.Active.Import", "unit": "W"},
                    ],
                }
            ],
        },
    }


class Frames:
    """CALL frames built once per action; a message is ``head + id + tail[action]``.

    >>> frames = Frames("2026-01-01T00:00:00Z")
    >>> frames.call("Heartbeat")
    ('1', '[2,"1","Heartbeat",{}]')
    """

    def __init__(self, timestamp: str) -> None:
        self._ids = itertools.count(1)
        self._tails = {
            action: '","' + action + '",' + json.dumps(payload, separators=(",", ":")) + "]"
            for action, payload in payloads(timestamp).items()
        }

    def call(self, action: str) -> tuple[str, str]:
        """(id, frame) of a new CALL."""
        call_id = str(next(self._ids))
        return call_id, '[2,"' + call_id + self._tails[action]


# -- results --------------------------------------------------------------------------------


def percentile(ordered: list[int], fraction: float) -> int:
    """Nearest-rank percentile of an ascending list (0 when empty)."""
    if not ordered:
        return 0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))]


@dataclasses.dataclass
class SideResult:
    """What one fleet measured against one server."""

    name: str
    url: str
    stations: int
    rate: float
    window_s: float
    connected: int = 0
    failed: int = 0
    failures: Counter[str] = dataclasses.field(default_factory=Counter)
    boot_status: Counter[str] = dataclasses.field(default_factory=Counter)
    connect_s: float = 0.0
    boot_ns: list[int] = dataclasses.field(default_factory=list, repr=False)
    latencies_ns: list[int] = dataclasses.field(default_factory=list, repr=False)
    call_errors: int = 0
    timeouts: int = 0
    late_slots: int = 0
    dropped: int = 0
    server_pid: int | None = None
    server_rss_idle_kb: int | None = None
    server_rss_kb: int | None = None
    server_cpu_s: float | None = None
    client_cpu_s: float = 0.0
    client_lag_ms: float = 0.0

    @property
    def messages(self) -> int:
        return len(self.latencies_ns)

    @property
    def messages_per_s(self) -> float:
        return self.messages / self.window_s if self.window_s else 0.0

    @property
    def offered_per_s(self) -> float:
        return self.boot_status.get("Accepted", 0) * self.rate

    def latency_ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies_ns), fraction) / 1e6

    def boot_ms(self, fraction: float) -> float:
        return percentile(sorted(self.boot_ns), fraction) / 1e6

    @property
    def rss_per_1000_mb(self) -> float | None:
        if self.server_rss_kb is None or self.server_rss_idle_kb is None or not self.connected:
            return None
        return (self.server_rss_kb - self.server_rss_idle_kb) / self.connected * 1000 / 1024

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ns)
        return {
            "name": self.name,
            "url": self.url,
            "stations": self.stations,
            "rate": self.rate,
            "window_s": self.window_s,
            "connected": self.connected,
            "failed": self.failed,
            "failures": dict(self.failures),
            "boot_status": dict(self.boot_status),
            "connect_s": round(self.connect_s, 3),
            "boot_p50_ms": self.boot_ms(0.5),
            "boot_p99_ms": self.boot_ms(0.99),
            "messages": self.messages,
            "messages_per_s": round(self.messages_per_s, 1),
            "offered_per_s": round(self.offered_per_s, 1),
            "p50_ms": percentile(ordered, 0.5) / 1e6,
            "p99_ms": percentile(ordered, 0.99) / 1e6,
            "max_ms": (ordered[-1] if ordered else 0) / 1e6,
            "call_errors": self.call_errors,
            "timeouts": self.timeouts,
            "late_slots": self.late_slots,
            "dropped": self.dropped,
            "server_pid": self.server_pid,
            "server_rss_idle_kb": self.server_rss_idle_kb,
            "server_rss_kb": self.server_rss_kb,
            "server_rss_per_1000_mb": self.rss_per_1000_mb,
            "server_cpu_percent": self._percent(self.server_cpu_s),
            "client_cpu_percent": self._percent(self.client_cpu_s),
            "client_lag_max_ms": round(self.client_lag_ms, 2),
        }

    def _percent(self, cpu_s: float | None) -> float | None:
        if cpu_s is None or not self.window_s:
            return None
        return round(100 * cpu_s / self.window_s, 1)


# -- processes ------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> int:
    """Raise the soft open-files limit to the hard limit; fail early if that is not enough."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft < needed:
        raise SystemExit(
            f"fleet_bench: {needed} file descriptors needed, the hard limit is {hard}; "
            "raise it (ulimit -Hn / limits.conf) or use fewer stations"
        )
    return soft


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()  # fields from the 3rd (state) on


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (uvicorn --workers, a shell wrapper's child)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))):
            children.setdefault(int(fields[1]), []).append(int(entry))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, ()))
    return tree


def rss_kb(pid: int) -> int | None:
    """Resident memory of a process and its descendants, in KiB (None if it is gone)."""
    total, seen = 0, False
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    seen = True
        except OSError:
            continue
    return total if seen else None


def cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process and its descendants."""
    ticks, seen = 0, False
    for member in process_tree(pid):
        if fields := _stat_fields(member):
            ticks += int(fields[11]) + int(fields[12])
            seen = True
    return ticks / CLOCK_TICKS if seen else None


def open_files_limit(pid: int) -> int | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return None


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ServerProcess:
    """A server the bench starts: the echo baseline or --target-cmd."""

    def __init__(
        self,
        argv: list[str],
        *,
        name: str,
        ready_line: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in stop())
            prefix="fleet-bench-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE if ready_line else self.log,
            stderr=self.log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def read_port(self, timeout: float) -> int:
        """The port from the echo server's ``LISTENING <port>`` line."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith(READY_LINE):
            raise RuntimeError(f"{self.name} did not start: {line!r} {self.log_tail()}")
        return int(line.split()[1])

    def wait_for_port(self, host: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}: {self.log_tail()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} not listening on {host}:{port} after {timeout} s")

    def log_tail(self, lines: int = 15) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()
        with contextlib.suppress(OSError):
            os.unlink(self.log.name)


def run_loop(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run on uvloop if it is installed, else on asyncio's default loop."""
    try:
        import uvloop  # type: ignore[import-not-found]
    except ImportError:
        factory = None
    else:
        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def loop_name() -> str:
    return "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"


# -- the baseline server --------------------------------------------------------------------


async def _answer_calls(ws: ServerConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for raw in ws:
            try:
                frame = json.loads(raw)
            except ValueError:
                continue
            if isinstance(frame, list) and len(frame) == 4 and frame[0] == 2:
                await ws.send("[3," + json.dumps(frame[1]) + ",{}]")


async def serve_echo(host: str, port: int) -> None:
    """The baseline: a bare websockets server that answers every CALL with an empty result."""
    async with serve(
        _answer_calls,
        host,
        port,
        subprotocols=[SUBPROTOCOL],
        compression=None,
        backlog=4096,
    ) as server:
        bound = next(iter(server.sockets)).getsockname()[1]
        print(READY_LINE, bound, flush=True)
        await asyncio.Future()


def start_echo_server(host: str = "127.0.0.1", timeout: float = 15.0) -> tuple[ServerProcess, str]:
    """Start the baseline server in its own process; (process, base URL)."""
    server = ServerProcess(
        [sys.executable, __file__, "--serve-echo", "--host", host],
        name="baseline echo server",
        ready_line=True,
    )
    try:
        port = server.read_port(timeout)
    except BaseException:
        server.stop()
        raise
    return server, f"ws://{host}:{port}/ocpp"


# -- the fleet ------------------------------------------------------------------------------


def station_url(base: str, station_id: str) -> str:
    if "{station_id}" in base:
        return base.replace("{station_id}", station_id)
    return base.rstrip("/") + "/" + station_id


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidStatus):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionClosed):
        return "closed during boot"
    if isinstance(exc, OSError):
        return os.strerror(exc.errno) if exc.errno else type(exc).__name__
    if isinstance(exc, InvalidHandshake):
        return f"handshake: {exc}"[:60]
    return type(exc).__name__


class Fleet:
    """Stations against one server; run() fills a SideResult."""

    def __init__(
        self,
        result: SideResult,
        *,
        ramp: float,
        password: str | None,
        burst: bool,
        call_timeout: float,
        id_prefix: str,
        seed: int = 1,
    ) -> None:
        self.result = result
        self.ramp = ramp
        self.password = password
        self.burst = burst
        self.call_timeout = call_timeout
        self.id_prefix = id_prefix
        self.random = random.Random(seed)
        self.frames = Frames(datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        self.settled = 0
        self.all_settled = asyncio.Event()
        self.window_start_ns = 1 << 62  # nothing counts until every station has settled
        self.window_end_ns = 1 << 62
        self.stopping = False
        self.in_flight = 0
        self.started = 0.0

    def in_window(self, sent_ns: int) -> bool:
        return self.window_start_ns <= sent_ns < self.window_end_ns

    def settle(self, failure: str | None) -> None:
        if failure is None:
            self.result.connected += 1
        else:
            self.result.failed += 1
            self.result.failures[failure] += 1
        self.settled += 1
        if self.settled == self.result.stations:
            self.result.connect_s = time.perf_counter() - self.started
            self.all_settled.set()

    async def call(self, ws: ClientConnection, action: str) -> tuple[int, int, list[Any] | None]:
        """Send one CALL and wait for its answer: (sent_ns, done_ns, frame or None on timeout)."""
        call_id, frame = self.frames.call(action)
        self.in_flight += 1
        try:
            sent = time.perf_counter_ns()
            await ws.send(frame)
            try:
                async with asyncio.timeout(self.call_timeout):
                    while True:
                        reply = json.loads(await ws.recv())
                        # [3, id, ...] or [4, id, ...]; an echo server's [2, id, ...] counts too.
                        if reply[1] == call_id:
                            return sent, time.perf_counter_ns(), reply
                        if reply[0] == 2:  # the server's own CALL: not something a bench does
                            await ws.send(json.dumps([4, reply[1], "NotImplemented", "", {}]))
            except TimeoutError:
                return sent, time.perf_counter_ns(), None
        finally:
            self.in_flight -= 1

    async def station(self, index: int) -> None:
        await asyncio.sleep(max(0.0, self.started + index / self.ramp - time.perf_counter()))
        station_id = f"{self.id_prefix}{index:05d}"
        headers = {}
        if self.password is not None:
            token = base64.b64encode(f"{station_id}:{self.password}".encode()).decode()
            headers["Authorization"] = "Basic " + token
        ws: ClientConnection | None = None
        booted = False
        try:
            ws = await connect(
                station_url(self.result.url, station_id),
                subprotocols=[SUBPROTOCOL],
                additional_headers=headers,
                compression=None,  # stations (the firmware) do not offer permessage-deflate
                open_timeout=self.call_timeout,
                ping_interval=None,  # OCPP Heartbeat is the station's keep-alive
                close_timeout=2,
                proxy=None,
                user_agent_header=None,
            )
            if ws.subprotocol != SUBPROTOCOL:
                self.settle("no ocpp1.6 subprotocol")
                return
            sent, done, reply = await self.call(ws, "BootNotification")
            if reply is None:
                raise TimeoutError
            status = (
                reply[2].get("status", "?")
                if reply[0] == 3 and isinstance(reply[2], dict)
                else ("Accepted" if reply[0] == 2 else "CALLERROR")
            )
            if reply[0] == 3 and status == "?":
                status = "Accepted"  # the baseline's empty result
            self.result.boot_status[status] += 1
            self.result.boot_ns.append(done - sent)
            booted = True
            self.settle(None)
            if status == "Accepted":
                await self.traffic(ws, index)
            else:
                await asyncio.Future()  # stay connected, silent, until cancelled
        except ConnectionClosed:
            if not booted:
                self.settle("closed during boot")
            elif not self.stopping:
                self.result.dropped += 1
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            if not booted:
                self.settle(failure_reason(exc))
        except Exception as exc:  # a malformed answer: count it, never hang the window
            if not booted:
                self.settle(failure_reason(exc))
            elif not self.stopping:
                self.result.dropped += 1
        finally:
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()

    async def traffic(self, ws: ClientConnection, index: int) -> None:
        interval = 1.0 / self.result.rate
        now = time.perf_counter()
        if self.burst:  # every station on the same grid: the whole fleet sends at once
            slot = self.started + math.ceil((now - self.started) / interval) * interval
        else:
            slot = now + self.random.uniform(0, interval)
        for turn in itertools.count(index):
            delay = slot - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.stopping:
                return
            sent, done, reply = await self.call(ws, ACTIONS[turn % len(ACTIONS)])
            if self.in_window(sent):
                if reply is None:
                    self.result.timeouts += 1
                elif reply[0] == 4:
                    self.result.call_errors += 1
                else:
                    self.result.latencies_ns.append(done - sent)
            slot += interval
            behind = time.perf_counter() - slot
            if behind > 0:  # the answer came after the next slot: skip the slots missed
                missed = math.floor(behind / interval) + 1
                slot += missed * interval
                if self.in_window(sent):
                    self.result.late_slots += missed

    async def run(self, duration: float) -> SideResult:
        result = self.result
        pid = result.server_pid
        if pid is not None:
            result.server_rss_idle_kb = rss_kb(pid)
        self.started = time.perf_counter()
        # The client's own full collections (hundreds of ms with thousands of connections)
        # would show up as server latency: none during the ramp, and the fleet's long-lived
        # objects frozen out of the collector's sight for the window.
        gc.disable()
        tasks = [asyncio.create_task(self.station(i)) for i in range(result.stations)]
        try:
            # Every station has connected (and booted) or failed before the window opens.
            await self.all_settled.wait()
            gc.collect()
            gc.freeze()
            gc.enable()
            if self.burst:  # whole bursts only: open the window halfway between two bursts
                interval = 1.0 / result.rate
                duration = math.ceil(duration / interval - 1e-9) * interval
                elapsed = time.perf_counter() - self.started - interval / 2
                opens = self.started + interval / 2 + math.ceil(elapsed / interval) * interval
                await asyncio.sleep(opens - time.perf_counter())
            server_cpu = cpu_s(pid) if pid is not None else None
            client_cpu = time.process_time()
            lag = asyncio.create_task(self.watch_lag())
            self.window_start_ns = time.perf_counter_ns()
            await asyncio.sleep(duration)
            self.window_end_ns = time.perf_counter_ns()
            lag.cancel()
        finally:
            gc.enable()
        result.client_cpu_s = time.process_time() - client_cpu
        if pid is not None:
            cpu_now = cpu_s(pid)
            if server_cpu is not None and cpu_now is not None:
                result.server_cpu_s = cpu_now - server_cpu
            result.server_rss_kb = rss_kb(pid)
        result.window_s = (self.window_end_ns - self.window_start_ns) / 1e9
        self.stopping = True
        deadline = time.perf_counter() + min(self.call_timeout, 5.0)
        while self.in_flight and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        gc.unfreeze()
        return result

    async def watch_lag(self, tick: float = 0.01) -> None:
        """The client's event-loop lag: how late a 10 ms sleep wakes (its own saturation)."""
        while True:
            before = time.perf_counter()
            await asyncio.sleep(tick)
            lag_ms = (time.perf_counter() - before - tick) * 1000
            self.result.client_lag_ms = max(self.result.client_lag_ms, lag_ms)


def measure(
    name: str,
    url: str,
    *,
    stations: int,
    rate: float,
    duration: float,
    ramp: float,
    password: str | None = None,
    burst: bool = False,
    call_timeout: float = 30.0,
    id_prefix: str = "FLEET",
    server_pid: int | None = None,
) -> SideResult:
    """Run one fleet against one server and return what it measured."""
    result = SideResult(
        name=name,
        url=url,
        stations=stations,
        rate=rate,
        window_s=duration,
        server_pid=server_pid,
    )
    fleet = Fleet(
        result,
        ramp=ramp,
        password=password,
        burst=burst,
        call_timeout=call_timeout,
        id_prefix=id_prefix,
    )
    return run_loop(fleet.run(duration))


# -- the two sides --------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    baseline: SideResult | None = None
    target: SideResult | None = None
    target_pending: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline": self.baseline.to_dict() if self.baseline else None,
            "target": self.target.to_dict() if self.target else None,
            "target_pending": self.target_pending,
        }


# What the default target gets: a scratch database, stations registered on first connection
# (with a password if --password is given), no per-connection INFO logging.
CENTRAL_ENV = {
    "CHARGEKIT_DB_URL": "sqlite:///{tmp}/fleet.db",
    "CHARGEKIT_AUTO_REGISTER": "1",
    "CHARGEKIT_ALLOW_PASSWORDLESS": "1",
    "CHARGEKIT_LOG_LEVEL": "warning",
}


def default_target_cmd() -> list[str] | None:
    """The ChargeKit central (create_app from CHARGEKIT_* settings) on uvicorn, if it exists."""
    try:
        if importlib.util.find_spec("chargekit.central.app") is None:
            return None
    except ImportError:
        return None
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "chargekit.central.app:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def run(args: argparse.Namespace) -> Report:
    """Measure the baseline and the target as the options say."""
    raise_fd_limit(args.stations + SPARE_FDS)
    common = {
        "stations": args.stations,
        "rate": args.rate,
        "duration": args.duration,
        "ramp": args.ramp,
        "password": args.password,
        "burst": args.burst,
        "call_timeout": args.call_timeout,
        "id_prefix": args.id_prefix,
    }
    report = Report()
    if not args.target_only:
        server, url = start_echo_server()
        try:
            report.baseline = measure("baseline", url, server_pid=server.pid, **common)
        finally:
            server.stop()
    if args.baseline_only:
        report.target_pending = "not measured (--baseline-only)"
        return report
    if args.url is not None and args.target_cmd is None:
        report.target = measure("target", args.url, server_pid=args.server_pid, **common)
        return report
    env = None
    command = shlex.split(args.target_cmd) if args.target_cmd else default_target_cmd()
    if command is None:
        report.target_pending = (
            "pending: the ChargeKit central (chargekit.central.app.create_app) does not exist "
            "yet; point the bench at a server with --url or --target-cmd"
        )
        return report
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmpdir:
        if not args.target_cmd:
            env = {**os.environ, **{k: v.replace("{tmp}", tmpdir) for k, v in CENTRAL_ENV.items()}}
        port = free_port("127.0.0.1")
        argv = [part.replace("{port}", str(port)).replace("{tmp}", tmpdir) for part in command]
        target = ServerProcess(argv, name="target " + shlex.join(argv), env=env)
        try:
            target.wait_for_port("127.0.0.1", port, args.startup_timeout)
        except RuntimeError as exc:  # keep the baseline's figures
            target.stop()
            report.target_pending = f"not measured: {exc}"
            return report
        try:
            url = (args.url or "ws://127.0.0.1:{port}/ocpp").replace("{port}", str(port))
            report.target = measure("target", url, server_pid=target.pid, **common)
        finally:
            target.stop()
    return report


# -- output ---------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def _rows(side: SideResult) -> list[tuple[str, str]]:
    d = side.to_dict()
    failures = ", ".join(f"{reason} {count}" for reason, count in side.failures.most_common(3))
    not_accepted = sum(n for status, n in side.boot_status.items() if status != "Accepted")
    rss = "n/a (no --server-pid)"
    if side.server_rss_kb is not None and side.server_rss_idle_kb is not None:
        rss = f"{side.server_rss_idle_kb / 1024:,.1f} -> {side.server_rss_kb / 1024:,.1f} MB"
    per_1000 = side.rss_per_1000_mb
    return [
        ("url", side.url),
        ("connected stations", f"{side.connected:,} / {side.stations:,}"),
        ("failed connections", f"{side.failed:,}" + (f" ({failures})" if failures else "")),
        ("boot not accepted", f"{not_accepted:,}"),
        ("all settled after", f"{side.connect_s:,.1f} s"),
        ("boot p50 / p99", f"{_ms(d['boot_p50_ms'])} / {_ms(d['boot_p99_ms'])} ms"),
        ("messages/s (offered)", f"{side.messages_per_s:,.0f} ({side.offered_per_s:,.0f})"),
        ("round trip p50", f"{_ms(d['p50_ms'])} ms"),
        ("round trip p99", f"{_ms(d['p99_ms'])} ms"),
        ("round trip max", f"{_ms(d['max_ms'])} ms"),
        ("errors / timeouts / late", f"{side.call_errors} / {side.timeouts} / {side.late_slots}"),
        ("dropped connections", f"{side.dropped:,}"),
        ("server RSS idle -> fleet", rss),
        ("server RSS / 1,000 st.", f"{per_1000:,.1f} MB" if per_1000 is not None else "n/a"),
        ("server CPU (1 core=100%)", _percent(d["server_cpu_percent"])),
        ("client CPU (1 core=100%)", _percent(d["client_cpu_percent"])),
        ("client loop lag max", f"{_ms(side.client_lag_ms)} ms"),
    ]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


def print_report(report: Report, args: argparse.Namespace) -> None:
    mode = "burst (all stations at once)" if args.burst else "spread"
    print(
        f"OCPP fleet: {args.stations:,} stations, {args.rate:g} msg/s each ({mode}), "
        f"ramp {args.ramp:g}/s, {args.duration:g} s window; CPython "
        f"{sys.version.split()[0]}, {loop_name()}, {os.cpu_count()} cores"
    )
    sides = [("baseline (websockets)", report.baseline), ("target", report.target)]
    columns = [(title, dict(_rows(side)) if side else None) for title, side in sides]
    columns = [(title, rows) for title, rows in columns if rows is not None]
    if columns:
        labels = [label for label, _ in _rows(next(s for _, s in sides if s))]
        width = max(28, *(len(rows["url"]) + 2 for _, rows in columns))
        print(f"{'':26}" + "".join(f"{title:>{width}}" for title, _ in columns))
        for label in labels:
            print(f"{label:26}" + "".join(f"{rows[label]:>{width}}" for _, rows in columns))
    if report.target is None:
        print(f"target (ChargeKit central): {report.target_pending}")
    for _, side in sides:
        if side and side.client_cpu_s > 0.9 * side.window_s:
            print(
                f"note: the client used a whole core against the {side.name}: figures are a floor"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000, help="number of stations")
    parser.add_argument("--rate", type=float, default=0.1, help="CALLs per second per station")
    parser.add_argument("--duration", type=float, default=30.0, help="measured window (s)")
    parser.add_argument("--ramp", type=float, default=500.0, help="new connections per second")
    parser.add_argument(
        "--burst",
        action="store_true",
        help="all stations send on the same instants (the window is a whole number of bursts)",
    )
    parser.add_argument(
        "--url", help="target base URL (station id appended), e.g. ws://h:9000/ocpp"
    )
    parser.add_argument(
        "--target-cmd",
        help="command that starts the target; {port} is replaced by a free port, {tmp} by a "
        "scratch directory",
    )
    parser.add_argument("--server-pid", type=int, help="pid of a local target given by --url")
    parser.add_argument("--password", help="HTTP Basic password (user = station id)")
    parser.add_argument("--id-prefix", default="FLEET", help="station ids are PREFIX00001...")
    parser.add_argument("--call-timeout", type=float, default=30.0, help="per CALL (s)")
    parser.add_argument("--startup-timeout", type=float, default=30.0, help="target start (s)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--baseline-only", action="store_true")
    only.add_argument("--target-only", action="store_true")
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.stations < 1 or args.rate <= 0 or args.duration <= 0 or args.ramp <= 0:
        parser.error("--stations, --rate, --duration and --ramp must be positive")
    if args.server_pid is not None and args.url is None:
        parser.error("--server-pid goes with --url (a server the bench did not start)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_echo:
        raise_fd_limit(SPARE_FDS)
        with contextlib.suppress(KeyboardInterrupt):
            run_loop(serve_echo(args.host, args.port))
        return 0
    if args.server_pid is not None:
        limit = open_files_limit(args.server_pid)
        if limit is not None and limit < args.stations + 64:
            print(f"warning: the server's open-files limit is {limit}", file=sys.stderr)
    report = run(args)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print_report(report, args)
    if args.target_only and report.target is None:
        print(f"target: {report.target_pending}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the servers the bench started are stopped too.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    sys.exit(main())
