# HAL helpers that every board shares: read_exactly, char timing, Files, Clock.
import time

from fakes import FakeStream

from firmware import hal

TMP = "/tmp/chargekit-hal-test"


async def test_read_exactly_collects_chunks_and_stops_at_the_deadline():
    stream = FakeStream()
    stream.feed(b"abc")
    got = await hal.read_exactly(stream, 3, 50)
    assert bytes(got) == b"abc"
    stream.feed(b"xy")
    started = time.ticks_ms()
    got = await hal.read_exactly(stream, 5, 40)
    assert bytes(got) == b"xy"
    assert time.ticks_diff(time.ticks_ms(), started) >= 39


def test_char_time_rounds_up():
    stream = FakeStream(baudrate=9600)
    assert stream.char_ms(1) == 2  # 1.04 ms
    assert stream.char_ms(4) == 5  # 3.5 character times of Modbus silence: 3.6 ms
    stream.baudrate = 115200
    assert stream.char_ms(10) == 1


def test_files_write_is_atomic_and_append_accumulates():
    files = hal.Files(TMP)
    files.remove("journal")
    files.write("config", b"one")
    files.write("config", b"two")
    assert files.read("config") == b"two"
    assert "config.tmp" not in files.list()
    files.append("journal", b"a\n")
    files.append("journal", b"b\n")
    assert files.read("journal") == b"a\n" + b"b\n"
    assert files.read("missing") is None
    for bad in ("", "a/b"):
        try:
            files.read(bad)
        except hal.HalError:
            continue
        raise AssertionError("accepted file name " + bad)


def test_clock_time_unknown_until_set_then_counts():
    clock = hal.Clock()
    assert clock.time() is None
    clock.set_time(1_700_000_000)
    assert clock.time() in (1_700_000_000, 1_700_000_001)
