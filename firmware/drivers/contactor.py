# The contactor that switches mains to the vehicle, with its auxiliary (mirror) contact.
#
# The coil output is what we command; the auxiliary contact says what the main contacts did.
# When they disagree for longer than the contacts need to move, the contactor is broken:
# still closed after an open command means welded contacts (the vehicle stays live: the most
# dangerous failure of an EVSE), still open after a close command means it failed to close.
import time

from firmware import log
from firmware.drivers.poller import Poller

WELDED = "welded"
FAILED_TO_CLOSE = "failed_to_close"


class Contactor(Poller):
    feedback_timeout_ms = 300  # contacts settle in tens of ms; allow for a slow coil
    poll_ms = 20
    log_tag = "contactor"

    def __init__(self, coil, feedback=None, on_fault=None):
        self.coil = coil
        self.feedback = feedback
        self.on_fault = on_fault
        self.closed = False  # commanded state
        self.fault = None  # None, WELDED or FAILED_TO_CLOSE; latched until clear()
        self._changed_ms = time.ticks_ms()
        coil.value(0)

    @property
    def contacts_closed(self):
        """What the auxiliary contact reports (the command when there is no feedback)."""
        if self.feedback is None:
            return self.closed
        return bool(self.feedback.value())

    def close(self):
        """Energise the coil. Refused (returns False) while a fault is latched."""
        if self.fault is not None:
            return False
        if not self.closed:
            self.closed = True
            self._changed_ms = time.ticks_ms()
            self.coil.value(1)
            log.info("contactor", "closed")
        return True

    def open(self):
        if self.closed:
            self.coil.value(0)
            self.closed = False
            self._changed_ms = time.ticks_ms()
            log.info("contactor", "opened")

    def check(self):
        """Compare the command with the feedback; returns the fault (latched) or None."""
        if self.feedback is None or self.fault is not None:
            return self.fault
        if self.contacts_closed == self.closed:
            return None
        if time.ticks_diff(time.ticks_ms(), self._changed_ms) < self.feedback_timeout_ms:
            return None  # still moving
        if self.closed:
            self.fault = FAILED_TO_CLOSE
            self.open()
            log.error(
                "contactor", "failed to close: no feedback after", self.feedback_timeout_ms, "ms"
            )
        else:
            self.fault = WELDED
            log.error("contactor", "WELDED: contacts still closed after the coil was released")
        if self.on_fault is not None:
            self.on_fault(self)
        return self.fault

    def clear(self):
        """Clear a latched fault; a welded contactor stays faulted while it still reads closed."""
        if self.fault is not None and self.contacts_closed != self.closed:
            return False  # the contacts still disagree with the coil
        if self.fault is not None:
            log.info("contactor", "fault cleared:", self.fault)
            self.fault = None
            if self.on_fault is not None:
                self.on_fault(self)
        return True

    def poll(self):
        self.check()

    def deinit(self):
        Poller.deinit(self)
        self.open()
