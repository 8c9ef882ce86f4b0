"""firmware.net.websocket under `micropython` against CPython peers over real sockets.

The other side is the `websockets` library (echo, fragments, pings, close, subprotocols,
Basic auth, TLS with a CA made here by `openssl`) or, for the dead link, a raw TCP server that
completes the handshake and then goes silent. The client script runs a plan of steps and
reports each outcome as an `@@RESULT` line.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import ssl
import subprocess
from pathlib import Path

import pytest
from websockets.asyncio.server import basic_auth, serve
from websockets.exceptions import ConnectionClosed

from chargekit.tools.micropython import run_micropython, stage_firmware

pytestmark = pytest.mark.micropython

# Runs on the device interpreter: connect, run the steps, report.
CLIENT = r"""
import asyncio, gc, json, sys, time
from firmware.net import websocket

plan = json.loads(sys.argv[1])


def report(**fields):
    print("@@RESULT " + json.dumps(fields))


def text(n):
    # n bytes of UTF-8, not all ASCII, different at each end
    return "é" + ("0123456789abcdef" * (n // 16 + 1))[: n - 2] if n >= 2 else "a" * n


async def echo(ws, n):
    t = text(n)
    await ws.send(t)
    got = await ws.recv()
    return got == t


async def heap(ws):
    # retained heap after 100 echoes (after a warm-up), and bytes allocated per echo
    # (collector off for 10 echoes, which fit in the heap)
    message = '[2,"19223201","Heartbeat",{}]'
    for i in range(5):
        await ws.send(message)
        await ws.recv()
    gc.collect()
    before = gc.mem_alloc()
    for i in range(100):
        await ws.send(message)
        await ws.recv()
    gc.collect()
    retained = gc.mem_alloc() - before
    gc.collect()
    gc.disable()
    start = gc.mem_alloc()
    for i in range(10):
        await ws.send(message)
        await ws.recv()
    per_echo = (gc.mem_alloc() - start) // 10
    gc.enable()
    gc.collect()
    return retained, per_echo, gc.mem_free()


async def main():
    ca = None
    if plan.get("ca"):
        with open(plan["ca"], "rb") as f:
            ca = f.read()
    try:
        ws = await websocket.connect(plan["url"], ca=ca, **plan.get("options", {}))
    except websocket.WebSocketError as e:
        report(event="connect", ok=False, error=e.args[0], code=e.code)
        return
    t0 = time.ticks_ms()
    report(event="connect", ok=True, subprotocol=ws.subprotocol)
    for step in plan.get("steps", []):
        kind = step[0]
        try:
            if kind == "echo":
                report(event="echo", n=step[1], same=await echo(ws, step[1]))
            elif kind == "send":
                await ws.send(text(step[1]))
            elif kind == "recv":
                got = await ws.recv()
                report(event="recv", text=got if len(got) < 100 else None, n=len(got))
            elif kind == "sleep":
                await asyncio.sleep_ms(step[1])
            elif kind == "heap":
                retained, per_echo, free = await heap(ws)
                report(event="heap", retained=retained, per_echo=per_echo, free=free)
            elif kind == "close":
                await ws.close(step[1])
        except websocket.WebSocketError as e:
            report(event="error", step=kind, error=e.args[0], code=e.code,
                   elapsed=time.ticks_diff(time.ticks_ms(), t0))
            break
    report(event="end", closed=ws.closed, close_code=ws.close_code, pongs=ws.pongs)
    await ws.close()


asyncio.run(main())
"""


def text(n: int) -> str:
    """The CLIENT script's text(n): n bytes of UTF-8."""
    if n < 2:
        return "a" * n
    return "é" + ("0123456789abcdef" * (n // 16 + 1))[: n - 2]


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    return stage_firmware(tmp_path_factory.mktemp("ws-image"))


class Outcome:
    def __init__(self, results: list[dict]) -> None:
        self.results = results
        self.connect = next(r for r in results if r["event"] == "connect")
        ends = [r for r in results if r["event"] == "end"]
        self.end = ends[0] if ends else None
        self.errors = [r for r in results if r["event"] == "error"]

    def events(self, kind: str) -> list[dict]:
        return [r for r in self.results if r["event"] == kind]


async def client(image: Path, plan: dict, heapsize: str = "1M") -> Outcome:
    run = await asyncio.to_thread(
        run_micropython,
        code=CLIENT,
        path=[image],
        args=[json.dumps(plan)],
        heapsize=heapsize,
        timeout=15,
    )
    run.check()
    return Outcome(run.results())


def url(server, scheme: str = "ws", path: str = "/ocpp/CP1") -> str:
    port = server.sockets[0].getsockname()[1]
    return f"{scheme}://127.0.0.1:{port}{path}"


async def echo_handler(ws) -> None:
    async for message in ws:
        await ws.send(message)


def ocpp_server(handler=echo_handler, **kwargs):
    kwargs.setdefault("subprotocols", ["ocpp1.6"])
    kwargs.setdefault("ping_interval", None)
    return serve(handler, "127.0.0.1", 0, compression=None, **kwargs)


# -- data ------------------------------------------------------------------------------------
async def test_echo_of_7_16_and_64_bit_lengths(image):
    sizes = [0, 5, 125, 126, 1000, 65535, 65536, 70000]
    async with ocpp_server(max_size=None) as server:
        out = await client(
            image,
            {
                "url": url(server),
                "options": {"max_frame": 70000},
                "steps": [["echo", n] for n in sizes] + [["close", 1000]],
            },
        )
    assert out.connect == {"event": "connect", "ok": True, "subprotocol": "ocpp1.6"}
    assert [(e["n"], e["same"]) for e in out.events("echo")] == [(n, True) for n in sizes]
    assert out.errors == []
    assert out.end["closed"] and out.end["close_code"] == 1000


async def test_heap_of_a_100_message_echo_run(image):
    async with ocpp_server() as server:
        out = await client(
            image, {"url": url(server), "steps": [["heap"], ["close", 1000]]}, heapsize="160k"
        )
    (heap,) = out.events("heap")
    print(
        f"\nwebsocket heap (160k heap, max_frame 8192): retained after 100 echoes "
        f"{heap['retained']} B, allocated per echo {heap['per_echo']} B, free {heap['free']} B"
    )
    assert out.errors == []
    assert heap["retained"] < 1024  # nothing kept per message
    # coroutine frames of the asyncio streams, the message strings: no buffer copies
    assert heap["per_echo"] < 4096


async def test_fragmented_messages_both_ways(image):
    got: list[int] = []

    async def handler(ws):
        await ws.send(["Hel", "lo ", "wörld"])  # three frames: text + two continuations
        await ws.send(text(3000)[i : i + 700] for i in range(0, 3000, 700))
        message = await ws.recv()  # the client's, sent in 1000-byte fragments
        got.append(len(message.encode()))
        await ws.send(message)
        await ws.wait_closed()

    async with ocpp_server(handler) as server:
        out = await client(
            image,
            {
                "url": url(server),
                "options": {"fragment_size": 1000},
                "steps": [["recv"], ["recv"], ["echo", 5000], ["close", 1000]],
            },
        )
    recv = out.events("recv")
    assert recv[0]["text"] == "Hello wörld"
    assert recv[1]["n"] == len(text(3000))
    assert out.events("echo") == [{"event": "echo", "n": 5000, "same": True}]
    assert got == [5000]


# -- control ---------------------------------------------------------------------------------
async def test_ping_pong_both_ways(image):
    answered: list[float] = []

    async def handler(ws):
        latency = await asyncio.wait_for(await ws.ping(b"srv"), 2)
        answered.append(latency)
        await echo_handler(ws)

    # the server's keepalive (100 ms, timeout 500 ms) closes with 1011 if pongs do not come
    async with ocpp_server(handler, ping_interval=0.1, ping_timeout=0.5) as server:
        out = await client(
            image,
            {
                "url": url(server),
                "options": {"ping_interval_ms": 100},
                "steps": [["sleep", 700], ["echo", 10], ["close", 1000]],
            },
        )
    assert len(answered) == 1
    assert out.errors == [] and out.events("echo")[0]["same"]
    assert out.end["pongs"] >= 4  # the server answered the client's pings
    assert out.end["close_code"] == 1000


async def test_server_close_sets_close_code_and_is_echoed(image):
    echoed: list[int | None] = []

    async def handler(ws):
        await ws.send("bye")
        await ws.close(1001, "going away")
        echoed.append(ws.close_code)

    async with ocpp_server(handler) as server:
        out = await client(image, {"url": url(server), "steps": [["recv"], ["recv"]]})
    assert out.events("recv")[0]["text"] == "bye"
    assert [(e["code"], e["error"]) for e in out.errors] == [(1001, "closed")]
    assert out.end["closed"] and out.end["close_code"] == 1001
    assert echoed == [1001]


async def test_oversized_message_closes_1009(image):
    codes: list[int | None] = []

    async def handler(ws):
        await ws.send("x" * 2000)
        try:
            await ws.recv()
        except ConnectionClosed as e:
            codes.append(e.rcvd.code if e.rcvd else None)

    async with ocpp_server(handler) as server:
        out = await client(
            image, {"url": url(server), "options": {"max_frame": 1024}, "steps": [["recv"]]}
        )
    assert [e["code"] for e in out.errors] == [1009]
    assert out.end["close_code"] == 1009
    assert codes == [1009]


# -- handshake -------------------------------------------------------------------------------
async def test_server_without_ocpp16_is_refused(image):
    async with ocpp_server(subprotocols=["ocpp2.0.1"]) as server:
        refused = await client(image, {"url": url(server)})  # websockets answers 400
    # a server that upgrades anyway, without choosing a subprotocol: the client refuses
    async with ocpp_server(subprotocols=None) as server:
        unchosen = await client(image, {"url": url(server)})
    assert (refused.connect["ok"], refused.connect["code"]) == (False, 400)
    assert not unchosen.connect["ok"] and "subprotocol" in unchosen.connect["error"]


async def test_basic_auth_right_and_wrong_password(image):
    password = "0123456789abcdef"
    auth = basic_auth(credentials=("CP1", password))
    async with ocpp_server(process_request=auth) as server:
        good = {"user": "CP1", "password": password}
        right = await client(image, {"url": url(server), "options": good})
        bad = {"user": "CP1", "password": "wrong-password-123"}
        wrong = await client(image, {"url": url(server), "options": bad})
        missing = await client(image, {"url": url(server)})
    assert right.connect["ok"]
    assert (wrong.connect["ok"], wrong.connect["code"]) == (False, 401)
    assert (missing.connect["ok"], missing.connect["code"]) == (False, 401)


# -- TLS -------------------------------------------------------------------------------------
def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_ca(cwd: Path, name: str) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=cwd)
    openssl(
        "req", "-x509", "-new", "-key", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
        "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=cwd,
    )  # fmt: skip


def make_server_cert(cwd: Path, name: str, ca: str, san: str) -> None:
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", f"{name}.key", cwd=cwd)
    openssl("req", "-new", "-key", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}",
            cwd=cwd)  # fmt: skip
    (cwd / f"{name}.ext").write_text(f"subjectAltName={san}\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
        "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
        cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    cwd = tmp_path_factory.mktemp("pki")
    make_ca(cwd, "ca")
    make_ca(cwd, "other-ca")
    make_server_cert(cwd, "server", "ca", "IP:127.0.0.1,DNS:localhost")
    make_server_cert(cwd, "elsewhere", "ca", "DNS:csms.elsewhere.example")
    openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=cwd)
    (cwd / "bundle.pem").write_bytes(
        (cwd / "other-ca.pem").read_bytes() + (cwd / "ca.pem").read_bytes()
    )
    return cwd


def tls(pki: Path, name: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki / f"{name}.pem", pki / f"{name}.key")
    return ctx


async def test_wss_with_the_right_ca_as_pem_der_or_in_a_bundle(image, pki):
    async with ocpp_server(ssl=tls(pki, "server")) as server:
        plan = {"url": url(server, "wss"), "steps": [["echo", 20], ["echo", 3000], ["close", 1000]]}
        runs = [
            await client(image, {**plan, "ca": str(pki / f)})
            for f in ("ca.pem", "ca.der", "bundle.pem")
        ]
    for out in runs:
        assert out.connect["ok"], out.connect
        assert [e["same"] for e in out.events("echo")] == [True, True]
        assert out.end["close_code"] == 1000


async def test_wss_with_another_ca_or_another_name_is_refused(image, pki):
    async with ocpp_server(ssl=tls(pki, "server")) as server:
        other_ca = await client(image, {"url": url(server, "wss"), "ca": str(pki / "other-ca.pem")})
    async with ocpp_server(ssl=tls(pki, "elsewhere")) as server:
        # signed by the right CA, but for another host name
        other_name = await client(image, {"url": url(server, "wss"), "ca": str(pki / "ca.pem")})
    # mbedTLS's reasons: the chain, then the name (CN/subjectAltName) check
    assert not other_ca.connect["ok"] and "not correctly signed" in other_ca.connect["error"]
    assert not other_name.connect["ok"] and "does not match" in other_name.connect["error"]


# -- dead link -------------------------------------------------------------------------------
class SilentServer:
    """Completes the WebSocket handshake, then never sends another byte; counts the client's
    ping frames."""

    def __init__(self) -> None:
        self.pings = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = base64.b64encode(
            hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
        )
        writer.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
        )
        await writer.drain()
        try:
            while True:  # client frames: 2-byte header, 4-byte mask, short payloads
                head = await reader.readexactly(2)
                await reader.readexactly(4 + (head[1] & 0x7F))
                if head[0] & 0x0F == 9:
                    self.pings += 1
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def test_dead_link_is_noticed_within_two_ping_intervals(image):
    silent = SilentServer()
    server = await asyncio.start_server(silent.handle, "127.0.0.1", 0)
    interval = 150
    try:
        out = await client(
            image,
            {"url": url(server), "options": {"ping_interval_ms": interval}, "steps": [["recv"]]},
        )
    finally:
        server.close()
        await server.wait_closed()
    (error,) = out.errors
    assert error["code"] == 1006 and "dead" in error["error"]
    # the requirement: silence is noticed after two intervals, not later (scheduling slack)
    assert 2 * interval <= error["elapsed"] < 2 * interval + 100, error
    assert out.end["close_code"] == 1006
    assert silent.pings >= 1
