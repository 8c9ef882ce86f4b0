# The sim board: the HAL of firmware/hal.py over TCP to the CPython simulators that
# `chargekit station` (simulators/station.py) starts.
#
#   import board
#   b = board.build()          # settings from sys.argv[1] or $CHARGEKIT_SIM_CONFIG
#   await b.start()            # connects the UARTs and the IO line
#
# The UARTs (RFID reader, meter) are raw byte streams (simhal.TcpStream). Pins, PWM, ADC and
# the thermometer share one line-based IO connection to simulators/ev.py (docs/simulators.md):
#   board -> sim  hello <id> | pwm <permille> | out contactor <0|1> | report <json> | log <text>
#   sim -> board  pilot <high_mv> <low_mv> | in feedback <0|1> | in rcd <0|1> | temp <c10|->
# The board keeps the latest inputs, so reads are local and instant; outputs leave at once.
import asyncio
import json
import os
import sys
import time

import simhal
from micropython import const

from firmware import hal, log

# Exit status of reset(): the harness boots the firmware again on it (and on nothing else).
RESET_STATUS = const(75)
_RETRY_MS = const(500)  # IO line reconnect interval
_LEVELS = {log.DEBUG: "D", log.INFO: "I", log.WARN: "W", log.ERROR: "E"}


class IoLink:
    """The line connection to the EV/IO simulator; holds the latest input values."""

    def __init__(self, host, port, station_id):
        self.host = host
        self.port = port
        self.station_id = station_id
        self.high_mv = 0  # pilot halves; 0 V until the simulator tells
        self.low_mv = 0
        self.inputs = {"feedback": 0, "rcd": 0}
        self.temp_c10 = None
        self.outputs = {}  # name -> last commanded value, sent again after a reconnect
        self.lines_in = 0
        self.on_command = None
        self._writer = None
        self._task = None
        self._ready = asyncio.Event()

    @property
    def connected(self):
        return self._writer is not None

    async def start(self, timeout_ms=2000):
        """Start the connection task and wait (up to timeout_ms) for the first full state."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for_ms(self._ready.wait(), timeout_ms)
        except asyncio.TimeoutError:
            log.warn("io", "no IO simulator at", self.host, self.port)

    def send(self, line):
        writer = self._writer
        if writer is None:
            return
        try:
            # StreamWriter.write() writes at once when nothing is queued and keeps the rest.
            writer.write(line.encode() + b"\n")
            if writer.out_buf:
                asyncio.create_task(self._drain(writer))
        except OSError:
            self._lost()

    async def _drain(self, writer):
        try:
            await writer.drain()
        except OSError:
            self._lost()

    def output(self, name, value):
        if self.outputs.get(name) == value:
            return
        self.outputs[name] = value
        self._send_output(name, value)

    def _send_output(self, name, value):
        if name == "pwm":
            self.send("pwm %d" % value)
        else:
            self.send("out %s %d" % (name, value))

    def _lost(self):
        writer = self._writer
        self._writer = None
        # Without the simulator nothing is known about the hardware: 0 V on the pilot reads
        # as state E (the contactor opens), and inputs fall back to their safe meaning.
        self.high_mv = self.low_mv = 0
        self.inputs["feedback"] = 0
        if writer is not None:
            try:
                writer.s.close()
            except OSError:
                pass

    async def _run(self):
        while True:
            try:
                reader, self._writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                await asyncio.sleep_ms(_RETRY_MS)
                continue
            self.send("hello " + self.station_id)
            for name in self.outputs:
                self._send_output(name, self.outputs[name])
            try:
                while True:
                    line = await reader.readline()
                    if not line:
                        break
                    self._handle(line)
            except OSError:
                pass
            self._lost()
            log.warn("io", "IO line lost; reconnecting")
            await asyncio.sleep_ms(_RETRY_MS)

    def _handle(self, line):
        parts = line.split()
        if not parts:
            return
        self.lines_in += 1
        word = parts[0]
        try:
            if word == b"pilot":
                self.high_mv = int(parts[1])
                self.low_mv = int(parts[2])
            elif word == b"in":
                self.inputs[parts[1].decode()] = 1 if parts[2] == b"1" else 0
            elif word == b"cmd":
                handler = self.on_command
                if handler is not None:
                    handler(parts[1].decode())
            elif word == b"temp":
                self.temp_c10 = None if parts[1] == b"-" else int(parts[1])
                # temp is the last line of the full state sent on connect
                self._ready.set()
        except (IndexError, ValueError):
            pass  # a line from a newer simulator: ignore it


class SimPwm(hal.Pwm):
    def __init__(self, link):
        self._link = link
        self._permille = 1000

    def duty(self, permille=None):
        if permille is not None:
            permille = min(1000, max(0, int(permille)))
            self._permille = permille
            self._link.output("pwm", permille)
        return self._permille


class SimAdc(hal.Adc):
    """The pilot line: alternates between the latest high and low halves."""

    def __init__(self, link):
        self._link = link
        self._flip = False

    def read_mv(self):
        self._flip = not self._flip
        return self._link.high_mv if self._flip else self._link.low_mv


class SimPinIn(hal.PinIn):
    def __init__(self, link, name):
        self._link = link
        self._name = name

    def value(self):
        return self._link.inputs.get(self._name, 0)


class SimPinOut(hal.PinOut):
    def __init__(self, link, name):
        self._link = link
        self._name = name
        self._v = 0

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        self._link.output(self._name, self._v)
        return self._v


class SimThermometer(hal.Thermometer):
    def __init__(self, link):
        self._link = link

    def read_c10(self):
        return self._link.temp_c10


class ScaledClock(hal.Clock):
    """Business time `scale` times faster than real time. ticks_ms() wraps like
    time.ticks_ms() (ticks_add / ticks_diff work on it); time() does not wrap."""

    def __init__(self, epoch=None, scale=1):
        self.scale = scale
        self._real = time.ticks_ms()
        self._ticks = self._real
        self._total_ms = 0  # scaled ms since construction, unbounded
        self._frac = 0
        self._epoch = epoch
        self._epoch_at = 0

    def _advance(self):
        now = time.ticks_ms()
        step = time.ticks_diff(now, self._real) * self.scale + self._frac
        self._real = now
        whole = int(step)
        self._frac = step - whole
        if whole:
            self._ticks = time.ticks_add(self._ticks, whole)
            self._total_ms += whole

    def ticks_ms(self):
        self._advance()
        return self._ticks

    async def sleep_ms(self, ms):
        real = ms / self.scale
        whole = int(real)
        # round up: a short business sleep must still yield for some real time
        await asyncio.sleep_ms(whole + 1 if real > whole else whole)

    def set_time(self, epoch_s):
        self._advance()
        self._epoch = epoch_s
        self._epoch_at = self._total_ms

    def time(self):
        if self._epoch is None:
            return None
        self._advance()
        return self._epoch + (self._total_ms - self._epoch_at) // 1000


class SimBoard(hal.Board):
    def __init__(self, settings):
        self.settings = settings
        host = settings.get("host", "127.0.0.1")
        station_id = settings.get("station_id", "sim")
        self.io = IoLink(host, settings["io_port"], station_id)
        rdm = settings.get("reader") == "rdm6300"
        self.rfid_uart = self._uart(host, settings.get("rfid_port"), 9600 if rdm else 115200)
        self.meter_uart = self._uart(host, settings.get("meter_port"), 9600)
        self.pilot_pwm = SimPwm(self.io)
        self.pilot_adc = SimAdc(self.io)
        self.contactor = SimPinOut(self.io, "contactor")
        self.contactor_feedback = SimPinIn(self.io, "feedback")
        self.rcd = SimPinIn(self.io, "rcd")
        self.thermometer = SimThermometer(self.io)
        self.clock = ScaledClock(settings.get("epoch"), settings.get("time_scale", 1))
        self.files = hal.Files(settings.get("data_dir", "data"))
        self.io.on_command = self._command
        self._started = False

    @staticmethod
    def _uart(host, port, baudrate):
        return simhal.TcpStream(host, port, baudrate) if port else None

    async def start(self):
        if self._started:
            return
        self._started = True
        await self.io.start()
        for uart in (self.rfid_uart, self.meter_uart):
            if uart is not None:
                try:
                    await uart.connect()
                except OSError as e:
                    log.warn("board", "no simulator on port", uart.port, e)

    def _command(self, name):
        if self.on_command is not None:
            self.on_command(name)
        else:
            log.warn("board", "command", name, "ignored: no application")

    def report(self, kind, data):
        self.io.send("report " + json.dumps({"kind": kind, "data": data}))

    def log_sink(self, level, tag, text):
        self.io.send("log %s %s: %s" % (_LEVELS.get(level, "?"), tag, text.replace("\n", " ")))

    def reset(self):
        log.info("board", "reset")
        sys.exit(RESET_STATUS)


def load_settings(path=None):
    if path is None:
        path = sys.argv[1] if len(sys.argv) > 1 else os.getenv("CHARGEKIT_SIM_CONFIG")
    if not path:
        raise hal.HalError("sim board: no settings (argv[1] or CHARGEKIT_SIM_CONFIG)")
    with open(path) as f:
        return json.load(f)


def build(settings=None):
    """The board from a settings dict, or from the settings file the harness wrote."""
    if settings is None:
        settings = load_settings()
    b = SimBoard(settings)
    log.sink = b.log_sink
    return b
