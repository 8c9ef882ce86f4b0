# In-memory stand-ins for the HAL objects (firmware/hal.py) for firmware unit tests under
# micropython. Tests that need real byte streams from a simulator use the sim board instead.
import asyncio
import time

from firmware import hal


class FakeStream(hal.Stream):
    """Bytes written are recorded in `written`; `responder(data)` may return the reply,
    which becomes readable `delay_ms` later. feed() makes bytes readable at once."""

    def __init__(self, responder=None, baudrate=9600, delay_ms=0):
        self.baudrate = baudrate
        self.responder = responder
        self.delay_ms = delay_ms
        self.written = []
        self._input = bytearray()
        self._ready_at = 0

    def write(self, data):
        data = bytes(data)
        self.written.append(data)
        if self.responder is not None:
            reply = self.responder(data)
            if reply:
                self.feed(reply, self.delay_ms)
        return len(data)

    def feed(self, data, delay_ms=0):
        self._input.extend(data)
        self._ready_at = time.ticks_add(time.ticks_ms(), delay_ms)

    def discard(self):
        self._input = bytearray()

    async def read(self, n, timeout_ms):
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            now = time.ticks_ms()
            if self._input and time.ticks_diff(now, self._ready_at) >= 0:
                chunk = bytes(self._input[:n])
                self._input = self._input[n:]
                return chunk
            if time.ticks_diff(deadline, now) <= 0:
                return b""
            await asyncio.sleep_ms(1)


class FakePinIn(hal.PinIn):
    def __init__(self, v=0):
        self.v = v

    def value(self):
        return self.v


class FakePinOut(hal.PinOut):
    """Remembers every change as (ticks_ms, value) in `history`."""

    def __init__(self, v=0):
        self.v = v
        self.history = []

    def value(self, v=None):
        if v is None:
            return self.v
        v = 1 if v else 0
        if v != self.v:
            self.history.append((time.ticks_ms(), v))
        self.v = v
        return v


class FakePwm(hal.Pwm):
    def __init__(self, permille=1000):
        self.permille = permille

    def duty(self, permille=None):
        if permille is not None:
            self.permille = permille
        return self.permille


class FakeAdc(hal.Adc):
    """Alternates between the high and the low half of a pilot waveform."""

    def __init__(self, high_mv=12000, low_mv=None):
        self.set(high_mv, low_mv)
        self._flip = False

    def set(self, high_mv, low_mv=None):
        self.high_mv = high_mv
        self.low_mv = high_mv if low_mv is None else low_mv

    def read_mv(self):
        self._flip = not self._flip
        return self.high_mv if self._flip else self.low_mv


class FakeThermometer(hal.Thermometer):
    def __init__(self, c10=250):
        self.c10 = c10

    def read_c10(self):
        return self.c10
