# firmware.net.websocket on a fake stream (frames, masking, handshake, close, keepalive) and
# firmware.net.backoff. The client against a real server: tests/test_websocket_sim.py.
import asyncio
import time

from firmware.net import backoff, websocket
from firmware.net.websocket import WebSocket, WebSocketError


class Pipe:
    """An asyncio-Stream-like fake: feed() what the server sends, `sent` is what the client
    wrote. Reads return at most max_read bytes, so partial reads get exercised."""

    max_read = 3

    def __init__(self, data=b"", eof=False):
        self.incoming = bytearray(data)
        self.sent = bytearray()
        self.eof = eof
        self.closed = False

    def feed(self, data):
        self.incoming.extend(data)

    async def readinto(self, buf):
        while not self.incoming:
            if self.eof or self.closed:
                return 0
            await asyncio.sleep_ms(1)
        n = min(len(buf), len(self.incoming), self.max_read)
        for i in range(n):
            buf[i] = self.incoming[i]
        self.incoming = self.incoming[n:]
        return n

    def write(self, data):
        if self.closed:
            raise OSError(9)
        self.sent.extend(data)

    async def drain(self):
        await asyncio.sleep_ms(0)

    def close(self):
        self.closed = True

    async def wait_closed(self):
        pass


def frame(opcode, payload=b"", fin=True, mask=None):
    """A server frame (unmasked unless mask is given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    out = bytearray([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        out.append(bit | n)
    elif n < 65536:
        out.extend(bytes([bit | 126, n >> 8, n & 0xFF]))
    else:
        out.append(bit | 127)
        out.extend(bytes((n >> (56 - 8 * j)) & 0xFF for j in range(8)))
    if mask:
        out.extend(mask)
        payload = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
    out.extend(payload)
    return bytes(out)


def client_frames(data):
    """[(fin, opcode, payload, key)] of the client's frames; each must be masked."""
    frames = []
    i = 0
    while i < len(data):
        b0, b1 = data[i], data[i + 1]
        assert b1 & 0x80, "client frame not masked"
        n = b1 & 0x7F
        i += 2
        if n == 126:
            n = data[i] << 8 | data[i + 1]
            i += 2
        elif n == 127:
            n = 0
            for j in range(8):
                n = n << 8 | data[i + j]
            i += 8
        key = bytes(data[i : i + 4])
        i += 4
        payload = bytes(data[i + j] ^ key[j & 3] for j in range(n))
        i += n
        frames.append((bool(b0 & 0x80), b0 & 0x0F, payload, key))
    return frames


def close_payload(code):
    return bytes((code >> 8, code & 0xFF))


async def until(cond, timeout_ms=1000):
    deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
    while not cond():
        assert time.ticks_diff(deadline, time.ticks_ms()) > 0, "timed out"
        await asyncio.sleep_ms(1)


async def expect_error(coro, code):
    try:
        await coro
    except WebSocketError as e:
        assert e.code == code, (e.args, code)
        return e
    raise AssertionError("no WebSocketError %s" % code)


def started(pipe, **options):
    ws = WebSocket(pipe, **options)
    ws.start()
    return ws


# -- handshake -------------------------------------------------------------------------------
def test_parse_url():
    assert websocket.parse_url("ws://csms.example/ocpp/CP1") == (
        False,
        "csms.example",
        80,
        "/ocpp/CP1",
    )
    assert websocket.parse_url("wss://10.0.0.2:8443") == (True, "10.0.0.2", 8443, "/")
    for bad in ("http://x/", "ws:///path"):
        try:
            websocket.parse_url(bad)
            raise AssertionError(bad)
        except ValueError:
            pass


def test_accept_key_is_the_rfc_example():
    assert websocket.accept_key(b"dGhlIHNhbXBsZSBub25jZQ==") == b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    a, b = websocket.new_key(), websocket.new_key()
    assert len(a) == 24 and a != b


def test_request_headers_with_basic_auth():
    text = websocket.request(
        "csms", 8080, False, "/ocpp/CP1", b"KEY", ("ocpp1.6",), "CP1", "0123456789abcdef"
    ).decode()
    lines = text.split("\r\n")
    assert lines[0] == "GET /ocpp/CP1 HTTP/1.1"
    assert "Host: csms:8080" in lines
    assert "Upgrade: websocket" in lines and "Connection: Upgrade" in lines
    assert "Sec-WebSocket-Key: KEY" in lines and "Sec-WebSocket-Version: 13" in lines
    assert "Sec-WebSocket-Protocol: ocpp1.6" in lines
    # base64("CP1:0123456789abcdef")
    assert "Authorization: Basic Q1AxOjAxMjM0NTY3ODlhYmNkZWY=" in lines
    assert text.endswith("\r\n\r\n")
    plain = websocket.request("csms", 443, True, "/", b"K").decode()
    assert "Host: csms\r\n" in plain and "Authorization" not in plain
    assert "Sec-WebSocket-Protocol" not in plain


def response(key, status="101 Switching Protocols", protocol="ocpp1.6", extra=""):
    lines = ["HTTP/1.1 " + status, "Upgrade: WebSocket", "Connection: upgrade"]
    lines.append("Sec-WebSocket-Accept: " + websocket.accept_key(key).decode())
    if protocol:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


async def test_handshake_accepted_and_no_frame_byte_swallowed():
    pipe = Pipe(response(b"K") + frame(1, "hi"))
    assert await websocket.read_response(pipe, b"K", ("ocpp1.6",)) == "ocpp1.6"
    ws = started(pipe)
    assert await ws.recv() == "hi"


async def test_handshake_refused_carries_the_status():
    pipe = Pipe(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n")
    await expect_error(websocket.read_response(pipe, b"K", ("ocpp1.6",)), 401)


async def test_handshake_checks_accept_and_subprotocol():
    await expect_error(websocket.read_response(Pipe(response(b"other")), b"K", ("ocpp1.6",)), 101)
    no_protocol = Pipe(response(b"K", protocol=None))
    e = await expect_error(websocket.read_response(no_protocol, b"K", ("ocpp1.6",)), 101)
    assert "subprotocol" in e.args[0]
    wrong = Pipe(response(b"K", protocol="ocpp2.0.1"))
    await expect_error(websocket.read_response(wrong, b"K", ("ocpp1.6",)), 101)
    await expect_error(websocket.read_response(Pipe(b"HTTP/1.1 101 OK\r\n", True), b"K"), None)
    huge = Pipe(response(b"K", extra="X-Big: " + "a" * 2000 + "\r\n"))
    await expect_error(websocket.read_response(huge, b"K"), None)


def test_der_certs_from_pem_blocks_or_der():
    pem = (
        b"-----BEGIN CERTIFICATE-----\nYWJj\r\nZGVm\n-----END CERTIFICATE-----\n"
        b"junk\n-----BEGIN CERTIFICATE-----\neHl6\n-----END CERTIFICATE-----\n"
    )
    assert websocket.der_certs(pem) == [b"abcdef", b"xyz"]
    assert websocket.der_certs(b"\x30\x82\x01\x00") == [b"\x30\x82\x01\x00"]


# -- frames ----------------------------------------------------------------------------------
def test_header_lengths_7_16_64_bit():
    buf = bytearray(14)
    key = b"\x01\x02\x03\x04"
    assert websocket.header(buf, 1, 125, key) == 6 and buf[:2] == b"\x81\xfd"
    assert websocket.header(buf, 1, 126, key) == 8 and buf[:4] == b"\x81\xfe\x00\x7e"
    assert websocket.header(buf, 2, 65535, key, False) == 8 and buf[:4] == b"\x02\xfe\xff\xff"
    assert websocket.header(buf, 0, 65536, key) == 14
    assert buf[:10] == b"\x80\xff\x00\x00\x00\x00\x00\x01\x00\x00" and buf[10:14] == key


async def test_send_masks_each_frame_with_a_fresh_key():
    pipe = Pipe()
    ws = started(pipe)
    long_text = "é" * 200  # 400 bytes: 16-bit length, two masking chunks
    await ws.send("hello")
    await ws.send("hello")
    await ws.send(long_text)
    await ws.send(b"\x00\xff")
    frames = client_frames(pipe.sent)
    assert [(f[0], f[1], f[2]) for f in frames] == [
        (True, 1, b"hello"),
        (True, 1, b"hello"),
        (True, 1, long_text.encode()),
        (True, 2, b"\x00\xff"),
    ]
    assert frames[0][3] != frames[1][3]
    # masked on the wire: the text does not appear in clear
    assert bytes(pipe.sent).find(b"hello") < 0


async def test_send_fragments_when_asked():
    pipe = Pipe()
    ws = started(pipe, fragment_size=4)
    await ws.send("abcdefghij")
    await ws.send("abcd")
    assert [(f[0], f[1], f[2]) for f in client_frames(pipe.sent)] == [
        (False, 1, b"abcd"),
        (False, 0, b"efgh"),
        (True, 0, b"ij"),
        (True, 1, b"abcd"),
    ]


async def test_recv_reassembles_with_a_ping_in_between_and_answers_it():
    pipe = Pipe()
    pipe.feed(frame(1, "Hel", fin=False) + frame(9, "x") + frame(0, "lo ", fin=False))
    pipe.feed(frame(0, "wörld") + frame(1, "") + frame(2, b"\x01\x02") + frame(10, "p"))
    ws = started(pipe)
    assert await ws.recv() == "Hello wörld"
    assert await ws.recv() == ""
    assert await ws.recv() == b"\x01\x02"
    await until(lambda: ws.pongs == 1)
    assert [(f[1], f[2]) for f in client_frames(pipe.sent)] == [(10, b"x")]


async def test_lengths_16_and_64_bit_received():
    pipe = Pipe()
    pipe.max_read = 4096
    # a 64-bit length with a short payload (not minimal, still valid to read); the long
    # 64-bit frames go through tests/test_websocket_sim.py
    pipe.feed(frame(1, "a" * 3000) + bytes([0x81, 127, 0, 0, 0, 0, 0, 0, 0, 5]) + b"hello")
    ws = started(pipe, max_frame=4096)
    assert await ws.recv() == "a" * 3000
    assert await ws.recv() == "hello"


async def check_error(incoming, code, **options):
    pipe = Pipe(incoming)
    ws = started(pipe, **options)
    await expect_error(ws.recv(), code)
    assert ws.closed and ws.close_code == code and pipe.closed
    assert ws.error.code == code
    sent = client_frames(pipe.sent)
    if code == 1006:
        assert sent == []
    else:
        assert [(f[1], f[2]) for f in sent] == [(8, close_payload(code))]
    return ws


async def test_masked_server_frame_is_a_protocol_error():
    await check_error(frame(1, "hi", mask=b"abcd"), 1002)


async def test_protocol_errors():
    await check_error(frame(0, "stray"), 1002)  # continuation without a start
    await check_error(frame(1, "a", fin=False) + frame(1, "b"), 1002)  # new message inside one
    await check_error(frame(9, "p", fin=False), 1002)  # fragmented control frame
    await check_error(bytes([0xC1, 0x00]), 1002)  # RSV1 without an extension
    await check_error(frame(5, "?"), 1002)  # reserved opcode


async def test_oversized_frame_is_1009_before_its_payload_is_read():
    # only the header arrives: the client must not wait for (or buffer) the 100 000 bytes
    await check_error(bytes([0x81, 127, 0, 0, 0, 0, 0, 1, 0x86, 0xA0]), 1009, max_frame=64)


async def test_oversized_fragmented_message_is_1009():
    pieces = frame(1, "a" * 40, fin=False) + frame(0, "b" * 40)
    await check_error(pieces, 1009, max_frame=64)
    await check_error(pieces, 1009, max_frame=64, max_message=64)


async def test_invalid_utf8_is_1007():
    await check_error(frame(1, b"\xff\xfe"), 1007)


async def test_eof_without_close_is_1006():
    pipe = Pipe(frame(1, "last"))
    pipe.eof = True
    ws = started(pipe)
    assert await ws.recv() == "last"  # what arrived before the loss is still delivered
    await expect_error(ws.recv(), 1006)
    assert ws.close_code == 1006 and client_frames(pipe.sent) == []


async def test_server_close_is_echoed():
    pipe = Pipe(frame(1, "bye") + frame(8, close_payload(1001) + b"going away"))
    ws = started(pipe)
    assert await ws.recv() == "bye"
    e = await expect_error(ws.recv(), 1001)
    assert e.args[0] == "closed" and ws.error is None
    assert ws.closed and ws.close_code == 1001 and pipe.closed
    assert [(f[1], f[2]) for f in client_frames(pipe.sent)] == [(8, close_payload(1001))]
    await expect_error(ws.send("late"), 1001)
    await ws.close()  # closing again is harmless


async def test_client_close_waits_for_the_servers_close():
    pipe = Pipe()
    ws = started(pipe, close_timeout_ms=2000)

    async def server():
        await until(lambda: len(pipe.sent) > 0)
        pipe.feed(frame(8, close_payload(1000)))

    asyncio.create_task(server())
    t0 = time.ticks_ms()
    await ws.close()
    assert time.ticks_diff(time.ticks_ms(), t0) < 1000
    assert ws.closed and ws.close_code == 1000 and pipe.closed
    assert [(f[1], f[2]) for f in client_frames(pipe.sent)] == [(8, close_payload(1000))]


async def test_client_close_gives_up_after_the_timeout():
    pipe = Pipe()
    ws = started(pipe, close_timeout_ms=50)
    await ws.close(4000)
    assert ws.closed and ws.close_code == 4000 and pipe.closed
    await expect_error(ws.recv(), 4000)


async def test_keepalive_pings_and_a_silent_link_is_dead_within_two_intervals():
    pipe = Pipe()
    t0 = time.ticks_ms()
    ws = started(pipe, ping_interval_ms=50)
    await expect_error(ws.recv(), 1006)
    elapsed = time.ticks_diff(time.ticks_ms(), t0)
    # the requirement: noticed after two intervals of silence, plus scheduling slack
    assert 100 <= elapsed < 100 + 60, elapsed
    pings = [f for f in client_frames(pipe.sent) if f[1] == 9]
    assert len(pings) >= 1 and pipe.closed


async def test_keepalive_answered_keeps_the_link():
    pipe = Pipe()
    ws = started(pipe, ping_interval_ms=30)

    async def server():
        answered = 0
        while not ws.closed:
            pings = [f for f in client_frames(pipe.sent) if f[1] == 9]
            while answered < len(pings):
                pipe.feed(frame(10))
                answered += 1
            await asyncio.sleep_ms(5)

    asyncio.create_task(server())
    await asyncio.sleep_ms(200)
    assert not ws.closed and ws.pongs >= 4
    await ws.close()


# -- backoff ---------------------------------------------------------------------------------
def test_backoff_grows_within_bounds_and_caps():
    b = backoff.Backoff(100, 1000)
    ceilings = [100, 200, 400, 800, 1000, 1000, 1000]
    for _ in range(20):
        b.reset()
        for ceiling in ceilings:
            d = b.next_ms()
            assert ceiling // 2 <= d <= ceiling, (d, ceiling)
    assert b.attempts == len(ceilings)
    b.reset()
    assert b.attempts == 0 and b.next_ms() <= 100


def test_backoff_jitters_and_rejects_bad_bounds():
    b = backoff.Backoff(1000, 60000)
    seen = set()
    for _ in range(20):
        b.reset()
        seen.add(b.next_ms())
    assert len(seen) > 1
    for base, cap in ((0, 10), (100, 50)):
        try:
            backoff.Backoff(base, cap)
            raise AssertionError((base, cap))
        except ValueError:
            pass
