# Raspberry Pi Pico W: the HAL of firmware/hal.py built from `machine` with the pin map in
# pins.py (wiring: docs/hardware.md). The wiring is firmware/machine_hal.py's MachinePort;
# what is particular to the rp2 port is here.
#
#   import board
#   b = board.build()   # settings from /settings.json over the defaults
#   await b.start()     # starts the watchdog and the status LED
import machine
import pins

from firmware import machine_hal

SETTINGS_PATH = "/settings.json"
FILES_ROOT = "/data"


def _pwm(pin, freq, duty_u16):
    # PWM(pin) then duty/freq: the constructor keywords are not in every rp2 release we run
    # on. Duty first, so a slice left running by a soft reset does not oscillate meanwhile;
    # and once more at the new frequency, so the safe level is the last one written.
    pwm = machine.PWM(pin)
    pwm.duty_u16(duty_u16)
    pwm.freq(freq)
    pwm.duty_u16(duty_u16)
    return pwm


def _adc(gpio):
    return machine.ADC(machine.Pin(gpio)).read_u16


_port = machine_hal.MachinePort(
    machine,
    pins,
    pwm=_pwm,
    adc=_adc,
    adc_scale=(pins.ADC_VREF_MV, 65535),  # read_u16() * ADC_VREF_MV // 65535 = mV at the pin
    # No flush() on rp2: before MicroPython 1.24 it returns while the last byte is still in
    # the shift register, and 1.22.0/1.22.1 take ~0.8 s in it (micropython#13377). The
    # stream's own character-time wait is exact enough.
    meter_flush=False,
    uart_pin=machine.Pin,  # RP2040 takes Pin objects for tx/rx
)
maintenance_requested = _port.maintenance_requested
defaults = _port.defaults


def build(settings_path=SETTINGS_PATH, files_root=FILES_ROOT):
    """The Board with every HAL object wired; outputs start in their safe state."""
    return _port.build(settings_path, files_root)
