"""The real firmware (sim board, `chargekit station`'s harness) against the real central
process: a charge survives a SIGKILL of the central in mid-charge. The station keeps charging
offline, reconnects to the restarted central, replays its journal, and the REST API shows the
transaction exactly once with the energy the meter simulator counted."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from test_central_process import Central, free_port

from chargekit.simulators.station import Station

pytestmark = pytest.mark.micropython

ADMIN_KEY = "ck_test_" + "k" * 32
PASSWORD = "firmware-password-16"
TOKEN = "04A1B2C3D4E5F6"


async def _until(probe, timeout: float, what: str):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await probe()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def test_sigkill_of_the_central_in_mid_charge(tmp_path):
    port = free_port()
    db = f"sqlite:///{tmp_path / 'central.db'}"

    def start_central() -> Central:
        # Central() drops CHARGEKIT_* from its environment: the key goes in a config file.
        config = tmp_path / "central.toml"
        config.write_text(f'admin_key = "{ADMIN_KEY}"\n')
        central = Central(tmp_path, db, port, "--config", str(config))
        central.wait_ready()
        return central

    central = start_central()
    base = f"http://127.0.0.1:{port}/api/v1"
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    station = Station(
        "CP-KILL",
        f"ws://127.0.0.1:{port}/ocpp",
        data_dir=tmp_path / "flash",
        time_scale=60,
        settings={"password": PASSWORD},
    )
    try:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:

            async def get(path: str):
                try:
                    answer = (await api.get(path)).json()
                except httpx.TransportError:
                    return None
                return answer["data"] if answer.get("success") else None

            created = await api.post("/stations", json={"id": "CP-KILL", "password": PASSWORD})
            assert created.status_code == 201, created.text
            await api.post("/tokens", json={"idTag": TOKEN})
            await station.start()

            async def connected():
                detail = await get("/stations/CP-KILL")
                return detail and detail["connection"] is not None

            await _until(connected, 30, "the firmware to connect")
            start_wh = station.meter.energy_wh
            station.plug()
            station.tap(TOKEN)
            station.charge(max_amps=16, phases=3)

            async def open_transaction():
                page = await get("/transactions?stationId=CP-KILL&status=open")
                return page and page["total"] == 1

            await _until(open_transaction, 30, "the transaction to open")
            await station.wait_for(lambda s: s["connector_status"] == "Charging", timeout=10)

            central.kill()  # SIGKILL, mid-charge
            await asyncio.sleep(3)  # the station charges on, offline, and journals MeterValues
            assert station.state()["connector_status"] == "Charging"
            central = start_central()
            try:
                await _until(connected, 60, "the firmware to reconnect")
            except AssertionError:
                print("\n".join(list(station.output)[-60:]))  # shown by pytest on failure
                raise
            station.unplug()

            async def closed():
                page = await get("/transactions?stationId=CP-KILL")
                if page and page["total"] and page["items"][0]["status"] == "closed":
                    return page
                return None

            page = await _until(closed, 60, "the transaction to close")
            counted = station.meter.energy_wh - start_wh
            assert page["total"] == 1, page  # exactly once, despite the replay
            tx = await get(f"/transactions/{page['items'][0]['id']}")
            assert tx["stopReason"] == "EVDisconnected" and tx["idTag"] == TOKEN
            assert abs(tx["energyWh"] - counted) <= 1, (tx["energyWh"], counted)
            assert counted > 100
            assert len(tx["samples"]) >= 2  # MeterValues from both sides of the kill
    finally:
        await station.stop()
        central.kill()
