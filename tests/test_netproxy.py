"""The network proxy between the firmware and the central (simulators/netproxy.py)."""

from __future__ import annotations

import asyncio

from chargekit.simulators.netproxy import NetProxy


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 2)
    finally:
        writer.close()


async def closed_at_once(reader: asyncio.StreamReader) -> bool:
    """True when the connection ends (EOF or reset) within a second."""
    try:
        return await asyncio.wait_for(reader.read(1), 1) == b""
    except ConnectionError:
        return True


async def test_bytes_pass_both_ways():
    central = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = NetProxy("127.0.0.1", central.sockets[0].getsockname()[1])
    port = await proxy.start()
    try:
        big = bytes(range(256)) * 1000
        assert await roundtrip(port, b'[2,"1","Heartbeat",{}]') == b'[2,"1","Heartbeat",{}]'
        assert await roundtrip(port, big) == big
        assert proxy.accepted == 2
    finally:
        await proxy.close()
        central.close()


async def test_cut_drops_live_connections_and_refuses_new_ones_until_restore():
    central = await asyncio.start_server(echo, "127.0.0.1", 0)
    proxy = NetProxy("127.0.0.1", central.sockets[0].getsockname()[1])
    port = await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 2) == b"ping"
        assert proxy.open_connections == 1

        proxy.cut()
        assert await closed_at_once(reader), "a live connection ends when the network is cut"
        writer.close()
        assert proxy.open_connections == 0 and proxy.dropped == 1

        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_at_once(reader), "new connections are accepted and closed"
        writer.close()
        assert proxy.refused == 1 and proxy.accepted == 1

        proxy.restore()
        assert await roundtrip(port, b"back") == b"back"
        assert proxy.counters() == {
            "cut": False,
            "open": proxy.open_connections,
            "accepted": 2,
            "refused": 1,
            "failed": 0,
            "dropped": 1,
        }
    finally:
        await proxy.close()
        central.close()


async def test_a_central_that_is_down_closes_the_client_connection():
    spare = await asyncio.start_server(echo, "127.0.0.1", 0)
    dead_port = spare.sockets[0].getsockname()[1]
    spare.close()
    await spare.wait_closed()
    proxy = NetProxy("127.0.0.1", dead_port)
    port = await proxy.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await closed_at_once(reader)
        writer.close()
        assert proxy.failed == 1 and proxy.accepted == 0
    finally:
        await proxy.close()
