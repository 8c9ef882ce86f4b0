"""The real RFID drivers under `micropython` against the reader simulators over TCP.

Each test starts a simulator in this loop, runs the staged firmware image with the sim board's
TcpStream wired to it, drives the simulator (cards, noise, faults) while the firmware runs,
then stops the firmware with a flag file and checks what it reported: every on_tag call and
every change of (online, failure), as `@@RESULT` lines. The waits are on the simulator's
counters, so the only time the tests rely on is the hold-off's lower bound.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from chargekit.simulators.rfid import (
    ACK,
    IN_LIST_PASSIVE_TARGET,
    NACK,
    SAM_CONFIGURATION,
    Pn532Simulator,
    Rdm6300Simulator,
    pn532_frame,
    rdm6300_frame,
)
from chargekit.tools.micropython import run_micropython, source_dir, stage_firmware

pytestmark = pytest.mark.micropython

SIM_BOARD = source_dir("boards") / "sim"
CARD4 = "04A1B2C3"
CARD7 = "04112233445566"
CARD10 = "0102030405060708090A"
EM1 = "1A0055C3D2"
EM2 = "0B00AB12EF"

PN532_OPTIONS = {
    "poll_ms": 20,
    "ack_timeout_ms": 40,
    "timeout_ms": 100,
    "retry_ms": 40,
    "retry_max_ms": 160,
    "hold_off_ms": 200,
}
RDM6300_OPTIONS = {"read_ms": 20, "hold_off_ms": 200, "garbled_ms": 300}

# Runs on the device interpreter: the driver on a TcpStream to the simulator, reporting.
FIRMWARE = r"""
import asyncio, json, os, sys, time
from firmware import log
from firmware.drivers import rfid
import simhal

kind, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
options = json.loads(sys.argv[4])
t0 = time.ticks_ms()
warnings = []


def report(**fields):
    fields["t"] = time.ticks_diff(time.ticks_ms(), t0)
    print("@@RESULT " + json.dumps(fields))


def sink(level, tag, text):
    if level >= log.WARN:
        warnings.append(text)


def stopped():
    try:
        os.stat(stop)
        return True
    except OSError:
        return False


async def main():
    log.sink = sink
    stream = simhal.TcpStream("127.0.0.1", port, 115200 if kind == "pn532" else 9600)
    await stream.connect()
    reader = rfid.reader(kind, stream, **options)
    reader.on_tag = lambda id_tag: report(event="tag", id=id_tag)
    reader.start()
    state = None
    deadline = time.ticks_add(t0, 25000)
    while not stopped() and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        if (reader.online, reader.failure) != state:
            state = (reader.online, reader.failure)
            report(event="state", online=state[0], failure=state[1])
        await asyncio.sleep_ms(5)
    reader.deinit()
    names = ("tags", "errors", "checksum_errors", "nacks", "polls", "frames",
             "bad_checksums", "skipped")
    stats = {}
    for name in names:
        if hasattr(reader, name):
            stats[name] = getattr(reader, name)
    report(event="end", warnings=warnings, stats=stats)


asyncio.run(main())
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return stage_firmware(tmp_path_factory.mktemp("rfid-image"))


class Outcome:
    def __init__(self, results: list[dict]) -> None:
        self.tags = [r["id"] for r in results if r["event"] == "tag"]
        self.states = [(r["online"], r["failure"]) for r in results if r["event"] == "state"]
        ends = [r for r in results if r["event"] == "end"]
        assert ends, f"the firmware did not finish: {results}"
        self.warnings: list[str] = ends[0]["warnings"]
        self.stats: dict = ends[0]["stats"]


async def run_firmware(
    image: Path,
    tmp_path: Path,
    sim: Pn532Simulator | Rdm6300Simulator,
    kind: str,
    options: dict,
    scenario: Callable[[], Awaitable[None]],
) -> Outcome:
    """Run the driver under micropython while `scenario` drives the simulator."""
    port = await sim.start()
    stop = tmp_path / "stop"
    firmware = asyncio.create_task(
        asyncio.to_thread(
            run_micropython,
            code=FIRMWARE,
            path=[image, SIM_BOARD],
            args=[kind, str(port), str(stop), json.dumps(options)],
            timeout=40,
        )
    )
    try:
        await until(lambda: sim.connected or firmware.done())
        await scenario()
    finally:
        stop.touch()
        run = await firmware
        await sim.close()
    run.check()
    return Outcome(run.results())


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the firmware")
        await asyncio.sleep(0.005)


# -- PN532 -----------------------------------------------------------------------------------
async def test_pn532_a_tap_is_one_on_tag_and_a_held_card_counts_once(image, tmp_path):
    sim = Pn532Simulator()

    async def scenario():
        await until(lambda: sim.empty_polls >= 2)
        sim.tap(CARD7)
        # held for 30 polls, far longer than the 200 ms hold-off
        await until(lambda: sim.card_reads >= 30)

    out = await run_firmware(image, tmp_path, sim, "pn532", PN532_OPTIONS, scenario)
    assert out.tags == [CARD7]
    assert out.states == [(False, None), (True, None)]
    assert sim.wakeups == 1 and sim.commands[SAM_CONFIGURATION] == 1
    assert out.stats["errors"] == 0 and out.warnings == []


async def test_pn532_uids_of_4_and_10_bytes(image, tmp_path):
    sim = Pn532Simulator()

    async def scenario():
        await until(lambda: sim.empty_polls >= 1)
        sim.tap(CARD4)
        await until(lambda: sim.card_reads >= 2)
        sim.tap(CARD10)  # another card: counts at once
        await until(lambda: sim.card_reads >= 4)

    out = await run_firmware(image, tmp_path, sim, "pn532", PN532_OPTIONS, scenario)
    assert out.tags == [CARD4, CARD10]


async def test_pn532_lifted_and_back_within_the_hold_off_is_still_one_tap(image, tmp_path):
    sim = Pn532Simulator()
    options = {**PN532_OPTIONS, "hold_off_ms": 5000}

    async def scenario():
        await until(lambda: sim.empty_polls >= 1)
        sim.tap(CARD4)
        await until(lambda: sim.card_reads >= 3)
        sim.remove()
        empty = sim.empty_polls
        await until(lambda: sim.empty_polls >= empty + 2)  # the reader saw it gone
        sim.tap(CARD4)
        reads = sim.card_reads
        await until(lambda: sim.card_reads >= reads + 3)

    out = await run_firmware(image, tmp_path, sim, "pn532", options, scenario)
    assert out.tags == [CARD4]


async def test_pn532_removed_then_tapped_after_the_hold_off_counts_twice(image, tmp_path):
    sim = Pn532Simulator()

    async def scenario():
        await until(lambda: sim.empty_polls >= 1)
        sim.tap(CARD4, hold_ms=150)
        await until(lambda: sim.card is None)
        empty = sim.empty_polls
        await until(lambda: sim.empty_polls > empty)
        await asyncio.sleep(0.3)  # away longer than the 200 ms hold-off
        sim.tap(CARD4)
        reads = sim.card_reads
        await until(lambda: sim.card_reads >= reads + 3)

    out = await run_firmware(image, tmp_path, sim, "pn532", PN532_OPTIONS, scenario)
    assert out.tags == [CARD4, CARD4]


async def test_pn532_noise_and_bad_checksums_are_rejected_then_it_recovers(image, tmp_path):
    sim = Pn532Simulator(seed=7)

    async def scenario():
        await until(lambda: sim.empty_polls >= 1)
        sim.tap(CARD7)
        await until(lambda: sim.card_reads >= 2)
        for _ in range(5):  # noise in front of a reply, while the firmware listens
            sim.inject_noise(40, with_reply=True)
            reads = sim.card_reads
            await until(lambda n=reads: sim.card_reads >= n + 2)
        sim.inject_noise(200)  # and between polls
        sim.corrupt_next = 1  # one garbled response: a NACK gets a good copy
        await until(lambda: sim.nacks_received >= 1)
        reads = sim.card_reads
        await until(lambda: sim.card_reads >= reads + 2)
        sim.bad_checksum = True  # everything garbled: offline, recovery attempts
        wakeups = sim.wakeups
        await until(lambda: sim.wakeups >= wakeups + 2)
        sim.bad_checksum = False
        reads = sim.card_reads
        await until(lambda: sim.card_reads >= reads + 3)

    out = await run_firmware(image, tmp_path, sim, "pn532", PN532_OPTIONS, scenario)
    # the card stayed on the reader throughout: one tap, even across the outage
    assert out.tags == [CARD7]
    assert out.states == [
        (False, None),
        (True, None),
        (False, "ReaderFailure: bad checksum"),
        (True, None),
    ]
    assert out.warnings == ["ReaderFailure: bad checksum"]  # once, not per retry
    assert out.stats["checksum_errors"] >= 3 and out.stats["nacks"] >= 1
    assert sim.noise_sent == 400


async def test_pn532_absent_reader_is_offline_then_back_online(image, tmp_path):
    sim = Pn532Simulator()

    async def scenario():
        await until(lambda: sim.empty_polls >= 2)
        sim.absent = True
        await until(lambda: sim.wakeups_missed >= 4)  # several recovery attempts
        sim.absent = False
        sim.tap(CARD4)
        await until(lambda: sim.card_reads >= 2)

    out = await run_firmware(image, tmp_path, sim, "pn532", PN532_OPTIONS, scenario)
    assert out.states == [
        (False, None),
        (True, None),
        (False, "ReaderFailure: no ACK"),
        (True, None),
    ]
    assert out.warnings == ["ReaderFailure: no ACK"]
    assert out.tags == [CARD4]
    # woken again when it came back (it was powered down meanwhile)
    assert sim.wakeups == 2 and sim.commands[SAM_CONFIGURATION] == 2


# -- RDM6300 ---------------------------------------------------------------------------------
async def test_rdm6300_a_tap_is_one_on_tag_and_a_held_card_counts_once(image, tmp_path):
    sim = Rdm6300Simulator(interval_ms=30)

    async def scenario():
        sim.tap(EM1)
        await until(lambda: sim.frames_sent >= 25)  # 750 ms of repeats, hold-off 200 ms

    out = await run_firmware(image, tmp_path, sim, "rdm6300", RDM6300_OPTIONS, scenario)
    assert out.tags == [EM1]
    assert out.states == [(True, None)]
    assert out.stats["frames"] >= 20 and out.stats["skipped"] == 0


async def test_rdm6300_removed_then_tapped_after_the_hold_off_counts_twice(image, tmp_path):
    sim = Rdm6300Simulator(interval_ms=30)

    async def scenario():
        sim.tap(EM1)
        await until(lambda: sim.frames_sent >= 3)
        sim.remove()
        await asyncio.sleep(0.35)  # no frame for longer than the 200 ms hold-off
        sim.tap(EM1)
        sent = sim.frames_sent
        await until(lambda: sim.frames_sent >= sent + 3)
        sim.tap(EM2)  # another card counts at once
        sent = sim.frames_sent
        await until(lambda: sim.frames_sent >= sent + 3)

    out = await run_firmware(image, tmp_path, sim, "rdm6300", RDM6300_OPTIONS, scenario)
    assert out.tags == [EM1, EM1, EM2]


async def test_rdm6300_noise_and_bad_checksums_are_rejected_then_it_recovers(image, tmp_path):
    sim = Rdm6300Simulator(interval_ms=30, seed=3)
    options = {**RDM6300_OPTIONS, "hold_off_ms": 5000}

    async def scenario():
        sim.tap(EM1)
        await until(lambda: sim.frames_sent >= 2)
        for _ in range(3):
            sim.inject_noise(50)
            sent = sim.frames_sent
            await until(lambda n=sent: sim.frames_sent >= n + 2)
        sim.bad_checksum = True  # only bad frames for longer than garbled_ms: offline
        sent = sim.frames_sent
        await until(lambda: sim.frames_sent >= sent + 16)
        sim.bad_checksum = False
        sent = sim.frames_sent
        await until(lambda: sim.frames_sent >= sent + 3)

    out = await run_firmware(image, tmp_path, sim, "rdm6300", options, scenario)
    assert out.tags == [EM1]
    assert out.states == [(True, None), (False, "ReaderFailure: garbled input"), (True, None)]
    assert out.stats["bad_checksums"] >= 10 and out.stats["skipped"] >= 1
    assert "ReaderFailure: garbled input" in out.warnings


async def test_rdm6300_silence_is_not_a_failure(image, tmp_path):
    # The RDM6300 cannot be asked: an unplugged module and an empty field look the same.
    sim = Rdm6300Simulator(interval_ms=30)

    async def scenario():
        sim.tap(EM1)
        await until(lambda: sim.frames_sent >= 2)
        sim.absent = True
        await asyncio.sleep(0.4)
        sim.absent = False
        sent = sim.frames_sent
        await until(lambda: sim.frames_sent >= sent + 3)

    out = await run_firmware(image, tmp_path, sim, "rdm6300", RDM6300_OPTIONS, scenario)
    assert out.states == [(True, None)]
    assert out.tags == [EM1, EM1]  # no frame for longer than the hold-off: away


# -- the simulators alone --------------------------------------------------------------------
def test_frames_have_the_documented_checksums():
    assert pn532_frame(0xD4, b"\x14\x01\x14\x01") == bytes.fromhex("0000ff05fbd41401140102 00")
    assert rdm6300_frame(EM1) == b"\x021A0055C3D25E\x03"
    assert rdm6300_frame(EM1, bad_checksum=True) != rdm6300_frame(EM1)
    with pytest.raises(ValueError):
        Pn532Simulator().tap("04A1B2")  # 3 bytes
    with pytest.raises(ValueError):
        Rdm6300Simulator().tap("nothex")


async def _exchange(port: int, data: bytes, expect: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    got = b""
    try:
        while len(got) < expect:
            chunk = await asyncio.wait_for(reader.read(256), 1.0)
            if not chunk:
                break
            got += chunk
    finally:
        writer.close()
    return got


async def test_pn532_simulator_sleeps_until_woken_and_resends_on_nack():
    sim = Pn532Simulator()
    port = await sim.start()
    sam = pn532_frame(0xD4, b"\x14\x01\x14\x01")
    sam_ok = pn532_frame(0xD5, b"\x15")
    in_list = pn532_frame(0xD4, b"\x4a\x01\x00")
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sam)  # no wake-up: a sleeping chip does not answer
        await until(lambda: sim.ignored == 1)
        writer.write(b"\x55\x55" + bytes(10) + sam)
        assert await asyncio.wait_for(reader.readexactly(len(ACK + sam_ok)), 1) == ACK + sam_ok
        sim.tap(CARD4)
        sim.corrupt_next = 1
        writer.write(in_list)
        reply = await asyncio.wait_for(reader.readexactly(len(ACK) + 19), 1)
        good = pn532_frame(0xD5, b"\x4b\x01\x01\x00\x04\x08\x04" + bytes.fromhex(CARD4))
        assert reply[:6] == ACK and reply[6:] != good and len(good) == 19
        writer.write(NACK)
        assert await asyncio.wait_for(reader.readexactly(19), 1) == good
        assert sim.commands[IN_LIST_PASSIVE_TARGET] == 1 and sim.nacks_received == 1
        writer.close()
    finally:
        await sim.close()


async def test_a_new_connection_replaces_the_old_one():
    sim = Rdm6300Simulator(interval_ms=10)
    port = await sim.start()
    try:
        first_reader, first_writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: sim.connections == 1)
        second_reader, second_writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: sim.connections == 2)
        assert await asyncio.wait_for(first_reader.read(), 1) == b""  # closed by the sim
        sim.tap(EM2)
        frame = await asyncio.wait_for(second_reader.readexactly(14), 1)
        assert frame == rdm6300_frame(EM2)
        for w in (first_writer, second_writer):
            w.close()
    finally:
        await sim.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
