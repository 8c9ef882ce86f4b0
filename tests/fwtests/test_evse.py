# The EVSE state machine: one test per safety invariant, then statuses and commands.
import asyncio
import time

from evse_rig import Rig

from firmware import evse
from firmware.drivers import pilot as pilot_mod
from firmware.drivers.protection import Rcd, TemperatureGuard


# -- invariant: the contactor closes only in C/D, authorized, started, no fault ---------------
def test_contactor_stays_open_without_authorization():
    rig = Rig()
    rig.set_ev("C")
    assert not rig.closed
    assert rig.pwm.permille == 1000  # no PWM: the EV is not invited to charge
    assert rig.evse.status == evse.PREPARING


def test_contactor_closes_in_c_only_after_the_start_is_recorded():
    rig = Rig(confirm=False)
    rig.evse.authorize("TAG1")
    rig.set_ev("C")
    assert rig.sessions == [("start", "TAG1")]
    assert not rig.closed and rig.evse.status == evse.PREPARING
    rig.evse.started()
    rig.settle()
    assert rig.closed and rig.evse.status == evse.CHARGING


def test_contactor_open_in_b_while_the_ev_does_not_ask():
    rig = Rig()
    rig.evse.authorize("TAG1")
    rig.set_ev("B")
    assert not rig.closed
    assert rig.pilot.oscillating
    assert rig.evse.status == evse.SUSPENDED_EV
    rig.set_ev("C")
    assert rig.closed


def test_state_d_charges_only_where_ventilation_is_allowed():
    rig = Rig()
    rig.evse.authorize("T")
    rig.set_ev("D")
    assert rig.closed
    rig = Rig()
    rig.evse.allow_ventilation = False
    rig.evse.authorize("T")
    rig.set_ev("D")
    assert not rig.closed and rig.evse.status == evse.SUSPENDED_EVSE


def test_no_closing_while_any_blocking_fault_is_active():
    for name, code, blocks, _ in evse.FAULTS:
        if not blocks or name in ("pilot", "welded", "failed_to_close"):
            continue
        rig = Rig()
        rig.evse.set_fault(name, True)
        assert rig.evse.authorize("T") == "Faulted"
        rig.set_ev("C")
        assert not rig.closed, name
        assert rig.evse.status == evse.FAULTED and rig.evse.error_code == code, name
        # RCD: state F. The others hold +12 V, where an unplug still shows.
        assert rig.pwm.permille == (0 if name == "rcd" else 1000), name


# -- invariant: it opens on pilot A/E/F, RCD, over-temperature and stop ----------------------
def test_unplugging_opens_and_ends_the_transaction():
    rig = Rig()
    rig.charge()
    rig.set_ev("A")
    assert not rig.closed
    assert rig.sessions[-1] == ("stopped", "EVDisconnected")
    assert rig.evse.status == evse.AVAILABLE


def test_pilot_e_opens_and_faults_until_the_level_is_valid_again():
    rig = Rig()
    rig.charge()
    rig.set_ev("E")
    assert not rig.closed
    assert (rig.evse.status, rig.evse.error_code) == (evse.FAULTED, "EVCommunicationError")
    rig.set_ev("C")
    assert rig.closed and rig.evse.status == evse.CHARGING  # the session survived


def test_pilot_f_while_we_drive_it_positive_is_a_fault():
    rig = Rig()
    rig.charge()
    rig.set_ev("F")  # pilot shorted to -12 V
    assert not rig.closed and rig.evse.error_code == "EVCommunicationError"


def test_missing_diode_opens_and_latches_until_unplugged():
    rig = Rig()
    rig.charge()
    rig.set_ev("C", diode=False)
    assert not rig.closed
    assert rig.evse.error_code == "EVCommunicationError"
    rig.set_ev("C", diode=True)  # no PWM now, so no diode check: the fault must stay
    assert not rig.closed and rig.evse.status == evse.FAULTED
    rig.set_ev("A")
    assert rig.evse.status == evse.AVAILABLE


def test_rcd_trip_opens_ends_the_transaction_and_latches():
    rig = Rig()
    rcd_pin = rig.feedback.__class__(rig.coil)  # any PinIn will do
    rcd_pin.stuck = 0
    rcd = Rcd(rcd_pin, on_change=lambda r: rig.evse.set_fault("rcd", r.tripped))
    rig.charge()
    rcd_pin.stuck = 1
    rcd.check()
    assert not rig.closed
    assert rig.sessions[-1] == ("stopped", "EmergencyStop")
    assert (rig.evse.status, rig.evse.error_code) == (evse.FAULTED, "GroundFailure")
    rcd_pin.stuck = 0
    rcd.check()
    assert rig.evse.status == evse.FAULTED  # latched until cleared
    assert rcd.clear()
    rig.settle()
    assert rig.evse.status == evse.FINISHING  # cable still in; the session is over
    assert rig.evse.authorize("T2") == "Accepted"


def test_over_temperature_opens_and_charging_resumes_after_cooling():
    rig = Rig()
    thermometer = type("T", (), {"c10": 300, "read_c10": lambda self: self.c10})()
    guard = TemperatureGuard(
        thermometer, on_change=lambda g: rig.evse.set_fault("overtemp", g.over)
    )
    rig.evse.derate = guard.limit
    rig.charge()
    thermometer.c10 = 810
    guard.check()
    assert not rig.closed
    assert (rig.evse.status, rig.evse.error_code) == (evse.FAULTED, "HighTemperature")
    thermometer.c10 = 770  # below the maximum, inside the hysteresis: still stopped
    guard.check()
    assert not rig.closed
    thermometer.c10 = 700
    guard.check()
    rig.settle()
    assert rig.closed and rig.evse.status == evse.CHARGING
    assert rig.pilot.offered_amps < 32  # derated between 60 and 80 C


def test_stop_opens_before_it_returns():
    rig = Rig()
    rig.charge()
    rig.evse.stop("Remote")
    assert not rig.closed
    assert rig.sessions[-1] == ("stopped", "Remote")
    assert rig.evse.status == evse.FINISHING
    rig.set_ev("A")
    assert rig.evse.status == evse.AVAILABLE


async def _time_to_open(rig, trip):
    rig.pilot.settle_ms = pilot_mod.Pilot.settle_ms  # the real loop, with its settle time
    rig.pilot.start()
    await asyncio.sleep_ms(30)
    assert rig.closed
    started = time.ticks_ms()
    trip()
    while rig.closed and time.ticks_diff(time.ticks_ms(), started) < 1000:
        await asyncio.sleep_ms(1)
    elapsed = time.ticks_diff(rig.coil.history[-1][0], started)
    rig.pilot.deinit()
    print("contactor opened after", elapsed, "ms")
    return elapsed


async def test_contactor_opens_within_100_ms_of_unplug_measured_in_real_time():
    rig = Rig()
    rig.charge()
    elapsed = await _time_to_open(rig, lambda: rig.adc.set(12000, -12000))
    assert 0 <= elapsed < 100, elapsed


async def test_contactor_opens_within_100_ms_of_an_rcd_trip_measured_in_real_time():
    rig = Rig()
    pin = rig.feedback.__class__(rig.coil)
    pin.stuck = 0
    rcd = Rcd(pin, on_change=lambda r: rig.evse.set_fault("rcd", r.tripped))
    rcd.start()
    rig.charge()
    elapsed = await _time_to_open(rig, lambda: setattr(pin, "stuck", 1))
    rcd.deinit()
    assert 0 <= elapsed < 100, elapsed


async def test_contactor_opens_within_100_ms_of_over_temperature_measured_in_real_time():
    rig = Rig()
    thermometer = type("T", (), {"c10": 300, "read_c10": lambda self: self.c10})()
    guard = TemperatureGuard(
        thermometer, on_change=lambda g: rig.evse.set_fault("overtemp", g.over)
    )
    guard.start()
    rig.charge()
    elapsed = await _time_to_open(rig, lambda: setattr(thermometer, "c10", 900))
    guard.deinit()
    assert 0 <= elapsed < 100, elapsed


# -- invariant: a welded contactor keeps the connector Faulted until cleared ------------------
async def test_welded_contactor_faults_until_it_is_cleared_and_open():
    rig = Rig()
    rig.contactor.feedback_timeout_ms = 20
    rig.charge()
    rig.feedback.stuck = 1  # contacts welded shut
    rig.evse.stop("Local")
    await asyncio.sleep_ms(30)
    rig.contactor.check()
    assert (rig.evse.status, rig.evse.error_code) == (evse.FAULTED, "PowerSwitchFailure")
    assert rig.pwm.permille == 0
    rig.evse.clear_faults()  # still welded: refused
    assert rig.evse.status == evse.FAULTED
    assert rig.evse.authorize("T") == "Faulted"
    rig.feedback.stuck = None  # repaired
    rig.evse.clear_faults()
    rig.settle()
    assert rig.evse.status == evse.FINISHING
    rig.charge()


async def test_contactor_that_will_not_close_faults_and_opens_the_coil():
    rig = Rig()
    rig.contactor.feedback_timeout_ms = 20
    rig.feedback.stuck = 0
    rig.evse.authorize("T")
    rig.set_ev("C")
    assert rig.coil.v == 1
    await asyncio.sleep_ms(30)
    rig.contactor.check()
    assert rig.coil.v == 0
    assert (rig.evse.status, rig.evse.error_code) == (evse.FAULTED, "PowerSwitchFailure")
    assert rig.sessions[-1] == ("stopped", "Other")


# -- invariant: the PWM follows the active limit ------------------------------------------------
def test_pwm_offers_the_rated_current_then_follows_the_smart_charging_limit():
    rig = Rig(max_current_a=32)
    rig.charge()
    assert rig.pwm.permille == pilot_mod.duty_for_amps(32) == 533
    rig.evse.set_limit(10)
    assert rig.pwm.permille == 166 and rig.closed
    rig.evse.set_limit(40)  # above the rating: the rating wins
    assert rig.pwm.permille == 533
    rig.evse.set_limit(4)  # below 6 A nothing may be offered
    rig.settle()
    assert rig.pwm.permille == 1000 and not rig.closed
    assert rig.evse.status == evse.SUSPENDED_EVSE
    rig.evse.set_limit(None)
    rig.settle()
    assert rig.closed and rig.pwm.permille == 533


def test_temperature_derating_lowers_the_offer_linearly():
    thermometer = type("T", (), {"c10": 700, "read_c10": lambda self: self.c10})()
    guard = TemperatureGuard(thermometer)
    guard.check()
    assert guard.limit(32) == 6 + (32 - 6) // 2
    for c10 in (701, 705, 707):  # whole amps: the offer moves in 1 A steps
        thermometer.c10 = c10
        guard.check()
        assert guard.limit(32) == 18, c10
    assert guard.limit(None) is None
    thermometer.c10 = 500
    guard.check()
    assert guard.limit(32) == 32


# -- statuses and commands ------------------------------------------------------------------
def test_status_sequence_of_a_session():
    rig = Rig()
    assert rig.evse.status == evse.AVAILABLE
    rig.set_ev("B")
    rig.evse.authorize("T")
    rig.set_ev("C")
    rig.set_ev("B")
    rig.set_ev("C")
    rig.evse.stop("Local")
    rig.set_ev("A")
    seen = [s for s, _ in rig.statuses]
    assert seen == [
        evse.AVAILABLE,
        evse.PREPARING,
        evse.SUSPENDED_EV,
        evse.CHARGING,
        evse.SUSPENDED_EV,
        evse.CHARGING,
        evse.FINISHING,
        evse.AVAILABLE,
    ], seen


def test_reservation_admits_only_its_tag():
    rig = Rig()
    assert rig.evse.reserve("ABC") == "Accepted"
    assert rig.evse.status == evse.RESERVED
    assert rig.evse.authorize("OTHER") == "Reserved"
    assert rig.evse.authorize("abc") == "Accepted"
    rig.set_ev("C")
    assert rig.closed and rig.evse.reserved_for is None
    assert rig.evse.reserve("XYZ") == "Occupied"


def test_availability_is_scheduled_during_a_transaction():
    rig = Rig()
    rig.charge()
    assert rig.evse.set_available(False) == "Scheduled"
    assert rig.closed
    rig.evse.stop("Local")
    assert rig.evse.status == evse.UNAVAILABLE and rig.pwm.permille == 0
    assert rig.evse.authorize("T") == "Unavailable"
    assert rig.evse.set_available(True) == "Accepted"
    assert rig.evse.authorize("T") == "Accepted"


def test_authorization_lapses_without_a_cable():
    class Clock:
        now = 0

        def ticks_ms(self):
            return self.now

        def ticks_diff(self, a, b):
            return a - b

    clock = Clock()
    rig = Rig(clock=clock)
    rig.evse.authorize("T")
    assert rig.evse.status == evse.PREPARING
    clock.now = 60001
    rig.evse.update()
    assert rig.evse.status == evse.AVAILABLE and rig.evse.phase == evse.IDLE


def test_reader_failure_is_reported_without_stopping_charging():
    rig = Rig()
    rig.charge()
    rig.evse.set_fault("reader", True)
    assert rig.closed
    assert (rig.evse.status, rig.evse.error_code) == (evse.CHARGING, "ReaderFailure")


def test_contactor_waits_for_a_confirmed_reading_of_the_new_pwm():
    # An EV already in C at standby (no PWM) and without a diode: the first offer must not
    # close the contactor on the strength of readings taken before the PWM started.
    rig = Rig()
    rig.adc.set(6000, 6000)  # C at +12 V standby: a misbehaving EV
    for _ in range(3):
        rig.pilot.sample()
    assert rig.pilot.state == "C"
    rig.pilot.settle_ms = 1000
    rig.adc.set(6000, -6000)  # what the PWM will show: no diode
    assert rig.evse.authorize("T") == "Accepted"
    assert rig.sessions == [("start", "T")]
    assert rig.pilot.oscillating and not rig.pilot.confirmed
    assert not rig.closed
    for _ in range(5):
        rig.pilot.sample()
    assert not rig.closed  # still settling: nothing read under the PWM yet


def test_unplug_during_a_suspending_fault_ends_the_transaction():
    for fault in ("meter", "overtemp"):
        rig = Rig()
        rig.charge()
        rig.evse.set_fault(fault, True)
        rig.settle()
        assert not rig.closed and rig.pwm.permille == 1000, fault
        rig.set_ev("A")
        assert rig.sessions[-1] == ("stopped", "EVDisconnected"), fault


def test_a_second_card_cannot_take_over_a_waiting_authorization():
    rig = Rig()
    assert rig.evse.authorize("FIRST") == "Accepted"
    assert rig.evse.authorize("SECOND") == "Busy"
    assert rig.evse.id_tag == "FIRST"


async def test_pilot_that_stops_answering_reads_as_an_error():
    rig = Rig()
    rig.charge()

    def broken():
        raise OSError("adc")

    rig.adc.read_mv = broken
    rig.pilot.poll_ms = 2
    rig.pilot.start()
    await asyncio.sleep_ms(40)
    rig.pilot.deinit()
    assert rig.pilot.state == "E" and not rig.closed
    assert rig.evse.error_code == "EVCommunicationError"
