# firmware/app.py on fake hardware: authorization, the session record, commands, shutdown.
import asyncio

from evse_rig import MirrorFeedback, settle_ev
from fakes import FakeAdc, FakePinIn, FakePinOut, FakePwm, FakeThermometer

from firmware import app, hal


class FakeMeter:
    def __init__(self, energy_wh=1000):
        self.energy_wh = energy_wh
        self.power_w = 0
        self.failure = None
        self.reads = 0

    async def read_now(self):
        self.reads += 1
        return True

    def start(self):
        pass

    def deinit(self):
        pass


class FakeBoard(hal.Board):
    def __init__(self, settings):
        self.pilot_pwm = FakePwm()
        self.pilot_adc = FakeAdc()
        self.contactor = FakePinOut()
        self.contactor_feedback = MirrorFeedback(self.contactor)
        self.rcd = FakePinIn(0)
        self.thermometer = FakeThermometer(250)
        self.clock = hal.Clock(1_800_000_000)
        self.settings = settings
        self.reports = []

    def report(self, kind, data):
        self.reports.append((kind, data))

    def last(self, kind):
        for k, data in reversed(self.reports):
            if k == kind:
                return data
        return None


def _station(**settings):
    settings.setdefault("authorize", "list")
    settings.setdefault("id_tags", ["04A1B2C3"])
    board = FakeBoard(settings)
    station = app.Station(board)
    station.meter = FakeMeter()
    return board, station


def _ev(board, station, state):
    settle_ev(station.pilot, board.pilot_adc, board.pilot_pwm, station.evse, state)


async def _charge(board, station, id_tag="04A1B2C3"):
    """Tap, let the authorization and the start record run, and let the EV ask for energy."""
    station.pilot.settle_ms = 0
    station._tag(id_tag)
    await _settle_tasks()
    _ev(board, station, "C")
    await _settle_tasks()
    _ev(board, station, "C")


async def _settle_tasks():
    for _ in range(5):
        await asyncio.sleep_ms(5)


async def test_only_listed_cards_are_authorized():
    board, station = _station()
    station._tag("DEADBEEF")
    await _settle_tasks()
    assert board.last("authorize") == {"id_tag": "DEADBEEF", "status": "Invalid"}
    assert station.evse.phase == "idle"
    await _charge(board, station, "04a1b2c3")  # idTags compare case-insensitively
    assert board.last("authorize")["status"] == "Accepted"
    assert board.contactor.v == 1
    assert board.last("status")["status"] == "Charging"


async def test_session_energy_is_the_meter_delta_read_fresh_at_both_ends():
    board, station = _station()
    await _charge(board, station)
    started = board.last("session")
    assert started["event"] == "started" and started["meter_start_wh"] == 1000
    station.meter.energy_wh = 1734
    station._tag("04A1B2C3")  # the same card ends the session
    assert board.contactor.v == 0
    await _settle_tasks()
    stopped = board.last("session")
    assert stopped["event"] == "stopped" and stopped["reason"] == "Local"
    assert stopped["meter_stop_wh"] == 1734 and stopped["energy_wh"] == 734
    assert stopped["started"] is not None and stopped["stopped"] >= stopped["started"]
    assert station.meter.reads == 2


async def test_clear_faults_command_reports_what_is_still_active():
    board, station = _station()
    board.rcd.v = 1
    station.rcd.check()
    assert station.evse.status == "Faulted"
    assert station.command("clear_faults") == {"command": "clear_faults", "faults": ["rcd"]}
    board.rcd.v = 0
    assert station.command("clear_faults")["faults"] == []
    assert station.evse.status == "Available"
    assert board.last("command") == {"command": "clear_faults", "faults": []}
    assert station.command("format_flash")["error"] == "unknown command"


async def test_meter_failure_suspends_charging_through_the_tick():
    board, station = _station()
    await _charge(board, station)
    assert board.contactor.v == 1
    station.meter.failure = "PowerMeterFailure: no reply"
    station._tick(2)
    assert board.contactor.v == 0
    assert board.last("status") == {
        "connector": 1,
        "status": "Faulted",
        "error_code": "PowerMeterFailure",
    }


async def test_run_leaves_the_hardware_safe_when_it_ends():
    board = FakeBoard({"authorize": "all"})
    task = asyncio.create_task(app.run(board))
    await asyncio.sleep_ms(20)
    assert board.pilot_pwm.permille == 1000 and board.on_command is not None
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert board.pilot_pwm.permille == 0 and board.contactor.v == 0


async def test_no_energy_flows_without_a_meter_reading_to_start_from():
    board, station = _station()
    station.meter.energy_wh = None  # the meter has not answered once since boot
    await _charge(board, station)
    assert board.contactor.v == 0
    assert station.evse.stop_reason == "Other"
    assert board.last("session") is None or board.last("session")["event"] != "started"
