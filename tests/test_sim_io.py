"""The EV/IO simulator (simulators/ev.py): pilot, duty and current physics in CPython, and the
IO line protocol against the real sim board (boards/sim/board.py) under micropython."""

from __future__ import annotations

import asyncio
import json

import pytest

from chargekit.simulators.ev import EvSimulator, offered_amps, state_of
from chargekit.simulators.station import RESET_STATUS
from chargekit.tools.micropython import run_micropython, stage_firmware


class FakeMeter:
    def __init__(self) -> None:
        self.loads: list[tuple[float, list[float]]] = []

    def set_load(self, volts: float = 230.0, amps: list[float] | None = None) -> None:
        self.loads.append((volts, list(amps or [])))


def powered(meter: FakeMeter | None = None) -> EvSimulator:
    """A simulator as if a board were connected (no socket needed for the physics)."""
    sim = EvSimulator(meter=meter, contactor_delay_s=0.01)
    sim.powered = True
    return sim


def test_offered_current_follows_the_iec_table():
    assert offered_amps(100) == 6.0
    assert offered_amps(533) == pytest.approx(31.98)
    assert offered_amps(850) == 51.0
    assert offered_amps(900) == 65.0
    assert offered_amps(960) == 80.0
    assert offered_amps(85) == 6.0  # 8-10 %: 6 A
    for no_current in (0, 50, 79, 971, 1000):
        assert offered_amps(no_current) == 0.0


def test_pilot_follows_the_ev_and_the_pwm():
    sim = powered()
    assert sim.pilot() == (12000, 12000) and sim.state == "A"
    sim.plug()
    assert sim.pilot() == (9000, 9000) and sim.state == "B"
    sim.charge(max_amps=16, phases=3)
    assert sim.state == "B", "no current on offer: the EV waits in B"
    sim.duty = 533
    assert sim.pilot() == (6000, -12000) and sim.state == "C"
    sim.set_fault("ventilation", True)
    assert sim.pilot() == (3000, -12000)
    sim.set_fault("ventilation", False)
    sim.set_fault("diode", True)
    assert sim.pilot() == (6000, -6000), "no diode: the negative half follows the positive"
    sim.set_fault("diode", False)
    sim.duty = 50  # 5 %: digital communication, no current offered
    assert sim.pilot() == (9000, -12000)
    sim.pause()
    sim.duty = 533
    assert sim.pilot() == (9000, -12000)
    sim.duty = 0
    assert sim.pilot() == (-12000, -12000) and sim.state == "F"
    sim.set_fault("ev_error", True)
    sim.duty = 533
    assert sim.pilot() == (0, 0) and sim.state == "E"
    sim.powered = False
    assert sim.pilot() == (0, 0)
    assert state_of(12000, -12000) == "A" and state_of(3100, -12000) == "D"


async def test_current_flows_only_through_the_closed_contactor():
    meter = FakeMeter()
    sim = powered(meter)
    sim.charge(max_amps=16, phases=1)
    sim.duty = 533  # 32 A offered
    sim.contactor.command(True)
    assert sim.drawn_a == 0.0 and not sim.contactor.closed, "the contacts need time to move"
    await asyncio.sleep(0.05)
    assert sim.contactor.closed and sim.contactor.feedback == 1
    assert sim.drawn_a == 16.0 and sim.phase_amps() == [16.0, 0.0, 0.0]
    assert meter.loads[-1] == (230.0, [16.0, 0.0, 0.0])
    sim.charge(max_amps=40, phases=3)
    assert sim.phase_amps() == [pytest.approx(31.98)] * 3, "limited by the offer"
    sim.set_fault("rcd", True)
    assert sim.drawn_a == 0.0
    sim.set_fault("rcd", False)
    sim.pause()
    assert sim.drawn_a == 0.0 and meter.loads[-1] == (230.0, [0.0, 0.0, 0.0])
    sim.charge()
    sim.unplug()
    assert sim.drawn_a == 0.0


async def test_welded_contactor_stays_closed_and_wont_close_stays_open():
    sim = powered()
    sim.charge(max_amps=16, phases=3)
    sim.duty = 266  # 16 A
    sim.set_fault("welded", True)
    sim.contactor.command(True)
    await asyncio.sleep(0.05)
    sim.contactor.command(False)
    sim.duty = 1000  # the station stops offering current
    await asyncio.sleep(0.05)
    assert sim.contactor.closed and sim.contactor.feedback == 1
    assert sim.drawn_a == pytest.approx(15.96), "current keeps flowing through welded contacts"
    sim.set_fault("welded", False)
    assert not sim.contactor.closed and sim.drawn_a == 0.0
    sim.set_fault("wont_close", True)
    sim.duty = 266
    sim.contactor.command(True)
    await asyncio.sleep(0.05)
    assert sim.contactor.commanded and not sim.contactor.closed and sim.drawn_a == 0.0


def test_unknown_fault_is_refused():
    with pytest.raises(ValueError, match="unknown fault"):
        powered().set_fault("gremlins")


# -- the IO protocol with the real sim board under micropython --------------------------------

BOARD_SCRIPT = r"""
import asyncio, json, sys, time
import board
from firmware import log

def result(step, value):
    print("@@RESULT " + json.dumps({"step": step, "value": value}))

async def until(cond, ms=3000):
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while not cond():
        if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
            return False
        await asyncio.sleep_ms(2)
    return True

async def main():
    b = board.build()
    await b.start()
    adc = b.pilot_adc
    def pilot():
        return sorted([adc.read_mv(), adc.read_mv()], reverse=True)
    result("connected", [pilot(), b.contactor_feedback.value(), b.rcd.value(),
                         b.thermometer.read_c10()])
    b.pilot_pwm.duty(533)
    result("pwm", [await until(lambda: pilot() == [6000, -12000]), pilot()])
    b.contactor.on()
    result("feedback", await until(lambda: b.contactor_feedback.value() == 1))
    b.report("status", {"connector": 1, "status": "Charging", "error_code": "NoError"})
    b.pilot_pwm.duty(0)
    result("state_f", [await until(lambda: pilot() == [-12000, -12000]), pilot()])
    log.info("test", "ready for faults")
    result("pushed", await until(lambda: b.rcd.value() == 1 and b.thermometer.read_c10() == 900))
    b.contactor.off()
    result("opened", await until(lambda: b.contactor_feedback.value() == 0))
    # the RFID UART is a raw byte stream to its simulator port (an echo server here)
    b.rfid_uart.write(b"\x00\x00\xff\x00\xff\x00")
    result("uart", [b.rfid_uart.baudrate, (await b.rfid_uart.read(16, 1000)).hex()])
    # business time runs `scale` times faster, ticks wrap like time.ticks_ms
    clock = b.clock
    clock._ticks = time.ticks_add(0, -3)
    t0, r0, w0 = clock.ticks_ms(), time.ticks_ms(), clock.time()
    await clock.sleep_ms(3000)
    scaled = clock.ticks_diff(clock.ticks_ms(), t0)
    real = time.ticks_diff(time.ticks_ms(), r0)
    result("clock", [scaled, real, clock.scale, clock.time() - w0, w0])
    b.reset()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def sim_image(tmp_path_factory):
    return stage_firmware(tmp_path_factory.mktemp("sim-image"), board="sim")


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while data := await reader.read(256):
        writer.write(data)
    writer.close()


@pytest.mark.micropython
async def test_io_line_between_the_sim_board_and_the_simulator(sim_image, tmp_path):
    reports: list = []
    logs: list[str] = []
    sim = EvSimulator(on_report=lambda kind, data: reports.append([kind, data]))

    def on_log(text: str) -> None:
        logs.append(text)
        if "ready for faults" in text:
            sim.set_fault("rcd", True)
            sim.set_fault("overtemp", True)

    sim.on_log = on_log
    sim.charge(max_amps=16, phases=3)
    io_port = await sim.start()
    uart = await asyncio.start_server(echo, "127.0.0.1", 0)
    settings = {
        "station_id": "CP-IO",
        "host": "127.0.0.1",
        "io_port": io_port,
        "rfid_port": uart.sockets[0].getsockname()[1],
        "reader": "pn532",
        "time_scale": 100,
        "epoch": 1_700_000_000,
        "data_dir": str(tmp_path / "data"),
    }
    (tmp_path / "settings.json").write_text(json.dumps(settings))
    script = tmp_path / "io_script.py"
    script.write_text(BOARD_SCRIPT)
    try:
        run = await asyncio.to_thread(
            run_micropython,
            script,
            path=[sim_image],
            args=[str(tmp_path / "settings.json")],
            heapsize="256k",
            timeout=20,
        )
        for _ in range(100):  # the simulator sees the board's exit a moment later
            if not sim.board_connected:
                break
            await asyncio.sleep(0.01)
    finally:
        uart.close()
        await sim.close()
    assert run.returncode == RESET_STATUS == 75, run.stdout[-3000:]  # the harness reboots it
    steps = {r["step"]: r["value"] for r in run.results()}
    assert steps["connected"] == [[9000, 9000], 0, 0, 250]
    assert steps["pwm"] == [True, [6000, -12000]]
    assert steps["feedback"] is True
    assert steps["state_f"] == [True, [-12000, -12000]]
    assert steps["pushed"] is True
    assert steps["opened"] is True
    assert steps["uart"] == [115200, "0000ff00ff00"]
    scaled, real, scale, wall, epoch = steps["clock"]
    assert scale == 100 and scaled >= 3000
    assert abs(scaled - real * 100) <= 100, "business time is real time times the scale"
    assert wall == scaled // 1000 or wall == scaled // 1000 + 1
    assert epoch >= 1_700_000_000
    assert reports == [["status", {"connector": 1, "status": "Charging", "error_code": "NoError"}]]
    assert any(line.startswith("I test: ready for faults") for line in logs)
    assert sim.station_id == "CP-IO" and sim.connections == 1
    assert not sim.board_connected and not sim.powered, "the board's exit powers the EVSE off"
