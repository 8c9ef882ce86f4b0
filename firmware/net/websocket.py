# An RFC 6455 WebSocket client for MicroPython asyncio: the transport of OCPP 1.6J.
#   from firmware.net import websocket
#   ws = await websocket.connect("wss://csms.example/ocpp/CP1", user="CP1", password=pw,
#                                ca=ca_pem, ping_interval_ms=30000)
#   await ws.send('[2,"1","Heartbeat",{}]')
#   text = await ws.recv()   # WebSocketError once the link is closed, broken or dead
#   await ws.close()
# A reader task reads frames, answers pings, reassembles fragmented messages into one buffer
# allocated at connect time (max_message bytes: a big late allocation fails on a fragmented
# heap) and queues them for recv(); a keepalive task pings every ping_interval_ms and declares
# the link dead after two intervals without any byte from the server. Anything larger than
# the buffer is refused with close 1009 before its payload is read.
# TLS (wss://): the port's `ssl` module (mbedTLS) with the CA as PEM or DER bytes; the
# certificate chain and the server name (the URL's host, DNS name or IP) are checked.
# Written here rather than taken from micropython-lib (aiohttp's ws client): that one has no
# size limits, fragment reassembly, Sec-WebSocket-Accept check, keepalive or close handshake.
import asyncio
import binascii
import hashlib
import os
import random
import time

from micropython import const

from firmware import log

TAG = "ws"

_CONT = const(0)
_TEXT = const(1)
_BINARY = const(2)
_CLOSE = const(8)
_PING = const(9)
_PONG = const(10)
_FIN = const(0x80)
_CHUNK = const(256)  # payload bytes per write; a multiple of 4, so the key byte is key[j & 3]
_MAX_LINE = const(1024)  # handshake response: longest header line
_MAX_LINES = const(40)  # and most header lines

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

# close codes
NORMAL = const(1000)
PROTOCOL_ERROR = const(1002)
NO_STATUS = const(1005)
ABNORMAL = const(1006)
INVALID_DATA = const(1007)
TOO_BIG = const(1009)
INTERNAL_ERROR = const(1011)


class WebSocketError(Exception):
    # args (text, code): code is the HTTP status of a refused handshake or the close code
    @property
    def code(self):
        return self.args[1] if len(self.args) > 1 else None


def parse_url(url):
    """(secure, host, port, path) of a ws:// or wss:// URL (no IPv6 literals)."""
    if url.startswith("ws://"):
        secure, rest = False, url[5:]
    elif url.startswith("wss://"):
        secure, rest = True, url[6:]
    else:
        raise ValueError("not a ws:// or wss:// URL: " + url)
    i = rest.find("/")
    hostport, path = (rest, "/") if i < 0 else (rest[:i], rest[i:])
    host, sep, port = hostport.partition(":")
    if not host:
        raise ValueError("no host in " + url)
    return secure, host, int(port) if sep else (443 if secure else 80), path


def accept_key(key):
    """Sec-WebSocket-Accept the server must answer to Sec-WebSocket-Key `key` (bytes)."""
    return binascii.b2a_base64(hashlib.sha1(key + _GUID).digest())[:-1]


def new_key():
    return binascii.b2a_base64(os.urandom(16))[:-1]


def request(host, port, secure, path, key, subprotocols=(), user=None, password=None):
    """The opening handshake (bytes). user/password: HTTP Basic (OCPP security profile 1/2)."""
    if port != (443 if secure else 80):
        host = "%s:%d" % (host, port)
    parts = [
        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n" % (path, host, key.decode())
    ]
    if subprotocols:
        parts.append("Sec-WebSocket-Protocol: %s\r\n" % ", ".join(subprotocols))
    if user is not None:
        basic = binascii.b2a_base64(("%s:%s" % (user, password or "")).encode())[:-1]
        parts.append("Authorization: Basic %s\r\n" % basic.decode())
    parts.append("\r\n")
    return "".join(parts).encode()


async def _fill(stream, mv):
    """Read exactly len(mv) bytes into the memoryview; EOFError if the stream ends first."""
    n = 0
    total = len(mv)
    while n < total:
        got = await stream.readinto(mv[n:] if n else mv)
        if got is None:  # TLS: a record without application data yet
            continue
        if not got:
            raise EOFError
        n += got
    return total


async def _readline(stream, one):
    # byte by byte, so no frame byte after the handshake is swallowed, and bounded
    line = bytearray()
    while not line.endswith(b"\n"):
        if len(line) >= _MAX_LINE:
            raise WebSocketError("handshake: header line too long")
        await _fill(stream, one)
        line.append(one[0])
    return bytes(line)


async def read_response(stream, key, subprotocols=()):
    """Read and check the server's handshake answer; returns the chosen subprotocol."""
    one = memoryview(bytearray(1))
    try:
        status_line = await _readline(stream, one)
        try:
            status = int(status_line.split(None, 2)[1])
        except (IndexError, ValueError):
            raise WebSocketError("handshake: bad status line " + repr(status_line))
        headers = {}
        for _ in range(_MAX_LINES):
            line = await _readline(stream, one)
            if line == b"\r\n" or line == b"\n":
                break
            name, sep, value = line.partition(b":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        else:
            raise WebSocketError("handshake: too many header lines", status)
    except EOFError:
        raise WebSocketError("handshake: connection closed")
    if status != 101:
        raise WebSocketError("handshake refused: " + status_line.decode().strip(), status)
    if headers.get(b"upgrade", b"").lower() != b"websocket" or (
        b"upgrade" not in headers.get(b"connection", b"").lower()
    ):
        raise WebSocketError("handshake: not a websocket upgrade", status)
    if headers.get(b"sec-websocket-accept") != accept_key(key):
        raise WebSocketError("handshake: wrong Sec-WebSocket-Accept", status)
    chosen = headers.get(b"sec-websocket-protocol")
    chosen = chosen.decode() if chosen else None
    if subprotocols and chosen not in subprotocols:
        raise WebSocketError("handshake: server chose subprotocol %r" % chosen, status)
    return chosen


def der_certs(ca):
    """The DER certificates in `ca`: PEM text (one or more blocks) or one DER certificate.
    The port's mbedTLS is built without PEM parsing, so the PEM is decoded here."""
    if not ca.lstrip().startswith(b"-----BEGIN"):
        return [ca]
    certs = []
    for block in ca.split(b"-----BEGIN CERTIFICATE-----")[1:]:
        body = block.split(b"-----END", 1)[0]
        certs.append(binascii.a2b_base64(body.replace(b"\r", b"").replace(b"\n", b"")))
    if not certs:
        raise ValueError("no certificate in the PEM")
    return certs


def header(buf, opcode, n, key, fin=True):
    """Write a masked client frame header into buf (>= 14 bytes); returns its length."""
    buf[0] = opcode | _FIN if fin else opcode
    if n < 126:
        buf[1] = 0x80 | n
        i = 2
    elif n < 65536:
        buf[1] = 0x80 | 126
        buf[2] = n >> 8
        buf[3] = n & 0xFF
        i = 4
    else:
        buf[1] = 0x80 | 127
        for j in range(8):
            buf[2 + j] = (n >> (56 - 8 * j)) & 0xFF
        i = 10
    buf[i : i + 4] = key
    return i + 4


class WebSocket:
    """An open connection (made by connect(), or over any asyncio-like stream with start()).
    Keyword options override the class attributes of the same name."""

    max_frame = 8192  # largest frame and, unless max_message is set, message accepted
    max_message = 0  # largest reassembled message (bytes), preallocated; 0 = max_frame
    # messages waiting for recv(); reading (pongs included) pauses while that many wait
    max_queue = 4
    fragment_size = 0  # send longer messages as fragments of this many bytes; 0 = never
    ping_interval_ms = 0  # OCPP WebSocketPingInterval; 0 = no pings and no dead-link check
    close_timeout_ms = 1000  # how long close() waits for the server's close frame

    def __init__(self, stream, **options):
        for name, value in options.items():
            if name.startswith("_") or not hasattr(self, name):
                raise ValueError("unknown option " + name)
            setattr(self, name, value)
        self.stream = stream
        self.subprotocol = None
        self.closed = False
        self.close_code = None  # the server's close code, ours, or 1006 for a lost link
        self.error = None  # the WebSocketError that ended the link; None after a clean close
        self.pongs = 0  # pongs received (answers to our pings)
        self._out = bytearray(14 + _CHUNK)  # header and masked payload: one write per frame
        self._out_mv = memoryview(self._out)
        self._key = bytearray(4)
        self._rhdr = memoryview(bytearray(8))
        self._rhdr2 = self._rhdr[:2]
        self._ctl = memoryview(bytearray(125))  # control frame payload
        self._rbuf = memoryview(bytearray(self.max_message or self.max_frame))
        self._messages = []
        self._ready = asyncio.Event()  # a message arrived or the link closed
        self._taken = asyncio.Event()  # recv() took a message: a paused reader goes on
        self._done = asyncio.Event()  # closed
        self._lock = asyncio.Lock()  # one frame (or fragmented message) on the wire at a time
        self._closing = False  # a close frame was sent
        self._rx_at = time.ticks_ms()
        self._tasks = []

    def start(self):
        if not self._tasks:
            self._rx_at = time.ticks_ms()
            self._tasks.append(asyncio.create_task(self._read_loop()))
            if self.ping_interval_ms > 0:
                self._tasks.append(asyncio.create_task(self._keepalive()))

    # -- API -----------------------------------------------------------------------------
    async def send(self, data):
        """Send a str as a text message, bytes as a binary one."""
        opcode = _TEXT if isinstance(data, str) else _BINARY
        mv = memoryview(data)  # a str's UTF-8 bytes, without a copy
        n = len(mv)
        step = self.fragment_size if 0 < self.fragment_size < n else n
        async with self._lock:
            if self.closed or self._closing:
                raise WebSocketError("closed", self.close_code)
            off = 0
            while True:
                end = min(off + step, n)
                await self._frame(_CONT if off else opcode, mv[off:end], end == n)
                off = end
                if off >= n:
                    break

    async def recv(self):
        """The next message: str for text, bytes for binary. WebSocketError once closed."""
        while not self._messages:
            if self.closed:
                raise self.error or WebSocketError("closed", self.close_code)
            self._ready.clear()
            await self._ready.wait()
        self._taken.set()
        return self._messages.pop(0)

    async def close(self, code=NORMAL):
        """Close handshake: send close, wait close_timeout_ms for the server's, drop the link."""
        if self.closed:
            return
        self._taken.set()  # a reader paused on a full queue must see the server's close
        try:
            await asyncio.wait_for_ms(self._send_close(code), self.close_timeout_ms)
            await asyncio.wait_for_ms(self._done.wait(), self.close_timeout_ms)
        except (asyncio.TimeoutError, OSError):
            pass
        await self._finish(code)

    # -- sending -------------------------------------------------------------------------
    async def _frame(self, opcode, data, fin=True, drain=True):
        # caller holds the lock. The payload is masked through _out, never copied whole, and
        # a small frame leaves in one write (header and payload apart meet Nagle + delayed ACK)
        key = self._key
        for j in range(4):
            key[j] = random.getrandbits(8)
        n = len(data)
        s = self.stream
        out = self._out
        i = header(out, opcode, n, key, fin)
        off = 0
        while True:
            m = min(_CHUNK, n - off)
            for j in range(m):
                out[i + j] = data[off + j] ^ key[j & 3]
            s.write(self._out_mv[: i + m])  # Stream.write copies what the socket did not take
            off += m
            i = 0
            if off >= n:
                break
            await s.drain()
        if drain:
            await s.drain()

    async def _send_close(self, code):
        if self._closing:
            return
        self._closing = True
        async with self._lock:
            if code == NO_STATUS:
                await self._frame(_CLOSE, b"")
            else:
                await self._frame(_CLOSE, bytes((code >> 8, code & 0xFF)))

    # -- receiving -----------------------------------------------------------------------
    async def _read(self, mv):
        # _fill inline: one coroutine less per read
        n = 0
        total = len(mv)
        s = self.stream
        while n < total:
            got = await s.readinto(mv[n:] if n else mv)
            if got is None:
                continue
            if not got:
                raise EOFError
            n += got
            self._rx_at = time.ticks_ms()

    async def _read_header(self):
        h = self._rhdr
        await self._read(self._rhdr2)
        b0 = h[0]
        b1 = h[1]
        op = b0 & 0x0F
        if b0 & 0x70:
            raise WebSocketError("reserved bits set", PROTOCOL_ERROR)
        if b1 & 0x80:
            raise WebSocketError("masked frame from the server", PROTOCOL_ERROR)
        n = b1 & 0x7F
        if n == 126:
            await self._read(self._rhdr2)
            n = h[0] << 8 | h[1]
        elif n == 127:
            await self._read(h)
            if h[0] & 0x80:
                raise WebSocketError("bad frame length", PROTOCOL_ERROR)
            n = 0
            for j in range(8):
                n = n << 8 | h[j]
        if op >= _CLOSE and (n > 125 or not b0 & _FIN):
            raise WebSocketError("bad control frame", PROTOCOL_ERROR)
        return b0 & _FIN, op, n

    async def _read_message(self):
        """The next data message; None once a close frame arrived."""
        buf = self._rbuf
        size = 0
        opcode = None
        while True:
            fin, op, n = await self._read_header()
            if op >= _CLOSE:
                payload = self._ctl[:n]
                await self._read(payload)
                if op == _PING:
                    async with self._lock:
                        await self._frame(_PONG, payload)
                elif op == _PONG:
                    self.pongs += 1
                elif op == _CLOSE:
                    await self._on_close(payload)
                    return None
                else:
                    raise WebSocketError("unknown control opcode", PROTOCOL_ERROR)
                continue
            if op == _CONT:
                if opcode is None:
                    raise WebSocketError("continuation without a message", PROTOCOL_ERROR)
            elif op == _TEXT or op == _BINARY:
                if opcode is not None:
                    raise WebSocketError("new message inside a fragmented one", PROTOCOL_ERROR)
                opcode = op
            else:
                raise WebSocketError("unknown opcode", PROTOCOL_ERROR)
            if n > self.max_frame or size + n > len(buf):
                raise WebSocketError("message over %d bytes" % len(buf), TOO_BIG)
            if n:
                await self._read(buf[size : size + n])
                size += n
            if fin:
                break
        if opcode == _TEXT:
            try:
                return str(buf[:size], "utf-8")
            except UnicodeError:
                raise WebSocketError("text is not UTF-8", INVALID_DATA)
        return bytes(buf[:size])

    async def _on_close(self, payload):
        n = len(payload)
        if n == 1:
            raise WebSocketError("bad close frame", PROTOCOL_ERROR)
        code = payload[0] << 8 | payload[1] if n else NO_STATUS
        if self.close_code is None:
            self.close_code = code
        if not self._closing:  # the server closes: echo its code
            self._closing = True
            async with self._lock:
                await self._frame(_CLOSE, payload[:2])

    async def _read_loop(self):
        try:
            while True:
                message = await self._read_message()
                if message is None:
                    break
                self._messages.append(message)
                self._ready.set()
                while len(self._messages) >= self.max_queue and not self._closing:
                    self._taken.clear()
                    await self._taken.wait()
            await self._finish(NO_STATUS)
        except WebSocketError as e:
            await self._fail(e)
        except (OSError, EOFError) as e:
            await self._fail(WebSocketError("connection lost: %r" % e, ABNORMAL))
        except Exception as e:  # MemoryError...: recv() must not wait forever
            await self._fail(WebSocketError("reader failed: %r" % e, INTERNAL_ERROR))

    async def _keepalive(self):
        interval = self.ping_interval_ms
        ping_at = time.ticks_add(time.ticks_ms(), interval)
        while not self.closed:
            now = time.ticks_ms()
            idle = time.ticks_diff(now, self._rx_at)
            if idle >= 2 * interval:
                await self._fail(WebSocketError("no data for %d ms: link dead" % idle, ABNORMAL))
                return
            if time.ticks_diff(now, ping_at) >= 0:
                ping_at = time.ticks_add(now, interval)
                # a sender holding the lock may be stuck on a dead link: skip, never wait
                if not self._lock.locked() and not self._closing:
                    try:
                        async with self._lock:
                            await self._frame(_PING, b"", True, False)
                    except OSError as e:
                        await self._fail(WebSocketError("ping failed: %r" % e, ABNORMAL))
                        return
            wait = min(time.ticks_diff(ping_at, now), 2 * interval - idle)
            await asyncio.sleep_ms(wait if wait > 1 else 1)

    # -- ending --------------------------------------------------------------------------
    async def _fail(self, error):
        if self.closed:
            return
        log.warn(TAG, error.args[0])
        self.error = error
        code = error.code
        if code != ABNORMAL:  # tell the server why (1002, 1007, 1009), briefly
            try:
                await asyncio.wait_for_ms(self._send_close(code), 200)
            except Exception:
                pass
        await self._finish(code)

    async def _finish(self, code):
        if self.closed:
            return
        self.closed = True
        if self.close_code is None:
            self.close_code = code
        self._ready.set()
        self._taken.set()
        self._done.set()
        me = asyncio.current_task()
        for task in self._tasks:
            if task is not me:
                task.cancel()
        s = self.stream
        if s is not None:
            try:
                s.close()
                await s.wait_closed()
            except Exception:
                pass


async def connect(
    url,
    *,
    subprotocols=("ocpp1.6",),
    user=None,
    password=None,
    ca=None,
    open_timeout_ms=10000,
    **options,
):
    """Open a WebSocket to `url` (ws:// or wss://) and return the started WebSocket.
    ca: the CA certificate(s) (PEM or DER bytes) the wss:// server's chain must end in.
    options: WebSocket's (max_frame, max_message, ping_interval_ms, close_timeout_ms, ...)."""
    secure, host, port, path = parse_url(url)
    ws = WebSocket(None, **options)  # bad options and the buffers fail before any I/O
    ctx = None
    if secure:
        if ca is None:
            raise ValueError("wss:// needs ca (the CA certificate, PEM or DER)")
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = ssl.CERT_REQUIRED  # the port's client default is CERT_NONE
        for cert in der_certs(ca):
            ctx.load_verify_locations(cadata=cert)
    key = new_key()

    async def opening():
        stream, _ = await asyncio.open_connection(host, port, ssl=ctx)
        ws.stream = stream
        stream.write(request(host, port, secure, path, key, subprotocols, user, password))
        await stream.drain()
        return await read_response(stream, key, subprotocols)

    try:
        ws.subprotocol = await asyncio.wait_for_ms(opening(), open_timeout_ms)
    except Exception as e:
        await ws._finish(ABNORMAL)
        if isinstance(e, WebSocketError):
            raise
        if isinstance(e, asyncio.TimeoutError):
            raise WebSocketError("open timed out after %d ms" % open_timeout_ms)
        raise WebSocketError("connect failed: %r" % e)
    ws.start()
    return ws
