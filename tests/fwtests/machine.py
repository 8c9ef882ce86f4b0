# A stand-in for MicroPython's `machine` module (UART, Pin, PWM, ADC, WDT, RTC, reset) for
# the board tests: it records what the board code does, in order, in `events`, and lets a
# test set input levels, ADC samples and UART input.
#
# The unix port has a small built-in `machine` too; it is an extensible built-in, so this
# file, found first on the path, is what `import machine` gives. test_boards.py checks STUB
# to be sure it is not testing against the built-in.
STUB = True

events = []  # ("pin", id, value) | ("uart", id, "write" | "flush", data) | ("wdt", ...) ...
pins = {}  # id -> the last Pin constructed on it
uarts = {}  # id -> the last UART constructed
adcs = {}  # pin id -> the last ADC constructed
pwms = {}  # pin id -> the last PWM constructed
levels = {}  # pin id -> level an input constructed later sees (set before the board reads it)
wdts = []
resets = []


def clear():
    events.clear()
    pins.clear()
    uarts.clear()
    adcs.clear()
    pwms.clear()
    wdts.clear()
    resets.clear()
    levels.clear()
    RTC.now = (2000, 1, 1, 5, 0, 0, 0, 0)


def unique_id():
    return b"\xde\xad\xbe\xef\x01\x02"


class ResetCalled(Exception):
    pass


def reset():
    resets.append(1)
    raise ResetCalled()


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, id, mode=-1, pull=-1, *, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        self.level = levels.get(id)  # what the outside drives onto an input (None: floating)
        self.out = 0
        self.writes = []
        pins[id] = self
        if value is not None:
            self.value(value)

    def init(self, mode=-1, pull=-1, *, value=None):
        if mode != -1:
            self.mode = mode
        if pull != -1:
            self.pull = pull
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            if self.mode == Pin.OUT:
                return self.out
            if self.level is not None:
                return self.level
            return 1 if self.pull == Pin.PULL_UP else 0
        self.out = 1 if v else 0
        self.writes.append(self.out)
        events.append(("pin", self.id, self.out))

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def __call__(self, v=None):
        return self.value(v)


class UART:
    def __init__(self, id, baudrate=115200, bits=8, parity=None, stop=1, **kw):
        self.id = id
        self.baudrate = baudrate
        self.bits = bits
        self.parity = parity
        self.stop = stop
        self.kw = kw  # tx, rx, timeout, rxbuf...
        self.input = bytearray()
        self.written = []
        self.reads = []  # sizes asked of read()
        uarts[id] = self

    def feed(self, data):
        self.input.extend(data)

    def any(self):
        return len(self.input)

    def read(self, n=-1):
        self.reads.append(n)
        if not self.input:
            return None
        if n < 0 or n > len(self.input):
            n = len(self.input)
        data = bytes(self.input[:n])
        self.input = self.input[n:]
        return data

    def write(self, data):
        data = bytes(data)
        self.written.append(data)
        events.append(("uart", self.id, "write", data))
        return len(data)

    def flush(self):
        events.append(("uart", self.id, "flush", None))

    def deinit(self):
        events.append(("uart", self.id, "deinit", None))


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin
        self._freq = 0
        self._duty = 0
        self.duties = []
        pwms[pin.id] = self
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)

    def freq(self, f=None):
        if f is None:
            return self._freq
        self._freq = f
        events.append(("pwm", self.pin.id, "freq", f))

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if not 0 <= d <= 65535:
            raise ValueError("duty_u16 must be from 0 to 65535")
        self._duty = d
        self.duties.append(d)
        events.append(("pwm", self.pin.id, "duty_u16", d))

    def deinit(self):
        events.append(("pwm", self.pin.id, "deinit", None))


class ADC:
    ATTN_0DB = 0
    ATTN_2_5DB = 1
    ATTN_6DB = 2
    ATTN_11DB = 3

    def __init__(self, pin, *, atten=None):
        self.pin = pin
        self.atten = atten
        self.wave = [0]  # samples returned in turn by read_u16() / read_uv()
        self._i = 0
        self.count = 0
        adcs[pin.id if isinstance(pin, Pin) else pin] = self

    def _next(self):
        v = self.wave[self._i % len(self.wave)]
        self._i += 1
        self.count += 1
        return v

    def read_u16(self):
        return self._next()

    def read_uv(self):
        return self._next()


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        wdts.append(self)
        events.append(("wdt", "start", timeout))

    def feed(self):
        self.feeds += 1


class RTC:
    now = (2000, 1, 1, 5, 0, 0, 0, 0)  # shared by every RTC object, like the hardware

    def datetime(self, dt=None):
        if dt is None:
            return RTC.now
        RTC.now = tuple(dt)
        events.append(("rtc", RTC.now))
