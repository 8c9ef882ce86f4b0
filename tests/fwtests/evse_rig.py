# A connector on fake hardware with a simple EV model, for the EVSE tests under micropython.
from fakes import FakeAdc, FakePinIn, FakePinOut, FakePwm

from firmware.drivers.contactor import Contactor
from firmware.drivers.pilot import Pilot
from firmware.evse import Evse

LEVELS = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0, "F": -12000}


def settle_ev(pilot, adc, pwm, evse, ev, diode=True, rounds=6):
    """Let the pilot see the EV's answer to the present PWM until nothing changes. `ev` is
    what the EV does: A unplugged, B plugged, C wants energy, D, E error."""
    for _ in range(rounds):
        duty = pwm.permille
        state = ev
        if state in ("C", "D") and not pilot.oscillating:
            state = "B"  # an EV only asks for energy when current is offered
        high = LEVELS[state]
        if duty == 0:
            high = low = -12000
        elif duty == 1000:
            low = high
        else:
            low = -12000 if diode or state == "A" else -high
        adc.set(high, low)
        for _ in range(pilot.debounce + 1):
            pilot.sample()
        evse.update()
        if pwm.permille == duty:
            return


class MirrorFeedback(FakePinIn):
    """An auxiliary contact that follows the coil, unless stuck (welded / won't close)."""

    def __init__(self, coil):
        super().__init__(0)
        self.coil = coil
        self.stuck = None

    def value(self):
        return self.stuck if self.stuck is not None else self.coil.v


class Rig:
    def __init__(self, feedback=True, confirm=True, **options):
        self.pwm = FakePwm()
        self.adc = FakeAdc()
        self.coil = FakePinOut()
        self.feedback = MirrorFeedback(self.coil) if feedback else None
        self.pilot = Pilot(self.pwm, self.adc)
        self.pilot.settle_ms = 0  # settle() samples synchronously, right after each change
        self.contactor = Contactor(self.coil, self.feedback)
        self.sessions = []
        self.statuses = []
        self.confirm = confirm
        self.ev = "A"  # what the EV does: A unplugged, B plugged, C wants energy, D, E
        self.diode = True
        self.evse = Evse(
            self.pilot,
            self.contactor,
            on_status=lambda e: self.statuses.append((e.status, e.error_code)),
            on_session=self._session,
            **options,
        )
        self.settle()

    def _session(self, evse, event, detail):
        self.sessions.append((event, detail))
        if event == "start" and self.confirm:
            evse.started()

    @property
    def closed(self):
        return self.coil.v == 1

    def set_ev(self, state, diode=True):
        self.ev = state
        self.diode = diode
        self.settle()

    def settle(self, rounds=6):
        settle_ev(self.pilot, self.adc, self.pwm, self.evse, self.ev, self.diode, rounds)

    def charge(self, tag="04A1B2C3"):
        assert self.evse.authorize(tag) == "Accepted"
        self.set_ev("C")
        assert self.closed, self.evse.status
