"""End to end through `chargekit station`: plug, tap, charge, stop — the energy the firmware
reports for the session equals what the meter simulator counted.

The firmware has no OCPP client yet (issue 5): cards are authorized by the station's local
setting (authorize=all) and the session is reported through the sim board's report line.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from chargekit.simulators.station import Station, stage_image

pytestmark = pytest.mark.micropython

CENTRAL = "ws://127.0.0.1:9/ocpp"  # nobody listens there: no OCPP client before issue 5
# A meter that has counted before: a register far from zero, as in the field.
INITIAL_WH = 1_234_567.0


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return stage_image(tmp_path_factory.mktemp("e2e-image"))


def _ended(state: dict) -> bool:
    session = state["last_session"] or {}
    return session.get("event") == "stopped"


async def _session(station: Station, *, uid: str, phases: int, stop: str) -> dict:
    station.meter.energy_wh = INITIAL_WH
    await station.wait_for(lambda s: s["connector_status"] == "Available", timeout=10)
    station.plug()
    station.tap(uid)
    station.charge(max_amps=16, phases=phases)
    await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)
    station.remove_card()
    # 16 A at time scale 60: about 3.7 Wh per real second per phase, a few hundred Wh in all.
    await station.wait_for(lambda s: s["energy_wh"] > INITIAL_WH + 150, timeout=20)
    if stop == "unplug":
        station.unplug()
    else:  # the same card again
        await asyncio.sleep(2)  # past the reader's hold-off: the card counts again
        station.tap(uid)
    state = await station.wait_for(_ended, timeout=10)
    await asyncio.sleep(0.3)  # nothing may flow after the stop
    counted = station.meter.energy_wh
    assert station.state()["drawn_a"] == 0
    return {"state": state, "session": state["last_session"], "counted": counted}


@pytest.mark.parametrize(
    ("meter", "reader", "phases", "stop", "resolution_wh"),
    [
        ("sdm630", "pn532", 3, "unplug", 1),
        ("sdm120", "rdm6300", 1, "tap", 1),
        # The ABB B23 counts in 0.01 kWh: its register cannot be closer than 10 Wh.
        ("abb_b23", "pn532", 3, "tap", 10),
    ],
)
async def test_session_energy_equals_the_meter_simulators_count(
    image, tmp_path, meter, reader, phases, stop, resolution_wh
):
    station = Station(
        "CP-E2E",
        CENTRAL,
        image=image,
        meter=meter,
        reader=reader,
        data_dir=tmp_path / "flash",
        time_scale=60,
        settings={"authorize": "all"},
    )
    uid = "04A1B2C3D4E5F6" if reader == "pn532" else "0A1B2C3D4E"
    async with station:
        try:
            outcome = await _session(station, uid=uid, phases=phases, stop=stop)
        except TimeoutError:
            raise AssertionError(
                f"{station.state()}\n" + "\n".join(list(station.output)[-30:])
            ) from None
    session = outcome["session"]
    counted = outcome["counted"] - INITIAL_WH
    assert session["id_tag"] == uid
    assert session["reason"] == ("EVDisconnected" if stop == "unplug" else "Local")
    assert abs(session["meter_start_wh"] - INITIAL_WH) <= resolution_wh
    assert abs(session["meter_stop_wh"] - outcome["counted"]) <= resolution_wh
    assert abs(session["energy_wh"] - counted) <= resolution_wh, (session, counted)
    assert counted > 150


async def test_welded_contactor_faults_the_connector_through_the_harness(image, tmp_path):
    async with Station(
        "CP-WELD",
        CENTRAL,
        image=image,
        data_dir=tmp_path / "flash",
        time_scale=60,
        settings={"authorize": "all"},
    ) as station:
        await station.wait_for(lambda s: s["connector_status"] == "Available", timeout=10)
        station.plug()
        station.tap("04A1B2C3")
        station.charge(max_amps=16, phases=3)
        await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)
        station.fault("welded", True)  # nothing shows while the coil holds the contacts
        station.remove_card()
        await asyncio.sleep(2)
        assert station.state()["connector_status"] == "Charging"
        station.tap("04A1B2C3")  # the driver ends the session: the coil drops, contacts do not
        state = await station.wait_for(
            lambda s: s["connector_status"] == "Faulted" and _ended(s), timeout=10
        )
        assert state["error_code"] == "PowerSwitchFailure"
        assert state["last_session"]["reason"] == "Local"
        assert state["contactor"] == {"commanded": False, "closed": True}
        assert state["pwm_permille"] == 0  # state F: nothing may start here
        station.clear_faults()  # still welded: the reset is refused
        state = await station.wait_for(lambda s: s["last_command"] is not None)
        assert state["last_command"]["faults"] == ["welded"]
        assert state["connector_status"] == "Faulted"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_chargekit_station_command(tmp_path):
    port = _free_port()
    command = [
        str(Path(sys.executable).with_name("chargekit")),
        "station",
        "--board", "sim",
        "--id", "CP-CLI",
        "--central", CENTRAL,
        "--control-port", str(port),
        "--meter", "sdm630",
        "--reader", "pn532",
        "--data-dir", str(tmp_path / "flash"),
        "--time-scale", "60",
        "--set", "authorize=all",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            state = None
            for _ in range(200):
                try:
                    state = (await client.get("/state")).json()["data"]
                    if state["connector_status"] == "Available":
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            assert state is not None and state["connector_status"] == "Available", state
            for path, body in (
                ("/ev/plug", None),
                ("/rfid/tap", {"uid": "04A1B2C3"}),
                ("/ev/charge", {"max_amps": 10, "phases": 1}),
            ):
                assert (await client.post(path, json=body)).json()["success"] is True
            for _ in range(100):
                state = (await client.get("/state")).json()["data"]
                if state["connector_status"] == "Charging" and state["power_w"]:
                    break
                await asyncio.sleep(0.1)
            assert state["connector_status"] == "Charging"
            assert state["drawn_a"] == 10 and 2000 < state["power_w"] < 2400
    finally:
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=20)
    assert process.returncode == 0, output[-3000:]
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout == "", "firmware process left running"
