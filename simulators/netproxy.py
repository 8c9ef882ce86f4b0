"""A TCP proxy between the firmware and the central that can cut the network.

    proxy = NetProxy("127.0.0.1", 9000)      # the central
    port = await proxy.start()               # the firmware connects here
    proxy.cut()      # drop every live connection; new ones are accepted and closed at once
    proxy.restore()  # connections go through again

Bytes pass unchanged (WebSocket, TLS, anything on TCP).
"""

from __future__ import annotations

import asyncio
import contextlib


class NetProxy:
    def __init__(self, target_host: str, target_port: int, *, buffer: int = 65536) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.buffer = buffer
        self.is_cut = False
        self.accepted = 0  # connections proxied to the target
        self.refused = 0  # connections closed at once while cut
        self.failed = 0  # connections whose target did not answer
        self.dropped = 0  # live connections closed by cut()
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._tasks: set[asyncio.Task] = set()

    @property
    def open_connections(self) -> int:
        return len(self._links)

    def counters(self) -> dict[str, int | bool]:
        return {
            "cut": self.is_cut,
            "open": self.open_connections,
            "accepted": self.accepted,
            "refused": self.refused,
            "failed": self.failed,
            "dropped": self.dropped,
        }

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        self._drop_all()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def cut(self) -> None:
        """Close every proxied connection and refuse new ones until restore()."""
        self.is_cut = True
        self.dropped += len(self._links)
        self._drop_all()

    def restore(self) -> None:
        self.is_cut = False

    def _drop_all(self) -> None:
        for client, upstream in list(self._links):
            # abort: no graceful close, the way a broken link looks to both ends
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            self.refused += 1
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            self.failed += 1
            writer.transport.abort()
            return
        if self.is_cut:  # cut while connecting
            self.refused += 1
            writer.transport.abort()
            up_writer.transport.abort()
            return
        self.accepted += 1
        link = (writer, up_writer)
        self._links.add(link)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
            )
        finally:
            self._links.discard(link)
            self._tasks.discard(task)
            writer.close()
            up_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(self.buffer):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            # half-close: pass the end of stream on, the other direction may still talk
            with contextlib.suppress(OSError, RuntimeError):
                if writer.can_write_eof() and not writer.transport.is_closing():
                    writer.write_eof()
