# Modbus RTU master over a hal.Stream (RS-485 UART, or TCP to the simulator on the sim board).
#
#   bus = ModbusMaster(stream, timeout_ms=200, retries=2)
#   data = await bus.read_input(1, 0x0000, 4)       # FC04: data[0:8] are the 4 registers
#   await bus.write_register(1, 0x0014, 2)           # FC06
#
# Frames: address, function, payload, CRC-16/MODBUS low byte first. A request waits for at
# least 3.5 character times of line silence first; the reply length follows from its function
# code and byte count. Line faults (timeout, CRC, wrong address or function, short or malformed
# frame) are retried; an exception reply (function | 0x80, code) is the slave's answer and is
# raised at once as ModbusError with that code.
import asyncio
import struct
import time

from micropython import const

_FC_READ_HOLDING = const(3)
_FC_READ_INPUT = const(4)
_FC_WRITE_SINGLE = const(6)
_FC_WRITE_MULTIPLE = const(16)
_MAX_READ = const(125)  # registers per read (Modbus limit; a 255-byte reply)
_MAX_WRITE = const(123)

# CRC-16/MODBUS (reflected poly 0xA001, init 0xFFFF) four bits at a time. Measured under the
# unix port on a 157-byte frame: bitwise 119 us, this 16-entry table 27 us, a 256-entry table
# 15 us (for 1 KB more RAM); none allocates.
_CRC_NIBBLE = const(
    (
        0x0000,
        0xCC01,
        0xD801,
        0x1400,
        0xF001,
        0x3C00,
        0x2800,
        0xE401,
        0xA001,
        0x6C00,
        0x7800,
        0xB401,
        0x5000,
        0x9C01,
        0x8801,
        0x4400,
    )
)


class ModbusError(Exception):
    """code: the slave's exception code (reply function | 0x80), or 0 for a line fault."""

    def __init__(self, text, code=0):
        super().__init__(text)
        self.code = code


def crc16(buf, n=None, start=0):
    """CRC-16/MODBUS of buf[start:start + n]; sent low byte first."""
    crc = 0xFFFF
    t = _CRC_NIBBLE
    for i in range(start, start + (len(buf) - start if n is None else n)):
        crc ^= buf[i]
        crc = (crc >> 4) ^ t[crc & 15]
        crc = (crc >> 4) ^ t[crc & 15]
    return crc


class ModbusMaster:
    """One master on one line. Requests take turns, so a poll loop and an on-demand read (or
    several meters on one RS-485 line) can share it."""

    timeout_ms = 200  # for the reply to start, counted from the end of the request on the wire
    retries = 2  # further attempts after a line fault

    def __init__(self, stream, timeout_ms=None, retries=None):
        self.stream = stream
        if timeout_ms is not None:
            self.timeout_ms = timeout_ms
        if retries is not None:
            self.retries = retries
        self.busy = False  # a request is under way (a flag: asyncio.Lock allocates per use)
        self._tx = bytearray(8)  # every request but FC16 is 8 bytes
        self._rx = bytearray(5 + 2 * _MAX_READ)
        self._data = memoryview(self._rx)[3:]  # register data of a read reply
        self._idle = time.ticks_ms()  # when the line last went quiet
        # Counters for the technician console.
        self.requests = 0
        self.line_faults = 0
        self.last_error = None

    async def read_holding(self, slave, start, count):
        return await self.read(slave, _FC_READ_HOLDING, start, count)

    async def read_input(self, slave, start, count):
        return await self.read(slave, _FC_READ_INPUT, start, count)

    async def read(self, slave, fc, start, count):
        """FC03/FC04: returns a memoryview whose first 2*count bytes are the registers, big
        endian; it is the receive buffer, valid until the next request."""
        if not 1 <= count <= _MAX_READ or (fc != _FC_READ_HOLDING and fc != _FC_READ_INPUT):
            raise ValueError("read request")
        await self._transact(None, slave, fc, start, count)
        return self._data

    async def write_register(self, slave, register, value):
        """FC06. slave 0 broadcasts: nobody answers."""
        await self._transact(None, slave, _FC_WRITE_SINGLE, register, value & 0xFFFF)

    async def write_registers(self, slave, start, values):
        """FC16 (values: 16-bit ints). slave 0 broadcasts: nobody answers."""
        n = len(values)
        if not 1 <= n <= _MAX_WRITE:
            raise ValueError("register count")
        frame = bytearray(9 + 2 * n)  # set-up writes are rare: no buffer kept for them
        struct.pack_into(">BBHHB", frame, 0, slave, _FC_WRITE_MULTIPLE, start, n, 2 * n)
        for i in range(n):
            struct.pack_into(">H", frame, 7 + 2 * i, values[i] & 0xFFFF)
        await self._transact(frame, slave, _FC_WRITE_MULTIPLE, start, n)

    async def _transact(self, frame, slave, fc, a, b):
        # frame None: the 8-byte request slave, fc, a, b built here in the kept buffer.
        while self.busy:  # rare: another task's request is on the line
            await asyncio.sleep_ms(1)
        self.busy = True
        try:
            if frame is None:
                frame = self._tx
                struct.pack_into(">BBHH", frame, 0, slave, fc, a, b)
            n = len(frame) - 2
            crc = crc16(frame, n)
            frame[n] = crc & 0xFF
            frame[n + 1] = crc >> 8
            # A read reply carries 2 * count data bytes; a write reply echoes 4 bytes.
            nbytes = 2 * b if fc == _FC_READ_HOLDING or fc == _FC_READ_INPUT else -1
            attempt = 0
            while True:
                self.requests += 1
                try:
                    await self._attempt(frame, slave, fc, nbytes)
                    self.last_error = None
                    return
                except ModbusError as e:
                    self.last_error = e
                    if e.code:  # the slave's own answer: asking again changes nothing
                        raise
                    self.line_faults += 1
                    await self._drain()
                    if attempt >= self.retries:
                        raise
                attempt += 1
        finally:
            self.busy = False

    async def _attempt(self, frame, slave, fc, nbytes):
        stream = self.stream
        n = len(frame)
        # At least 3.5 character times of silence (1.75 ms above 19200 baud) since the line
        # last carried anything, or the slave reads our frame as the tail of the previous one.
        t35 = max(stream.char_ms(4), 2)
        wait = t35 - time.ticks_diff(time.ticks_ms(), self._idle)
        if wait > 0:
            await asyncio.sleep_ms(wait)
        stream.discard()  # a late reply to an earlier request must not pass for this one
        stream.write(frame)
        await stream.drain()  # RS-485: the bus is released when the frame has left
        sent = time.ticks_ms()
        self._idle = time.ticks_add(sent, stream.char_ms(n))
        if slave == 0:  # broadcast: give the slaves their turnaround time and go on
            await asyncio.sleep_ms(stream.char_ms(n) + t35)
            return
        rx = self._rx
        have = 0
        want = 3  # address, function, byte count (or exception code): then the length is known
        # The reply must start within timeout_ms of the request leaving the wire.
        deadline = time.ticks_add(sent, stream.char_ms(n + 3) + self.timeout_ms)
        while have < want:
            left = time.ticks_diff(deadline, time.ticks_ms())
            chunk = await stream.read(want - have, left) if left > 0 else None
            if not chunk:
                self._idle = time.ticks_ms()
                raise ModbusError("no reply" if have == 0 else "short frame")
            k = len(chunk)
            rx[have : have + k] = chunk
            have += k
            if have == 3 and want == 3:
                if rx[0] != slave:
                    raise ModbusError("reply from slave %d" % rx[0])
                if rx[1] == fc | 0x80:
                    want = 5
                elif rx[1] != fc:
                    raise ModbusError("reply to function %d" % rx[1])
                elif nbytes < 0:
                    want = 8
                elif rx[2] != nbytes:
                    raise ModbusError("byte count %d" % rx[2])
                else:
                    want = 5 + nbytes
                # The rest comes back to back: its time on the wire plus the same margin.
                deadline = time.ticks_add(time.ticks_ms(), stream.char_ms(want) + self.timeout_ms)
        self._idle = time.ticks_ms()
        crc = crc16(rx, want - 2)
        if rx[want - 2] != crc & 0xFF or rx[want - 1] != crc >> 8:
            raise ModbusError("CRC error")
        if want == 5:
            raise ModbusError("exception %d" % rx[2], rx[2])
        if nbytes < 0 and rx[2:6] != frame[2:6]:
            raise ModbusError("write not echoed")

    async def _drain(self):
        # After a bad frame, drop what still arrives until the line is quiet for 3.5
        # characters, so the retry does not collide with the rest of it.
        stream = self.stream
        t35 = max(stream.char_ms(4), 2)
        limit = time.ticks_add(time.ticks_ms(), stream.char_ms(len(self._rx)) + t35)
        while time.ticks_diff(limit, time.ticks_ms()) > 0:
            if not await stream.read(64, t35):
                break
        self._idle = time.ticks_ms()
