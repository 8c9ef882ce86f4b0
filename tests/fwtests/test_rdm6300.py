# RDM6300 125 kHz frames: parsing, checksum, resync on garbage, the hold-off rule on repeated
# frames, garbled input reported offline, silence is not a fault.
import asyncio
import time

from fakes import FakeStream

from firmware import log
from firmware.drivers import rdm6300, rfid


def frame(chars, check=None):
    """STX, the 10 characters, their checksum (or `check`), ETX."""
    data = chars.encode() if isinstance(chars, str) else chars
    if check is None:
        check = "%02X" % rdm6300.checksum(data)
    return b"\x02" + data + check.encode() + b"\x03"


def reader(**options):
    r = rdm6300.Reader(FakeStream(), **options)
    r.got = []
    r.on_tag = r.got.append
    return r


def feed(r, data, now):
    for b in data:
        r.feed(b, now)


async def until(condition, ms=1000):
    deadline = time.ticks_add(time.ticks_ms(), ms)
    while not condition():
        assert time.ticks_diff(deadline, time.ticks_ms()) > 0, "timed out"
        await asyncio.sleep_ms(2)


def test_checksum_is_the_xor_of_the_five_bytes():
    assert rdm6300.checksum(b"1A0055C3D2") == 0x1A ^ 0x00 ^ 0x55 ^ 0xC3 ^ 0xD2 == 0x5E
    assert frame("1A0055C3D2") == b"\x021A0055C3D25E\x03"


def test_a_frame_gives_the_ten_characters_upper_cased():
    r = reader()
    feed(r, frame("1A0055C3D2"), 0)
    assert r.got == ["1A0055C3D2"] and r.last_tag == "1A0055C3D2" and r.frames == 1
    feed(r, frame(b"0b00ab12ef"), 5000)  # lower-case hex from some modules
    assert r.got == ["1A0055C3D2", "0B00AB12EF"]
    assert r.skipped == 0 and r.bad_checksums == 0 and r.online and r.failure is None


def test_garbage_and_cut_frames_are_skipped_until_the_next_start():
    r = reader()
    noise = b"\xff\x00\x03\x41\x42"
    cut = b"\x021A00"  # a frame cut short by the next STX
    not_hex = b"\x021A0055C3DZ5E\x03"
    no_etx = b"\x021A0055C3D25E\x04"
    feed(r, noise + cut + frame("1A0055C3D2") + not_hex + no_etx, 0)
    assert r.got == ["1A0055C3D2"] and r.frames == 1
    assert r.skipped == len(noise) + len(cut) + len(not_hex) + len(no_etx), r.skipped
    feed(r, b"\x02\x02" + frame("0B00AB12EF")[1:], 10)
    assert r.got == ["1A0055C3D2", "0B00AB12EF"]


def test_a_bad_checksum_is_rejected_counted_and_logged_once_per_run():
    lines = []
    log.sink = lambda level, tag, text: lines.append((level, text))
    try:
        r = reader()
        for t in range(3):
            feed(r, frame("1A0055C3D2", "5F"), t * 100)
        feed(r, frame("1A0055C3D2"), 300)
        feed(r, frame("1A0055C3D2", "00"), 400)
    finally:
        log.sink = None
    assert r.bad_checksums == 4 and r.frames == 1 and r.got == ["1A0055C3D2"]
    warned = [x for x in lines if x[0] == log.WARN]
    assert len(warned) == 2 and "checksum" in warned[0][1]
    assert r.online  # a few bad frames are no fault


def test_repeated_frames_of_a_held_card_count_once():
    r = reader(hold_off_ms=1000)
    one, two = frame("1A0055C3D2"), frame("0B00AB12EF")
    for t in range(0, 3000, 100):  # held for 3 s, a frame every 100 ms
        feed(r, one, t)
    assert r.got == ["1A0055C3D2"] and r.frames == 30
    feed(r, one, 2900 + 999)  # back within the hold-off: the same tap
    assert r.got == ["1A0055C3D2"]
    feed(r, one, 3899 + 1000)  # away (no frame) for the hold-off: counts again
    assert r.got == ["1A0055C3D2"] * 2
    feed(r, two, 4950)  # another card counts at once
    feed(r, one, 5000)
    assert r.got == ["1A0055C3D2", "1A0055C3D2", "0B00AB12EF", "1A0055C3D2"]


def test_only_garbage_for_a_while_is_offline_until_a_good_frame():
    r = reader(garbled_ms=500)
    feed(r, b"\x55" * 40, 0)  # one burst of noise, then silence: no fault
    assert r.online
    feed(r, b"\x55", 2000)  # noise again, long after: a new run begins
    for t in range(2100, 2500, 100):
        feed(r, frame("1A0055C3D2", "00"), t)
    assert r.online and r.failure is None
    feed(r, b"\xaa\x55", 2500)  # 500 ms of nothing but rejected input
    assert not r.online and r.failure == "ReaderFailure: garbled input"
    feed(r, frame("1A0055C3D2"), 2600)
    assert r.online and r.failure is None and r.got == ["1A0055C3D2"]


async def test_the_task_reads_the_stream_and_silence_keeps_it_online():
    stream = FakeStream()
    r = rfid.reader("rdm6300", stream, hold_off_ms=200, read_ms=10)
    assert isinstance(r, rdm6300.Reader)
    got = []
    r.on_tag = got.append
    r.start()
    await asyncio.sleep_ms(40)  # silence: the module cannot tell, so still online
    assert r.online and r.failure is None
    one = frame("1A0055C3D2")
    stream.feed(one[:5])
    await asyncio.sleep_ms(15)
    stream.feed(one[5:] + one + one)
    await until(lambda: r.frames == 3)
    r.deinit()
    assert got == ["1A0055C3D2"] and r.skipped == 0
