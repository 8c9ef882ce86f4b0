# Protective inputs besides the pilot: the residual current device and the temperature sensor.
from firmware import log
from firmware.drivers.poller import Poller


class Rcd(Poller):
    """A residual current monitor (e.g. a 6 mA DC RDC-DD module) on a digital input.

    A trip latches: charging may only resume after clear() with the input quiet again, as an
    RCD that re-arms by itself could switch a faulty installation back on."""

    poll_ms = 5
    log_tag = "rcd"

    def __init__(self, pin, on_change=None):
        self.pin = pin
        self.on_change = on_change
        self.tripped = False

    def check(self):
        if not self.tripped and self.pin.value():
            self.tripped = True
            log.error("rcd", "residual current trip")
            if self.on_change is not None:
                self.on_change(self)
        return self.tripped

    def clear(self):
        if self.tripped and not self.pin.value():
            self.tripped = False
            log.info("rcd", "trip cleared")
            if self.on_change is not None:
                self.on_change(self)
        return not self.tripped

    def poll(self):
        self.check()


class TemperatureGuard(Poller):
    """Derates the current above `derate_c10` and stops charging above `max_c10`.

    Between the two the allowed current falls linearly from full to 6 A; over the maximum
    `over` is True until the temperature is `hysteresis_c10` below it again. Temperatures are
    in tenths of a degree C. A missing sensor is reported (failure) but does not stop charging:
    the contactor's own thermal protection still works without it."""

    # An NTC read is one ADC conversion: cheap enough to poll fast, so the contactor opens
    # within 100 ms of the maximum being crossed.
    poll_ms = 50
    log_tag = "temp"
    derate_c10 = 600
    max_c10 = 800
    hysteresis_c10 = 50

    def __init__(self, thermometer, on_change=None, **options):
        self.thermometer = thermometer
        self.on_change = on_change
        for name in options:
            setattr(self, name, options[name])
        self.c10 = None
        self.over = False
        self.failure = None

    def limit(self, amps):
        """The current allowed at the present temperature for an `amps` limit."""
        t = self.c10
        if t is None or amps is None or t <= self.derate_c10:
            return amps
        if self.over or t >= self.max_c10:
            return 0
        span = self.max_c10 - self.derate_c10
        # Whole amps: the offer (and the EV's PWM) moves in 1 A steps, not with every 0.1 C.
        derated = 6 + (amps - 6) * (self.max_c10 - t) // span
        return derated if derated < amps else amps

    def check(self):
        t = self.thermometer.read_c10()
        before = (self.over, self.failure, self._band(self.c10))
        self.c10 = t
        if t is None:
            self.failure = "temperature sensor not responding"
        else:
            self.failure = None
            if not self.over and t >= self.max_c10:
                self.over = True
                log.error("temp", "over temperature:", t / 10, "C; charging stopped")
            elif self.over and t <= self.max_c10 - self.hysteresis_c10:
                self.over = False
                log.info("temp", "temperature back to", t / 10, "C")
        if (self.over, self.failure, self._band(t)) != before and self.on_change is not None:
            self.on_change(self)
        return self.over

    def _band(self, t):
        # Which region the temperature is in, in whole degrees above the derating threshold,
        # so on_change fires when the derated limit moves but not for every tenth.
        if t is None or t <= self.derate_c10:
            return 0
        return 1 + (t - self.derate_c10) // 10

    def poll(self):
        self.check()
