# Runs first after every reset, before main.py. One job only: put the outputs that act on
# the mains side into their safe state now. main.py first imports the application, which
# takes a while; until here the 10 kOhm pull-downs (docs/hardware.md) hold these lines.
# The REPL stays on UART0 (GPIO 1/3, the USB bridge): the RFID reader and the meter use
# UART1 and UART2, so nothing has to be taken away from it.
import machine
import pins

machine.Pin(pins.CONTACTOR, machine.Pin.OUT, value=0)  # coil off
machine.Pin(pins.METER_DE, machine.Pin.OUT, value=0)  # RS-485 driver off the bus
# Pilot at -12 V (state F, "not available") until the application offers a level.
machine.Pin(pins.PILOT_PWM, machine.Pin.OUT, value=1 if pins.PILOT_PWM_INVERT else 0)
