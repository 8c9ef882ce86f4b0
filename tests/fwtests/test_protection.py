# RCD input latching and the temperature guard's thresholds.
from fakes import FakePinIn, FakeThermometer

from firmware.drivers.protection import Rcd, TemperatureGuard


def test_rcd_trip_latches_until_cleared_with_the_input_quiet():
    pin = FakePinIn(0)
    seen = []
    rcd = Rcd(pin, on_change=lambda r: seen.append(r.tripped))
    assert not rcd.check()
    pin.v = 1
    assert rcd.check() and seen == [True]
    assert not rcd.clear()  # still tripping
    pin.v = 0
    assert rcd.check()  # latched
    assert rcd.clear() and seen == [True, False]


def test_temperature_guard_stops_above_the_maximum_with_hysteresis():
    t = FakeThermometer(250)
    changes = []
    guard = TemperatureGuard(t, on_change=lambda g: changes.append(g.over), max_c10=700)
    assert not guard.check()
    t.c10 = 700
    assert guard.check() and guard.limit(32) == 0
    t.c10 = 660  # within 5 C of the maximum
    assert guard.check()
    t.c10 = 650
    assert not guard.check()
    assert changes[0] is True and changes[-1] is False


def test_missing_sensor_is_a_failure_but_not_a_stop():
    t = FakeThermometer(None)
    guard = TemperatureGuard(t)
    assert not guard.check()
    assert guard.failure and guard.limit(32) == 32
