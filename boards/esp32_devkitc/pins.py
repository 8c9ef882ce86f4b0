# ESP32-DevKitC (ESP32-WROOM-32E or -WROVER-E module) pin map. Wiring and parts:
# docs/hardware.md. GPIO numbers; the DevKitC silkscreen prints them as-is.
#
# Left alone, and why:
#   GPIO 6-11   the module's SPI flash
#   GPIO 16, 17 the PSRAM of WROVER modules (free on WROOM, but then the map fits only one)
#   GPIO 0, 2, 5, 12, 15  strapping pins: an external pull on them changes how the chip boots
#   GPIO 1, 3   UART0: the USB bridge and the REPL (technician console, flashing)
#   ADC2 (GPIO 0, 2, 4, 12-15, 25-27) for analogue input: ADC2 cannot read while WiFi runs
#   GPIO 34-39  input only and without internal pull-ups: used for the two analogue inputs
from micropython import const

# RFID reader: PN532 in HSU mode at 115200 8N1, or RDM6300 at 9600 (TX only).
RFID_UART = const(1)
RFID_TX = const(26)  # -> PN532 RXD
RFID_RX = const(25)  # <- PN532 TXD / RDM6300 TX (through a divider: the RDM6300 is 5 V)

# Energy meter: Modbus RTU over a MAX3485 (3.3 V RS-485 transceiver).
METER_UART = const(2)
METER_TX = const(19)  # -> MAX3485 DI
METER_RX = const(18)  # <- MAX3485 RO
METER_DE = const(21)  # -> MAX3485 DE and /RE tied together; 10 kOhm pull-down keeps it receiving

# Control pilot.
PILOT_PWM = const(33)  # -> +/-12 V driver input; 1 kHz; 10 kOhm pull-down: -12 V (F) at reset
PILOT_PWM_INVERT = False  # True if the driver stage inverts (MCU high -> -12 V)
PILOT_ADC = const(36)  # SENSOR_VP, ADC1_CH0 <- measuring front-end (op-amp follower)

# Pilot measuring network (docs/hardware.md): the pilot line through R_IN into node N,
# R_UP from 3V3 to N, R_DOWN from N to ground; N -> op-amp follower -> ADC pin.
#   V_N = (V_pilot / R_IN + 3.3 V / R_UP) / (1/R_IN + 1/R_UP + 1/R_DOWN)
#   V_pilot = (V_N - OFFSET) * GAIN, GAIN = 1 + R_IN/R_UP + R_IN/R_DOWN = 11.911,
#   OFFSET = 3.3 V * (1/R_UP) / (1/R_IN + 1/R_UP + 1/R_DOWN) = 1245 mV
# so +12 V -> 2253 mV and -12 V -> 238 mV: inside the 150-2450 mV that the ESP32 ADC reads
# linearly at 11 dB attenuation.
PILOT_R_IN = const(120000)
PILOT_R_UP = const(26700)
PILOT_R_DOWN = const(18700)
PILOT_SUPPLY_MV = const(3300)
PILOT_OFFSET_MV = const(1245)
PILOT_GAIN_NUM = const(11911)
PILOT_GAIN_DEN = const(1000)

# Temperature: 10 kOhm NTC (B25/50 = 3950) from 3V3 to the pin, NTC_R_FIXED to ground.
# 25 degC -> 1055 mV, 70 degC -> 2401 mV; the ESP32 ADC is linear to about 2450 mV and
# still monotonic above. Its floor: a grounded input reads up to ~150 mV after calibration,
# so below NTC_OPEN_MV (an open sensor, or colder than about -19 degC) reads as no sensor.
NTC_ADC = const(39)  # SENSOR_VN, ADC1_CH3
NTC_R_FIXED = const(4700)
NTC_R25 = const(10000)
NTC_BETA = const(3950)
NTC_SUPPLY_MV = const(3300)
NTC_OPEN_MV = const(150)
NTC_SHORT_MV = const(3100)  # the ADC saturates just above; 3100 mV is about 130 degC

# Contactor.
CONTACTOR = const(23)  # -> coil driver (transistor/SSR input); 10 kOhm pull-down
CONTACTOR_FEEDBACK = const(22)  # <- auxiliary contact to GND, internal pull-up
CONTACTOR_FEEDBACK_ACTIVE_LOW = True  # NO contact: closed pulls the pin low (hal: 1 = closed)

# Residual current: the RDC-DD module's signal output, internal pull-up. Wired fail-safe
# (docs/hardware.md): the module holds the line low while healthy, so a trip, a cut wire or
# a dead module all read 1 = tripped.
RCD = const(27)
RCD_ACTIVE_LOW = False

STATUS_LED = const(32)  # -> LED + 330 Ohm to GND (the DevKitC has only a power LED)
# Maintenance jumper to the GND pin beside it on the header: main.py leaves the app off.
MAINTENANCE = const(13)

WATCHDOG_MS = const(8000)
