# The HAL of firmware/hal.py on real hardware: thin wrappers around the objects of the
# `machine` module, and MachinePort, which builds them for the ESP32 and RP2040 boards
# (boards/*/board.py). Nothing here imports `machine`: a board hands in its `machine` module
# and its port's quirks, so the same code runs on both ports and under the test stub
# (tests/fwtests/machine.py).
# Wiring, front-end formulas and the reasons for the choices: docs/hardware.md.
import asyncio
import json
import math
import time

from micropython import const

from firmware import hal, log
from protocol import rfc3339

_U16 = const(65535)
_T25_INV = 1 / 298.15  # 1/K at 25 degC, the NTC's reference temperature
_KELVIN = 273.15

# What a board assumes when /settings.json does not say otherwise. Conservative on purpose:
# a fresh controller must not offer more current than the smallest usual installation.
DEFAULT_SETTINGS = {
    "station_id": None,  # the board fills in one from machine.unique_id()
    "reader": "pn532",  # "pn532" (HSU 115200) | "rdm6300" (9600)
    "meter": "sdm630",  # "sdm630" | "sdm120" | "abb_b23"
    "meter_address": 1,
    "meter_baudrate": None,  # None: the meter's factory default (METER_BAUDRATE)
    "meter_parity": "N",  # "N" | "E" | "O"
    "meter_stop": 1,
    "max_current_a": 16,
    "phases": 3,
}
# Factory baud rates (manuals): SDM120 ships at 2400, SDM630 at 9600; others: set 9600.
METER_BAUDRATE = {"sdm120": 2400, "sdm630": 9600}


def load_settings(path, defaults):
    """The defaults updated with the JSON object in `path`; a missing or broken file leaves
    the defaults (logged), so a bad edit never keeps the station from booting."""
    settings = dict(defaults)
    try:
        with open(path) as f:
            loaded = json.load(f)
    except OSError:
        log.info("board", "no", path, "- using the default settings")
        return settings
    except ValueError as exc:
        log.error("board", path, "is not valid JSON, using the defaults:", exc)
        return settings
    if isinstance(loaded, dict):
        settings.update(loaded)
    else:
        log.error("board", path, "does not hold a JSON object, using the defaults")
    return settings


def meter_format(settings):
    """(baudrate, parity for machine.UART, stop bits, bits per character) of the meter line."""
    baud = settings.get("meter_baudrate") or METER_BAUDRATE.get(settings.get("meter"), 9600)
    parity = {"E": 0, "O": 1}.get(str(settings.get("meter_parity", "N")).upper())
    stop = 2 if settings.get("meter_stop") == 2 else 1
    return baud, parity, stop, 9 + (parity is not None) + stop


class UartStream(hal.Stream):
    """machine.UART as a hal.Stream.

    read() polls uart.any() every poll_ms and reads only what is there: that works the same
    on ESP32 and RP2040, costs no Task per read (asyncio.StreamReader under wait_for_ms would)
    and never lets the port's timeout_char block the event loop waiting for more bytes.

    With `de` (a machine.Pin on the RS-485 transceiver's DE and /RE, tied) write() drives DE
    high and sends; drain() waits until the last stop bit has left and drops DE: the slave may
    answer 3.5 characters after our frame. The wait ends with uart.flush() where the port's
    flush is exact (`flush=True`) and in any case lasts (len + 1) character times since the
    write began, so a flush that returns early cannot cut off the CRC. drain() sleeps through
    the frame and busy-waits only its last `spin_us`, so an 8-byte request at 2400 baud (37 ms)
    does not hold up the safety loops; a read() without drain() finishes the wait itself."""

    poll_ms = 1
    spin_us = 2000  # the end of a frame is waited for precisely: asyncio sleeps are coarse

    def __init__(self, uart, baudrate, de=None, bits_per_char=10, flush=True):
        self.uart = uart
        self.baudrate = baudrate
        self.de = de
        self.bits_per_char = bits_per_char
        self.flush = flush and hasattr(uart, "flush")
        self._char_us = (bits_per_char * 1000000 + baudrate - 1) // baudrate
        self._tx_end = None  # ticks_us when the frame on the wire has left; None: DE low
        if de is not None:
            de.value(0)  # receive until we speak

    def char_ms(self, chars=1):
        return (chars * self.bits_per_char * 1000 + self.baudrate - 1) // self.baudrate

    def write(self, data):
        de = self.de
        if de is None:
            n = self.uart.write(data)
            return len(data) if n is None else n
        self._release()  # a previous frame nobody drained
        de.value(1)
        started = time.ticks_us()
        try:
            n = self.uart.write(data)
        except Exception:
            de.value(0)  # whatever happened, never hold the bus
            raise
        n = len(data) if n is None else n
        self._tx_end = time.ticks_add(started, (n + 1) * self._char_us)
        return n

    async def drain(self):
        if self._tx_end is None:
            return
        left_ms = (time.ticks_diff(self._tx_end, time.ticks_us()) - self.spin_us) // 1000
        if left_ms > 0:
            await asyncio.sleep_ms(left_ms)
        self._release()

    def _release(self):
        """Finish the frame on the wire (flush, then the exact character time) and drop DE."""
        end = self._tx_end
        if end is None:
            return
        self._tx_end = None
        try:
            if self.flush:
                self.uart.flush()
            left = time.ticks_diff(end, time.ticks_us())
            if left > 0:
                time.sleep_us(left)
        finally:
            self.de.value(0)

    async def read(self, n, timeout_ms):
        self._release()
        uart = self.uart
        deadline = time.ticks_add(time.ticks_ms(), timeout_ms)
        while True:
            k = uart.any()
            if k:
                data = uart.read(k if k < n else n)
                if data:
                    return data
            if time.ticks_diff(deadline, time.ticks_ms()) <= 0:
                return b""
            await asyncio.sleep_ms(self.poll_ms)

    def discard(self):
        uart = self.uart
        for _ in range(8):  # bounded: a line that keeps talking must not hang the caller
            k = uart.any()
            if not k:
                return
            uart.read(k)

    def deinit(self):
        self._tx_end = None
        if self.de is not None:
            self.de.value(0)
        if hasattr(self.uart, "deinit"):
            self.uart.deinit()


def permille_to_u16(permille):
    return (permille * _U16 + 500) // 1000


def u16_to_permille(duty):
    return (duty * 1000 + _U16 // 2) // _U16


class PilotPwm(hal.Pwm):
    """The 1 kHz pilot oscillator on a machine.PWM (created by the board at freq 1000).
    `invert` for a driver stage that inverts (MCU high -> -12 V)."""

    def __init__(self, pwm, invert=False):
        self.pwm = pwm
        self.invert = invert

    def duty(self, permille=None):
        if permille is not None:
            p = 0 if permille < 0 else 1000 if permille > 1000 else int(permille)
            self.pwm.duty_u16(permille_to_u16(1000 - p if self.invert else p))
        p = u16_to_permille(self.pwm.duty_u16())
        return 1000 - p if self.invert else p


class PilotAdc(hal.Adc):
    """The pilot voltage in signed mV from an ADC behind the measuring front-end.

    The pilot driver (firmware/drivers/pilot.py) takes a burst of read_mv() and keeps the
    highest and lowest value. A burst takes microseconds, all inside one half of the 1 kHz
    wave, so this class sweeps the ADC for window_us (just over one period) at the first read
    of a burst, and answers the burst's reads with the sweep's maximum and minimum in turn.

    `read` is the ADC's raw reader (read_uv on ESP32, read_u16 on RP2040); the pin voltage is
    raw * scale_num // scale_den mV; the pilot is (pin_mv - offset_mv) * gain_num / gain_den
    (pins.py derives offset and gain from the resistor network)."""

    window_us = 1100
    fresh_ms = 2  # reads within this time of a sweep belong to the same burst

    def __init__(self, read, scale_num, scale_den, offset_mv, gain_num, gain_den):
        self._read = read
        self.scale_num = scale_num
        self.scale_den = scale_den
        self.offset_mv = offset_mv
        self.gain_num = gain_num
        self.gain_den = gain_den
        self.high_mv = 0
        self.low_mv = 0
        self._swept = None
        self._high_next = True

    def pilot_mv(self, raw):
        pin_mv = raw * self.scale_num // self.scale_den
        return ((pin_mv - self.offset_mv) * self.gain_num + self.gain_den // 2) // self.gain_den

    def sweep(self):
        read = self._read
        window = self.window_us
        hi = lo = read()
        started = time.ticks_us()
        while time.ticks_diff(time.ticks_us(), started) < window:
            v = read()
            if v > hi:
                hi = v
            elif v < lo:
                lo = v
        self.high_mv = self.pilot_mv(hi)
        self.low_mv = self.pilot_mv(lo)
        self._swept = time.ticks_ms()
        self._high_next = True

    def read_mv(self):
        if self._swept is None or time.ticks_diff(time.ticks_ms(), self._swept) >= self.fresh_ms:
            self.sweep()
        high = self._high_next
        self._high_next = not high
        return self.high_mv if high else self.low_mv


class NtcThermometer(hal.Thermometer):
    """An NTC from the supply to the ADC pin, r_fixed from the pin to ground:
    V = Vs * Rf / (Rf + Rntc), so Rntc = Rf * (Vs - V) / V and, by the Beta equation,
    1/T = 1/T25 + ln(Rntc / R25) / B. Averages `samples` readings; None below open_mv
    (open sensor: the pin sits at ground) or above short_mv (shorted sensor)."""

    samples = 8

    def __init__(
        self, read, scale_num, scale_den, supply_mv, r_fixed, r25, beta, open_mv, short_mv
    ):
        self._read = read
        self.scale_num = scale_num
        self.scale_den = scale_den
        self.supply_mv = supply_mv
        self.r_fixed = r_fixed
        self.r25 = r25
        self.beta = beta
        self.open_mv = open_mv
        self.short_mv = short_mv

    def c10_from_mv(self, mv):
        if mv <= self.open_mv or mv >= self.short_mv:
            return None
        r = self.r_fixed * (self.supply_mv - mv) / mv
        inv_t = _T25_INV + math.log(r / self.r25) / self.beta
        return round((1 / inv_t - _KELVIN) * 10)

    def read_c10(self):
        read = self._read
        total = 0
        for _ in range(self.samples):
            total += read()
        # float: an integer mV is 0.25 K at -30 degC, and total * scale_num overflows small ints
        return self.c10_from_mv(total / (self.scale_den * self.samples) * self.scale_num)


class PinIn(hal.PinIn):
    """A digital input (machine.Pin, pulled up by the board). `active_low`: the signal is
    active when the pin reads 0. The level must read active `reads` times in a row: that
    rejects sub-microsecond spikes; contact bounce is the RC filter's and the drivers' job."""

    reads = 3

    def __init__(self, pin, active_low=False):
        self.pin = pin
        self.active_low = active_low

    def value(self):
        want = 0 if self.active_low else 1
        pin = self.pin
        for _ in range(self.reads):
            if pin.value() != want:
                return 0
        return 1


class PinOut(hal.PinOut):
    """A digital output; value() answers what was commanded (reading an output pin back is
    not reliable on every port)."""

    def __init__(self, pin, active_low=False):
        self.pin = pin
        self.active_low = active_low
        self._v = 0
        pin.value(1 if active_low else 0)

    def value(self, v=None):
        if v is None:
            return self._v
        self._v = 1 if v else 0
        self.pin.value(self._v ^ 1 if self.active_low else self._v)
        return self._v


class RtcClock(hal.Clock):
    """hal.Clock whose wall time is the controller's RTC. The RTC counts on through soft
    resets (and on ESP32 through machine.reset()); a year before min_year means nobody set
    it since power-up, and time() stays None until set_time()."""

    min_year = 2024

    def __init__(self, rtc):
        super().__init__()
        self.rtc = rtc
        self._valid = rtc.datetime()[0] >= self.min_year

    def set_time(self, epoch_s):
        days, rem = divmod(int(epoch_s), 86400)
        y, m, d = rfc3339.civil_from_days(days)
        # weekday 0 = Monday; 1970-01-01 was a Thursday
        self.rtc.datetime((y, m, d, (days + 3) % 7, rem // 3600, rem // 60 % 60, rem % 60, 0))
        self._valid = True

    def time(self):
        if not self._valid:
            return None
        dt = self.rtc.datetime()  # (year, month, day, weekday, hours, minutes, seconds, sub)
        return rfc3339.days_from_civil(dt[0], dt[1], dt[2]) * 86400 + (
            dt[4] * 3600 + dt[5] * 60 + dt[6]
        )


# Status LED blink half-periods by OCPP connector status; steady on otherwise.
_BLINK_MS = {"Charging": 500, "Faulted": 100, "Unavailable": 1000}


class MachineBoard(hal.Board):
    """The board object a real controller hands to firmware.app. The board module assigns
    the HAL attributes; this class adds the watchdog, the status LED and reset.

    `wdt` is machine.WDT: created in start() (a WDT cannot be stopped once running, so not
    before the application is ready to feed it) with watchdog_ms; `reset` is machine.reset."""

    watchdog_ms = 8000  # the RP2040's maximum is 8388 ms

    def __init__(self, settings, wdt=None, reset=None, led=None):
        self.settings = settings
        self.led = led
        self.reports = {}  # last data per report kind, for the technician console
        self._wdt_class = wdt
        self._reset = reset
        self._wdt = None
        self._blink = None
        self._led_task = None

    async def start(self):
        if self._wdt is None and self._wdt_class is not None:
            self._wdt = self._wdt_class(timeout=self.watchdog_ms)
            log.info("board", "watchdog", self.watchdog_ms, "ms")
        if self._led_task is None and self.led is not None:
            self._led_task = asyncio.create_task(self._blinker())

    def feed_watchdog(self):
        if self._wdt is not None:
            self._wdt.feed()

    def report(self, kind, data):
        self.reports[kind] = data
        if kind == "status" and isinstance(data, dict):
            self._blink = _BLINK_MS.get(data.get("status"))
        log.debug("report", kind, data)

    async def _blinker(self):
        led = self.led
        while True:
            period = self._blink
            if period:
                led.value(not led.value())
                await asyncio.sleep_ms(period)
            else:
                led.value(1)
                await asyncio.sleep_ms(250)

    def reset(self):
        log.info("board", "reset")
        if self._reset is None:
            raise hal.HalError("no reset on this board")
        self._reset()


class MachinePort:
    """A real board: its pin map and what differs between the MicroPython ports it may run
    on; build() wires every HAL object the same way on each. boards/*/board.py make one and
    hand in their `machine` and pins.py, so nothing here imports either.

    pwm(pin, freq=, duty_u16=) -> a machine.PWM running at that frequency and duty;
    adc(gpio) -> the raw reader of an ADC on that pin, raw * adc_scale[0] // adc_scale[1]
    being mV at the pin; meter_flush: the port's UART.flush() returns only once the last stop
    bit has left (UartStream's `flush`); uart_pin(gpio) -> what machine.UART takes as tx and
    rx (None: the GPIO number itself)."""

    def __init__(self, machine, pins, *, pwm, adc, adc_scale, meter_flush, uart_pin=None):
        self.machine = machine
        self.pins = pins
        self.pwm = pwm
        self.adc = adc
        self.adc_num, self.adc_den = adc_scale
        self.meter_flush = meter_flush
        self.uart_pin = uart_pin

    def pin_in(self, gpio):
        m = self.machine
        return m.Pin(gpio, m.Pin.IN, m.Pin.PULL_UP)

    def maintenance_requested(self):
        """True while the maintenance jumper pulls its pin to ground."""
        return self.pin_in(self.pins.MAINTENANCE).value() == 0

    def defaults(self):
        settings = dict(DEFAULT_SETTINGS)
        settings["station_id"] = "ck-" + "".join("%02x" % b for b in self.machine.unique_id())
        return settings

    def uart(self, uart_id, tx, rx, baudrate, parity=None, stop=1):
        if self.uart_pin is not None:
            tx, rx = self.uart_pin(tx), self.uart_pin(rx)
        # timeout=0: read() returns what is there.
        return self.machine.UART(
            uart_id,
            baudrate=baudrate,
            bits=8,
            parity=parity,
            stop=stop,
            tx=tx,
            rx=rx,
            timeout=0,
            rxbuf=512,
        )

    def build(self, settings_path, files_root):
        """The Board with every HAL object wired; outputs start in their safe state."""
        m = self.machine
        pins = self.pins
        settings = load_settings(settings_path, self.defaults())
        b = MachineBoard(
            settings,
            wdt=m.WDT,
            reset=m.reset,
            led=PinOut(m.Pin(pins.STATUS_LED, m.Pin.OUT)),
        )
        b.watchdog_ms = pins.WATCHDOG_MS
        # Safety outputs first: coil off, RS-485 driver off, pilot at -12 V (state F) until the
        # pilot driver offers a level.
        b.contactor = PinOut(m.Pin(pins.CONTACTOR, m.Pin.OUT, value=0))
        de = m.Pin(pins.METER_DE, m.Pin.OUT, value=0)
        invert = pins.PILOT_PWM_INVERT
        pwm = self.pwm(
            m.Pin(pins.PILOT_PWM), freq=1000, duty_u16=permille_to_u16(1000 if invert else 0)
        )
        b.pilot_pwm = PilotPwm(pwm, invert=invert)

        rfid_baud = 9600 if settings.get("reader") == "rdm6300" else 115200
        b.rfid_uart = UartStream(
            self.uart(pins.RFID_UART, pins.RFID_TX, pins.RFID_RX, rfid_baud), rfid_baud
        )
        baud, parity, stop, bits = meter_format(settings)
        b.meter_uart = UartStream(
            self.uart(pins.METER_UART, pins.METER_TX, pins.METER_RX, baud, parity, stop),
            baud,
            de=de,
            bits_per_char=bits,
            flush=self.meter_flush,
        )

        b.pilot_adc = PilotAdc(
            self.adc(pins.PILOT_ADC),
            self.adc_num,
            self.adc_den,
            pins.PILOT_OFFSET_MV,
            pins.PILOT_GAIN_NUM,
            pins.PILOT_GAIN_DEN,
        )
        b.thermometer = NtcThermometer(
            self.adc(pins.NTC_ADC),
            self.adc_num,
            self.adc_den,
            pins.NTC_SUPPLY_MV,
            pins.NTC_R_FIXED,
            pins.NTC_R25,
            pins.NTC_BETA,
            pins.NTC_OPEN_MV,
            pins.NTC_SHORT_MV,
        )
        b.contactor_feedback = PinIn(
            self.pin_in(pins.CONTACTOR_FEEDBACK), active_low=pins.CONTACTOR_FEEDBACK_ACTIVE_LOW
        )
        b.rcd = PinIn(self.pin_in(pins.RCD), active_low=pins.RCD_ACTIVE_LOW)
        b.clock = RtcClock(m.RTC())
        b.files = hal.Files(files_root)
        return b
