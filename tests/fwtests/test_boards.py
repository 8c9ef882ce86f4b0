# The real boards (boards/esp32_devkitc, boards/rp2_pico_w) wired against the `machine`
# stub: the pin maps, UART settings, pilot PWM and ADC conversions, the NTC, the RS-485
# direction pin, input inversion, watchdog, clock, settings, boot.py and main.py.
import asyncio
import math
import sys
import time

import machine  # tests/fwtests/machine.py: found before the unix port's built-in

from firmware import hal, machine_hal

BOARD_NAMES = ("esp32_devkitc", "rp2_pico_w")
TMP = "/tmp/chargekit-board-test"


def _parent(path):
    return path[: path.rfind("/")] if "/" in path else "."


def _boards_dir():
    # tests/fwtests/test_boards.py -> <repo>/boards
    here = _parent(__file__)
    if not here.startswith("/"):
        for entry in sys.path:
            if entry.endswith("fwtests"):
                here = entry
                break
    return _parent(_parent(here)) + "/boards"


BOARDS = _boards_dir()


def _mkdir(path):
    import os

    try:
        os.mkdir(path)
    except OSError:
        pass


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _load(name):
    """Import boards/<name>/board.py and its pins.py afresh (both boards use those names)."""
    assert getattr(machine, "STUB", False), "the built-in machine module shadows the stub"
    for mod in ("board", "pins"):
        if mod in sys.modules:
            del sys.modules[mod]
    machine.clear()
    sys.path.insert(0, BOARDS + "/" + name)
    try:
        import board
    finally:
        sys.path.pop(0)
    assert board.machine is machine
    return board, sys.modules["pins"]


def _build(name, settings=None):
    board, pins = _load(name)
    _mkdir(TMP)
    path = TMP + "/settings.json"
    if settings is None:
        try:
            import os

            os.remove(path)
        except OSError:
            pass
    else:
        import json

        _write(path, json.dumps(settings))
    b = board.build(settings_path=path, files_root=TMP + "/data")
    return b, board, pins


def _pin_id(p):
    return p.id if isinstance(p, machine.Pin) else p


# -- pin maps -------------------------------------------------------------------------------


_GPIO_NAMES = (
    "RFID_TX",
    "RFID_RX",
    "METER_TX",
    "METER_RX",
    "METER_DE",
    "PILOT_PWM",
    "PILOT_ADC",
    "NTC_ADC",
    "CONTACTOR",
    "CONTACTOR_FEEDBACK",
    "RCD",
    "STATUS_LED",
    "MAINTENANCE",
)


def _used_gpios(pins):
    # name -> GPIO number of every signal (the Pico W's LED is a named pin, not a GPIO)
    return {n: getattr(pins, n) for n in _GPIO_NAMES if isinstance(getattr(pins, n), int)}


def test_esp32_pins_exist_and_avoid_flash_psram_strapping_uart0_and_adc2():
    _, pins = _load("esp32_devkitc")
    used = _used_gpios(pins)
    assert len(used) == 13, used
    gpios = list(used.values())
    assert len(set(gpios)) == len(gpios), "a GPIO used twice: %r" % used
    exists = [g for g in range(40) if g not in (20, 24, 28, 29, 30, 31)]
    for name, g in used.items():
        assert g in exists, name
        assert g not in (6, 7, 8, 9, 10, 11), name + " on the SPI flash"
        assert g not in (16, 17), name + " on WROVER PSRAM"
        assert g not in (0, 2, 5, 12, 15), name + " on a strapping pin"
        assert g not in (1, 3), name + " on UART0 (REPL)"
    # analogue inputs on ADC1 (GPIO 32-39): ADC2 does not read while WiFi is on
    assert pins.PILOT_ADC in range(32, 40) and pins.NTC_ADC in range(32, 40)
    # outputs and pulled-up inputs not on the input-only, pull-less GPIO 34-39
    for name in ("RFID_TX", "METER_TX", "METER_DE", "PILOT_PWM", "CONTACTOR", "STATUS_LED"):
        assert used[name] < 34, name
    for name in ("CONTACTOR_FEEDBACK", "RCD", "MAINTENANCE", "RFID_RX", "METER_RX"):
        assert used[name] < 34, name
    assert pins.RFID_UART in (1, 2) and pins.METER_UART in (1, 2)
    assert pins.RFID_UART != pins.METER_UART


def _rp2_uart_ok(uart_id, tx, rx):
    # RP2040 datasheet function table, as ports/rp2/machine_uart.c checks it
    def periph(pin):
        return ((pin + 4) & 8) >> 3

    return tx & 3 == 0 and rx & 3 == 1 and periph(tx) == uart_id and periph(rx) == uart_id


def test_pico_w_pins_exist_avoid_the_wifi_chip_and_use_real_uart_and_adc_pins():
    _, pins = _load("rp2_pico_w")
    used = _used_gpios(pins)
    assert len(used) == 12, used  # the LED is the WiFi chip's "LED" pin, not a GPIO
    assert pins.STATUS_LED == "LED"
    gpios = list(used.values())
    assert len(set(gpios)) == len(gpios), "a GPIO used twice: %r" % used
    for name, g in used.items():
        assert 0 <= g <= 28, name
        assert g not in (23, 24, 25, 29), name + " belongs to the WiFi chip"
    assert pins.PILOT_ADC in (26, 27, 28) and pins.NTC_ADC in (26, 27, 28)
    for name in ("RFID_TX", "METER_TX", "METER_DE", "PILOT_PWM", "CONTACTOR", "RCD"):
        assert used[name] < 26, name + " takes an ADC pin"
    assert _rp2_uart_ok(pins.RFID_UART, pins.RFID_TX, pins.RFID_RX)
    assert _rp2_uart_ok(pins.METER_UART, pins.METER_TX, pins.METER_RX)
    assert pins.RFID_UART != pins.METER_UART
    assert pins.WATCHDOG_MS <= 8388


def test_pilot_constants_follow_from_the_resistor_network():
    for name in BOARD_NAMES:
        _, p = _load(name)
        g_in, g_up, g_down = 1 / p.PILOT_R_IN, 1 / p.PILOT_R_UP, 1 / p.PILOT_R_DOWN
        gain = p.PILOT_R_IN * (g_in + g_up + g_down)
        offset = p.PILOT_SUPPLY_MV * g_up / (g_in + g_up + g_down)
        assert abs(p.PILOT_GAIN_NUM / p.PILOT_GAIN_DEN - gain) < 0.001, name
        assert abs(p.PILOT_OFFSET_MV - offset) < 1, name


# -- wiring of the HAL objects --------------------------------------------------------------


def test_every_hal_attribute_is_wired():
    for name in BOARD_NAMES:
        b, _, _ = _build(name)
        assert isinstance(b, hal.Board)
        assert isinstance(b.rfid_uart, hal.Stream) and isinstance(b.meter_uart, hal.Stream)
        assert isinstance(b.pilot_pwm, hal.Pwm) and isinstance(b.pilot_adc, hal.Adc)
        assert isinstance(b.contactor, hal.PinOut)
        assert isinstance(b.contactor_feedback, hal.PinIn) and isinstance(b.rcd, hal.PinIn)
        assert isinstance(b.thermometer, hal.Thermometer)
        assert isinstance(b.clock, hal.Clock) and isinstance(b.files, hal.Files)
        assert b.files.root == TMP + "/data"
        assert b.settings["station_id"] == "ck-deadbeef0102"


def test_uarts_get_their_ids_pins_and_baud_rates():
    b, _, pins = _build("esp32_devkitc")
    rfid = machine.uarts[pins.RFID_UART]
    meter = machine.uarts[pins.METER_UART]
    assert (rfid.baudrate, rfid.bits, rfid.parity, rfid.stop) == (115200, 8, None, 1)
    assert (rfid.kw["tx"], rfid.kw["rx"]) == (pins.RFID_TX, pins.RFID_RX)  # ESP32: numbers
    assert (meter.baudrate, meter.parity, meter.stop) == (9600, None, 1)
    assert (meter.kw["tx"], meter.kw["rx"]) == (pins.METER_TX, pins.METER_RX)
    assert rfid.kw["timeout"] == 0 and meter.kw["timeout"] == 0
    assert b.rfid_uart.baudrate == 115200 and b.meter_uart.baudrate == 9600

    _, _, pins = _build("rp2_pico_w", {"reader": "rdm6300", "meter": "sdm120"})
    rfid = machine.uarts[pins.RFID_UART]
    meter = machine.uarts[pins.METER_UART]
    assert rfid.baudrate == 9600  # RDM6300
    assert meter.baudrate == 2400  # the SDM120's factory setting
    assert _pin_id(rfid.kw["tx"]) == pins.RFID_TX and _pin_id(rfid.kw["rx"]) == pins.RFID_RX
    assert isinstance(rfid.kw["tx"], machine.Pin)  # rp2: Pin objects
    assert _pin_id(meter.kw["tx"]) == pins.METER_TX and _pin_id(meter.kw["rx"]) == pins.METER_RX


def test_meter_line_format_from_the_settings():
    b, _, pins = _build(
        "rp2_pico_w", {"meter": "abb_b23", "meter_baudrate": 19200, "meter_parity": "E"}
    )
    meter = machine.uarts[pins.METER_UART]
    assert (meter.baudrate, meter.parity, meter.stop) == (19200, 0, 1)  # 0 = even
    assert b.meter_uart.bits_per_char == 11
    assert b.meter_uart.char_ms(4) == 3  # 44 bits at 19200 baud: 2.3 ms, rounded up
    assert machine_hal.meter_format({"meter_parity": "O", "meter_stop": 2}) == (9600, 1, 2, 12)
    assert machine_hal.meter_format({"meter": "sdm630"}) == (9600, None, 1, 10)


def test_safe_outputs_at_build_time():
    for name in BOARD_NAMES:
        b, _, pins = _build(name)
        assert machine.pins[pins.CONTACTOR].out == 0 and b.contactor.value() == 0
        assert machine.pins[pins.METER_DE].out == 0
        pwm = machine.pwms[pins.PILOT_PWM]
        assert pwm.freq() == 1000
        assert pwm.duty_u16() == 0 and b.pilot_pwm.duty() == 0  # -12 V: state F
        b.contactor.on()
        assert machine.pins[pins.CONTACTOR].out == 1 and b.contactor.value() == 1
        b.contactor.off()
        assert machine.pins[pins.CONTACTOR].out == 0


# -- pilot PWM ------------------------------------------------------------------------------


def test_duty_per_mille_to_duty_u16_and_back():
    table = ((0, 0), (1000, 65535), (100, 6554), (500, 32768), (53, 3473), (850, 55705))
    for permille, u16 in table:
        assert machine_hal.permille_to_u16(permille) == u16, permille
    for permille in range(1001):
        assert machine_hal.u16_to_permille(machine_hal.permille_to_u16(permille)) == permille
    # a port that stores the duty with less resolution still reads back the same per mille
    assert machine_hal.u16_to_permille(6553) == 100 and machine_hal.u16_to_permille(6586) == 100


def test_pilot_pwm_drives_duty_u16_and_clamps():
    b, _, pins = _build("esp32_devkitc")
    pwm = machine.pwms[pins.PILOT_PWM]
    assert b.pilot_pwm.duty(100) == 100 and pwm.duty_u16() == 6554  # 6 A
    assert b.pilot_pwm.duty(1000) == 1000 and pwm.duty_u16() == 65535  # constant +12 V
    assert b.pilot_pwm.duty(1200) == 1000 and b.pilot_pwm.duty(-5) == 0
    inverted = machine_hal.PilotPwm(pwm, invert=True)
    inverted.duty(100)
    assert pwm.duty_u16() == 58982 and inverted.duty() == 100


# -- pilot ADC ------------------------------------------------------------------------------


def _node_v(pins, pilot_v):
    g_in, g_up, g_down = 1 / pins.PILOT_R_IN, 1 / pins.PILOT_R_UP, 1 / pins.PILOT_R_DOWN
    return (pilot_v * g_in + pins.PILOT_SUPPLY_MV / 1000 * g_up) / (g_in + g_up + g_down)


def _raw(name, pins, volts):
    if name == "esp32_devkitc":
        return int(volts * 1000000)  # read_uv
    return int(volts * 1000 / pins.ADC_VREF_MV * 65535 + 0.5)  # read_u16


def test_pilot_adc_gives_signed_pilot_mv_at_the_iec_levels():
    for name in BOARD_NAMES:
        b, _, pins = _build(name)
        adc = machine.adcs[pins.PILOT_ADC]
        for level_v in (12, 9, 6, 3, 0):
            # PWM running: the sweep sees the positive half and the -12 V of the diode check
            adc.wave = [_raw(name, pins, _node_v(pins, level_v))] * 3 + [
                _raw(name, pins, _node_v(pins, -12))
            ] * 7
            b.pilot_adc._swept = None
            high, low = b.pilot_adc.read_mv(), b.pilot_adc.read_mv()
            assert abs(high - level_v * 1000) <= 40, (name, level_v, high)
            assert abs(low + 12000) <= 40, (name, level_v, low)


def test_pilot_adc_sweeps_once_per_burst():
    b, _, pins = _build("rp2_pico_w")
    adc = machine.adcs[pins.PILOT_ADC]
    adc.wave = [_raw("rp2_pico_w", pins, _node_v(pins, 9))]
    readings = [b.pilot_adc.read_mv() for _ in range(8)]
    swept = adc.count
    assert swept > 8  # the first read swept for a whole PWM period
    assert all(abs(r - 9000) <= 40 for r in readings), readings
    time.sleep_ms(3)
    b.pilot_adc.read_mv()
    assert adc.count > swept + 8  # a new burst, a new sweep


# -- NTC ------------------------------------------------------------------------------------


def _ntc_mv(pins, celsius):
    r = pins.NTC_R25 * math.exp(pins.NTC_BETA * (1 / (celsius + 273.15) - 1 / 298.15))
    return pins.NTC_SUPPLY_MV * pins.NTC_R_FIXED / (pins.NTC_R_FIXED + r)


def test_ntc_reads_tenths_of_a_degree():
    for name, temps in (
        ("rp2_pico_w", (-30, 0, 25, 60, 85, 110)),
        ("esp32_devkitc", (0, 25, 60, 85)),
    ):
        b, _, pins = _build(name)
        adc = machine.adcs[pins.NTC_ADC]
        for celsius in temps:
            adc.wave = [_raw(name, pins, _ntc_mv(pins, celsius) / 1000)]
            c10 = b.thermometer.read_c10()
            assert c10 is not None and abs(c10 - celsius * 10) <= 3, (name, celsius, c10)


def test_ntc_open_or_shorted_reads_as_no_sensor():
    for name in BOARD_NAMES:
        b, _, pins = _build(name)
        adc = machine.adcs[pins.NTC_ADC]
        adc.wave = [0]  # open NTC: the pin sits at ground
        assert b.thermometer.read_c10() is None
        adc.wave = [_raw(name, pins, 3.3)]  # shorted NTC: the pin sits at the supply
        assert b.thermometer.read_c10() is None
    # the ESP32's ADC floor: an open sensor reads ~100-150 mV after calibration
    b, _, pins = _build("esp32_devkitc")
    machine.adcs[pins.NTC_ADC].wave = [140000]
    assert b.thermometer.read_c10() is None


# -- UART streams ---------------------------------------------------------------------------


async def test_rs485_direction_is_high_exactly_around_the_frame():
    for name in BOARD_NAMES:
        b, _, pins = _build(name)
        frame = b"\x01\x04\x00\x00\x00\x02\x71\xcb"
        machine.events.clear()
        started = time.ticks_us()
        assert b.meter_uart.write(frame) == 8
        assert time.ticks_diff(time.ticks_us(), started) < 1000  # write() does not block
        assert machine.pins[pins.METER_DE].out == 1
        await b.meter_uart.drain()
        elapsed = time.ticks_diff(time.ticks_us(), started)
        seen = [e for e in machine.events if e[0] == "pin" or e[0] == "uart"]
        expected = [("pin", pins.METER_DE, 1), ("uart", pins.METER_UART, "write", frame)]
        if name == "esp32_devkitc":  # exact flush() there; rp2 relies on the timed wait
            expected.append(("uart", pins.METER_UART, "flush", None))
        expected.append(("pin", pins.METER_DE, 0))
        assert seen == expected, (name, seen)
        # DE may not drop before 8 characters of 10 bits at 9600 baud have left
        assert elapsed >= 8 * 10 * 1000000 // 9600, elapsed


async def test_rs485_drain_sleeps_through_a_slow_frame_and_a_read_releases_the_bus():
    b, _, pins = _build("rp2_pico_w")
    uart = b.meter_uart
    uart.baudrate = 2400
    uart._char_us = 10 * 1000000 // 2400
    frame = b"\x01\x04\x00\x00\x00\x02\x71\xcb"
    ticks = []

    async def ticker():
        while True:
            ticks.append(time.ticks_ms())
            await asyncio.sleep_ms(2)

    task = asyncio.create_task(ticker())
    await asyncio.sleep_ms(0)
    started = time.ticks_ms()
    uart.write(frame)
    await uart.drain()
    elapsed = time.ticks_diff(time.ticks_ms(), started)
    task.cancel()
    assert elapsed >= 37, elapsed  # 9 characters of 10 bits at 2400 baud
    assert machine.pins[pins.METER_DE].out == 0
    assert len([t for t in ticks if time.ticks_diff(t, started) >= 0]) >= 8  # others ran
    uart.write(frame)  # no drain: the next read must still release the bus in time
    assert machine.pins[pins.METER_DE].out == 1
    await uart.read(8, 1)
    assert machine.pins[pins.METER_DE].out == 0


def test_rfid_write_has_no_direction_pin():
    b, _, pins = _build("esp32_devkitc")
    machine.events.clear()
    assert b.rfid_uart.write(b"\x55\x55\x00") == 3
    assert machine.events == [("uart", pins.RFID_UART, "write", b"\x55\x55\x00")]


async def test_uart_read_returns_what_is_there_and_times_out_empty():
    b, _, pins = _build("rp2_pico_w")
    uart = machine.uarts[pins.RFID_UART]
    uart.feed(b"\x00\x00\xff")
    assert await b.rfid_uart.read(2, 50) == b"\x00\x00"
    assert await b.rfid_uart.read(10, 50) == b"\xff"
    assert all(n <= 2 for n in uart.reads[:1]) and uart.reads[1] == 1  # never more than any()
    assert await b.rfid_uart.read(4, 20) == b""

    async def later():
        await asyncio.sleep_ms(15)
        uart.feed(b"\x01")

    task = asyncio.create_task(later())
    assert await b.rfid_uart.read(4, 500) == b"\x01"
    await task
    uart.feed(b"stale")
    b.rfid_uart.discard()
    assert uart.any() == 0


# -- inputs ---------------------------------------------------------------------------------


def test_feedback_is_inverted_and_rcd_fails_safe():
    for name in BOARD_NAMES:
        b, _, pins = _build(name)
        fb = machine.pins[pins.CONTACTOR_FEEDBACK]
        rcd = machine.pins[pins.RCD]
        assert fb.pull == machine.Pin.PULL_UP and rcd.pull == machine.Pin.PULL_UP
        fb.level = 0  # auxiliary contact closed, pulls the pin to ground
        assert b.contactor_feedback.value() == 1
        fb.level = 1
        assert b.contactor_feedback.value() == 0
        rcd.level = 0  # the module holds the line low while healthy
        assert b.rcd.value() == 0
        rcd.level = 1
        assert b.rcd.value() == 1
        rcd.level = None  # cut wire: the pull-up reads as tripped
        assert b.rcd.value() == 1


def test_pin_in_needs_a_steady_level():
    class Glitchy:
        def __init__(self, levels):
            self.levels = list(levels)

        def value(self):
            return self.levels.pop(0) if self.levels else 1

    assert machine_hal.PinIn(Glitchy([1, 0, 1])).value() == 0
    assert machine_hal.PinIn(Glitchy([1, 1, 1])).value() == 1
    assert machine_hal.PinIn(Glitchy([0, 0, 0]), active_low=True).value() == 1


# -- watchdog, clock, settings, reset, report -----------------------------------------------


async def test_watchdog_starts_with_the_board_and_is_fed():
    for name in BOARD_NAMES:
        b, _, _ = _build(name)
        b.feed_watchdog()  # before start: nothing to feed, no error
        assert machine.wdts == []
        await b.start()
        await b.start()  # idempotent
        assert len(machine.wdts) == 1
        wdt = machine.wdts[0]
        assert 1000 <= wdt.timeout <= 8388  # the RP2040 cannot count longer
        b.feed_watchdog()
        b.feed_watchdog()
        assert wdt.feeds == 2


def test_clock_is_unknown_until_set_then_follows_the_rtc():
    b, _, _ = _build("esp32_devkitc")
    assert b.clock.time() is None  # RTC at its power-up date
    b.clock.set_time(1700000000)  # 2023-11-14T22:13:20Z, a Tuesday
    assert machine.RTC.now == (2023, 11, 14, 1, 22, 13, 20, 0)
    assert b.clock.time() == 1700000000
    machine.RTC.now = (2024, 2, 29, 3, 12, 0, 5, 0)  # the RTC ticks on
    assert b.clock.time() == 1709208005


def test_clock_trusts_an_rtc_that_was_set_before_the_reset():
    _load("rp2_pico_w")
    machine.RTC.now = (2025, 1, 1, 2, 0, 0, 0, 0)
    clock = machine_hal.RtcClock(machine.RTC())
    assert clock.time() == 1735689600


def test_settings_file_over_the_defaults():
    b, _, _ = _build("esp32_devkitc", {"meter": "sdm120", "max_current_a": 32, "wifi": "x"})
    assert b.settings["meter"] == "sdm120" and b.settings["max_current_a"] == 32
    assert b.settings["wifi"] == "x" and b.settings["reader"] == "pn532"
    board, _ = _load("esp32_devkitc")
    _write(TMP + "/settings.json", "{not json")
    b = board.build(settings_path=TMP + "/settings.json", files_root=TMP + "/data")
    assert b.settings["max_current_a"] == 16 and b.settings["meter"] == "sdm630"
    _write(TMP + "/settings.json", "[1, 2]")
    b = board.build(settings_path=TMP + "/settings.json", files_root=TMP + "/data")
    assert b.settings["phases"] == 3


def test_reset_calls_machine_reset():
    b, _, _ = _build("rp2_pico_w")
    try:
        b.reset()
    except machine.ResetCalled:
        pass
    assert machine.resets == [1]


async def test_status_report_sets_the_led_pattern():
    b, _, pins = _build("esp32_devkitc")
    led = machine.pins[pins.STATUS_LED]
    await b.start()
    await asyncio.sleep_ms(5)
    assert led.out == 1  # steady on: alive, nothing special
    b.report("status", {"connector": 1, "status": "Faulted", "error_code": "GroundFailure"})
    assert b.reports["status"]["status"] == "Faulted"
    await asyncio.sleep_ms(260)  # the blinker picks the new pattern up within 250 ms
    before = len(led.writes)
    await asyncio.sleep_ms(350)
    later = led.writes[before:]
    assert 0 in later and 1 in later, later  # blinking (steady on writes only 1)


# -- boot.py and main.py --------------------------------------------------------------------


def _run_source(name, filename):
    sys.path.insert(0, BOARDS + "/" + name)
    try:
        with open(BOARDS + "/" + name + "/" + filename) as f:
            exec(f.read(), {"__name__": "__main__"})
    finally:
        sys.path.pop(0)


def test_boot_py_switches_the_outputs_to_safe_states():
    for name in BOARD_NAMES:
        _, pins = _load(name)
        _run_source(name, "boot.py")
        assert machine.pins[pins.CONTACTOR].writes == [0]
        assert machine.pins[pins.METER_DE].writes == [0]
        assert machine.pins[pins.PILOT_PWM].writes == [0]  # -12 V, state F
        assert machine.pins[pins.CONTACTOR].mode == machine.Pin.OUT


def test_main_py_leaves_the_application_off_with_the_maintenance_jumper():
    for name in BOARD_NAMES:
        _, pins = _load(name)
        machine.levels[pins.MAINTENANCE] = 0  # jumper to ground
        _run_source(name, "main.py")
        assert machine.wdts == [] and machine.uarts == {}  # nothing built, nothing started
