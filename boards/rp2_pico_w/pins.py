# Raspberry Pi Pico W (RP2040) pin map. Wiring and parts: docs/hardware.md. GPxx numbers,
# physical header pins in the comments.
#
# Left alone, and why:
#   GP23, GP24, GP25, GP29  the CYW43439 WiFi chip (power, SPI data/IRQ, SPI chip select,
#                           SPI clock; GP29 is also the VSYS/3 sense ADC)
#   GP26-28 are the only analogue inputs (ADC0-2): pilot, NTC, and GP28 kept for a
#   proximity-pilot (PP) input. The REPL is on USB, so both UARTs are free.
# RP2040 UART pins are fixed per function: UART0 TX on GP0/12/16/28, RX on GP1/13/17;
# UART1 TX on GP4/8/20, RX on GP5/9/21.
from micropython import const

# RFID reader: PN532 in HSU mode at 115200 8N1, or RDM6300 at 9600 (TX only).
RFID_UART = const(1)
RFID_TX = const(4)  # pin 6 -> PN532 RXD
RFID_RX = const(5)  # pin 7 <- PN532 TXD / RDM6300 TX (through a divider: the RDM6300 is 5 V)

# Energy meter: Modbus RTU over a MAX3485 (3.3 V RS-485 transceiver).
METER_UART = const(0)
METER_TX = const(0)  # pin 1 -> MAX3485 DI
METER_RX = const(1)  # pin 2 <- MAX3485 RO
METER_DE = const(2)  # pin 4 -> MAX3485 DE and /RE tied; 10 kOhm pull-down keeps it receiving

# Control pilot.
PILOT_PWM = const(16)  # pin 21, PWM slice 0 A -> +/-12 V driver; 10 kOhm pull-down (F at reset)
PILOT_PWM_INVERT = False  # True if the driver stage inverts (MCU high -> -12 V)
PILOT_ADC = const(26)  # pin 31, ADC0 <- measuring front-end (op-amp follower)

# Pilot measuring network: the same board as on the ESP32 (docs/hardware.md):
#   V_pilot = (V_N - OFFSET) * GAIN, GAIN = 1 + R_IN/R_UP + R_IN/R_DOWN = 11.911,
#   OFFSET = 3.3 V * (1/R_UP) / (1/R_IN + 1/R_UP + 1/R_DOWN) = 1245 mV
# The RP2040 ADC reads 0..ADC_VREF (the 3.3 V rail, filtered, on the Pico) linearly, so the
# pin voltage is read_u16() * ADC_VREF_MV / 65535; +/-12 V -> 2253 / 238 mV.
ADC_VREF_MV = const(3300)
PILOT_R_IN = const(120000)
PILOT_R_UP = const(26700)
PILOT_R_DOWN = const(18700)
PILOT_SUPPLY_MV = const(3300)
PILOT_OFFSET_MV = const(1245)
PILOT_GAIN_NUM = const(11911)
PILOT_GAIN_DEN = const(1000)

# Temperature: 10 kOhm NTC (B25/50 = 3950) from 3V3 to the pin, NTC_R_FIXED to ground.
# The divider and the ADC share the 3.3 V reference, so the reading is ratiometric and the
# whole -40..+120 degC range is measurable (38..3037 mV).
NTC_ADC = const(27)  # pin 32, ADC1
NTC_R_FIXED = const(4700)
NTC_R25 = const(10000)
NTC_BETA = const(3950)
NTC_SUPPLY_MV = const(3300)
NTC_OPEN_MV = const(20)  # below: open sensor (colder than -50 degC)
NTC_SHORT_MV = const(3250)  # above: shorted sensor (hotter than about 200 degC)

# Contactor.
CONTACTOR = const(15)  # pin 20 -> coil driver (transistor/SSR input); 10 kOhm pull-down
CONTACTOR_FEEDBACK = const(14)  # pin 19 <- auxiliary contact to GND, internal pull-up
CONTACTOR_FEEDBACK_ACTIVE_LOW = True  # NO contact: closed pulls the pin low (hal: 1 = closed)

# Residual current: the RDC-DD module's signal output, internal pull-up, wired fail-safe
# (docs/hardware.md): low while healthy; a trip, a cut wire or a dead module read 1.
RCD = const(13)  # pin 17
RCD_ACTIVE_LOW = False

STATUS_LED = "LED"  # the Pico W's on-board LED (on the WiFi chip's WL_GPIO0)
# Maintenance jumper to GND (pin 29 to pin 28): main.py leaves the app off.
MAINTENANCE = const(22)

WATCHDOG_MS = const(8000)  # RP2040 maximum: 8388 ms
