# The charge point application: builds the drivers from a board's HAL, runs the EVSE state
# machine and the session bookkeeping, and reports what happens through board.report().
#
#   import asyncio, board
#   from firmware import app
#   asyncio.run(app.run(board.build()))
#
# Authorization is a function `async authorize(id_tag) -> "Accepted" | "Blocked" | "Invalid"
# | ...`. With settings["central_url"], run() starts the OCPP client (firmware/ocpp/client.py):
# it authorizes (LocalAuthorizer from the settings when offline), journals the transactions
# and reports to the central. Without one, LocalAuthorizer answers alone.
import asyncio
import gc
import time

from firmware import evse as evse_mod
from firmware import log
from firmware.drivers.contactor import Contactor
from firmware.drivers.pilot import Pilot
from firmware.drivers.protection import Rcd, TemperatureGuard
from protocol import idtag

_TICK_MS = 100
_METER_REPORT_MS = 1000
_CONTACTS_OPEN_WAIT_MS = 1000
_HEALTH_TICKS = 100  # a heap report every 10 s


class LocalAuthorizer:
    """settings["authorize"]: "all" accepts every card (bench and demo), "list" only the
    idTags in settings["id_tags"]."""

    def __init__(self, settings):
        self.mode = settings.get("authorize", "list")
        self.id_tags = [idtag.normalize(t) for t in settings.get("id_tags", ())]

    async def __call__(self, id_tag):
        if self.mode == "all" or idtag.normalize(id_tag) in self.id_tags:
            return "Accepted"
        return "Invalid"


def _meter(board, settings):
    if board.meter_uart is None:
        return None
    from firmware.drivers.meter import Meter

    return Meter(
        board.meter_uart,
        model=settings.get("meter", "sdm630"),
        address=settings.get("meter_address", 1),
    )


def _reader(board, settings):
    if board.rfid_uart is None:
        return None
    if settings.get("reader", "pn532") == "rdm6300":
        from firmware.drivers.rdm6300 import Reader
    else:
        from firmware.drivers.pn532 import Reader
    return Reader(board.rfid_uart)


class Station:
    def __init__(self, board, authorize=None):
        settings = board.settings
        self.board = board
        self.settings = settings
        self.local_authorizer = LocalAuthorizer(settings)
        self.authorize = authorize or self.local_authorizer
        self.ocpp = None  # the OCPP client: begin()/end() of transactions, status_changed()
        self.pilot = Pilot(board.pilot_pwm, board.pilot_adc)
        self.contactor = Contactor(board.contactor, board.contactor_feedback)
        self.rcd = None
        if board.rcd is not None:
            self.rcd = Rcd(board.rcd, on_change=self._rcd_changed)
        self.temperature = None
        if board.thermometer is not None:
            self.temperature = TemperatureGuard(board.thermometer, on_change=self._temp_changed)
        self.meter = _meter(board, settings)
        self.reader = _reader(board, settings)
        if self.reader is not None:
            self.reader.on_tag = self._tag
        self.evse = evse_mod.Evse(
            self.pilot,
            self.contactor,
            connector_id=1,
            max_current_a=settings.get("max_current_a", 32),
            clock=board.clock,
            derate=self.temperature.limit if self.temperature is not None else None,
            on_status=self._status,
            on_session=self._session,
        )
        self.session = None  # the running or last session: id_tag, meter_start_wh, ...
        self._tasks = []
        self._last_meter_report = None

    # -- wiring ---------------------------------------------------------------------------
    def start(self):
        for part in (self.pilot, self.contactor, self.rcd, self.temperature):
            if part is not None:
                part.start()
        for part in (self.meter, self.reader):
            if part is not None:
                part.start()
        self._tasks.append(asyncio.create_task(self._ticker()))
        self.evse.update()
        log.info("app", "station", self.settings.get("station_id", "?"), "running")

    def deinit(self):
        if self.ocpp is not None:
            self.ocpp.deinit()
        for task in self._tasks:
            task.cancel()
        for part in (self.reader, self.meter, self.temperature, self.rcd, self.contactor):
            if part is not None:
                part.deinit()
        self.pilot.deinit()

    def clear_faults(self):
        """The technician's (or OCPP Reset's) fault reset: clears latched faults whose cause is
        gone (RCD trip, welded contactor, pilot diode); returns the faults still active."""
        if self.rcd is not None:
            self.rcd.clear()
        self.evse.clear_faults()
        return sorted(self.evse.faults)

    def _rcd_changed(self, rcd):
        self.evse.set_fault("rcd", rcd.tripped)

    def _temp_changed(self, guard):
        self.evse.set_fault("overtemp", guard.over)
        self.evse.set_fault("temp_sensor", guard.failure is not None)

    def _status(self, evse):
        if self.ocpp is not None:
            self.ocpp.status_changed(evse)
        self.board.report(
            "status",
            {
                "connector": evse.connector_id,
                "status": evse.status,
                "error_code": evse.error_code,
            },
        )

    # -- drivers and sessions --------------------------------------------------------------
    def _tag(self, id_tag):
        evse = self.evse
        self.board.report("tag", {"id_tag": id_tag})
        if evse.phase in (evse_mod.STARTING, evse_mod.ACTIVE, evse_mod.AUTHORIZED):
            if idtag.same(id_tag, evse.id_tag):
                evse.stop("Local")
            else:
                log.info("app", "card", id_tag, "ignored: connector busy")
            return
        asyncio.create_task(self._authorize(id_tag))

    async def _authorize(self, id_tag):
        try:
            status = await self.authorize(id_tag)
        except Exception as exc:
            log.error("app", "authorization failed:", repr(exc))
            status = "Invalid"
        log.info("app", "card", id_tag, status)
        self.board.report("authorize", {"id_tag": id_tag, "status": status})
        if status == "Accepted":
            outcome = self.evse.authorize(id_tag)
            if outcome != "Accepted":
                log.info("app", "card", id_tag, "accepted but connector says", outcome)

    def _session(self, evse, event, detail):
        # The session record is created here, synchronously, and handed to both tasks: a stop
        # that overtakes the start's meter reading still belongs to the same session.
        if event == "start":
            session = {"id_tag": detail, "started": self.board.clock.time()}
            self.session = session
            asyncio.create_task(self._record_start(session))
        elif event == "stopped" and self.session is not None:
            asyncio.create_task(self._record_stop(self.session, detail))

    async def _meter_wh(self):
        """A fresh energy reading (the last known one if the meter does not answer)."""
        meter = self.meter
        if meter is None:
            return None
        try:
            await meter.read_now()
        except Exception as exc:
            log.warn("app", "meter reading failed, using the last one:", repr(exc))
        return meter.energy_wh

    async def _record_start(self, session):
        meter_start = await self._meter_wh()
        if self.meter is not None and meter_start is None:
            # A meter that has never answered: the session could not be billed (a later
            # stop would count the register's whole lifetime). No energy without a start.
            log.error("app", "no meter reading yet: the session cannot start")
            session["meter_start_wh"] = None
            if self.session is session:
                self.evse.stop("Other")
            return
        if self.ocpp is not None:
            try:
                await self.ocpp.begin(session, meter_start)
            except Exception as exc:  # not journaled: no energy may flow
                log.error("app", "transaction start not recorded:", repr(exc))
                session["meter_start_wh"] = meter_start
                if self.session is session:
                    self.evse.stop("Other")
                return
        session["meter_start_wh"] = meter_start
        self.board.report("session", dict(session, event="started"))
        if self.evse.phase == evse_mod.STARTING and self.session is session:
            self.evse.started()

    async def _record_stop(self, session, reason):
        # Energy counts until the contacts really part: wait for the auxiliary contact.
        started = time.ticks_ms()
        while self.contactor.contacts_closed:
            if time.ticks_diff(time.ticks_ms(), started) > _CONTACTS_OPEN_WAIT_MS:
                log.error("app", "contacts still closed after stop: reading the meter anyway")
                break
            await asyncio.sleep_ms(10)
        while "meter_start_wh" not in session:
            await asyncio.sleep_ms(10)  # a stop that overtook the start record
        meter_stop = await self._meter_wh()
        session["meter_stop_wh"] = meter_stop
        session["reason"] = reason
        session["stopped"] = self.board.clock.time()
        start = session.get("meter_start_wh")
        session["energy_wh"] = None if start is None or meter_stop is None else meter_stop - start
        log.info(
            "app", "session of", session["id_tag"], "ended:", reason, session["energy_wh"], "Wh"
        )
        if self.ocpp is not None:
            try:
                self.ocpp.end(session)
            except Exception as exc:
                log.error("app", "transaction stop not recorded:", repr(exc))
        self.board.report("session", dict(session, event="stopped"))

    def command(self, name):
        """A maintenance command from outside (sim harness, console); reports its outcome."""
        if name == "clear_faults":
            outcome = {"command": name, "faults": self.clear_faults()}
        else:
            outcome = {"command": name, "error": "unknown command"}
        log.info("app", "command", name, outcome)
        self.board.report("command", outcome)
        return outcome

    async def _ticker(self):
        ticks = 0
        while True:
            self.board.feed_watchdog()
            ticks += 1
            try:
                self._tick(ticks)
            except Exception as exc:  # the watchdog feeder must outlive any bug in a tick
                log.error("app", "tick failed:", repr(exc))
            await asyncio.sleep_ms(_TICK_MS)

    def _tick(self, ticks):
        if ticks % _HEALTH_TICKS == 1:
            gc.collect()
            self.board.report("health", {"mem_free": gc.mem_free(), "mem_alloc": gc.mem_alloc()})
        meter = self.meter
        if meter is not None:
            self.evse.set_fault("meter", meter.failure is not None)
            reading = (meter.energy_wh, meter.power_w)
            now = time.ticks_ms()
            last = self._last_meter_report
            if last is None or (
                reading != last[1] and time.ticks_diff(now, last[0]) >= _METER_REPORT_MS
            ):
                self._last_meter_report = (now, reading)
                self.board.report("meter", {"energy_wh": reading[0], "power_w": reading[1]})
        if self.reader is not None:
            # `failure`, not `online`: a reader that has not been polled yet is no fault.
            self.evse.set_fault("reader", self.reader.failure is not None)
        self.evse.update()


_running = None  # the Station of run(), for shutdown()


async def run(board, authorize=None):
    """Start the board and the station; runs until the process ends."""
    global _running
    await board.start()
    station = Station(board, authorize)
    board.on_command = station.command
    _running = station
    url = board.settings.get("central_url")
    if url:
        from firmware.ocpp.client import OcppClient

        settings = board.settings
        client = OcppClient(
            station,
            board,
            url=url,
            station_id=settings.get("station_id", "CP"),
            password=settings.get("password"),
            ca=settings.get("ca"),
        )
        station.ocpp = client
        if authorize is None:
            station.authorize = client.authorize
        client.start()
    station.start()
    try:
        while True:
            await asyncio.sleep_ms(60000)
    finally:
        shutdown()


def shutdown():
    """Leave the hardware safe: coil off, pilot in state F. For main.py's error path (and
    Ctrl-C), where the loops that would open the contactor no longer run."""
    global _running
    station = _running
    _running = None
    if station is not None:
        try:
            station.deinit()
        except Exception as exc:
            log.error("app", "shutdown:", repr(exc))
