"""RFID reader simulators: a TCP server standing in for the reader's UART.

The sim board wires the firmware's reader UART to the port (boards/sim/simhal.TcpStream), and
the bytes on the socket are those on the reader's TX and RX lines: PN532 HSU frames
(`Pn532Simulator`) or the RDM6300's ASCII frames (`Rdm6300Simulator`). One client at a time;
a new connection replaces the old one. Use it from the asyncio loop that runs it::

    sim = Pn532Simulator()
    port = await sim.start()
    sim.tap("04A1B2C3")            # the card stays on the reader until remove()
    sim.tap("04A1B2C3D4E5F6", hold_ms=500)
    sim.absent = True              # unplugged: no replies at all
    await sim.close()

Faults: `inject_noise(n)` sends n random bytes now, `bad_checksum = True` spoils the checksum
of everything sent until set back, `Pn532Simulator.corrupt_next = n` spoils only the next n
responses (a NACK then gets a good copy), `Pn532Simulator.error_next = n` answers the next n
commands with the error frame.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
from collections import Counter

ACK = b"\x00\x00\xff\x00\xff\x00"
NACK = b"\x00\x00\xff\xff\x00\x00"
ERROR_FRAME = b"\x00\x00\xff\x01\xff\x7f\x81\x00"
START = b"\x00\xff"
WAKE = b"\x55\x55"

SAM_CONFIGURATION = 0x14
RF_CONFIGURATION = 0x32
IN_LIST_PASSIVE_TARGET = 0x4A
GET_FIRMWARE_VERSION = 0x02


def pn532_frame(tfi: int, data: bytes) -> bytes:
    """An information frame `00 00 FF LEN LCS TFI DATA DCS 00` (PN532 user manual 6.2.1.1).

    >>> pn532_frame(0xD4, bytes([0x4A, 0x01, 0x00])).hex(" ")
    '00 00 ff 04 fc d4 4a 01 00 e1 00'
    """
    body = bytes([tfi]) + bytes(data)
    if not 0 < len(body) < 255:
        raise ValueError("PN532 frame body must be 1..254 bytes")
    return bytes([0, 0, 0xFF, len(body), -len(body) & 0xFF, *body, -sum(body) & 0xFF, 0])


def rdm6300_frame(uid_hex: str, *, bad_checksum: bool = False) -> bytes:
    """STX, 10 hex characters, 2 hex characters of their 5 bytes' XOR, ETX.

    >>> rdm6300_frame("1A0055C3D2")
    b'\\x021A0055C3D25E\\x03'
    """
    data = _uid(uid_hex, (5,))
    check = 0
    for b in data:
        check ^= b
    if bad_checksum:
        check ^= 0x5A
    return b"\x02" + data.hex().upper().encode() + b"%02X\x03" % check


def _uid(uid_hex: str, sizes: tuple[int, ...]) -> bytes:
    try:
        uid = bytes.fromhex(uid_hex)
    except ValueError:
        raise ValueError(f"card UID {uid_hex!r} is not hex") from None
    if len(uid) not in sizes:
        raise ValueError(f"card UID must be {' or '.join(map(str, sizes))} bytes, got {uid_hex!r}")
    return uid


class UartSimulator:
    """What both readers share: the TCP server, the card on the reader and the fault knobs.

    Call its methods from the thread that runs its asyncio loop."""

    uid_sizes: tuple[int, ...] = ()

    def __init__(self, *, seed: int = 0) -> None:
        self.card: bytes | None = None
        self.bad_checksum = False
        self._absent = False
        self.connections = 0
        self.noise_sent = 0
        self.bytes_received = 0
        self._random = random.Random(seed)
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._handlers: set[asyncio.Task] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._removal: asyncio.TimerHandle | None = None
        self._pending_noise = b""
        self.port: int | None = None

    # -- server --------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen on host:port (0 picks a free port); returns the port."""
        self._server = await asyncio.start_server(self._accept, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._removal is not None:
            self._removal.cancel()
        if self._server is not None:
            self._server.close()
        # Hang up; each connection's handler then sees EOF and ends by itself (cancelling
        # it would make asyncio log the cancellation as an error).
        for writer in list(self._writers):
            writer.close()
        if self._handlers:
            _, stuck = await asyncio.wait(list(self._handlers), timeout=2)
            for task in stuck:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.add(writer)
        if self._writer is not None:
            self._writer.close()  # the new connection replaces the old one
        self._writer = writer
        self.connections += 1
        self._connected()
        try:
            while data := await reader.read(4096):
                if self._writer is not writer:
                    break
                self.bytes_received += len(data)
                self._received(data)
        except (ConnectionError, OSError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            self._writers.discard(writer)
            self._handlers.discard(task)

    def _send(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def _reply(self, data: bytes) -> None:
        noise, self._pending_noise = self._pending_noise, b""
        self._send(noise + data)

    def _connected(self) -> None:
        pass

    def _received(self, data: bytes) -> None:
        pass

    # -- the card and faults ---------------------------------------------------------------
    def tap(self, uid_hex: str, *, hold_ms: int | None = None) -> None:
        """Place a card (replacing any other); it stays until remove() or for hold_ms."""
        self.card = _uid(uid_hex, self.uid_sizes)
        if self._removal is not None:
            self._removal.cancel()
            self._removal = None
        if hold_ms is not None:
            self._removal = asyncio.get_running_loop().call_later(hold_ms / 1000, self.remove)

    def remove(self) -> None:
        self.card = None
        if self._removal is not None:
            self._removal.cancel()
            self._removal = None

    def inject_noise(self, n_bytes: int, *, with_reply: bool = False) -> bytes:
        """Send n random bytes to the firmware (a burst of line noise); returns them. Now, or
        with_reply: glued to the front of the next reply or frame the reader sends (for the
        PN532 that is while the firmware listens, instead of before it discards stale input)."""
        noise = self._random.randbytes(n_bytes)
        if with_reply:
            self._pending_noise += noise
        else:
            self._send(noise)
        self.noise_sent += n_bytes
        return noise

    @property
    def absent(self) -> bool:
        """True: the reader is unplugged, nothing it would send is sent."""
        return self._absent

    @absent.setter
    def absent(self, value: bool) -> None:
        self._absent = bool(value)


class Pn532Simulator(UartSimulator):
    """A PN532 on HSU: wakes on the 0x55 preamble, ACKs every good command frame and answers
    SAMConfiguration, RFConfiguration, GetFirmwareVersion and InListPassiveTarget (the card
    on the reader, or NbTg 0); a NACK gets the last response again, a host ACK aborts.

    Counters: `commands` (Counter of command codes answered), `card_reads` and `empty_polls`
    (InListPassiveTarget answers), `wakeups` (and `wakeups_missed` while absent),
    `acks_received`, `nacks_received`,
    `bad_frames` (host frames with a bad checksum), `ignored` (frames while asleep or
    absent), `responses`.
    """

    uid_sizes = (4, 7, 10)

    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.corrupt_next = 0
        self.error_next = 0
        self.asleep = True  # after power-up the chip waits for the HSU wake-up
        self.commands: Counter[int] = Counter()
        self.card_reads = 0
        self.empty_polls = 0
        self.wakeups = 0
        self.wakeups_missed = 0  # wake-ups sent while absent
        self.acks_received = 0
        self.nacks_received = 0
        self.bad_frames = 0
        self.ignored = 0
        self.responses = 0
        self._buffer = bytearray()
        self._last_response: bytes | None = None

    @UartSimulator.absent.setter
    def absent(self, value: bool) -> None:
        self._absent = bool(value)
        if value:  # unplugged: it comes back powered down, waiting for a wake-up
            self.asleep = True
            self._last_response = None

    def _connected(self) -> None:
        self._buffer.clear()

    def _received(self, data: bytes) -> None:
        buf = self._buffer
        buf += data
        while True:
            start = buf.find(START)
            if start < 0:
                if WAKE in buf:
                    self._wake()
                del buf[: max(0, len(buf) - 1)]  # a trailing 0x00 may begin a start code
                return
            if WAKE in buf[:start]:
                self._wake()
            if len(buf) < start + 4:
                del buf[:start]
                return
            length, lcs = buf[start + 2], buf[start + 3]
            if length == 0 and lcs == 0xFF:
                del buf[: start + 4]
                self._host_ack()
                continue
            if length == 0xFF and lcs == 0:
                del buf[: start + 4]
                self._host_nack()
                continue
            if (length + lcs) & 0xFF or length == 0:
                self.bad_frames += 1
                del buf[: start + 2]
                continue
            end = start + 4 + length + 1
            if len(buf) < end:
                del buf[:start]
                return
            body = bytes(buf[start + 4 : end - 1])
            dcs = buf[end - 1]
            del buf[:end]
            if (sum(body) + dcs) & 0xFF:
                self.bad_frames += 1
                continue
            self._command(body)

    def _wake(self) -> None:
        if self._absent:
            self.wakeups_missed += 1
            return
        self.wakeups += 1
        self.asleep = False

    def _host_ack(self) -> None:
        if not self._absent:
            self.acks_received += 1

    def _host_nack(self) -> None:
        if self._absent or self.asleep or self._last_response is None:
            self.ignored += 1
            return
        self.nacks_received += 1
        self._respond(self._last_response)

    def _command(self, body: bytes) -> None:
        if self._absent or self.asleep:
            self.ignored += 1
            return
        if self.error_next > 0 or body[0] != 0xD4 or len(body) < 2:
            self.error_next = max(0, self.error_next - 1)
            self._last_response = ERROR_FRAME
            self._reply(ACK + ERROR_FRAME)
            return
        cmd, params = body[1], body[2:]
        if cmd in (SAM_CONFIGURATION, RF_CONFIGURATION):
            data = b""
        elif cmd == GET_FIRMWARE_VERSION:
            data = b"\x32\x01\x06\x07"  # IC PN532, version 1.6, supports ISO A, B and 18092
        elif cmd == IN_LIST_PASSIVE_TARGET:
            data = self._in_list(params)
        else:
            self._last_response = ERROR_FRAME
            self._reply(ACK + ERROR_FRAME)
            return
        self.commands[cmd] += 1
        self._respond(pn532_frame(0xD5, bytes([cmd + 1]) + data), ack=True)

    def _in_list(self, params: bytes) -> bytes:
        if self.card is None or len(params) < 2 or params[1] != 0x00:
            self.empty_polls += 1
            return b"\x00"
        self.card_reads += 1
        uid = self.card
        # Tg 1, SENS_RES (ATQA) by UID size, SEL_RES 0x08 (MIFARE Classic) / 0x00.
        atqa = {4: b"\x00\x04", 7: b"\x00\x44", 10: b"\x00\x84"}[len(uid)]
        sak = b"\x08" if len(uid) == 4 else b"\x00"
        return b"\x01\x01" + atqa + sak + bytes([len(uid)]) + uid

    def _respond(self, response: bytes, *, ack: bool = False) -> None:
        """Send a response (after an ACK for a command; alone for a NACK), spoiling its
        checksum when told to; the good copy is kept for the next NACK."""
        self._last_response = response
        if self.bad_checksum or (self.corrupt_next > 0 and response != ERROR_FRAME):
            if not self.bad_checksum:
                self.corrupt_next -= 1
            response = response[:-2] + bytes([response[-2] ^ 0x01]) + response[-1:]
        self.responses += 1
        self._reply(ACK + response if ack else response)


class Rdm6300Simulator(UartSimulator):
    """An RDM6300: sends the card's frame every `interval_ms` while a card is on it (and it
    is not absent); ignores whatever the firmware sends. Counter: `frames_sent`."""

    uid_sizes = (5,)

    def __init__(self, *, interval_ms: int = 100, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.interval_ms = interval_ms
        self.frames_sent = 0
        self._streamer: asyncio.Task | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        port = await super().start(host, port)
        self._streamer = asyncio.create_task(self._stream())
        return port

    async def close(self) -> None:
        if self._streamer is not None:
            self._streamer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._streamer
            self._streamer = None
        await super().close()

    async def _stream(self) -> None:
        while True:
            await asyncio.sleep(self.interval_ms / 1000)
            if self.card is not None and not self._absent and self.connected:
                self._reply(rdm6300_frame(self.card.hex(), bad_checksum=self.bad_checksum))
                self.frames_sent += 1


SIMULATORS = {"pn532": Pn532Simulator, "rdm6300": Rdm6300Simulator}


async def _serve(kind: str, host: str, port: int) -> None:
    """Serve one simulator; stdin lines drive it: `tap UID [hold_ms]`, `remove`, `noise N`,
    `absent on|off`, `bad on|off`."""
    sim = SIMULATORS[kind]()
    port = await sim.start(host, port)
    print(f"{kind} simulator on {host}:{port}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, input_line):
            words = line.split()
            if not words:
                continue
            try:
                if words[0] == "tap":
                    sim.tap(words[1], hold_ms=int(words[2]) if len(words) > 2 else None)
                elif words[0] == "remove":
                    sim.remove()
                elif words[0] == "noise":
                    sim.inject_noise(int(words[1]))
                elif words[0] == "absent":
                    sim.absent = words[1] == "on"
                elif words[0] == "bad":
                    sim.bad_checksum = words[1] == "on"
                else:
                    print("commands: tap UID [hold_ms], remove, noise N, absent on|off, bad on|off")
            except (IndexError, ValueError) as exc:
                print(f"error: {exc}")
    finally:
        await sim.close()


def input_line() -> str:
    try:
        return input() or " "
    except EOFError:
        return ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a simulated RFID reader over TCP.")
    parser.add_argument("kind", choices=sorted(SIMULATORS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.kind, args.host, args.port))


if __name__ == "__main__":
    main()
