# RDM6300 125 kHz (EM4100) reader module (UART 9600 8N1). It only talks: while a card is in
# its field it sends the same 14-byte frame again and again,
#   0x02, 10 ASCII hex data characters, 2 ASCII hex checksum (XOR of the 5 data bytes), 0x03,
# and the idTag is the 10 data characters upper-cased. Anything else is skipped until the
# next 0x02; a frame with a bad checksum is rejected and counted.
#
# Being transmit-only, the module cannot be asked whether it is there: silence is what an
# absent module and an empty field both look like, so `online` stays True through silence.
# What the driver can see is a broken line (wrong baud rate, a loose wire picking up noise,
# a failing module): when only rejected bytes arrive for garbled_ms in a row it reports
# online = False, failure "ReaderFailure: garbled input", and back online at the next good
# frame. The hold-off rule uses the frames: a card is away once no valid frame came for
# hold_off_ms.
import time

from micropython import const

from firmware import log
from firmware.drivers import rfid

_STX = const(0x02)
_ETX = const(0x03)
_CHARS = const(12)  # between STX and ETX
_DATA_CHARS = const(10)
_IDLE = const(-1)  # waiting for STX

GARBLED = "ReaderFailure: garbled input"


def _nibble(c):
    if 0x30 <= c <= 0x39:
        return c - 0x30
    if 0x41 <= c <= 0x46:
        return c - 0x37
    if 0x61 <= c <= 0x66:
        return c - 0x57
    return -1


def checksum(chars):
    """XOR of the 5 bytes written as 10 hex characters (bytes-like of ASCII codes)."""
    x = 0
    for i in range(0, _DATA_CHARS, 2):
        x ^= _nibble(chars[i]) << 4 | _nibble(chars[i + 1])
    return x


class Reader(rfid.TagReader):
    read_ms = 100  # longest wait for input in one go
    garbled_ms = 3000  # only rejected input this long: offline
    _polled = False

    def __init__(self, stream, **options):
        super().__init__(stream, **options)
        self._buf = bytearray(_CHARS)
        self._pos = _IDLE
        self._bad_since = None  # first rejected input since the last good frame
        self._bad_last = 0
        self._warned = False
        self.online = True  # assumed: see the top of this file
        self.frames = 0  # good frames
        self.bad_checksums = 0
        self.skipped = 0  # bytes outside good frames (noise, cut or malformed frames)

    async def _run(self):
        stream = self.stream
        while True:
            chunk = await stream.read(32, self.read_ms)
            now = time.ticks_ms()
            for i in range(len(chunk)):
                self.feed(chunk[i], now)

    def feed(self, b, now):
        """Take one received byte (the task does this; tests may call it directly)."""
        pos = self._pos
        if b == _STX:
            if pos != _IDLE:
                self._reject(pos + 1, now)  # a frame cut short by a new one
            self._pos = 0
            return
        if pos == _IDLE:
            self._reject(1, now)
            return
        if pos < _CHARS:
            if _nibble(b) < 0:
                self._pos = _IDLE
                self._reject(pos + 2, now)
                return
            self._buf[pos] = b - 0x20 if b >= 0x61 else b  # upper case
            self._pos = pos + 1
            return
        self._pos = _IDLE
        if b != _ETX:
            self._reject(_CHARS + 2, now)
            return
        buf = self._buf
        if checksum(buf) != _nibble(buf[10]) << 4 | _nibble(buf[11]):
            self.bad_checksums += 1
            if not self._warned:  # once per run of bad frames
                self._warned = True
                log.warn(rfid.TAG, "RDM6300 frame with a bad checksum rejected")
            self._reject(0, now)
            return
        self.frames += 1
        self._bad_since = None
        self._warned = False
        self._up()
        if self._present(buf, 0, _DATA_CHARS, now):
            self._count(bytes(buf[:_DATA_CHARS]).decode())

    def _reject(self, n, now):
        self.skipped += n
        # A pause longer than garbled_ms ends a run of bad input: one noise burst is no fault.
        if self._bad_since is None or time.ticks_diff(now, self._bad_last) > self.garbled_ms:
            self._bad_since = now
        self._bad_last = now
        if self.online and time.ticks_diff(now, self._bad_since) >= self.garbled_ms:
            self._fault(GARBLED)
