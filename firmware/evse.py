# The EVSE state machine of one connector (IEC 61851-1 with OCPP 1.6 statuses).
#
# Inputs: the pilot state, the driver's authorization, reservations, availability, faults and
# current limits. Outputs: the contactor, the PWM duty, the OCPP ChargePointStatus and
# ChargePointErrorCode, and session events for the services above.
#
# Safety invariants (tests/fwtests/test_evse.py has one test each):
# - the contactor closes only while the pilot reads C (or D where ventilation is allowed) on an
#   oscillating PWM with a good diode, the session is authorized and started, at least 6 A are
#   offered, and no fault stops charging;
# - it opens in the same call that sees pilot A/E/F, an RCD trip, over-temperature, a stop or
#   any other fault: update() runs on every pilot change, so the bound is the pilot sampling
#   period plus debounce (about 30 ms), far inside the 100 ms IEC 61851 allows;
# - a welded contactor keeps the connector Faulted until clear_faults() sees it open;
# - the PWM offers min(rated current, smart-charging limit, temperature derating).
import time

from firmware import log
from firmware.drivers import pilot as _pilot

AVAILABLE = "Available"
PREPARING = "Preparing"
CHARGING = "Charging"
SUSPENDED_EV = "SuspendedEV"
SUSPENDED_EVSE = "SuspendedEVSE"
FINISHING = "Finishing"
RESERVED = "Reserved"
UNAVAILABLE = "Unavailable"
FAULTED = "Faulted"

# Session phases.
IDLE = "idle"
AUTHORIZED = "authorized"  # waiting for the cable (ConnectionTimeOut runs)
STARTING = "starting"  # plugged and authorized: the services record the start
ACTIVE = "active"  # transaction running; energy may flow
ENDED = "ended"  # transaction over, cable still plugged

# fault -> (ChargePointErrorCode, stops energy flow, ends the transaction with this reason).
# In priority order: the first active fault names the error code.
FAULTS = (
    ("rcd", "GroundFailure", True, "EmergencyStop"),
    ("welded", "PowerSwitchFailure", True, "Other"),
    ("failed_to_close", "PowerSwitchFailure", True, "Other"),
    ("overtemp", "HighTemperature", True, None),
    ("pilot", "EVCommunicationError", True, None),
    ("meter", "PowerMeterFailure", True, None),
    ("reader", "ReaderFailure", False, None),
    ("temp_sensor", "OtherError", False, None),
)
_PLUGGED = ("B", "C", "D")


class EvseError(Exception):
    pass


class Evse:
    connection_timeout_ms = 60000  # OCPP ConnectionTimeOut, on the business clock
    allow_ventilation = True  # charge in state D (indoor sites without ventilation: False)

    def __init__(
        self,
        pilot,
        contactor,
        connector_id=1,
        max_current_a=32,
        clock=None,
        derate=None,
        on_status=None,
        on_session=None,
    ):
        self.pilot = pilot
        self.contactor = contactor
        self.connector_id = connector_id
        self.max_current_a = max_current_a
        self.clock = clock
        self.derate = derate  # function amps -> amps (temperature), or None
        self.on_status = on_status  # on_status(evse) after status or error code changed
        self.on_session = on_session  # on_session(evse, "start" | "stopped", detail)
        self.phase = IDLE
        self.id_tag = None
        self.stop_reason = None
        self.available = True
        self.unavailable_pending = False
        self.reserved_for = None
        self.limit_a = None  # smart charging limit in A, None = none
        self.faults = {}  # name -> True while active
        self.status = None
        self.error_code = "NoError"
        self.plugged = False
        self._diode_fault = False
        self._authorized_at = 0
        self._updating = False
        self._again = False
        pilot.on_change = self._pilot_changed
        contactor.on_fault = self._contactor_fault

    # -- commands from the services ---------------------------------------------------------
    def authorize(self, id_tag):
        """A driver was authorized here: start when the cable is (or gets) plugged.
        Returns "Accepted", or why not: "Busy", "Reserved", "Unavailable", "Faulted"."""
        if self.phase in (STARTING, ACTIVE):
            return "Busy"
        if self.phase == AUTHORIZED and self.id_tag.upper() != id_tag.upper():
            return "Busy"  # another driver's authorization is waiting for the cable
        if not self.available:
            return "Unavailable"
        if self.blocking_fault() is not None:
            return "Faulted"
        if self.reserved_for is not None and self.reserved_for.upper() != id_tag.upper():
            return "Reserved"
        self.phase = AUTHORIZED
        self.id_tag = id_tag
        self.stop_reason = None
        self._authorized_at = self._ticks()
        log.info("evse", "authorized", id_tag)
        self.update()
        return "Accepted"

    def started(self):
        """The services recorded the transaction start: energy may flow from now on."""
        if self.phase != STARTING:
            raise EvseError("no transaction is starting")
        self.phase = ACTIVE
        self.reserved_for = None
        self.update()

    def stop(self, reason="Local"):
        """End the session. The contactor opens before this returns."""
        if self.phase in (STARTING, ACTIVE):
            self.contactor.open()
            self.phase = ENDED if self.plugged else IDLE
            self.stop_reason = reason
            log.info("evse", "transaction stopped:", reason)
            if self.on_session is not None:
                self.on_session(self, "stopped", reason)
        elif self.phase == AUTHORIZED:
            self.phase = IDLE
            self.id_tag = None
            log.info("evse", "authorization cancelled:", reason)
        else:
            return False
        if self.unavailable_pending:
            self.unavailable_pending = False
            self.available = False
        self.update()
        return True

    def set_available(self, available):
        """ChangeAvailability: "Accepted", or "Scheduled" while a transaction runs."""
        if available:
            self.available = True
            self.unavailable_pending = False
        elif self.phase in (STARTING, ACTIVE):
            self.unavailable_pending = True
            return "Scheduled"
        else:
            self.available = False
            if self.phase == AUTHORIZED:
                self.stop("Other")
        self.update()
        return "Accepted"

    def reserve(self, id_tag):
        """ReserveNow: "Accepted", "Occupied", "Faulted" or "Unavailable"."""
        if self.blocking_fault() is not None:
            return "Faulted"
        if not self.available:
            return "Unavailable"
        if self.phase != IDLE or self.plugged:
            return "Occupied"
        self.reserved_for = id_tag
        self.update()
        return "Accepted"

    def cancel_reservation(self):
        self.reserved_for = None
        self.update()

    def set_limit(self, amps):
        """The smart-charging limit in A (None: the connector's rating)."""
        self.limit_a = amps
        self.update()

    def set_fault(self, name, active):
        if active and not self.faults.get(name):
            self.faults[name] = True
            log.warn("evse", "fault", name)
        elif not active and name in self.faults:
            del self.faults[name]
            log.info("evse", "fault cleared", name)
        else:
            return
        self.update()

    def clear_faults(self):
        """Clear latched faults whose cause is gone (technician reset, OCPP Reset)."""
        if self.contactor.clear():
            for name in ("welded", "failed_to_close"):
                self.faults.pop(name, None)
        self._diode_fault = False
        self.update()

    # -- derived values -----------------------------------------------------------------------
    @staticmethod
    def _ends_session(fault):
        # Faults that end the session also put the pilot in state F. The others (pilot,
        # over-temperature, meter) hold it at standby: +12 V still shows an unplug, which
        # must end the transaction even while charging is suspended.
        for name, _, _, reason in FAULTS:
            if name == fault:
                return reason is not None
        return False

    def blocking_fault(self):
        for name, _, blocks, _ in FAULTS:
            if blocks and self.faults.get(name):
                return name
        return None

    def offered_amps(self):
        """What the PWM may offer now (0 when charging is not allowed at all)."""
        if not self.available and not self.unavailable_pending:
            return 0
        amps = self.max_current_a
        if self.limit_a is not None and self.limit_a < amps:
            amps = self.limit_a
        if self.derate is not None:
            amps = self.derate(amps)
        return amps if amps >= _pilot.MIN_AMPS else 0

    # -- the state machine ------------------------------------------------------------------
    def _pilot_changed(self, pilot):
        self.update()

    def _contactor_fault(self, contactor):
        self.faults.pop("welded", None)
        self.faults.pop("failed_to_close", None)
        if contactor.fault is not None:
            self.faults[contactor.fault] = True
        self.update()

    def update(self):
        """Re-evaluate everything from the inputs; cheap, called on every change and tick."""
        if self._updating:  # a callback fired from inside update(): it re-runs below anyway
            self._again = True
            return
        self._updating = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._evaluate()
        finally:
            self._updating = False
        self._publish()

    def _evaluate(self):
        pilot = self.pilot
        state = pilot.state
        if pilot.duty != _pilot.OFF and state is not None:
            # What the EV does, valid only while we are not holding the pilot at -12 V.
            if state == "A":
                self._diode_fault = False
            elif not pilot.diode_ok:
                self._diode_fault = True
            bad = state in ("E", "F") or self._diode_fault
            if bad != bool(self.faults.get("pilot")):
                if bad:
                    self.faults["pilot"] = True
                    log.warn("evse", "pilot fault: state", state, "diode ok", pilot.diode_ok)
                else:
                    del self.faults["pilot"]
            if state == "A":
                self.plugged = False
            elif state in _PLUGGED:
                self.plugged = True

        # Session transitions.
        if state == "A" and pilot.duty != _pilot.OFF:
            if self.phase in (STARTING, ACTIVE):
                self.stop("EVDisconnected")
                return
            if self.phase == ENDED:
                self.phase = IDLE
                self.id_tag = None
        fault = self.blocking_fault()
        if fault is not None and self.phase in (STARTING, ACTIVE):
            for name, _, _, reason in FAULTS:
                if name == fault and reason is not None:
                    self.stop(reason)
                    return
        if self.phase == AUTHORIZED:
            if self.plugged and fault is None:
                self.phase = STARTING
                log.info("evse", "starting transaction for", self.id_tag)
                if self.on_session is not None:
                    self.on_session(self, "start", self.id_tag)
                else:
                    self.phase = ACTIVE
            elif self._elapsed(self._authorized_at) > self.connection_timeout_ms:
                log.info("evse", "no cable within ConnectionTimeOut: authorization dropped")
                self.phase = IDLE
                self.id_tag = None

        # Outputs: the contactor first, so nothing below can leave it closed by mistake.
        offered = self.offered_amps()
        closing = (
            self.phase == ACTIVE
            and fault is None
            and offered > 0
            and pilot.oscillating
            and pilot.confirmed
            and pilot.diode_ok
            and (state == "C" or (state == "D" and self.allow_ventilation))
        )
        if closing:
            if not self.contactor.close():
                closing = False
        else:
            self.contactor.open()

        if fault is not None and self._ends_session(fault):
            pilot.off()  # state F: nothing may charge here until the fault is cleared
        elif not self.available and self.phase not in (STARTING, ACTIVE):
            pilot.off()
        elif self.phase == ACTIVE and fault is None and offered > 0:
            pilot.offer(offered)
        else:
            pilot.standby()

    def _publish(self):
        status = self._status()
        code = "NoError"
        for name, error_code, _, _ in FAULTS:
            if self.faults.get(name):
                code = error_code
                break
        if status != self.status or code != self.error_code:
            self.status = status
            self.error_code = code
            log.info("evse", "connector", self.connector_id, status, code)
            if self.on_status is not None:
                self.on_status(self)

    def _status(self):
        if self.blocking_fault() is not None:
            return FAULTED
        phase = self.phase
        if phase == STARTING:
            return PREPARING
        if phase == ACTIVE:
            if self.contactor.closed:
                return CHARGING
            if self.offered_amps() == 0 or self.pilot.state in ("C", "D"):
                return SUSPENDED_EVSE  # the EV asks, the EVSE does not give
            return SUSPENDED_EV
        if not self.available:
            return UNAVAILABLE
        if phase == ENDED:
            return FINISHING
        if phase == AUTHORIZED or self.plugged:
            return PREPARING
        if self.reserved_for is not None:
            return RESERVED
        return AVAILABLE

    # -- time ---------------------------------------------------------------------------------
    def _ticks(self):
        return self.clock.ticks_ms() if self.clock is not None else time.ticks_ms()

    def _elapsed(self, since):
        if self.clock is not None:
            return self.clock.ticks_diff(self.clock.ticks_ms(), since)
        return time.ticks_diff(time.ticks_ms(), since)
