"""`chargekit demo`: the central on SQLite, two simulated stations running the real firmware,
a driver's card, a charge at accelerated time, and the transaction read back from the REST API.

    chargekit demo            # runs the scenario, then keeps everything up until Ctrl-C
    chargekit demo --once     # runs it and exits: 0 when the API's energy equals the meter's

Everything the demo starts is real: uvicorn serves the central (`create_app`), the stations
are `micropython` processes on the sim board (`chargekit station`'s harness), the stations
authenticate with HTTP Basic passwords registered through the REST API.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

TOKEN = "04A1B2C3D4E5F6"  # the driver's card (a 7-byte ISO 14443 UID)
STATIONS = ("CK-DEMO-1", "CK-DEMO-2")
CHARGE_SECONDS = 8.0  # real seconds of charging; at time scale 60 that is 8 minutes


class DemoError(RuntimeError):
    pass


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="central + two simulated stations: tap, charge, stop, read the transaction",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--once", action="store_true", help="run the scenario once and exit")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000, help="central port (0: any free)")
    parser.add_argument(
        "--control-port", type=int, default=8701, help="first station's control port (0: any)"
    )
    parser.add_argument("--dir", type=Path, help="folder for the database (default: temporary)")
    parser.add_argument("--time-scale", type=float, default=60.0)
    parser.add_argument("--charge-seconds", type=float, default=CHARGE_SECONDS)
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 0
    except DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _say(text: str) -> None:
    print(text, flush=True)


async def run(args: argparse.Namespace) -> int:
    from chargekit.central.app import create_app
    from chargekit.central.settings import Settings
    from chargekit.simulators.station import Station, stage_image

    host = args.host
    port = args.port or _free_port(host)
    with contextlib.ExitStack() as cleanup:
        folder = args.dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        admin_key = "ck_demo_" + secrets.token_urlsafe(24)
        settings = Settings.load(
            db_url=f"sqlite:///{folder / 'demo.db'}", host=host, port=port, admin_key=admin_key
        )
        server = _Server(
            uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        stations: list[Station] = []
        try:
            await _until(lambda: server.started or serving.done(), 15, "the central to start")
            if serving.done():
                serving.result()
                raise DemoError(f"the central did not start on {host}:{port}")
            base = f"http://{host}:{port}"
            _say(f"central   {base}  (OCPP ws://{host}:{port}/ocpp/{{id}}, API docs {base}/docs)")
            _say(f"          admin API key for this demo: {admin_key}")
            _say(
                f'          curl -H "Authorization: Bearer {admin_key}" {base}/api/v1/transactions'
            )
            headers = {"Authorization": f"Bearer {admin_key}"}
            async with httpx.AsyncClient(
                base_url=base + "/api/v1", headers=headers, timeout=10
            ) as api:
                passwords = {sid: secrets.token_urlsafe(18)[:24] for sid in STATIONS}
                for sid, password in passwords.items():
                    await _api(api, "POST", "/stations", {"id": sid, "password": password})
                await _api(api, "POST", "/tokens", {"idTag": TOKEN, "status": "Accepted"})
                _say(f"registered stations {', '.join(STATIONS)} and card {TOKEN}")

                image = await asyncio.to_thread(stage_image, folder / "image")
                for n, sid in enumerate(STATIONS):
                    control = args.control_port + n if args.control_port else 0
                    station = Station(
                        sid,
                        f"ws://{host}:{port}/ocpp",
                        image=image,
                        data_dir=folder / f"flash-{sid}",
                        time_scale=args.time_scale,
                        control_port=control,
                        settings={"password": passwords[sid]},
                    )
                    stations.append(station)
                    await station.start()
                    _say(f"station   {sid} running the firmware; control API {station.control_url}")
                outcome = await _scenario(api, stations[0], args.charge_seconds)
            _print(outcome)
            ok = outcome["difference_wh"] is not None and abs(outcome["difference_wh"]) <= 1
            if args.once:
                return 0 if ok else 1
            _say("\nEverything keeps running: try the URLs above. Ctrl-C stops the demo.")
            await _wait_for_interrupt()
            return 0
        finally:
            for station in stations:
                with contextlib.suppress(Exception):
                    await station.stop()
            server.should_exit = True
            with contextlib.suppress(Exception):
                await serving


async def _scenario(api: httpx.AsyncClient, station: Any, charge_seconds: float) -> dict:
    sid = station.station_id
    await _until_async(lambda: _connected(api, sid), 30, f"{sid} to connect and report Available")
    meter_before = station.meter.energy_wh
    _say(f"\n{sid}: the driver plugs in and taps card {TOKEN}")
    station.plug()
    station.tap(TOKEN)
    station.charge(max_amps=16, phases=3)
    await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=30)
    station.remove_card()
    _say(f"{sid}: charging at 16 A on 3 phases ({station.time_scale:g}x time)")
    await asyncio.sleep(charge_seconds)
    station.unplug()
    _say(f"{sid}: the driver unplugs")
    transaction = await _until_async(
        lambda: _closed_transaction(api, sid), 30, "the transaction to reach the central"
    )
    detail = await _api(api, "GET", f"/transactions/{transaction['id']}")
    counted = station.meter.energy_wh - meter_before
    energy = detail.get("energyWh")
    return {
        "transaction": detail,
        "meter_counted_wh": counted,
        "difference_wh": None if energy is None else energy - counted,
    }


async def _connected(api: httpx.AsyncClient, sid: str) -> bool:
    station = await _api(api, "GET", f"/stations/{sid}")
    connectors = {c["connectorId"]: c["status"] for c in station.get("connectors", [])}
    return station.get("connection") is not None and connectors.get(1) == "Available"


async def _closed_transaction(api: httpx.AsyncClient, sid: str) -> dict | None:
    page = await _api(api, "GET", f"/transactions?stationId={sid}&status=closed")
    items = page.get("items", [])
    return items[0] if items else None


def _print(outcome: dict) -> None:
    tx = outcome["transaction"]
    _say(f"\nThe transaction, from GET /api/v1/transactions/{tx['id']}:")
    for key in ("id", "stationId", "connectorId", "idTag", "startedAt", "stoppedAt"):
        _say(f"  {key:<12} {tx.get(key)}")
    _say(f"  {'meterStart':<12} {tx.get('meterStart')} Wh")
    _say(f"  {'meterStop':<12} {tx.get('meterStop')} Wh")
    _say(
        f"  {'energyWh':<12} {tx.get('energyWh')} Wh   (meter simulator counted "
        f"{outcome['meter_counted_wh']:.1f} Wh)"
    )
    _say(f"  {'stopReason':<12} {tx.get('stopReason')}")
    _say(f"  {'samples':<12} {len(tx.get('samples', []))} meter values")


async def _api(api: httpx.AsyncClient, method: str, path: str, body: dict | None = None) -> Any:
    response = await api.request(method, path, json=body)
    answer = response.json()
    if not answer.get("success"):
        raise DemoError(f"{method} {path}: {response.status_code} {answer.get('error')}")
    return answer["data"]


async def _until(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def _until_async(probe, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise DemoError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _wait_for_interrupt() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


class _Server(uvicorn.Server):
    """uvicorn in the demo's own loop; the demo handles the signals."""

    @contextlib.contextmanager
    def capture_signals(self):
        yield
