# The hardware contracts a board provides to the firmware.
#
# A board (boards/<name>/board.py) builds these objects from `machine` (ESP32, RP2040) or
# over TCP to the CPython simulators (boards/sim). Drivers and the EVSE logic only ever see
# these interfaces, so the byte-level code (PN532 frames, Modbus CRC) is the same on every
# board. The classes below are the contracts with the default behaviour a board may reuse;
# a method that a board must supply raises NotImplementedError.
#
# Units: time in ms (monotonic, wrapping: use time.ticks_diff), voltage in mV, PWM duty in
# per mille (0 = constant low, 1000 = constant high), temperature in tenths of a degree C.
import asyncio
import time


class HalError(Exception):
    pass


class Stream:
    """A UART-like byte stream (8N1 unless the board says otherwise)."""

    baudrate = 9600

    def write(self, data):
        """Queue `data` for sending; returns the number of bytes accepted."""
        raise NotImplementedError

    async def read(self, n, timeout_ms):
        """Return 1..n bytes as soon as any arrive, or b"" once timeout_ms passed with none."""
        raise NotImplementedError

    async def drain(self):
        """Wait until what write() queued has left the wire (RS-485: release the bus)."""

    def discard(self):
        """Drop whatever input is buffered (stale bytes before a new request)."""

    def deinit(self):
        pass

    def char_ms(self, chars=1):
        """Time on the wire of `chars` characters of 10 bits at this baud rate, rounded up."""
        return (chars * 10000 + self.baudrate - 1) // self.baudrate


async def read_exactly(stream, n, timeout_ms, into=None):
    """Read exactly n bytes within timeout_ms in total; returns what arrived (maybe fewer)."""
    buf = into if into is not None else bytearray()
    deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
    while len(buf) < n:
        left = time.ticks_diff(deadline, time.ticks_ms())
        if left <= 0:
            break
        chunk = await stream.read(n - len(buf), left)
        if not chunk:
            break
        buf.extend(chunk)
    return buf


class PinIn:
    """A digital input, already debounced and inverted by the board where wiring needs it:
    1 means the signal is active (contactor feedback closed, RCD tripped)."""

    def value(self):
        raise NotImplementedError


class PinOut:
    """A digital output: 1 energises (contactor coil on)."""

    def value(self, v=None):
        raise NotImplementedError

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class Pwm:
    """The control pilot oscillator: 1 kHz, +/-12 V. duty(1000) = constant +12 V (state A/B1,
    no PWM), duty(0) = constant -12 V (state F)."""

    def duty(self, permille=None):
        raise NotImplementedError


class Adc:
    """One analogue input, scaled by the board to the measured quantity.

    For the pilot this is the pilot line voltage in mV (signed), sampled at a free-running
    moment: the pilot driver takes a burst and keeps the highest and lowest value, which are
    the positive and negative halves of the PWM waveform."""

    def read_mv(self):
        raise NotImplementedError


class Thermometer:
    """A temperature sensor (NTC through an ADC, a 1-Wire sensor...)."""

    def read_c10(self):
        """Temperature in tenths of a degree Celsius, or None when the sensor is absent."""
        raise NotImplementedError


class Clock:
    """Business time: protocol timers and the wall clock.

    Safety loops and device timing use real time (time.ticks_ms, asyncio.sleep_ms). Timers
    that follow the charging session (meter sample interval, heartbeat, reservation expiry)
    use this clock, which the sim board runs faster with --time-scale."""

    scale = 1

    def __init__(self, epoch=None):
        # Seconds since 1970 at ticks 0; None until the time is known (set by the central).
        self._origin = time.ticks_ms()
        self._epoch = epoch

    def ticks_ms(self):
        return time.ticks_ms()

    def ticks_diff(self, a, b):
        return time.ticks_diff(a, b)

    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(ms)

    def set_time(self, epoch_s):
        self._origin = time.ticks_ms()
        self._epoch = epoch_s

    def time(self):
        """UTC seconds since 1970 (from the board's RTC or set_time), or None when unknown."""
        if self._epoch is None:
            return None
        return self._epoch + time.ticks_diff(time.ticks_ms(), self._origin) * self.scale // 1000


class Files:
    """Flash storage under one directory; names are plain file names without slashes.

    write() is atomic (a temporary file renamed over the old one), so a power cut leaves the
    old or the new content and never half of it; append() is flushed before it returns."""

    def __init__(self, root):
        self.root = root.rstrip("/") if root not in ("", "/") else root
        try:
            import os

            os.mkdir(self.root)
        except OSError:
            pass  # exists

    def path(self, name):
        if "/" in name or not name:
            raise HalError("bad file name " + repr(name))
        return self.root + "/" + name if self.root not in ("", "/") else "/" + name

    def read(self, name):
        try:
            with open(self.path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        import os

        tmp = self.path(name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
        _sync(f)
        os.rename(tmp, self.path(name))

    def append(self, name, data):
        with open(self.path(name), "ab") as f:
            f.write(data)
            f.flush()
        _sync(f)

    def remove(self, name):
        import os

        try:
            os.remove(self.path(name))
        except OSError:
            pass

    def list(self):
        import os

        return sorted(n for n in os.listdir(self.root) if not n.endswith(".tmp"))


def _sync(f):
    # Flash ports flush on close; os.sync (where the port has it) commits the filesystem.
    try:
        import os

        os.sync()
    except (AttributeError, ImportError, OSError):
        pass


class Board:
    """What a board hands to firmware.app: the HAL objects and its settings.

    Attributes (None where the board has no such part):
      rfid_uart, meter_uart   Stream
      pilot_pwm               Pwm
      pilot_adc               Adc
      contactor               PinOut (coil)
      contactor_feedback      PinIn (auxiliary contact, 1 = closed) or None
      rcd                     PinIn (1 = tripped) or None
      thermometer             Thermometer or None
      clock                   Clock
      files                   Files
      settings                dict: station_id, reader ("pn532" | "rdm6300"), meter
                              ("sdm630" | "sdm120" | "abb_b23"), meter_address, max_current_a,
                              phases, ...
    """

    rfid_uart = None
    meter_uart = None
    pilot_pwm = None
    pilot_adc = None
    contactor = None
    contactor_feedback = None
    rcd = None
    thermometer = None
    clock = None
    files = None
    settings = {}
    # Set by the application: on_command(name) runs a maintenance command that arrives from
    # outside (the sim harness's control API; the technician console).
    on_command = None

    def feed_watchdog(self):
        pass

    def report(self, kind, data):
        """Tell the outside world (the sim harness, a status LED, a log) what happened."""

    async def start(self):
        """Open connections or start background tasks the HAL objects need."""

    def reset(self):
        """Reboot the controller."""
        raise NotImplementedError
