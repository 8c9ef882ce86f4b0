# Meter driver: decoding of each register map from known register images, the
# never-decreasing energy rule, failure and recovery, the poll loop and read_now.
import asyncio
import struct

from fakes import FakeStream
from test_modbus import RegisterSlave, with_crc

from firmware import log
from firmware.drivers.meter import Meter


def f32(v):
    # What a float32 register pair gives back for v.
    return struct.unpack(">f", struct.pack(">f", v))[0]


def near(a, b, eps=1e-3):
    return a is not None and abs(a - b) <= eps


def sdm_slave(address=1, values=None):
    slave = RegisterSlave(address=address, inputs={})
    slave.set(4, 0x0000, ">f", *([0.0] * 40))  # the whole block reads, undefined as 0
    for register, v in (values or {}).items():
        slave.set(4, register, ">f", v)
    return slave


SDM630_IMAGE = {
    0x00: 230.1,
    0x02: 229.8,
    0x04: 231.0,
    0x06: 10.5,
    0x08: 0.0,
    0x0A: 7.25,
    0x34: 3456.7,
    0x46: 49.98,
    0x48: 1234.5678,
    0x4A: 0.5,
}


def abb_slave(address=1):
    slave = RegisterSlave(address=address, holding={})
    slave.set(3, 0x5000, ">Q", 123456, 7)  # 1234.56 kWh import, 0.07 kWh export
    slave.set(3, 0x5B00, ">I", 2301, 2298, 0xFFFFFFFF)  # L3 not available
    slave.set(3, 0x5B06, ">I", 3990, 3985, 3992)  # line to line
    slave.set(3, 0x5B0C, ">I", 1050, 725, 0xFFFFFFFF, 0)  # L1-L3, N
    slave.set(3, 0x5B14, ">i", -150025, -80000, -70025, 0)  # total, L1-L3 (exporting)
    slave.set(3, 0x5B1C, ">i", *([0] * 8))  # reactive
    slave.set(3, 0x5B24, ">I", *([0] * 4))  # apparent
    slave.set(3, 0x5B2C, ">H", 4998)
    return slave


def meter_for(slave, model, **kw):
    stream = FakeStream(responder=slave, delay_ms=kw.pop("delay_ms", 0))
    kw.setdefault("timeout_ms", 30)
    kw.setdefault("retries", 0)
    return Meter(stream, model=model, address=slave.address, **kw), stream


async def test_sdm630_reading_in_one_request():
    slave = sdm_slave(values=SDM630_IMAGE)
    meter, stream = meter_for(slave, "sdm630")
    assert meter.energy_wh is None and not meter.online
    assert await meter.read_now()
    assert stream.written == [with_crc(bytes.fromhex("01040000004c"))]
    assert meter.energy_wh == int(f32(1234.5678) * 1000 + 0.5) == 1234568
    assert meter.export_wh == 500
    assert meter.power_w == 3457
    for i, want in enumerate((230.1, 229.8, 231.0)):
        assert near(meter.voltage_v[i], want), meter.voltage_v
    for i, want in enumerate((10.5, 0.0, 7.25)):
        assert near(meter.current_a[i], want), meter.current_a
    assert near(meter.frequency_hz, 49.98)
    assert meter.online and meter.failure is None and meter.last_read_ms is not None


async def test_sdm120_reads_one_phase():
    slave = sdm_slave(
        address=7, values={0x00: 229.5, 0x06: 4.5, 0x0C: 1032.75, 0x46: 50.01, 0x48: 12.25}
    )
    meter, stream = meter_for(slave, "sdm120")
    assert await meter.read_now()
    assert stream.written == [with_crc(bytes.fromhex("07040000004c"))]
    assert near(meter.voltage_v[0], 229.5) and meter.voltage_v[1:] == [None, None]
    assert near(meter.current_a[0], 4.5) and meter.current_a[1:] == [None, None]
    assert meter.power_w == 1033
    assert meter.energy_wh == 12250 and meter.export_wh == 0
    assert near(meter.frequency_hz, 50.01)


async def test_abb_b23_integer_registers_with_scaling():
    meter, stream = meter_for(abb_slave(address=2), "abb_b23")
    assert await meter.read_now()
    assert stream.written == [
        with_crc(bytes.fromhex("020350000008")),
        with_crc(bytes.fromhex("02035b00002d")),
    ]
    assert meter.energy_wh == 1234560 and meter.export_wh == 70
    assert near(meter.voltage_v[0], 230.1) and near(meter.voltage_v[1], 229.8)
    assert meter.voltage_v[2] is None  # all ones: not available
    assert near(meter.current_a[0], 10.5) and near(meter.current_a[1], 7.25)
    assert meter.current_a[2] is None
    assert meter.power_w == -1500
    assert near(meter.frequency_hz, 49.98)


async def test_energy_never_decreases():
    slave = sdm_slave(values={0x48: 100.0})
    meter, _ = meter_for(slave, "sdm630")
    changes = []
    meter.on_change = lambda m: changes.append(m.energy_wh)
    assert await meter.read_now()
    assert meter.energy_wh == 100000 and changes == [100000]
    slave.set(4, 0x48, ">f", 99.5)
    del log.recent[:]
    assert await meter.read_now()  # the meter answered: only the energy is refused
    assert meter.energy_wh == 100000 and meter.rejected == 1
    assert any(
        "energy went down from 100000 to 99500 Wh: reading rejected" in line for line in log.recent
    ), log.recent
    assert changes == [100000]
    slave.set(4, 0x48, ">f", 100.25)
    assert await meter.read_now()
    assert meter.energy_wh == 100250 and changes == [100000, 100250]


async def test_not_available_energy_fails_the_poll():
    slave = sdm_slave(values={0x48: float("nan")})
    meter, _ = meter_for(slave, "sdm630", fail_after=1)
    assert not await meter.read_now()
    assert meter.energy_wh is None
    assert meter.failure.startswith("PowerMeterFailure: no energy register"), meter.failure


async def test_failure_after_consecutive_failed_polls_then_recovery():
    slave = sdm_slave(values={0x48: 5.0, 0x34: 2300.0})
    meter, _ = meter_for(slave, "sdm630", fail_after=3, timeout_ms=10)
    seen = []
    meter.on_change = lambda m: seen.append((m.online, m.failure))
    assert await meter.read_now()
    slave.faults = ["silent"] * 3
    for n in (1, 2):
        assert not await meter.read_now()
        assert meter.online and meter.failure is None and meter.fails == n
        assert meter.error == "no reply"
    assert not await meter.read_now()
    assert not meter.online
    assert meter.failure == "PowerMeterFailure: no reply (sdm630 at address 1)", meter.failure
    assert meter.energy_wh == 5000  # the last good reading stays
    slave.set(4, 0x48, ">f", 5.5)
    assert await meter.read_now()
    assert meter.online and meter.failure is None and meter.fails == 0
    assert meter.energy_wh == 5500
    assert seen == [
        (True, None),
        (False, "PowerMeterFailure: no reply (sdm630 at address 1)"),
        (True, None),
    ], seen


async def test_exception_reply_fails_the_poll_with_its_code():
    slave = sdm_slave(values={0x48: 1.0})
    meter, stream = meter_for(slave, "sdm630", fail_after=1, retries=2)
    slave.faults = ["exception"]
    assert not await meter.read_now()
    assert len(stream.written) == 1  # an exception reply is not retried
    assert meter.failure == "PowerMeterFailure: exception 4 (sdm630 at address 1)"
    assert meter.bus.last_error.code == 4


async def test_line_faults_are_retried_within_a_poll():
    slave = sdm_slave(values={0x48: 1.0})
    meter, stream = meter_for(slave, "sdm630", retries=2)
    slave.faults = ["crc", "wrong_address"]
    assert await meter.read_now()
    assert len(stream.written) == 3 and meter.bus.line_faults == 2
    assert meter.energy_wh == 1000


async def test_read_now_takes_a_poll_that_started_after_the_call():
    slave = sdm_slave(values={0x48: 1.0})
    meter, stream = meter_for(slave, "sdm630", delay_ms=5)
    # The first call polls; the second waits and polls again (the first poll started
    # before it was called); the third takes the second's poll.
    results = await asyncio.gather(meter.read_now(), meter.read_now(), meter.read_now())
    assert results == [True, True, True]
    assert len(stream.written) == 2


async def test_poll_loop_shares_the_bus_with_read_now_and_stops_on_deinit():
    slave = sdm_slave(values={0x48: 2.0})
    meter, stream = meter_for(slave, "sdm630", poll_ms=10, delay_ms=2)
    meter.start()
    meter.start()  # idempotent: one task
    for _ in range(5):
        assert await meter.read_now()
        await asyncio.sleep_ms(7)
    meter.deinit()
    await asyncio.sleep_ms(30)
    sent = len(stream.written)
    await asyncio.sleep_ms(50)
    assert len(stream.written) == sent
    assert sent >= 5 and meter.bus.line_faults == 0 and meter.fails == 0
    assert meter.energy_wh == 2000


def test_unknown_model_is_refused():
    try:
        Meter(FakeStream(), model="sdm72")
    except ValueError as e:
        assert "sdm72" in str(e)
    else:
        raise AssertionError("accepted an unknown model")
