"""The firmware's OCPP 1.6J client end to end: the real firmware under `micropython` on the sim
board (simulators.station.Station, time scale 60) against a CSMS built from the `ocpp`
library (schema validation on) over a real WebSocket, through the harness's network proxy.

Assertions are on the frames that crossed the wire, as the CSMS received them.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from chargekit.simulators.station import Station, stage_image

pytestmark = pytest.mark.micropython

PASSWORD = "0123456789abcdef"
UID = "04A1B2C3D4E5F6"
INITIAL_WH = 1_234_567.0  # a meter that has counted before
HEARTBEAT_S = 120  # 2 s real at time scale 60


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Csms(ChargePoint):
    """The central's view of one station: answers the station's CALLs, Accepted throughout."""

    def __init__(self, station_id: str, connection: Any, central: Central) -> None:
        super().__init__(station_id, connection, response_timeout=10)
        self.central = central

    @on("BootNotification")
    async def on_boot(self, **_: Any) -> Any:
        return call_result.BootNotification(
            current_time=_now(), interval=HEARTBEAT_S, status="Accepted"
        )

    @on("Heartbeat")
    async def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=_now())

    @on("StatusNotification")
    async def on_status(self, **_: Any) -> Any:
        return call_result.StatusNotification()

    @on("Authorize")
    async def on_authorize(self, id_tag: str) -> Any:
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    async def on_start(self, **_: Any) -> Any:
        tx_id = next(self.central.tx_ids)
        self.central.tx_given.append(tx_id)
        return call_result.StartTransaction(
            transaction_id=tx_id, id_tag_info={"status": "Accepted"}
        )

    @on("StopTransaction")
    async def on_stop(self, **_: Any) -> Any:
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on("MeterValues")
    async def on_meter_values(self, **_: Any) -> Any:
        return call_result.MeterValues()


class Recorder:
    """The CSMS's connection, keeping every frame as JSON."""

    def __init__(self, ws: Any, central: Central) -> None:
        self.ws = ws
        self.central = central

    async def recv(self) -> str:
        text = await self.ws.recv()
        self.central.received.append(json.loads(text))
        self.central.changed.set()
        return text

    async def send(self, text: str) -> None:
        self.central.sent.append(json.loads(text))
        await self.ws.send(text)


class Central:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ocpp"
        self.received: list[Any] = []  # frames from the station
        self.sent: list[Any] = []  # frames to the station
        self.paths: list[str] = []
        self.refused = 0  # handshakes without the right Basic credentials
        self.tx_ids = itertools.count(100)
        self.tx_given: list[int] = []  # transactionIds handed out, in order
        self.cp: Csms | None = None
        self.changed = asyncio.Event()

    def calls(self, action: str | None = None) -> list[dict]:
        """Payloads of the station's CALLs (of one action), in arrival order."""
        return [f[3] for f in self.received if f[0] == 2 and (action is None or f[2] == action)]

    def actions(self) -> list[str]:
        return [f[2] for f in self.received if f[0] == 2]

    async def until(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        async with asyncio.timeout(timeout):
            while not (result := predicate()):
                self.changed.clear()
                with suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await self.changed.wait()
            return result


@asynccontextmanager
async def running_central() -> AsyncIterator[Central]:
    central: Central

    def check_auth(connection: Any, request: Any) -> Any:
        station_id = request.path.rsplit("/", 1)[-1]
        token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {token}":
            central.refused += 1
            return connection.respond(HTTPStatus.UNAUTHORIZED, "bad credentials\n")
        return None

    async def handler(ws: Any) -> None:
        central.paths.append(ws.request.path)
        cp = Csms(ws.request.path.rsplit("/", 1)[-1], Recorder(ws, central), central)
        central.cp = cp
        with suppress(ConnectionClosed):
            await cp.start()

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=["ocpp1.6"],
        process_request=check_auth,
        compression=None,
        ping_interval=None,
    ) as server:
        central = Central(server.sockets[0].getsockname()[1])
        yield central


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return stage_image(tmp_path_factory.mktemp("ocpp-image"))


@asynccontextmanager
async def station_and_central(image: Path, tmp_path: Path) -> AsyncIterator[tuple]:
    async with running_central() as central:
        station = Station(
            "CP-OCPP",
            central.url,
            image=image,
            data_dir=tmp_path / "flash",
            time_scale=60,
            settings={"password": PASSWORD, "id_tags": [UID]},
        )
        async with station:
            station.meter.energy_wh = INITIAL_WH
            try:
                await central.until(lambda: central.calls("StatusNotification"))
                yield station, central
            except Exception:
                print("frames:", *central.received, sep="\n  ")
                print("firmware:", *list(station.output)[-40:], sep="\n  ")
                print("log:", *station.firmware_log, sep="\n  ")
                raise


def _energy(meter_values: dict) -> float:
    for value in meter_values["meterValue"][0]["sampledValue"]:
        if value["measurand"] == "Energy.Active.Import.Register":
            return float(value["value"])
    raise AssertionError(meter_values)


async def _charge(station: Station, central: Central) -> dict:
    """Plug, tap, charge until the central has a StartTransaction answered and a MeterValues
    of that transaction (so the answer is on the station's flash)."""
    starts = len(central.calls("StartTransaction"))
    station.plug()
    station.tap(UID)
    station.charge(max_amps=16, phases=3)
    await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)
    station.remove_card()
    start = (await central.until(lambda: central.calls("StartTransaction")[starts:]))[0]
    await central.until(lambda: [m for m in central.calls("MeterValues") if "transactionId" in m])
    return start


async def test_boot_session_remote_start_stop_and_configuration(image, tmp_path):
    async with station_and_central(image, tmp_path) as (station, central):
        assert central.paths == ["/ocpp/CP-OCPP"] and central.refused == 0
        boot = central.calls("BootNotification")[0]
        assert boot["chargePointVendor"] == "ChargeKit" and boot["firmwareVersion"]
        assert central.actions()[0] == "BootNotification"
        await central.until(lambda: len(central.calls("StatusNotification")) >= 2)
        statuses = {s["connectorId"]: s["status"] for s in central.calls("StatusNotification")}
        assert statuses == {0: "Available", 1: "Available"}

        # A local session: Authorize, StartTransaction, MeterValues, StopTransaction.
        start = await _charge(station, central)
        assert central.calls("Authorize") == [{"idTag": UID}]
        assert start["connectorId"] == 1 and start["idTag"] == UID
        assert start["meterStart"] == int(INITIAL_WH)
        await station.wait_for(lambda s: s["energy_wh"] > INITIAL_WH + 100, timeout=20)
        station.unplug()
        stop = (await central.until(lambda: central.calls("StopTransaction")))[0]
        counted = station.meter.energy_wh - INITIAL_WH
        tx_id = central.tx_given[0]
        assert stop["transactionId"] == tx_id and stop["reason"] == "EVDisconnected"
        assert stop["idTag"] == UID
        assert abs(stop["meterStop"] - start["meterStart"] - counted) <= 1, (stop, counted)
        assert counted > 100
        samples = [m for m in central.calls("MeterValues") if m.get("transactionId") == tx_id]
        assert samples, central.actions()
        for m in samples:
            contexts = {v["context"] for v in m["meterValue"][0]["sampledValue"]}
            assert contexts == {"Sample.Periodic"}
            assert start["meterStart"] <= _energy(m) <= stop["meterStop"]
        await station.wait_for(lambda s: s["connector_status"] == "Available", timeout=10)

        # Remote start and stop.
        cp = central.cp
        answer = await cp.call(call.RemoteStartTransaction(id_tag="REMOTE1", connector_id=1))
        assert answer.status == "Accepted"
        station.plug()
        station.charge(max_amps=16, phases=3)
        await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)
        start2 = (await central.until(lambda: central.calls("StartTransaction")[1:]))[0]
        assert start2["idTag"] == "REMOTE1"
        tx2 = central.tx_given[1]
        assert (await cp.call(call.RemoteStopTransaction(transaction_id=tx2 + 1))).status == (
            "Rejected"
        )
        assert (await cp.call(call.RemoteStopTransaction(transaction_id=tx2))).status == (
            "Accepted"
        )
        stop2 = (await central.until(lambda: central.calls("StopTransaction")[1:]))[0]
        assert stop2["transactionId"] == tx2 and stop2["reason"] == "Remote"

        # Configuration, trigger, unlock, an action the station does not implement.
        conf = await cp.call(call.GetConfiguration(key=["HeartbeatInterval", "Nope"]))
        assert conf.configuration_key == [
            {"key": "HeartbeatInterval", "readonly": False, "value": str(HEARTBEAT_S)}
        ]
        assert conf.unknown_key == ["Nope"]
        change = call.ChangeConfiguration(key="MeterValueSampleInterval", value="30")
        assert (await cp.call(change)).status == "Accepted"
        bad = call.ChangeConfiguration(key="MeterValueSampleInterval", value="soon")
        assert (await cp.call(bad)).status == "Rejected"
        other = call.ChangeConfiguration(key="LightIntensity", value="5")
        assert (await cp.call(other)).status == "NotSupported"
        conf = await cp.call(call.GetConfiguration(key=["MeterValueSampleInterval"]))
        assert conf.configuration_key[0]["value"] == "30"
        assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "NotSupported"
        heartbeats = len(central.calls("Heartbeat"))
        trigger = call.TriggerMessage(requested_message="Heartbeat")
        assert (await cp.call(trigger)).status == "Accepted"
        await central.until(lambda: len(central.calls("Heartbeat")) > heartbeats)
        with pytest.raises(Exception) as refused:
            await cp.call(call.ClearCache(), suppress=False)
        assert "NotSupported" in repr(refused.value) or "NotImplemented" in repr(refused.value)
        # Every answer the CSMS gave was a CALLRESULT: all the station's frames passed its
        # schema validation.
        assert [f for f in central.sent if f[0] == 4] == []


async def test_power_cut_mid_charge_ends_the_transaction_with_power_loss(image, tmp_path):
    async with station_and_central(image, tmp_path) as (station, central):
        start = await _charge(station, central)
        await station.wait_for(lambda s: s["energy_wh"] > INITIAL_WH + 30, timeout=20)
        await station.power_cut()
        counted = station.meter.energy_wh
        await station.power_restore()
        stop = (await central.until(lambda: central.calls("StopTransaction"), timeout=15))[0]
        assert central.calls("StartTransaction") == [start]
        assert stop["reason"] == "PowerLoss" and stop["idTag"] == UID
        assert abs(stop["meterStop"] - counted) <= 1, (stop, counted)
        assert len(central.calls("BootNotification")) == 2
        assert [f for f in central.sent if f[0] == 4] == []


async def test_network_cut_mid_charge_replays_the_queue_in_order(image, tmp_path):
    async with station_and_central(image, tmp_path) as (station, central):
        await _charge(station, central)
        before = len(central.calls())
        station.net_cut()
        in_flight = central.calls()[-1]  # its answer may not have made it: sent again
        await asyncio.sleep(2.5)  # about 2 samples (MeterValueSampleInterval 60 s)
        station.unplug()  # the StopTransaction is queued behind them
        await station.wait_for(lambda s: (s["last_session"] or {}).get("event") == "stopped")
        await asyncio.sleep(0.5)
        assert len(central.calls()) == before, "nothing crosses a cut network"
        station.net_restore()
        await central.until(lambda: central.calls("StopTransaction"), timeout=15)
        assert len(central.calls("BootNotification")) == 1, "a reconnect is no reboot"
        assert len(central.calls("StartTransaction")) == 1
        tx = [m for m in central.calls() if "transactionId" in m]
        tx_id = tx[0]["transactionId"]
        assert {m["transactionId"] for m in tx} == {tx_id}
        calls = [f for f in central.received if f[0] == 2]
        after = [(f[2], f[3]) for f in calls[before:] if f[2] in ("MeterValues", "StopTransaction")]
        assert [a for a, _ in after][-1] == "StopTransaction"
        replayed = [_energy(p) for a, p in after if a == "MeterValues"]
        assert len(replayed) >= 2, after
        assert replayed == sorted(replayed)
        samples = [json.dumps(m) for m in central.calls("MeterValues") if m != in_flight]
        assert len(samples) == len(set(samples)), "a MeterValues arrived twice"
        stop = central.calls("StopTransaction")[0]
        assert stop["reason"] == "EVDisconnected" and stop["meterStop"] >= replayed[-1]
        assert [f for f in central.sent if f[0] == 4] == []


async def test_change_availability_and_soft_reset_mid_charge(image, tmp_path):
    async with station_and_central(image, tmp_path) as (station, central):
        cp = central.cp
        inoperative = call.ChangeAvailability(connector_id=1, type="Inoperative")
        assert (await cp.call(inoperative)).status == "Accepted"
        await central.until(
            lambda: [s for s in central.calls("StatusNotification") if s["status"] == "Unavailable"]
        )
        operative = call.ChangeAvailability(connector_id=1, type="Operative")
        assert (await cp.call(operative)).status == "Accepted"
        await station.wait_for(lambda s: s["connector_status"] == "Available", timeout=10)

        await _charge(station, central)
        assert (await cp.call(call.Reset(type="Soft"))).status == "Accepted"
        stop = (await central.until(lambda: central.calls("StopTransaction")))[0]
        assert stop["reason"] == "SoftReset"
        await central.until(lambda: len(central.calls("BootNotification")) == 2, timeout=15)
        assert station.boots == 2 and len(central.calls("StopTransaction")) == 1
        assert len(central.calls("StartTransaction")) == 1
        assert [f for f in central.sent if f[0] == 4] == []
