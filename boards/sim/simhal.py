# HAL objects of the sim board that travel over TCP to the CPython simulators
# (simulators/, started by `chargekit station`). A UART becomes one TCP connection that
# carries the raw bytes the real device would see on its RX/TX lines.
import asyncio

from firmware import hal

_IPPROTO_TCP = 6
_TCP_NODELAY = 1


class TcpStream(hal.Stream):
    """A UART wired to a simulator's TCP port. connect() before use; write() is immediate
    (short frames on a local socket), read() waits up to timeout_ms for the first bytes."""

    def __init__(self, host, port, baudrate=9600):
        self.host = host
        self.port = port
        self.baudrate = baudrate
        self._reader = None
        self._writer = None

    async def connect(self):
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        try:
            # A UART sends each byte as it is written: no Nagle delay on a request frame.
            self._writer.s.setsockopt(_IPPROTO_TCP, _TCP_NODELAY, 1)
        except (AttributeError, OSError):
            pass

    @property
    def connected(self):
        return self._writer is not None

    def write(self, data):
        if self._writer is None:
            return 0  # a UART with nothing attached: the bytes go nowhere
        try:
            # Bypass the stream's buffer: a frame written to a UART leaves at once.
            n = self._writer.s.write(data)
        except OSError:
            self._lost()
            return 0
        return len(data) if n is None else n

    async def read(self, n, timeout_ms):
        if self._reader is None:
            await asyncio.sleep_ms(timeout_ms)
            return b""
        try:
            data = await asyncio.wait_for_ms(self._reader.read(n), timeout_ms)
        except asyncio.TimeoutError:
            return b""
        except OSError:
            self._lost()
            return b""
        if not data:  # the simulator hung up: behave like a silent line
            self._lost()
        return data or b""

    def discard(self):
        # Drain what already arrived without waiting.
        sock = self._writer.s if self._writer is not None else None
        if sock is None:
            return
        try:
            while sock.read(256):
                pass
        except OSError:
            pass

    def _lost(self):
        writer = self._writer
        self._reader = self._writer = None
        if writer is not None:
            try:
                writer.s.close()
            except OSError:
                pass

    def deinit(self):
        self._lost()
