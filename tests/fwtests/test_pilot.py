# Control pilot: voltage bands with hysteresis, debounce, diode check and duty <-> current.
import time

from fakes import FakeAdc, FakePwm

from firmware.drivers import pilot
from firmware.drivers.pilot import Pilot


def test_levels_of_iec_61851_states():
    for mv, state in (
        (12000, "A"),
        (9000, "B"),
        (6000, "C"),
        (3000, "D"),
        (0, "E"),
        (-12000, "F"),
        (-6000, "E"),  # between the E and F bands: no valid level
        (11000, "A"),
        (10000, "B"),
    ):
        assert pilot.level(mv) == state, (mv, state, pilot.level(mv))


def test_hysteresis_keeps_the_previous_state_near_an_edge():
    assert pilot.level(10400) == "B"
    assert pilot.level(10400, "A") == "A"  # 100 mV under the edge: A holds
    assert pilot.level(10000, "A") == "B"  # 500 mV under: beyond the hysteresis
    assert pilot.level(7700, "C") == "C"
    assert pilot.level(7700, "B") == "B"


def test_duty_from_current_and_back():
    assert pilot.duty_for_amps(6) == 100
    assert pilot.duty_for_amps(16) == 266  # 26.6 %: never more than the limit
    assert pilot.duty_for_amps(32) == 533
    assert pilot.duty_for_amps(51) == 850
    assert pilot.duty_for_amps(63) == 892  # 63 / 2.5 + 64 = 89.2 %
    assert pilot.duty_for_amps(80) == 960
    assert pilot.duty_for_amps(100) == 960  # capped at 80 A
    assert pilot.duty_for_amps(5.9) == pilot.STANDBY
    assert pilot.duty_for_amps(None) == pilot.STANDBY
    for amps in (6, 10, 16, 32, 51, 63, 80):
        offered = pilot.amps_for_duty(pilot.duty_for_amps(amps))
        assert amps - 0.3 < offered <= amps, (amps, offered)
    assert pilot.amps_for_duty(1000) == 0 and pilot.amps_for_duty(0) == 0
    assert pilot.amps_for_duty(50) == 0  # 5 %: digital communication, no current by PWM


def _pilot(adc, pwm=None, **kw):
    p = Pilot(pwm or FakePwm(), adc, **kw)
    p.settle_ms = 0  # these tests sample right after each duty change
    return p


def test_readings_while_the_waveform_settles_are_ignored():
    adc = FakeAdc(9000, 9000)
    p = Pilot(FakePwm(), adc)
    p.settle_ms = 20
    while p.state != "B":
        p.sample()
    p.offer(16)  # the old waveform (no negative half) is still on the line for a moment
    for _ in range(5):
        p.sample()
    assert p.diode_ok and p.state == "B"
    time.sleep_ms(25)
    adc.set(9000, -12000)
    for _ in range(3):
        p.sample()
    assert p.diode_ok and p.state == "B"
    adc.set(9000, 9000)  # now a missing negative half is real
    for _ in range(3):
        p.sample()
    assert not p.diode_ok


def test_state_changes_only_after_the_debounce():
    adc = FakeAdc(12000)
    changes = []
    p = _pilot(adc, on_change=lambda x: changes.append(x.state))
    p.sample()
    p.sample()
    assert p.state == "A" and changes == ["A"]
    adc.set(9000)
    p.sample()
    assert p.state == "A"  # one reading is not enough
    p.sample()
    assert p.state == "B" and changes == ["A", "B"]
    adc.set(6000)
    p.sample()
    adc.set(9000)  # a glitch of one sample
    p.sample()
    p.sample()
    assert changes == ["A", "B"]


def test_burst_takes_both_halves_and_checks_the_diode():
    adc = FakeAdc(9000, -12000)
    pwm = FakePwm()
    p = _pilot(adc, pwm)
    p.offer(16)
    assert pwm.permille == 266 and p.oscillating
    for _ in range(3):
        p.sample()
    assert (p.high_mv, p.low_mv) == (9000, -12000)
    assert p.state == "B" and p.diode_ok
    adc.set(9000, -9000)  # the negative half follows the positive one: no diode
    for _ in range(3):
        p.sample()
    assert not p.diode_ok
    p.standby()  # without PWM there is no negative half to check
    adc.set(9000, 9000)
    for _ in range(3):
        p.sample()
    assert p.diode_ok


def test_entering_state_f_forgets_the_reading():
    adc = FakeAdc(9000)
    pwm = FakePwm()
    p = _pilot(adc, pwm)
    for _ in range(3):
        p.sample()
    assert p.state == "B"
    p.off()
    assert pwm.permille == 0 and p.state is None
    adc.set(-12000)
    for _ in range(3):
        p.sample()
    assert p.state == "F"
    p.standby()
    assert p.state is None
