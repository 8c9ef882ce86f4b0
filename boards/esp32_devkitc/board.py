# ESP32-DevKitC: the HAL of firmware/hal.py built from `machine` with the pin map in pins.py
# (wiring: docs/hardware.md).
#
#   import board
#   b = board.build()   # settings from /settings.json over the defaults
#   await b.start()     # starts the watchdog and the status LED
import machine
import pins

from firmware import hal, machine_hal

SETTINGS_PATH = "/settings.json"
FILES_ROOT = "/data"


def maintenance_requested():
    """True while the maintenance jumper pulls its pin to ground."""
    return machine.Pin(pins.MAINTENANCE, machine.Pin.IN, machine.Pin.PULL_UP).value() == 0


def defaults():
    settings = dict(machine_hal.DEFAULT_SETTINGS)
    settings["station_id"] = "ck-" + "".join("%02x" % b for b in machine.unique_id())
    return settings


def _uart(uart_id, tx, rx, baudrate, parity=None, stop=1):
    # ESP32 takes GPIO numbers for tx/rx; timeout=0: read() returns what is there.
    return machine.UART(
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


def _pin_in(number):
    return machine.Pin(number, machine.Pin.IN, machine.Pin.PULL_UP)


def _adc(number):
    # 11 dB: the 150-2450 mV linear range; the constant was renamed ATTN_12DB in newer IDFs.
    atten = getattr(machine.ADC, "ATTN_11DB", None)
    if atten is None:
        atten = machine.ADC.ATTN_12DB
    return machine.ADC(machine.Pin(number), atten=atten)


def build(settings_path=SETTINGS_PATH, files_root=FILES_ROOT):
    """The Board with every HAL object wired; outputs start in their safe state."""
    settings = machine_hal.load_settings(settings_path, defaults())
    b = machine_hal.MachineBoard(
        settings,
        wdt=machine.WDT,
        reset=machine.reset,
        led=machine_hal.PinOut(machine.Pin(pins.STATUS_LED, machine.Pin.OUT)),
    )
    b.watchdog_ms = pins.WATCHDOG_MS
    # Safety outputs first: coil off, RS-485 driver off, pilot at -12 V (state F) until the
    # pilot driver offers a level.
    b.contactor = machine_hal.PinOut(machine.Pin(pins.CONTACTOR, machine.Pin.OUT, value=0))
    de = machine.Pin(pins.METER_DE, machine.Pin.OUT, value=0)
    pwm = machine.PWM(
        machine.Pin(pins.PILOT_PWM),
        freq=1000,
        duty_u16=machine_hal.permille_to_u16(1000 if pins.PILOT_PWM_INVERT else 0),
    )
    b.pilot_pwm = machine_hal.PilotPwm(pwm, invert=pins.PILOT_PWM_INVERT)

    rfid_baud = 9600 if settings.get("reader") == "rdm6300" else 115200
    b.rfid_uart = machine_hal.UartStream(
        _uart(pins.RFID_UART, pins.RFID_TX, pins.RFID_RX, rfid_baud), rfid_baud
    )
    baud, parity, stop, bits = machine_hal.meter_format(settings)
    # ESP32's flush() waits for the TX-done interrupt, after the last stop bit: exact.
    b.meter_uart = machine_hal.UartStream(
        _uart(pins.METER_UART, pins.METER_TX, pins.METER_RX, baud, parity, stop),
        baud,
        de=de,
        bits_per_char=bits,
        flush=True,
    )

    b.pilot_adc = machine_hal.PilotAdc(
        _adc(pins.PILOT_ADC).read_uv,
        1,
        1000,  # read_uv(): calibrated microvolts
        pins.PILOT_OFFSET_MV,
        pins.PILOT_GAIN_NUM,
        pins.PILOT_GAIN_DEN,
    )
    b.thermometer = machine_hal.NtcThermometer(
        _adc(pins.NTC_ADC).read_uv,
        1,
        1000,
        pins.NTC_SUPPLY_MV,
        pins.NTC_R_FIXED,
        pins.NTC_R25,
        pins.NTC_BETA,
        pins.NTC_OPEN_MV,
        pins.NTC_SHORT_MV,
    )
    b.contactor_feedback = machine_hal.PinIn(
        _pin_in(pins.CONTACTOR_FEEDBACK), active_low=pins.CONTACTOR_FEEDBACK_ACTIVE_LOW
    )
    b.rcd = machine_hal.PinIn(_pin_in(pins.RCD), active_low=pins.RCD_ACTIVE_LOW)
    b.clock = machine_hal.RtcClock(machine.RTC())
    b.files = hal.Files(files_root)
    return b
