# Modbus RTU master: CRC, frames on the wire, replies, exception replies, line faults and
# retries, inter-frame silence; against FakeStream and a small register slave.
import gc
import struct
import time

from fakes import FakeStream

from firmware.drivers.modbus import ModbusError, ModbusMaster, crc16


def with_crc(body):
    frame = bytearray(body)
    crc = crc16(frame)
    frame.append(crc & 0xFF)
    frame.append(crc >> 8)
    return bytes(frame)


class RegisterSlave:
    """A Modbus slave for FakeStream(responder=...): registers per function code (3 holding,
    4 input) as {address: 16-bit value}. `faults` holds what goes wrong with the next
    requests, one entry each: None, "silent", "crc", "wrong_address", "wrong_function",
    "short", "byte_count", "exception"."""

    def __init__(self, address=1, holding=None, inputs=None):
        self.address = address
        self.regs = {3: holding or {}, 4: inputs or {}}
        self.faults = []
        self.requests = []
        self.times = []

    def set(self, fc, start, fmt, *values):
        """Store values packed with struct format `fmt` (e.g. ">f") from register start."""
        data = b"".join(struct.pack(fmt, v) for v in values)
        for i in range(0, len(data), 2):
            self.regs[fc][start + i // 2] = data[i] << 8 | data[i + 1]

    def __call__(self, req):
        self.requests.append(req)
        self.times.append(time.ticks_ms())
        fault = self.faults.pop(0) if self.faults else None
        assert with_crc(req[:-2]) == req, "request with a bad CRC"
        if req[0] != self.address or fault == "silent":
            return None
        fc = req[1]
        if fault == "exception":
            return with_crc(bytes((self.address, fc | 0x80, 4)))
        if fc in (3, 4):
            start, count = struct.unpack(">HH", req[2:6])
            table = self.regs[fc]
            if any(start + i not in table for i in range(count)):
                return with_crc(bytes((self.address, fc | 0x80, 2)))
            body = bytearray((self.address, fc, 2 * count))
            for i in range(count):
                body.extend(struct.pack(">H", table[start + i]))
        elif fc == 6:
            register, value = struct.unpack(">HH", req[2:6])
            self.regs[3][register] = value
            body = bytearray(req[:6])
        elif fc == 16:
            start, count = struct.unpack(">HH", req[2:6])
            for i in range(count):
                self.regs[3][start + i] = struct.unpack(">H", req[7 + 2 * i : 9 + 2 * i])[0]
            body = bytearray(req[:6])
        else:
            return with_crc(bytes((self.address, fc | 0x80, 1)))
        if fault == "wrong_address":
            body[0] ^= 0x10
        elif fault == "wrong_function":
            body[1] = 0x11
        elif fault == "byte_count":
            body[2] += 2
        frame = with_crc(body)
        if fault == "crc":
            frame = frame[:-1] + bytes((frame[-1] ^ 0x55,))
        elif fault == "short":
            frame = frame[:4]
        return frame


def make(slave=None, timeout_ms=30, retries=2, baudrate=9600):
    slave = slave or RegisterSlave(holding={i: 0x100 + i for i in range(16)})
    stream = FakeStream(responder=slave, baudrate=baudrate)
    return ModbusMaster(stream, timeout_ms=timeout_ms, retries=retries), stream, slave


def test_crc_vectors():
    assert crc16(b"\x01\x03\x00\x00\x00\x0a") == 0xCDC5  # on the wire: C5 CD
    assert crc16(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value
    # From the Eastron SDM120 protocol: read voltage, reply 230.0 V.
    assert with_crc(bytes.fromhex("010400000002")) == bytes.fromhex("01040000000271cb")
    assert with_crc(bytes.fromhex("01040443660000")) == bytes.fromhex("010404436600000e1f")
    assert crc16(bytearray(b"xx\x01\x03\x00\x00\x00\x0a"), 6, 2) == 0xCDC5
    assert crc16(b"") == 0xFFFF


async def test_read_request_on_the_wire_and_registers_back():
    bus, stream, _ = make()
    data = await bus.read_holding(1, 0x0000, 10)
    assert stream.written == [bytes.fromhex("01030000000ac5cd")]
    assert bytes(data[:20]) == b"".join(struct.pack(">H", 0x100 + i) for i in range(10))
    assert bus.requests == 1 and bus.line_faults == 0 and bus.last_error is None


async def test_read_input_decodes_a_float_reply():
    slave = RegisterSlave(inputs={})
    slave.set(4, 0x0000, ">f", 230.0)
    bus, stream, _ = make(slave)
    data = await bus.read_input(1, 0x0000, 2)
    assert stream.written[0] == bytes.fromhex("01040000000271cb")
    assert struct.unpack_from(">f", data, 0)[0] == 230.0


async def test_exception_reply_raises_its_code_without_retry():
    bus, stream, _ = make()
    try:
        await bus.read_holding(1, 0x0100, 2)  # no such registers: illegal data address
    except ModbusError as e:
        assert e.code == 2, e.code
        assert "exception 2" in str(e)
    else:
        raise AssertionError("no ModbusError")
    assert len(stream.written) == 1


async def test_silent_slave_times_out_after_the_retries():
    bus, stream, slave = make(timeout_ms=20, retries=2)
    slave.faults = ["silent"] * 3
    started = time.ticks_ms()
    try:
        await bus.read_holding(1, 0, 1)
    except ModbusError as e:
        assert e.code == 0 and str(e) == "no reply", str(e)
    else:
        raise AssertionError("no ModbusError")
    assert len(stream.written) == 3
    assert bus.line_faults == 3
    assert time.ticks_diff(time.ticks_ms(), started) >= 3 * 20


async def test_line_faults_are_retried_then_succeed():
    for fault, text in (
        ("crc", "CRC error"),
        ("wrong_address", "reply from slave 17"),
        ("wrong_function", "reply to function 17"),
        ("short", "short frame"),
        ("byte_count", "byte count 6"),
        ("silent", "no reply"),
    ):
        bus, stream, slave = make(retries=1)
        slave.faults = [fault]
        data = await bus.read_holding(1, 2, 2)
        assert bytes(data[:4]) == bytes.fromhex("01020103"), fault
        assert len(stream.written) == 2, fault
        assert bus.line_faults == 1, fault
        # Both attempts fail: the fault's own text reaches the caller.
        bus, stream, slave = make(retries=1)
        slave.faults = [fault, fault]
        try:
            await bus.read_holding(1, 2, 2)
        except ModbusError as e:
            assert e.code == 0 and str(e) == text, (fault, str(e))
        else:
            raise AssertionError("no ModbusError for " + fault)
        assert len(stream.written) == 2, fault


async def test_exception_reply_with_bad_crc_is_a_line_fault():
    bus, stream, slave = make(retries=0)
    stream.responder = lambda req: bytes((1, 0x83, 2, 0, 0))
    try:
        await bus.read_holding(1, 0, 1)
    except ModbusError as e:
        assert e.code == 0 and str(e) == "CRC error"
    else:
        raise AssertionError("no ModbusError")


async def test_stale_input_is_dropped_before_a_request():
    bus, stream, _ = make()
    stream.feed(b"\x01\x03\x02\xde\xad\x00\x00")  # a late reply to something earlier
    data = await bus.read_holding(1, 0, 1)
    assert bytes(data[:2]) == b"\x01\x00"
    assert bus.line_faults == 0


async def test_silence_of_three_and_a_half_characters_before_each_request():
    bus, stream, slave = make(baudrate=9600)
    for _ in range(4):
        await bus.read_holding(1, 0, 1)
    # The replies arrive at once; each request waits 3.5 characters (5 ms rounded up).
    times = slave.times
    for i in range(1, len(times)):
        assert time.ticks_diff(times[i], times[i - 1]) >= stream.char_ms(4), times


async def test_write_single_and_multiple_registers():
    bus, stream, slave = make()
    await bus.write_register(1, 0x0014, 0x1234)
    assert stream.written[-1] == with_crc(bytes.fromhex("010600141234"))
    assert slave.regs[3][0x14] == 0x1234
    await bus.write_registers(1, 0x0002, [0x4170, 0x0000])
    assert stream.written[-1] == with_crc(bytes.fromhex("011000020002044170 0000".replace(" ", "")))
    assert slave.regs[3][2] == 0x4170 and slave.regs[3][3] == 0
    # A reply that does not echo the write is a fault.
    bus, stream, slave = make(retries=0)
    stream.responder = lambda req: with_crc(bytes.fromhex("010600150001"))
    try:
        await bus.write_register(1, 0x0014, 1)
    except ModbusError as e:
        assert str(e) == "write not echoed"
    else:
        raise AssertionError("no ModbusError")


async def test_broadcast_write_expects_no_reply():
    bus, stream, slave = make()
    await bus.write_register(0, 0x0014, 7)
    assert stream.written == [with_crc(bytes.fromhex("000600140007"))]
    assert slave.regs[3].get(0x14) is None  # slave 1 ignores it, nothing waited for


async def test_request_arguments_are_checked():
    bus, _, _ = make()
    for count in (0, 126):
        try:
            await bus.read_holding(1, 0, count)
        except ValueError:
            continue
        raise AssertionError("accepted count %d" % count)


class _ReplayStream(FakeStream):
    """Answers every request with the same prebuilt reply, without allocating."""

    def __init__(self, reply):
        super().__init__()
        self.head = reply[:3]
        self.rest = reply[3:]
        self.turn = 0

    def write(self, data):
        self.turn = 0
        return len(data)

    def discard(self):
        pass

    async def read(self, n, timeout_ms):
        self.turn += 1
        return self.head if self.turn == 1 else self.rest


async def _allocated_per_read(count):
    body = bytearray((1, 4, 2 * count)) + bytearray(2 * count)
    stream = _ReplayStream(with_crc(body))
    stream.baudrate = 1000000  # short inter-frame waits
    bus = ModbusMaster(stream)
    await bus.read_input(1, 0, count)
    gc.collect()
    before = gc.mem_alloc()
    for _ in range(10):
        await bus.read_input(1, 0, count)
    return (gc.mem_alloc() - before) // 10


async def test_steady_state_reads_allocate_nothing_per_byte():
    # Frames live in preallocated buffers: a 76-register read allocates no more than a
    # 1-register one; what both allocate is coroutine frames.
    small = await _allocated_per_read(1)
    large = await _allocated_per_read(76)
    print("modbus: heap allocated per read:", small, "bytes (1 register),", large, "(76)")
    assert large <= small + 16, (small, large)
