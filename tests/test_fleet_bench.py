"""The fleet benchmark (tools/bench/fleet_bench.py) still runs and reports sane numbers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import sys

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from chargekit.protocol import ocppj
from chargekit.tools.bench import fleet_bench as fb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_frames_are_valid_ocpp_calls_with_counter_ids():
    frames = fb.Frames("2026-01-01T00:00:00Z")
    seen = []
    for action in ("BootNotification", *fb.ACTIONS):
        call_id, frame = frames.call(action)
        call = ocppj.decode(frame)  # validates the payload against the action's spec
        assert (call.unique_id, call.action) == (call_id, action)
        seen.append(call_id)
    assert seen == ["1", "2", "3", "4"]


def test_smoke_against_the_echo_baseline():
    args = fb.parse_args(
        ["--stations", "20", "--rate", "5", "--duration", "2", "--ramp", "200", "--baseline-only"]
    )
    report = fb.run(args)
    side = report.baseline
    assert side is not None and report.target is None
    assert "--baseline-only" in report.target_pending
    assert (side.connected, side.failed, side.dropped) == (20, 0, 0)
    assert side.boot_status == {"Accepted": 20}
    # 20 stations x 5/s x 2 s = 200 offered; a loaded machine may lose some slots, not most.
    assert 100 <= side.messages <= 220
    assert side.timeouts == side.call_errors == 0
    figures = side.to_dict()
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"] < 5_000
    assert 0 < figures["boot_p50_ms"] <= figures["boot_p99_ms"]
    assert figures["messages_per_s"] > 0
    # The bench started the server, so it knows its memory.
    assert side.server_rss_idle_kb > 0 and side.server_rss_kb > 0
    assert figures["server_rss_per_1000_mb"] is not None
    json.dumps(report.to_dict())


def test_side_by_side_with_a_started_target(capsys):
    target_cmd = f"{sys.executable} {fb.__file__} --serve-echo --port {{port}}"
    code = fb.main(
        ["--stations", "5", "--rate", "4", "--duration", "1", "--target-cmd", target_cmd]
    )
    out = capsys.readouterr().out
    assert code == 0
    header = next(line for line in out.splitlines() if "baseline" in line)
    assert "target" in header
    connected = next(line for line in out.splitlines() if line.startswith("connected stations"))
    assert connected.split()[2:] == ["5", "/", "5", "5", "/", "5"]


def test_target_pending_until_the_central_exists(monkeypatch, capsys):
    monkeypatch.setattr(fb, "default_target_cmd", lambda: None)
    assert fb.main(["--stations", "1", "--target-only"]) == 2
    assert "pending" in capsys.readouterr().err


def test_unreachable_server_counts_failed_connections():
    url = f"ws://127.0.0.1:{free_port()}/ocpp"
    side = fb.measure("x", url, stations=5, rate=1, duration=0.2, ramp=1000, call_timeout=5)
    assert (side.connected, side.failed, side.messages) == (0, 5, 0)
    assert sum(side.failures.values()) == 5


async def test_basic_auth_and_one_call_outstanding_per_station():
    """User = station id; a slow server gets one CALL at a time and the bench counts late slots."""
    reply_delay = 0.1
    overlaps = []

    def check_auth(connection, request):
        station_id = request.path.rsplit("/", 1)[1]
        expected = base64.b64encode(f"{station_id}:secret".encode()).decode()
        if request.headers.get("Authorization") != "Basic " + expected:
            return connection.respond(401, "Unauthorized\n")
        return None

    async def slow_server(ws):
        pending: set[str] = set()

        async def answer(call_id):
            await asyncio.sleep(reply_delay)
            pending.discard(call_id)
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps([3, call_id, {"status": "Accepted"}]))

        tasks = []
        async for raw in ws:  # read on while an answer is pending, to catch a second CALL
            frame = json.loads(raw)
            if pending:
                overlaps.append(frame)
            pending.add(frame[1])
            tasks.append(asyncio.create_task(answer(frame[1])))

    async with serve(
        slow_server, "127.0.0.1", 0, subprotocols=[fb.SUBPROTOCOL], process_request=check_auth
    ) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/ocpp"

        def fleet(password):
            result = fb.SideResult("t", url, stations=3, rate=50, window_s=1.0)
            return fb.Fleet(
                result, ramp=100, password=password, burst=False, call_timeout=5, id_prefix="S"
            )

        good = await fleet("secret").run(1.0)
        bad = await fleet("wrong").run(0.2)

    assert good.connected == 3 and good.failed == 0
    assert good.messages > 0 and not overlaps
    assert min(good.latencies_ns) >= reply_delay * 1e9
    assert good.late_slots > 0  # 50/s offered, at most 10/s possible
    assert (bad.connected, bad.failures) == (0, {"HTTP 401": 3})


def test_burst_window_holds_whole_bursts():
    server, url = fb.start_echo_server()
    try:
        side = fb.measure(
            "b", url, stations=5, rate=2, duration=1, ramp=1000, burst=True, server_pid=server.pid
        )
    finally:
        server.stop()
    assert side.connected == 5
    assert side.messages == 10  # 2 bursts of 5 in a 1 s window at 2/s
    assert side.late_slots == 0
