# ESP32-DevKitC: the HAL of firmware/hal.py built from `machine` with the pin map in pins.py
# (wiring: docs/hardware.md). The wiring is firmware/machine_hal.py's MachinePort; what is
# particular to the ESP32 port is here.
#
#   import board
#   b = board.build()   # settings from /settings.json over the defaults
#   await b.start()     # starts the watchdog and the status LED
import machine
import pins

from firmware import machine_hal

SETTINGS_PATH = "/settings.json"
FILES_ROOT = "/data"


def _adc(gpio):
    # 11 dB: the 150-2450 mV linear range; the constant was renamed ATTN_12DB in newer IDFs.
    atten = getattr(machine.ADC, "ATTN_11DB", None)
    if atten is None:
        atten = machine.ADC.ATTN_12DB
    return machine.ADC(machine.Pin(gpio), atten=atten).read_uv


_port = machine_hal.MachinePort(
    machine,
    pins,
    pwm=machine.PWM,  # takes freq and duty_u16 in the constructor
    adc=_adc,
    adc_scale=(1, 1000),  # read_uv(): calibrated microvolts
    # ESP32's flush() waits for the TX-done interrupt, after the last stop bit: exact.
    meter_flush=True,
    uart_pin=None,  # ESP32 takes GPIO numbers for tx/rx
)
maintenance_requested = _port.maintenance_requested
defaults = _port.defaults


def build(settings_path=SETTINGS_PATH, files_root=FILES_ROOT):
    """The Board with every HAL object wired; outputs start in their safe state."""
    return _port.build(settings_path, files_root)
