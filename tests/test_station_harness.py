"""The station harness end to end: the real firmware under micropython on the sim board, the
RFID, meter and EV simulators, driven through the control API over HTTP (httpx)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import httpx
import pytest

from chargekit.simulators.station import RESET_STATUS, Station, stage_image

pytestmark = pytest.mark.micropython

CENTRAL = "ws://127.0.0.1:9/ocpp"  # nobody listens: the firmware runs without a central
UID = "04A1B2C3D4E5F6"


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return stage_image(tmp_path_factory.mktemp("station-image"))


@pytest.fixture
async def station(image, tmp_path):
    st = Station(
        "CP001",
        CENTRAL,
        image=image,
        data_dir=tmp_path / "flash",
        time_scale=60,
        control_port=0,
        settings={"authorize": "all"},
    )
    await st.start()
    try:
        yield st
    finally:
        await st.stop()


async def post(client: httpx.AsyncClient, path: str, body: dict | None = None) -> dict:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True
    return answer["data"]


async def test_a_charging_session_driven_through_the_control_api(station):
    async with httpx.AsyncClient(base_url=station.control_url, timeout=5) as client:
        state = (await client.get("/state")).json()
        assert state["success"] is True
        assert state["data"]["firmware_alive"] is True and state["data"]["pilot"] == "A"
        await station.wait_for(lambda s: s["connector_status"] == "Available")

        assert (await post(client, "/ev/plug"))["pilot"] == "B"
        await station.wait_for(lambda s: s["connector_status"] == "Preparing")

        await post(client, "/rfid/tap", {"uid": UID})
        await post(client, "/ev/charge", {"max_amps": 16, "phases": 3})
        state = await station.wait_for(
            lambda s: s["connector_status"] == "Charging" and s["drawn_a"] > 0, timeout=10
        )
        assert state["pilot"] == "C" and state["pilot_mv"] == [6000, -12000]
        assert state["contactor"] == {"commanded": True, "closed": True}
        assert state["offered_a"] >= 16 and state["drawn_a"] == 16
        assert state["last_session"]["event"] == "started"
        assert state["last_session"]["id_tag"] == UID
        await post(client, "/rfid/remove")
        await station.wait_for(lambda s: s["energy_wh"] > 0 and s["power_w"] > 10000)

        await post(client, "/ev/unplug")
        state = await station.wait_for(
            lambda s: (
                s["connector_status"] == "Available"
                and (s["last_session"] or {}).get("event") == "stopped"
            ),
            timeout=10,
        )
        assert state["pilot"] == "A" and state["contactor"]["closed"] is False
        assert state["drawn_a"] == 0 and state["last_session"]["energy_wh"] > 0
        assert state["reports"] >= 5


async def test_power_cut_net_cut_and_bad_bodies(station):
    async with httpx.AsyncClient(base_url=station.control_url, timeout=5) as client:
        await station.wait_for(lambda s: s["connector_status"] == "Available")
        data_dir = station.state()["data_dir"]

        state = await post(client, "/power/cut")
        assert state["firmware_alive"] is False and state["exit_code"] == -9
        state = await station.wait_for(lambda s: not s["powered"])
        assert state["pilot_mv"] == [0, 0], "an unpowered EVSE leaves the pilot at 0 V"
        state = await post(client, "/power/restore")
        assert state["firmware_alive"] is True and state["boots"] == 2
        assert state["data_dir"] == data_dir and Path(data_dir).is_dir()
        await station.wait_for(lambda s: s["powered"] and s["connector_status"] == "Available")

        assert (await post(client, "/net/cut"))["net"]["cut"] is True
        assert (await post(client, "/net/restore"))["net"]["cut"] is False

        state = await post(client, "/fault", {"kind": "rcd", "on": True})
        assert state["rcd_tripped"] is True and state["faults"] == {"rcd": True}
        await station.wait_for(lambda s: s["error_code"] == "GroundFailure")
        await post(client, "/fault", {"kind": "rcd", "on": False})
        await asyncio.sleep(0.3)  # the RCD input is quiet again, but a trip latches
        assert station.state()["connector_status"] == "Faulted"
        await post(client, "/maintenance/clear-faults")
        state = await station.wait_for(lambda s: s["last_command"] is not None)
        assert state["last_command"] == {"command": "clear_faults", "faults": []}
        await station.wait_for(
            lambda s: (s["connector_status"], s["error_code"]) == ("Available", "NoError")
        )
        await post(client, "/fault", {"kind": "meter_offline"})
        state = await post(client, "/fault", {"kind": "reader_offline", "on": True})
        assert station.meter.fault == "no_reply" and station.rfid.absent is True
        assert state["faults"] == {"meter_offline": True, "reader_offline": True}

        bad = [
            ("/rfid/tap", b"{not json", 400, "bad_json"),
            ("/rfid/tap", b"[1, 2]", 400, "bad_json"),
            ("/rfid/tap", b'{"uid": "xyz"}', 422, "invalid"),
            ("/rfid/tap", b"{}", 422, "invalid"),
            ("/ev/charge", b'{"max_amps": "lots"}', 422, "invalid"),
            ("/ev/charge", b'{"phases": 2}', 422, "invalid"),
            ("/fault", b'{"kind": "gremlins"}', 422, "invalid"),
            ("/fault", b'{"kind": "rcd", "on": "yes"}', 422, "invalid"),
            ("/no/such/route", b"", 404, "not_found"),
        ]
        for path, body, status, code in bad:
            response = await client.post(path, content=body)
            assert response.status_code == status, (path, body, response.text)
            answer = response.json()
            assert answer["success"] is False and answer["error"]["code"] == code
            assert answer["error"]["message"]
        assert (await client.get("/ev/plug")).status_code == 405


async def test_reset_boots_again_and_a_crash_is_reported(image, tmp_path):
    # A main.py that resets on its first boot and crashes on the second.
    custom = tmp_path / "image"
    shutil.copytree(image, custom)
    (custom / "main.py").write_text(
        "import board\n"
        "b = board.build()\n"
        "boots = len(b.files.list())\n"
        "b.files.write('boot%d' % boots, b'x')\n"
        "if boots == 0:\n"
        "    b.reset()\n"
        "raise RuntimeError('boom on boot %d' % boots)\n"
    )
    async with Station("CP002", CENTRAL, image=custom, data_dir=tmp_path / "flash") as st:
        state = await st.wait_for(lambda s: s["boots"] == 2 and not s["firmware_alive"])
        assert state["exit_code"] == 1 and RESET_STATUS == 75
        assert any("boom on boot 1" in line for line in st.output)
        assert sorted(p.name for p in (tmp_path / "flash").iterdir()) == ["boot0", "boot1"]
        await st.power_restore()
        state = await st.wait_for(lambda s: s["boots"] == 3 and not s["firmware_alive"])
        assert any("boom on boot 2" in line for line in st.output)
