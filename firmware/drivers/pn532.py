# NXP PN532 13.56 MHz reader on its HSU interface (UART 115200 8N1), after the PN532 user
# manual (UM0701-02): information frames 00 00 FF LEN LCS TFI DATA DCS 00 with LCS = -LEN and
# DCS = -(TFI + DATA), TFI D4 host to PN532 and D5 back; every command is answered first by
# an ACK 00 00 FF 00 FF 00, then by its response (command code + 1).
#
# Start-up: the wake-up preamble (0x55 0x55 and zeros, HSU wake-up) followed by
# SAMConfiguration (normal mode), then RFConfiguration MaxRetries so that
# InListPassiveTarget gives up after a few activation attempts instead of waiting for a card
# forever (the chip's default): an empty answer then means "no card" and a missing one means
# a missing reader. The driver polls InListPassiveTarget (one target, 106 kbps type A).
# A response with a bad checksum is asked for again with a NACK, a command that got no ACK is
# sent again; when that fails too the reader is offline (failure "ReaderFailure: ...") and
# the driver wakes and configures it again with a capped exponential backoff.
import asyncio
import time

from micropython import const

from firmware.drivers import rfid
from protocol import idtag

_HOST = const(0xD4)  # TFI host -> PN532
_CHIP = const(0xD5)  # TFI PN532 -> host
_ERROR_TFI = const(0x7F)  # application-level error frame 00 00 FF 01 FF 7F 81 00
SAM_CONFIGURATION = const(0x14)
RF_CONFIGURATION = const(0x32)
IN_LIST_PASSIVE_TARGET = const(0x4A)

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
# HSU wake-up: 0x55 0x55 then zeros long enough (2 ms at 115200) for the oscillator to start.
WAKE = b"\x55\x55" + bytes(22)

# What _parse found.
_TIMEOUT = const(0)
_ACK = const(1)
_NACK = const(2)
_DATA = const(3)  # a good information frame, its TFI and data in _rx[:_rx_len]
_ERROR = const(4)  # the error frame
_GARBLED = const(5)  # bad LCS or DCS, or too long
_MORE = const(6)  # the input ran out inside or before a frame

# Receiver states.
_SYNC = const(0)
_LEN = const(1)
_LCS = const(2)
_BODY = const(3)
_DCS = const(4)

_RX_SIZE = const(64)  # InListPassiveTarget with a 10-byte UID and an ATS fits

NO_ACK = "ReaderFailure: no ACK"
NO_RESPONSE = "ReaderFailure: no response"
BAD_CHECKSUM = "ReaderFailure: bad checksum"
ERROR_FRAME = "ReaderFailure: error frame"
BAD_RESPONSE = "ReaderFailure: unexpected response"


def build_frame(buf, cmd, params=b""):
    """Write the information frame of host command `cmd` with `params` into buf (at least
    len(params) + 9 bytes); returns the frame's length."""
    n = len(params) + 2  # TFI, command, parameters
    buf[0] = 0
    buf[1] = 0
    buf[2] = 0xFF
    buf[3] = n
    buf[4] = -n & 0xFF
    buf[5] = _HOST
    buf[6] = cmd
    total = _HOST + cmd
    for i in range(len(params)):
        buf[7 + i] = params[i]
        total += params[i]
    buf[5 + n] = -total & 0xFF
    buf[6 + n] = 0
    return n + 7


def frame(cmd, params=b""):
    buf = bytearray(len(params) + 9)
    build_frame(buf, cmd, params)
    return buf


class Reader(rfid.TagReader):
    poll_ms = 250  # pause between two InListPassiveTarget
    ack_timeout_ms = 50
    timeout_ms = 300  # for the response after the ACK
    retries = 2  # resends of a command without ACK, and NACKs for a garbled response
    retry_ms = 500  # first wait before waking an absent reader again; doubles up to:
    retry_max_ms = 8000
    activation_retries = 1  # RFConfiguration MxRtyPassiveActivation (0xFF: wait forever)

    def __init__(self, stream, **options):
        super().__init__(stream, **options)
        # Every frame the driver sends is built once, here. The wake-up and SAMConfiguration
        # (normal mode, 1 s, use IRQ) leave as one write: two small writes in a row would
        # wait for each other on the sim board's TCP link (Nagle and delayed ACKs).
        self._wake_sam = WAKE + frame(SAM_CONFIGURATION, b"\x01\x14\x01")
        self._rf = frame(RF_CONFIGURATION, bytes((0x05, 0xFF, 0x01, self.activation_retries)))
        self._list = frame(IN_LIST_PASSIVE_TARGET, b"\x01\x00")  # MaxTg 1, 106 kbps type A
        self._rx = bytearray(_RX_SIZE)
        self._rx_len = 0
        self._chunk = b""  # bytes read but not parsed yet (an ACK and a response may share it)
        self._pos = 0
        self._state = _SYNC
        self._prev = -1
        self._length = self._got = self._total = 0
        self._why = None
        self.backoff_ms = self.retry_ms  # the current wait between recovery attempts
        self.polls = 0
        self.errors = 0  # exchanges that failed after their resends
        self.checksum_errors = 0  # frames with a bad LCS or DCS
        self.nacks = 0  # NACKs sent

    # -- frames --------------------------------------------------------------------------
    def _parse(self):
        """Go on parsing the input in _chunk: what was found, or _MORE when it ran out. The
        state of a frame cut between two reads is kept in attributes (no coroutine per
        frame: each one would cost a heap allocation)."""
        rx = self._rx
        chunk = self._chunk
        pos = self._pos
        end = len(chunk)
        state = self._state
        prev = self._prev
        length = self._length
        got = self._got
        total = self._total
        while pos < end:
            b = chunk[pos]
            pos += 1
            if state == _SYNC:
                if prev == 0 and b == 0xFF:
                    state = _LEN
                prev = b
            elif state == _LEN:
                length = b
                state = _LCS
            elif state == _LCS:
                self._pos = pos
                self._state = _SYNC
                self._prev = -1
                if length == 0 and b == 0xFF:
                    return _ACK
                if length == 0xFF and b == 0:
                    return _NACK
                if length == 0 or (length + b) & 0xFF or length > _RX_SIZE:
                    self.checksum_errors += 1
                    return _GARBLED
                state = _BODY
                got = total = 0
            elif state == _BODY:
                rx[got] = b
                got += 1
                total += b
                if got == length:
                    state = _DCS
            else:
                self._pos = pos
                self._state = _SYNC
                self._prev = -1
                self._rx_len = length
                if (total + b) & 0xFF:
                    self.checksum_errors += 1
                    return _GARBLED
                if length == 1 and rx[0] == _ERROR_TFI:
                    return _ERROR
                return _DATA
        self._pos = pos
        self._state = state
        self._prev = prev
        self._length = length
        self._got = got
        self._total = total
        return _MORE

    def _flush(self):
        self.stream.discard()
        self._chunk = b""
        self._pos = 0
        self._state = _SYNC
        self._prev = -1

    async def _exchange(self, command, cmd):
        """Send a prebuilt command frame; True once its response is in _rx. A missing or
        garbled ACK (or a NACK) sends the command again, a garbled response is asked for
        again with a NACK; False with the reason in _why when the retries run out.
        One coroutine with the waits inline: each nested one would cost an allocation."""
        stream = self.stream
        rx = self._rx
        why = NO_ACK
        sends = nacks = 0
        acked = False
        deadline = 0
        send = True
        while True:
            if send:
                if sends > self.retries:
                    break
                sends += 1
                nacks = 0
                acked = send = False
                self._flush()
                stream.write(command)
                deadline = time.ticks_add(time.ticks_ms(), self.ack_timeout_ms)
            got = self._parse()
            if got == _MORE:
                left = time.ticks_diff(deadline, time.ticks_ms())
                chunk = await stream.read(_RX_SIZE, left) if left > 0 else None
                if chunk:
                    self._chunk = chunk
                    self._pos = 0
                    continue
                got = _TIMEOUT
            if not acked:
                if got == _ACK:
                    acked = True
                    deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)
                    continue
                if got == _GARBLED:
                    why = BAD_CHECKSUM
                elif got == _ERROR:
                    why = ERROR_FRAME
                elif got == _TIMEOUT:
                    why = NO_ACK
                send = True  # no ACK, a NACK or a garbled one: the chip missed the command
                continue
            if got == _DATA:
                if self._rx_len >= 2 and rx[0] == _CHIP and rx[1] == cmd + 1:
                    return True
                why = BAD_RESPONSE
            elif got == _GARBLED:
                why = BAD_CHECKSUM
            elif got == _TIMEOUT:  # silence after the ACK: abort the command (an ACK does)
                why = NO_RESPONSE
                stream.write(ACK)
                send = True
                continue
            elif got == _ERROR:
                why = ERROR_FRAME
                send = True
                continue
            else:
                why = BAD_RESPONSE
            if nacks >= self.retries:
                send = True
                continue
            nacks += 1
            self.nacks += 1
            self._flush()
            stream.write(NACK)  # the chip sends its last response again
            deadline = time.ticks_add(time.ticks_ms(), self.timeout_ms)
        self._why = why
        self.errors += 1
        return False

    # -- polling -------------------------------------------------------------------------
    async def _configure(self):
        """Wake the chip and set it up; True when it answered both commands."""
        if not await self._exchange(self._wake_sam, SAM_CONFIGURATION):
            return False
        return await self._exchange(self._rf, RF_CONFIGURATION)

    async def _poll(self):
        """One InListPassiveTarget; True when the reader answered (with a card or none).
        The task does the same inline, saving a coroutine object per poll."""
        return await self._exchange(self._list, IN_LIST_PASSIVE_TARGET) and self._listed()

    def _listed(self):
        """Take the InListPassiveTarget response in _rx: count the card or note its absence."""
        self.polls += 1
        rx = self._rx
        n = self._rx_len
        now = time.ticks_ms()
        if n >= 3 and rx[2] == 0:
            self._absent(now)
            return True
        # D5 4B NbTg Tg SENS_RES(2) SEL_RES NFCIDLength NFCID1 [ATS]
        size = rx[7] if n >= 8 else 0
        if size not in (4, 7, 10) or 8 + size > n:
            self._why = BAD_RESPONSE
            self.errors += 1
            return False
        if self._present(rx, 8, size, now):
            self._count(idtag.from_uid(rx[8 : 8 + size]))
        return True

    async def _run(self):
        ready = False
        self.backoff_ms = self.retry_ms
        while True:
            if not ready:
                if await self._configure():
                    ready = True
                    self.backoff_ms = self.retry_ms
                    self._up()
                else:
                    self._fault(self._why)
                    await asyncio.sleep_ms(self.backoff_ms)
                    self.backoff_ms = min(self.backoff_ms * 2, self.retry_max_ms)
                    continue
            if not (await self._exchange(self._list, IN_LIST_PASSIVE_TARGET) and self._listed()):
                # Offline; configure again at once (a reset chip needs it), then back off.
                self._fault(self._why)
                ready = False
                continue
            await asyncio.sleep_ms(self.poll_ms)
