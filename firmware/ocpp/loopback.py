# An in-memory connection pair with the WebSocket client's shape (async send(text),
# async recv()), the loopback twin MicroOcpp tests its RPC with. Frames cross unchanged and
# in order; close() makes both ends fail like a dropped link.
#
#   station, central = loopback.pair()
#   rpc = Rpc(station, handlers, clock=clock)
#   text = await central.recv()
import asyncio


class Closed(OSError):
    pass


class End:
    def __init__(self):
        self.peer = None
        self.inbox = []
        self.closed = False
        self.sent = 0  # frames sent from this end
        self._ready = asyncio.Event()

    async def send(self, text):
        if self.closed:
            raise Closed("loopback closed")
        self.sent += 1
        self.peer.inbox.append(text)
        self.peer._ready.set()

    async def recv(self):
        while not self.inbox:
            if self.closed:
                raise Closed("loopback closed")
            self._ready.clear()
            await self._ready.wait()
        return self.inbox.pop(0)

    def close(self):
        """Drop the link: both ends' send() and (once drained) recv() raise Closed."""
        for end in (self, self.peer):
            end.closed = True
            end._ready.set()


def pair():
    """Two connected ends (a, b): what a sends, b receives, and the other way round."""
    a = End()
    b = End()
    a.peer = b
    b.peer = a
    return a, b
