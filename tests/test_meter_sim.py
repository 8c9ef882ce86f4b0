"""The firmware meter driver under micropython against the pymodbus meter simulator.

Simulators for the three models (and one more for faults) run in a background event loop
with a small control port; one micropython program (the staged image plus the sim board's
TcpStream) reads them, drives the scenario through the control port, and prints a
`@@RESULT` line per step. pymodbus's own client checks the simulator's encoding and framing.
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from collections.abc import Iterator

import pytest
from pymodbus import FramerType
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.pdu import ExceptionResponse

from chargekit.simulators.meter import MeterSimulator
from chargekit.tools.micropython import run_micropython, stage_firmware

TIME_SCALE = 3600.0  # a real second counts as an hour: Wh add up quickly
START_WH = 4_321_000.0
# name: (model, slave address)
METERS = {
    "sdm630": ("sdm630", 1),
    "sdm120": ("sdm120", 2),
    "abb_b23": ("abb_b23", 3),
    "faults": ("sdm630", 5),
}
# Energy resolution on the wire: float32 kWh for Eastron, 0.01 kWh steps for ABB.
RESOLUTION_WH = {"sdm630": 1, "sdm120": 1, "abb_b23": 10}

SCRIPT = r"""
import asyncio, json, sys, time
from simhal import TcpStream
from firmware import log
from firmware.drivers.meter import Meter

CTL = int(sys.argv[1])
METERS = json.loads(sys.argv[2])  # name: [model, address, port]
log.level = log.WARN


def result(name, **values):
    values["name"] = name
    print("@@RESULT " + json.dumps(values))


class Control:
    async def open(self):
        self.r, self.w = await asyncio.open_connection("127.0.0.1", CTL)

    async def __call__(self, sim, op, **args):
        args["sim"] = sim
        args["op"] = op
        self.w.write((json.dumps(args) + "\n").encode())
        await self.w.drain()
        return json.loads(await self.r.readline())


async def meter_for(name, **options):
    model, address, port = METERS[name]
    stream = TcpStream("127.0.0.1", port)
    await stream.connect()
    options.setdefault("timeout_ms", 300)
    options.setdefault("retries", 1)
    return Meter(stream, model=model, address=options.pop("address", address), **options)


async def wait_for(check, limit_ms):
    started = time.ticks_ms()
    while not check():
        if time.ticks_diff(time.ticks_ms(), started) > limit_ms:
            return False
        await asyncio.sleep_ms(10)
    return True


async def reading(ctl, name):
    meter = await meter_for(name)
    await ctl(name, "set_load", volts=231.5, amps=[10.0, 8.0, 6.0])
    ok = await meter.read_now()
    result("values_" + name, ok=ok, voltage=meter.voltage_v, current=meter.current_a,
           power=meter.power_w, frequency=meter.frequency_hz, sim=await ctl(name, "state"))
    before = meter.energy_wh
    await asyncio.sleep_ms(300)
    await ctl(name, "set_load", volts=231.5, amps=[0, 0, 0])  # the count stops here
    ok = await meter.read_now()
    result("energy_" + name, ok=ok, before=before, energy=meter.energy_wh,
           power=meter.power_w, sim=await ctl(name, "state"))


async def faults(ctl):
    meter = await meter_for("faults", poll_ms=50, timeout_ms=100, retries=1, fail_after=3)
    base = await meter.read_now()
    for fault in ("crc_error", "exception"):
        await ctl("faults", "fault", value=fault)
        sent = (await ctl("faults", "state"))["requests"]
        ok = await meter.read_now()
        st = await ctl("faults", "state")
        result(fault, ok=ok, base=base, error=meter.error, requests=st["requests"] - sent,
               code=meter.bus.last_error.code, online=meter.online)
        await ctl("faults", "fault", value=None)
    # no reply: offline with PowerMeterFailure after three polls, then back.
    energy = meter.energy_wh
    await ctl("faults", "set_load", volts=230.0, amps=[16, 16, 16])
    await ctl("faults", "fault", value="no_reply")
    meter.start()
    went = await wait_for(lambda: meter.failure is not None, 3000)
    result("no_reply", went=went, online=meter.online, failure=meter.failure,
           fails=meter.fails, energy=meter.energy_wh, before=energy)
    await ctl("faults", "fault", value=None)
    back = await wait_for(lambda: meter.online, 3000)
    await ctl("faults", "set_load", volts=230.0, amps=[0, 0, 0])
    await meter.read_now()
    meter.deinit()
    result("recovered", back=back, online=meter.online, failure=meter.failure,
           energy=meter.energy_wh, before=energy, sim=await ctl("faults", "state"))
    # A count that goes down (a meter swapped for another) is rejected.
    kept = meter.energy_wh
    await ctl("faults", "set_energy", wh=kept - 5000)
    del log.recent[:]
    ok = await meter.read_now()
    result("lower", ok=ok, energy=meter.energy_wh, kept=kept, rejected=meter.rejected,
           log=log.recent)
    # A master asking for another address hears nothing: the meter stays silent.
    other = await meter_for("faults", address=9, timeout_ms=50, retries=0)
    ok = await other.read_now()
    result("other_address", ok=ok, error=other.error)


async def main():
    ctl = Control()
    await ctl.open()
    for name in ("sdm630", "sdm120", "abb_b23"):
        await reading(ctl, name)
    await faults(ctl)
    result("done")


asyncio.run(main())
"""


class SimLoop:
    """The simulators and the control port in an event loop on a background thread, so the
    blocking micropython run can talk to them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sims: dict[str, MeterSimulator] = {}
        self.ports: dict[str, int] = {}

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def start(self) -> None:
        for name, (model, address) in METERS.items():
            sim = MeterSimulator(model, address=address, time_scale=TIME_SCALE)
            sim.energy_wh = START_WH
            self.sims[name] = sim
            self.ports[name] = await sim.start()
        self.server = await asyncio.start_server(self._control, "127.0.0.1", 0)
        self.ctl_port = self.server.sockets[0].getsockname()[1]

    async def _control(self, reader, writer) -> None:
        while line := await reader.readline():
            cmd = json.loads(line)
            sim = self.sims[cmd["sim"]]
            if cmd["op"] == "set_load":
                sim.set_load(volts=cmd["volts"], amps=cmd["amps"])
            elif cmd["op"] == "fault":
                sim.fault = cmd["value"]
            elif cmd["op"] == "set_energy":
                sim.energy_wh = cmd["wh"]
            state = {"energy_wh": sim.energy_wh, "power_w": sim.power_w, "requests": sim.requests}
            writer.write((json.dumps(state) + "\n").encode())
            await writer.drain()
        writer.close()

    async def stop(self) -> None:
        self.server.close()
        for sim in self.sims.values():
            await sim.close()

    def close(self) -> None:
        self.run(self.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Iterator[dict[str, dict]]:
    image = stage_firmware(tmp_path_factory.mktemp("image"), board="sim")
    sims = SimLoop()
    try:
        sims.run(sims.start())
        meters = {
            name: [model, address, sims.ports[name]] for name, (model, address) in METERS.items()
        }
        run = run_micropython(
            code=SCRIPT,
            path=[image],
            heapsize="160k",
            timeout=60,
            args=[str(sims.ctl_port), json.dumps(meters)],
        )
        found = {r["name"]: r for r in run.results()}
        if "done" not in found:
            run.check()
            raise AssertionError(f"the script stopped early:\n{run.stdout[-3000:]}")
        yield found
    finally:
        sims.close()


def near(a: float | None, b: float, eps: float = 1e-3) -> bool:
    return a is not None and abs(a - b) <= eps


@pytest.mark.micropython
@pytest.mark.parametrize("name", ["sdm630", "sdm120", "abb_b23"])
def test_firmware_reads_what_the_simulator_was_set_to(results, name):
    r = results["values_" + name]
    assert r["ok"], r
    phases = 1 if name == "sdm120" else 3
    want_v = [231.5] * phases + [None] * (3 - phases)
    want_a = [10.0, 8.0, 6.0][:phases] + [None] * (3 - phases)
    for got, want in zip(r["voltage"] + r["current"], want_v + want_a, strict=True):
        assert (got is None) if want is None else near(got, want), r
    assert r["power"] == round(r["sim"]["power_w"]) == round(231.5 * sum(want_a[:phases])), r
    assert near(r["frequency"], 50.0)


@pytest.mark.micropython
@pytest.mark.parametrize("name", ["sdm630", "sdm120", "abb_b23"])
def test_energy_after_a_load_matches_the_simulator(results, name):
    r = results["energy_" + name]
    assert r["ok"] and r["power"] == 0, r
    sim_wh = r["sim"]["energy_wh"]
    # 300 ms of a few kW, counted as an hour per second: hundreds of Wh.
    assert r["energy"] - r["before"] > 100, r
    if RESOLUTION_WH[name] == 1:
        assert abs(r["energy"] - sim_wh) <= 1, (r["energy"], sim_wh)
    else:  # the ABB counter shows whole 10 Wh steps
        assert 0 <= sim_wh - r["energy"] < 10, (r["energy"], sim_wh)


@pytest.mark.micropython
def test_crc_error_is_retried_then_the_poll_fails(results):
    r = results["crc_error"]
    assert r["base"] and not r["ok"], r
    assert r["error"] == "CRC error" and r["code"] == 0, r
    assert r["requests"] == 2, r  # one retry (retries=1)
    assert r["online"], r  # one failed poll is not a failure yet


@pytest.mark.micropython
def test_exception_reply_is_an_error_with_its_code(results):
    r = results["exception"]
    assert not r["ok"] and r["error"] == "exception 4" and r["code"] == 4, r
    assert r["requests"] == 1, r  # the slave's answer is not retried


@pytest.mark.micropython
def test_no_reply_takes_the_meter_offline_then_it_recovers(results):
    r = results["no_reply"]
    assert r["went"] and not r["online"] and r["fails"] >= 3, r
    assert r["failure"] == "PowerMeterFailure: no reply (sdm630 at address 5)", r
    assert r["energy"] == r["before"], r
    back = results["recovered"]
    assert back["back"] and back["online"] and back["failure"] is None, back
    # Energy counted while it was silent shows up, and never less than before.
    assert back["energy"] > back["before"], back
    assert abs(back["energy"] - back["sim"]["energy_wh"]) <= 1, back


@pytest.mark.micropython
def test_a_lower_count_is_rejected_and_logged(results):
    r = results["lower"]
    assert r["ok"] and r["energy"] == r["kept"] and r["rejected"] == 1, r
    assert any(
        f"energy went down from {r['kept']} to {r['kept'] - 5000} Wh" in line for line in r["log"]
    ), r["log"]


@pytest.mark.micropython
def test_another_slave_address_gets_no_reply(results):
    r = results["other_address"]
    assert not r["ok"] and r["error"] == "no reply", r


# pymodbus as the client: the simulator's framing and encoding agree with an independent
# Modbus implementation.


async def _client(sim: MeterSimulator) -> AsyncModbusTcpClient:
    port = await sim.start()
    client = AsyncModbusTcpClient(
        "127.0.0.1", port=port, framer=FramerType.RTU, timeout=0.3, retries=0
    )
    assert await client.connect()
    return client


def _floats(registers: list[int]) -> list[float]:
    return [
        struct.unpack(">f", struct.pack(">HH", *registers[i : i + 2]))[0]
        for i in range(0, len(registers), 2)
    ]


@pytest.mark.parametrize("model", ["sdm630", "sdm120"])
async def test_pymodbus_client_reads_the_eastron_map(model):
    sim = MeterSimulator(model, address=4, energy_wh=12_345_600.0)
    sim.set_load(volts=229.0, amps=[10.0, 5.0, 2.5])
    client = await _client(sim)
    try:
        reply = await client.read_input_registers(0x0000, count=76, device_id=4)
        assert not reply.isError(), reply
        values = _floats(reply.registers)
        phases = 3 if model == "sdm630" else 1
        amps = [10.0, 5.0, 2.5][:phases]
        assert values[0:3] == [229.0] * phases + [0.0] * (3 - phases)  # 0x0000-0x0004
        assert values[3:6] == amps + [0.0] * (3 - phases)  # 0x0006-0x000A
        power = 229.0 * sum(amps)
        if model == "sdm120":
            assert values[0x0C // 2] == power
        assert values[0x34 // 2] == pytest.approx(power)
        assert values[0x46 // 2] == 50.0
        assert values[0x48 // 2] == pytest.approx(12_345.6, abs=1e-3)  # kWh
        assert values[0x4A // 2] == 0.0
        # Measurements are input registers only: the holding area holds settings.
        settings = await client.read_holding_registers(0x0014, count=2, device_id=4)
        assert _floats(settings.registers) == [4.0]  # the slave address
    finally:
        client.close()
        await sim.close()


async def test_pymodbus_client_reads_the_abb_map():
    sim = MeterSimulator("abb_b23", address=3, energy_wh=1_234_567.0)
    sim.set_load(volts=230.5, amps=[16.0, 15.5, 0.0])
    client = await _client(sim)
    try:
        energy = await client.read_holding_registers(0x5000, count=8, device_id=3)
        assert (
            client.convert_from_registers(energy.registers[0:4], client.DATATYPE.UINT64) == 123_456
        )  # 0.01 kWh
        inst = await client.read_holding_registers(0x5B00, count=45, device_id=3)
        regs = inst.registers

        def u32(offset: int) -> int:
            return regs[offset] << 16 | regs[offset + 1]

        assert [u32(0x00), u32(0x02), u32(0x04)] == [2305, 2305, 2305]
        assert [u32(0x0C), u32(0x0E), u32(0x10)] == [1600, 1550, 0]
        total = client.convert_from_registers(regs[0x14:0x16], client.DATATYPE.INT32)
        assert total == round(230.5 * 31.5 * 100)
        assert regs[0x2C] == 5000
        kind = await client.read_holding_registers(0x8960, count=2, device_id=3)
        assert client.convert_from_registers(kind.registers, client.DATATYPE.STRING) == "B23 "
        # No input registers on this meter.
        reply = await client.read_input_registers(0x5B00, count=2, device_id=3)
        assert isinstance(reply, ExceptionResponse) and reply.exception_code == 2
    finally:
        client.close()
        await sim.close()


async def test_pymodbus_client_sees_the_faults():
    sim = MeterSimulator("sdm630", address=1)
    client = await _client(sim)
    try:
        sim.fault = "exception"
        reply = await client.read_input_registers(0x0000, count=2, device_id=1)
        assert isinstance(reply, ExceptionResponse) and reply.exception_code == 4
        sim.fault = "no_reply"
        with pytest.raises(Exception, match="No response"):
            await client.read_input_registers(0x0000, count=2, device_id=1)
        sim.fault = None
        reply = await client.read_input_registers(0x0000, count=2, device_id=1)
        assert _floats(reply.registers) == [230.0]
        assert sim.requests == 3
    finally:
        client.close()
        await sim.close()


def test_energy_integrates_the_load_over_scaled_time(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("chargekit.simulators.meter.time.monotonic", lambda: clock[0])
    sim = MeterSimulator("sdm630", time_scale=60.0, energy_wh=100.0)
    sim.set_load(volts=230.0, amps=[10.0, 10.0, 10.0])  # 6900 W
    clock[0] += 1.0  # one real second counts as a minute
    assert sim.energy_wh == pytest.approx(100.0 + 6900.0 / 60.0)
    sim.set_load(volts=230.0, amps=[0.0, 0.0, 0.0])
    clock[0] += 100.0
    assert sim.energy_wh == pytest.approx(215.0) and sim.power_w == 0
    sim.set_load(volts=230.0, amps=[-5.0, 0.0, 0.0])  # feeding back: export counts
    clock[0] += 60.0
    assert sim.energy_wh == pytest.approx(215.0)
    assert sim.export_wh == pytest.approx(1150.0)
    with pytest.raises(ValueError, match="unknown meter model"):
        MeterSimulator("sdm72")
    with pytest.raises(ValueError, match="unknown fault"):
        sim.fault = "timeout"  # type: ignore[assignment]
