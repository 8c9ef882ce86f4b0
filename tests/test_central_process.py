"""`chargekit central` as a real process: SIGKILL it in mid-charge and restart it on the same
database, the station (the `ocpp` library's ChargePoint) reconnects and replays, and the
transaction completes exactly once; refusals and a clean Ctrl-C; bad arguments.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from ocpp.v16 import ChargePoint, call
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from chargekit.central.domain import hash_password
from chargekit.central.store import MeterSample, open_store
from chargekit.tools import cli

PASSWORD = "0123456789abcdef"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
CLI = [sys.executable, "-m", "chargekit.tools.cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Central:
    """One `chargekit central` process; its stderr goes to a log file."""

    def __init__(self, tmp_path: Path, db_url: str, port: int, *extra: str) -> None:
        self.port = port
        self.log_path = tmp_path / f"central-{uuid.uuid4().hex[:6]}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHARGEKIT_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [*CLI, "central", "--db", db_url, "--port", str(port), *extra],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=tmp_path,
            )

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 20) -> None:
        """Until it logs the OCPP URL (the socket is bound)."""
        wanted = f"OCPP 1.6J: ws://127.0.0.1:{self.port}/ocpp/{{station_id}}"
        deadline = time.monotonic() + timeout
        while wanted not in self.log:
            assert self.proc.poll() is None, f"central exited:\n{self.log}"
            assert time.monotonic() < deadline, f"central not ready:\n{self.log}"
            time.sleep(0.02)

    def url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{station_id}"

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def centrals() -> Iterator[list[Central]]:
    """Every Central a test starts is killed at its end, whatever happens."""
    started: list[Central] = []
    yield started
    for central in started:
        central.kill()


class Station(ChargePoint):
    """The `ocpp` library's charge point, schema validation on, message ids unique."""

    def __init__(self, station_id: str, ws: ClientConnection, prefix: str) -> None:
        super().__init__(station_id, ws, response_timeout=5)
        counter = itertools.count(1)
        self._unique_id_generator = lambda: f"{prefix}{next(counter)}"


@asynccontextmanager
async def station(
    central: Central, station_id: str = "CP-1", password: str = PASSWORD, prefix: str = "a"
) -> AsyncIterator[tuple[Station, ClientConnection]]:
    token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
    async with connect(
        central.url(station_id),
        subprotocols=["ocpp1.6"],
        additional_headers={"Authorization": f"Basic {token}"},
        open_timeout=5,
    ) as ws:
        cp = Station(station_id, ws, prefix)
        task = asyncio.create_task(cp.start())
        try:
            yield cp, ws
        finally:
            task.cancel()


async def prepare(db_url: str) -> None:
    """A registered station with a password and a token, before the central runs."""
    async with await open_store(db_url) as store:
        await store.stations.create("CP-1", password_hash=hash_password(PASSWORD))
        await store.tokens.create("TAG1")


def _meter(at: str, wh: int) -> list[dict[str, Any]]:
    return [{"timestamp": at, "sampledValue": [{"value": str(wh), "unit": "Wh"}]}]


START = {
    "connector_id": 1,
    "id_tag": "TAG1",
    "meter_start": 1000,
    "timestamp": "2026-11-23T10:00:00Z",
}


async def charge_through_a_sigkill(tmp_path: Path, db_url: str, centrals: list[Central]) -> None:
    await prepare(db_url)
    port = free_port()
    first = Central(tmp_path, db_url, port)
    centrals.append(first)
    await asyncio.to_thread(first.wait_ready)

    async with station(first, prefix="a") as (cp, ws):
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert boot.status == "Accepted"
        await cp.call(
            call.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        started = await cp.call(call.StartTransaction(**START))
        tx_id = started.transaction_id
        assert started.id_tag_info["status"] == "Accepted"
        await cp.call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx_id,
                meter_value=_meter("2026-11-23T10:05:00Z", 1500),
            )
        )
        # one more MeterValues on the wire, unanswered for all the station knows: SIGKILL now
        in_flight = [
            2,
            "inflight",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": tx_id,
                "meterValue": [
                    {"timestamp": "2026-11-23T10:10:00Z", "sampledValue": [{"value": "2000"}]}
                ],
            },
        ]
        await ws.send(json.dumps(in_flight))
        first.kill()
    assert first.proc.returncode == -signal.SIGKILL

    second = Central(tmp_path, db_url, port)
    centrals.append(second)
    await asyncio.to_thread(second.wait_ready)
    async with station(second, prefix="b") as (cp, ws):
        await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        # the station's journal: StartTransaction again (its answer may have been lost) ...
        replayed = await cp.call(call.StartTransaction(**START))
        assert replayed.transaction_id == tx_id
        # ... the unanswered MeterValues, the ones queued while offline, and the stop
        await ws.send(json.dumps(in_flight))
        for at, wh in (("2026-11-23T10:15:00Z", 2300), ("2026-11-23T10:15:00Z", 2300)):
            await cp.call(
                call.MeterValues(connector_id=1, transaction_id=tx_id, meter_value=_meter(at, wh))
            )
        stop = call.StopTransaction(
            meter_stop=2500,
            timestamp="2026-11-23T10:20:00Z",
            transaction_id=tx_id,
            reason="EVDisconnected",
            transaction_data=_meter("2026-11-23T10:19:00Z", 2450),
        )
        await cp.call(stop)
        await cp.call(stop)  # replayed once more: its answer got lost too
    second.kill()

    async with await open_store(db_url) as store:
        _, total = await store.transactions.list(station_id="CP-1")
        assert total == 1
        tx = await store.transactions.get(tx_id)
        assert (tx.id_tag, tx.meter_start, tx.meter_stop, tx.stop_reason, tx.energy_wh) == (
            "TAG1",
            1000,
            2500,
            "EVDisconnected",
            1500,
        )
        assert tx.stopped_at == datetime(2026, 11, 23, 10, 20, tzinfo=UTC)
        assert tx.samples == tuple(
            MeterSample(datetime(2026, 11, 23, 10, minute, tzinfo=UTC), float(wh))
            for minute, wh in ((5, 1500), (10, 2000), (15, 2300), (19, 2450))
        )
        assert (await store.connectors.get("CP-1", 1)).status == "Charging"


async def test_sigkill_in_mid_charge_then_restart_completes_the_transaction_once(
    tmp_path: Path, centrals: list[Central]
):
    await charge_through_a_sigkill(tmp_path, f"sqlite:///{tmp_path / 'c.db'}", centrals)


async def test_sigkill_in_mid_charge_on_postgresql(tmp_path: Path, centrals: list[Central]):
    import asyncpg
    from services import require_service

    require_service("postgres")
    name = f"chargekit_process_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            await charge_through_a_sigkill(tmp_path, f"{PG_SERVER}/{name}", centrals)
        finally:
            for central in centrals:
                central.kill()
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_the_process_refuses_unknown_stations_and_stops_cleanly_on_ctrl_c(
    tmp_path: Path, centrals: list[Central]
):
    db_url = f"sqlite:///{tmp_path / 'c.db'}"
    await prepare(db_url)
    central = Central(tmp_path, db_url, free_port())
    centrals.append(central)
    await asyncio.to_thread(central.wait_ready)
    for station_id, password in (("CP-UNKNOWN", PASSWORD), ("CP-1", "wrong-password-123")):
        with pytest.raises(InvalidStatus) as refused:
            async with station(central, station_id, password):
                pass
        assert refused.value.response.status_code == 401
        assert b"unknown station or wrong password" in refused.value.response.body
    async with station(central) as (cp, _):  # the registered station gets in
        assert (await cp.call(call.Heartbeat())).current_time
    central.proc.send_signal(signal.SIGINT)
    assert await asyncio.to_thread(central.proc.wait, 10) == 0
    log = central.log
    assert "CP-UNKNOWN: refused: unknown" in log
    assert "Traceback" not in log and "without completing handshake" not in log
    async with await open_store(db_url) as store:
        assert (await store.stations.get("CP-1")).last_seen is not None
        with pytest.raises(Exception, match="does not exist"):
            await store.stations.get("CP-UNKNOWN")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "nine"], "argument --port: invalid int value: 'nine'"),
        (["--port", "70000"], "port: 70000 is not a TCP port (0-65535)"),
        (["--db", "mysql://x"], "db_url: 'mysql://x' must start with one of"),
        (["--db", "sqlite://host/c.db"], "write sqlite:///relative/path.db"),
        (["--config", "/no/such.toml"], "/no/such.toml: cannot read"),
        (["--auto-register=yes"], "ignored explicit argument 'yes'"),
        (["--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_arguments_give_a_clear_error_and_exit_code_2(args, message, capsys, monkeypatch):
    for key in [k for k in os.environ if k.startswith("CHARGEKIT_")]:
        monkeypatch.delenv(key)
    try:
        status = cli.main(["central", *args])
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") <= 3, err
