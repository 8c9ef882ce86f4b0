# PN532 over HSU: frames and checksums, start-up, UIDs, ACK/NACK, garbled and missing replies,
# offline with backoff and recovery, the hold-off rule. A scripted chip answers through a
# FakeStream.
import asyncio
import gc
import time

from fakes import FakeStream

from firmware import log
from firmware.drivers import pn532, rfid

CARD4 = b"\x04\xa1\xb2\xc3"
CARD7 = b"\x04\x11\x22\x33\x44\x55\x66"
CARD10 = b"\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a"


def response(data, tfi=0xD5):
    """A PN532 -> host information frame."""
    body = bytes([tfi]) + bytes(data)
    return bytes([0, 0, 0xFF, len(body), -len(body) & 0xFF]) + body + bytes([-sum(body) & 0xFF, 0])


class Chip:
    """A PN532 behind a FakeStream. `fault` applies to every reply, `faults` (a list) to the
    next ones first: "silent" (no ACK), "nack" (the chip asks for the frame again), "lcs" or
    "dcs" (response with a bad checksum), "bad_ack", "error" (error frame), "ack_only" (no response),
    "noise" (garbage before the frames)."""

    def __init__(self, card=None):
        self.card = card
        self.fault = None
        self.faults = []
        self.commands = []
        self.wakes = 0
        self.nacks = 0
        self.aborts = 0
        self._last = None

    def __call__(self, data):
        if data.startswith(pn532.WAKE):
            self.wakes += 1
            data = data[len(pn532.WAKE) :]
        if data == pn532.ACK:
            self.aborts += 1
            return None
        if data == pn532.NACK:
            self.nacks += 1
            return self._reply(self._last, ack=False)
        # A host frame: check it the way the chip does.
        n = data[3]
        assert data[:3] == b"\x00\x00\xff" and (n + data[4]) & 0xFF == 0, data
        assert sum(data[5 : 5 + n + 1]) & 0xFF == 0 and data[5] == 0xD4, data
        cmd = data[6]
        self.commands.append(cmd)
        if cmd == pn532.IN_LIST_PASSIVE_TARGET:
            assert data[7:9] == b"\x01\x00"  # one target, 106 kbps type A
            if self.card is None:
                out = response(b"\x4b\x00")
            else:
                card = self.card
                out = response(b"\x4b\x01\x01\x00\x44\x00" + bytes([len(card)]) + card)
        else:
            out = response(bytes([cmd + 1]))
        self._last = out
        return self._reply(out, ack=True)

    def _reply(self, out, ack):
        fault = self.faults.pop(0) if self.faults else self.fault
        head = pn532.ACK if ack else b""
        if fault == "silent":
            return None
        if fault == "nack":
            return pn532.NACK
        if fault == "lcs":
            return head + out[:4] + bytes([out[4] ^ 1]) + out[5:]
        if fault == "dcs":
            return head + out[:-2] + bytes([out[-2] ^ 1]) + out[-1:]
        if fault == "error":
            return head + b"\x00\x00\xff\x01\xff\x7f\x81\x00"
        if fault == "bad_ack":
            return b"\x00\x00\xff\x00\xfe\x00" + out
        if fault == "ack_only":
            return head
        if fault == "noise":
            return b"\x12\xff\x00\x55\xff\x03" + head + out
        return head + out


def reader(chip, **options):
    settings = {
        "poll_ms": 5,
        "ack_timeout_ms": 20,
        "timeout_ms": 30,
        "retry_ms": 10,
        "retry_max_ms": 40,
        "hold_off_ms": 150,
    }
    settings.update(options)
    stream = FakeStream(chip, baudrate=115200)
    r = pn532.Reader(stream, **settings)
    r.got = []
    r.on_tag = r.got.append
    return r, stream


async def until(condition, ms=1000):
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while not condition():
        assert time.ticks_diff(deadline, time.ticks_ms()) > 0, "timed out"
        await asyncio.sleep_ms(2)


def test_frames_match_the_manual():
    # SAMConfiguration normal mode and InListPassiveTarget as in the PN532 user manual
    assert bytes(pn532.frame(0x14, b"\x01\x14\x01")) == bytes.fromhex("0000ff05fbd41401140102 00")
    assert bytes(pn532.frame(0x4A, b"\x01\x00")) == bytes.fromhex("0000ff04fcd44a0100e100")
    assert pn532.ACK == bytes.fromhex("0000ff00ff00")
    assert pn532.WAKE[:2] == b"\x55\x55" and not any(pn532.WAKE[2:])


def test_checksums_hold_for_any_parameters():
    buf = bytearray(40)
    for size in (0, 1, 5, 30):
        params = bytes((i * 37 + size) & 0xFF for i in range(size))
        n = pn532.build_frame(buf, 0x40, params)
        assert n == size + 9
        assert (buf[3] + buf[4]) & 0xFF == 0 and buf[3] == size + 2
        assert sum(buf[5 : 5 + buf[3] + 1]) & 0xFF == 0
        assert buf[n - 1] == 0 and bytes(buf[7 : 7 + size]) == params


async def test_start_wakes_configures_then_polls():
    chip = Chip()
    r, stream = reader(chip)
    assert not r.online
    r.start()
    assert r.start() is r.start()  # idempotent
    await until(lambda: r.polls >= 2)
    r.deinit()
    # the wake-up goes right before SAMConfiguration
    assert stream.written[0] == pn532.WAKE + pn532.frame(0x14, b"\x01\x14\x01")
    # RFConfiguration MaxRetries: a few activation attempts, then "no target"
    assert stream.written[1] == pn532.frame(0x32, b"\x05\xff\x01\x01")
    assert chip.commands[:4] == [0x14, 0x32, 0x4A, 0x4A]
    assert chip.wakes == 1
    assert r.online and r.failure is None and r.got == [] and r.last_tag is None


async def test_uids_of_4_7_and_10_bytes_become_upper_case_hex_idtags():
    for card, expected in (
        (CARD4, "04A1B2C3"),
        (CARD7, "04112233445566"),
        (CARD10, "0102030405060708090A"),
    ):
        r, _ = reader(Chip(card))
        r.start()
        await until(lambda r=r: r.polls >= 3)
        r.deinit()
        assert r.got == [expected] and r.last_tag == expected and r.tags == 1


async def test_uid_of_another_length_is_a_bad_response():
    r, _ = reader(Chip(b"\x01\x02\x03\x04\x05"))
    assert await r._configure()
    assert not await r._poll()
    assert r._why == pn532.BAD_RESPONSE and r.got == []


async def test_missing_ack_resends_then_reports_the_reader_offline():
    chip = Chip(CARD4)
    chip.fault = "silent"
    r, stream = reader(chip, retries=2)
    r.start()
    await until(lambda: r.failure is not None)
    r.deinit()
    assert not r.online and r.failure == "ReaderFailure: no ACK"
    sam = pn532.WAKE + pn532.frame(0x14, b"\x01\x14\x01")
    # one command and two resends, each behind a wake-up
    assert stream.written == [sam] * 3 and chip.wakes == 3


async def test_a_nack_from_the_reader_gets_the_command_again():
    chip = Chip(CARD4)
    r, stream = reader(chip)
    assert await r._configure()
    chip.faults = ["nack"]
    assert await r._poll()
    assert chip.commands == [0x14, 0x32, 0x4A, 0x4A] and r.got == ["04A1B2C3"]


async def test_bad_lcs_and_bad_dcs_are_asked_for_again_with_a_nack():
    chip = Chip(CARD7)
    r, stream = reader(chip)
    assert await r._configure()
    chip.faults = ["lcs", "dcs"]  # ACK fine, response garbled, its copy too, then good
    assert await r._poll()
    assert stream.written[-2:] == [pn532.NACK, pn532.NACK] and chip.nacks == 2
    assert r.checksum_errors == 2 and r.nacks == 2 and r.got == ["04112233445566"]


async def test_a_garbled_ack_sends_the_command_again():
    chip = Chip()
    r, _ = reader(chip)
    assert await r._configure()
    chip.faults = ["bad_ack"]
    assert await r._poll()
    assert chip.commands.count(0x4A) == 2


async def test_garbage_before_the_frames_and_byte_by_byte_input_are_fine():
    class Trickle(FakeStream):
        async def read(self, n, timeout_ms):
            return await FakeStream.read(self, 1, timeout_ms)

    chip = Chip(CARD10)
    chip.fault = "noise"
    r = pn532.Reader(Trickle(chip), ack_timeout_ms=20, timeout_ms=30)
    assert await r._configure() and await r._poll()
    assert r.last_tag == "0102030405060708090A" and r.checksum_errors == 0


async def test_persistent_bad_checksum_goes_offline_then_recovers():
    chip = Chip(CARD4)
    r, _ = reader(chip)
    r.start()
    await until(lambda: r.polls >= 1)
    chip.fault = "dcs"
    await until(lambda: not r.online)
    assert r.failure == "ReaderFailure: bad checksum"
    polls = r.polls
    chip.fault = None
    await until(lambda: r.online and r.polls > polls)
    r.deinit()
    assert r.failure is None
    assert r.got == ["04A1B2C3"]  # the card stayed on the reader: it counted once


async def test_error_frame_is_a_failure_and_the_driver_keeps_trying():
    chip = Chip()
    chip.fault = "error"
    r, _ = reader(chip)
    r.start()
    await until(lambda: r.failure is not None)
    assert not r.online and r.failure == "ReaderFailure: error frame"
    chip.fault = None
    await until(lambda: r.online)
    r.deinit()


async def test_silence_after_the_ack_aborts_the_command():
    chip = Chip()
    r, stream = reader(chip, retries=0)
    assert await r._configure()
    chip.fault = "ack_only"
    assert not await r._poll()
    assert r._why == "ReaderFailure: no response" and chip.aborts == 1
    assert stream.written[-1] == pn532.ACK


async def test_failure_is_logged_once_and_the_backoff_is_capped():
    lines = []
    log.sink = lambda level, tag, text: lines.append((level, tag, text))
    try:
        chip = Chip()
        chip.fault = "silent"
        r, _ = reader(chip, retries=0, ack_timeout_ms=5, retry_ms=5, retry_max_ms=20)
        r.start()
        await until(lambda: chip.wakes >= 6)
        assert r.backoff_ms == 20 and not r.online
        chip.fault = None
        await until(lambda: r.online)
        r.deinit()
    finally:
        log.sink = None
    warnings = [x for x in lines if x[0] == log.WARN]
    assert warnings == [(log.WARN, "rfid", "ReaderFailure: no ACK")], warnings
    assert (log.INFO, "rfid", "reader online") in lines
    assert r.backoff_ms == 5  # reset once it answered


async def test_a_held_card_counts_once_and_again_only_after_the_hold_off():
    chip = Chip(CARD4)
    r, _ = reader(chip, hold_off_ms=100)
    assert await r._configure()
    for _ in range(5):
        assert await r._poll()
    assert r.got == ["04A1B2C3"]
    chip.card = None  # lifted, and back before the hold-off ran out
    assert await r._poll()
    chip.card = CARD4
    assert await r._poll()
    assert r.got == ["04A1B2C3"]
    chip.card = None  # away for longer than the hold-off
    assert await r._poll()
    await asyncio.sleep_ms(110)
    chip.card = CARD4
    assert await r._poll() and await r._poll()
    assert r.got == ["04A1B2C3", "04A1B2C3"]
    chip.card = CARD7  # another card counts at once
    assert await r._poll()
    chip.card = CARD4
    assert await r._poll()
    assert r.got == ["04A1B2C3", "04A1B2C3", "04112233445566", "04A1B2C3"]


def test_hold_off_counts_from_the_first_poll_that_found_no_card():
    r = pn532.Reader(FakeStream(), hold_off_ms=1000)
    assert r._present(CARD4, 0, 4, 0)
    assert not r._present(CARD4, 0, 4, 5000)  # seen all along: never again
    r._absent(5250)
    r._absent(5500)  # still the first one counts
    assert not r._present(CARD4, 0, 4, 6249)
    r._absent(6300)
    assert r._present(CARD4, 0, 4, 7300)


async def test_a_failing_callback_does_not_stop_the_reader():
    chip = Chip(CARD4)
    r, _ = reader(chip)

    def broken(id_tag):
        raise RuntimeError("handler")

    r.on_tag = broken
    r.start()
    await until(lambda: r.tags == 1)
    chip.card = CARD7
    await until(lambda: r.tags == 2)
    r.deinit()
    assert r.online and r.last_tag == "04112233445566"


def test_options_are_checked_and_the_app_picks_the_driver_by_name():
    r = rfid.reader("pn532", FakeStream(), poll_ms=100, on_tag=print)
    assert isinstance(r, pn532.Reader) and r.poll_ms == 100 and r.on_tag is print
    for bad in ({"pol_ms": 1}, {"_rx": 1}):
        try:
            pn532.Reader(FakeStream(), **bad)
        except ValueError:
            continue
        raise AssertionError("accepted " + repr(bad))
    try:
        rfid.reader("acme", FakeStream())
    except ValueError:
        return
    raise AssertionError("accepted an unknown reader")


class _Still:
    """A stream that answers InListPassiveTarget with prebuilt bytes and allocates nothing."""

    def __init__(self, reply):
        self.reply = reply
        self._pending = None

    def write(self, data):
        self._pending = self.reply
        return len(data)

    async def read(self, n, timeout_ms):
        chunk = self._pending
        self._pending = None
        return chunk or b""

    def discard(self):
        pass


def _heap_per_call(coro_fn, times=50):
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        for _ in range(times):
            asyncio.run(coro_fn())
        return (gc.mem_alloc() - before) // times
    finally:
        gc.enable()


def test_a_poll_allocates_only_its_coroutine_frames():
    # Heap per poll of a held card on the unix port, minus the stream's share: what is left
    # are the two coroutine objects (_poll and _exchange); frames, parsing and the UID cost
    # nothing. A real UART.read() allocates its bytes as well; that is the HAL's part.
    card = b"\x4b\x01\x01\x00\x44\x00\x07" + CARD7
    stream = _Still(pn532.ACK + response(card))
    r = pn532.Reader(stream, hold_off_ms=10_000)

    async def poll():
        await r._poll()

    async def two_reads():
        stream.write(b"")
        await stream.read(64, 10)
        await stream.read(64, 10)

    async def nothing():
        pass

    poll_cost = _heap_per_call(poll)
    stream_cost = _heap_per_call(two_reads)
    base = _heap_per_call(nothing)  # asyncio.run's own
    own = poll_cost - stream_cost
    print(
        "pn532 heap per poll: %d bytes (stream %d, asyncio.run %d)"
        % (own, stream_cost - base, base)
    )
    assert r.polls == 50 and r.tags == 1
    assert own <= 256, own
