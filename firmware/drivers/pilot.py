# IEC 61851-1 control pilot: reads the EV's state from the pilot voltage and offers a charging
# current with the PWM duty cycle.
#
# The pilot is a 1 kHz +/-12 V square wave through a 1 kOhm resistor; the EV pulls the positive
# half down to 9 V (B, connected), 6 V (C, charging) or 3 V (D, charging with ventilation)
# and its diode leaves the negative half at -12 V. A burst of ADC samples catches both halves:
# the highest is the state level, the lowest is the diode check.
import time

from micropython import const

from firmware import log
from firmware.drivers.poller import Poller

# Pilot levels in mV (positive half) and the band edges between them.
_EDGE_A = const(10500)  # A above, B below
_EDGE_B = const(7500)  # B above, C below
_EDGE_C = const(4500)  # C above, D below
_EDGE_D = const(1500)  # D above, E below
_EDGE_E = const(-1500)  # E above (0 V)
_EDGE_F = const(-10500)  # F below (-12 V); between -10.5 and -1.5 V is no valid level

STANDBY = const(1000)  # constant +12 V: EVSE ready, no charging allowed (A, B1)
OFF = const(0)  # constant -12 V: state F, EVSE not available

MIN_AMPS = const(6)
MAX_AMPS = const(80)

_BANDS = (
    ("A", _EDGE_A, 1 << 30),
    ("B", _EDGE_B, _EDGE_A),
    ("C", _EDGE_C, _EDGE_B),
    ("D", _EDGE_D, _EDGE_C),
    ("E", _EDGE_E, _EDGE_D),
    ("F", -(1 << 30), _EDGE_F),
)


def level(high_mv, previous=None, hysteresis_mv=400):
    """The pilot state letter for a positive-half voltage. The previous state is kept while
    the voltage stays within its band widened by the hysteresis, so a level sitting on an edge
    does not flicker. A voltage between the E and F bands is no valid state: E (error)."""
    if previous is not None:
        for name, low, high in _BANDS:
            if name == previous:
                if low - hysteresis_mv <= high_mv < high + hysteresis_mv:
                    return previous
                break
    for name, low, high in _BANDS:
        if low <= high_mv < high:
            return name
    return "E"


def duty_for_amps(amps):
    """PWM duty in per mille offering `amps` (IEC 61851-1 table A.7), or STANDBY below 6 A.

    6-51 A: duty = A / 0.6 %; 51-80 A: duty = A / 2.5 + 64 %. Rounded down so the EV is never
    offered more than the limit."""
    if amps is None or amps < MIN_AMPS:
        return STANDBY
    if amps > MAX_AMPS:
        amps = MAX_AMPS
    if amps <= 51:
        return int(amps * 1000 // 60)
    return int(amps * 4 + 640)


def amps_for_duty(permille):
    """The current in A an EV may draw at this duty (IEC 61851-1), 0 outside the bands."""
    if 80 <= permille < 100:
        return 6  # 8-10 %: 6 A (IEC 61851-1 table A.8)
    if 100 <= permille <= 850:
        return permille * 0.06
    if 850 < permille <= 960:
        return (permille - 640) * 0.25
    return 0


class Pilot(Poller):
    """Samples the pilot every `poll_ms` and keeps the debounced state.

    state: "A".."F" or None right after the PWM left or entered state F (the old reading no
    longer means anything); diode_ok: False when the negative half is missing while the PWM
    oscillates and an EV is connected. on_change(pilot) is called on every change of either."""

    poll_ms = 10
    log_tag = "pilot"
    burst = 8
    hysteresis_mv = 400
    debounce = 2  # equal consecutive readings before a new state is accepted
    diode_max_mv = _EDGE_F  # the negative half must be at least this low
    # After a duty change the line (and on the sim board the simulator's answer) needs a
    # moment to show the new waveform; readings taken meanwhile describe the old one.
    settle_ms = 30

    def __init__(self, pwm, adc, on_change=None):
        self.pwm = pwm
        self.adc = adc
        self.on_change = on_change
        self.state = None
        self.diode_ok = True
        self.high_mv = 0
        self.low_mv = 0
        self.duty = None
        self._candidate = None
        self._count = 0
        self._diode_bad = 0
        self._fresh = 0  # samples taken since the present duty settled
        self._failures = 0
        self._duty_changed_at = time.ticks_ms()
        self.set_duty(STANDBY)

    # -- output --------------------------------------------------------------------------
    def set_duty(self, permille):
        if permille == self.duty:
            return
        entering_or_leaving_f = self.duty is not None and (permille == OFF or self.duty == OFF)
        self.duty = permille
        self.pwm.duty(permille)
        self._duty_changed_at = time.ticks_ms()
        self._candidate = None
        self._count = 0
        self._diode_bad = 0
        self._fresh = 0
        if entering_or_leaving_f:
            self._forget()

    def offer(self, amps):
        """PWM for `amps`; below 6 A the pilot stays at standby (no charging allowed)."""
        self.set_duty(duty_for_amps(amps))

    def standby(self):
        self.set_duty(STANDBY)

    def off(self):
        self.set_duty(OFF)

    @property
    def offered_amps(self):
        return amps_for_duty(self.duty)

    @property
    def oscillating(self):
        return OFF < self.duty < STANDBY

    @property
    def confirmed(self):
        """True once `debounce` readings of the present waveform (after it settled) agree
        with `state` and `diode_ok`: nothing older than the last duty change counts."""
        return self._fresh >= self.debounce and self._candidate is None

    # -- input ---------------------------------------------------------------------------
    def _forget(self):
        self._candidate = None
        self._count = 0
        self._diode_bad = 0
        if self.state is not None or not self.diode_ok:
            self.state = None
            self.diode_ok = True
            self._changed()

    def sample(self):
        """Take one burst of readings and update the state; returns the state."""
        adc = self.adc
        high = low = adc.read_mv()
        for _ in range(self.burst - 1):
            v = adc.read_mv()
            if v > high:
                high = v
            elif v < low:
                low = v
        self.high_mv = high
        self.low_mv = low
        if time.ticks_diff(time.ticks_ms(), self._duty_changed_at) < self.settle_ms:
            return self.state  # the waveform is still changing over
        reading = level(high, self.state, self.hysteresis_mv)
        changed = False
        if self._fresh < self.debounce:
            self._fresh += 1
            changed = self._fresh == self.debounce  # now the reading can be trusted
        if reading == self.state:
            self._candidate = None
            self._count = 0
        elif reading == self._candidate:
            self._count += 1
            if self._count >= self.debounce:
                self.state = reading
                self._candidate = None
                self._count = 0
                changed = True
        else:
            self._candidate = reading
            self._count = 1
            if self.debounce <= 1:
                self.state = reading
                changed = True
        # The diode check only means something while the wave oscillates and an EV is there.
        diode_ok = True
        if self.oscillating and self.state in ("B", "C", "D") and low > self.diode_max_mv:
            self._diode_bad += 1
            diode_ok = self._diode_bad < self.debounce
        else:
            self._diode_bad = 0
        if diode_ok != self.diode_ok:
            self.diode_ok = diode_ok
            if not diode_ok:
                log.warn("pilot", "diode check failed: negative half at", low, "mV")
            changed = True
        if changed:
            self._changed()
        return self.state

    def _changed(self):
        if self.on_change is not None:
            self.on_change(self)

    def poll(self):
        try:
            self.sample()
            self._failures = 0
        except Exception:
            # An ADC that stops answering must not leave a stale "C" behind: after a few
            # failed bursts the pilot reads as E (error), which opens the contactor.
            self._failures += 1
            if self._failures == self.debounce + 1:
                self.state = "E"
                self._candidate = None
                self._changed()
            raise

    def deinit(self):
        Poller.deinit(self)
        self.pwm.duty(OFF)
