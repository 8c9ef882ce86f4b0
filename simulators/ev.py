"""The EV, the control pilot, the contactor, the RCD and the temperature sensor of a charge
point, served to the sim board over the IO line protocol (docs/simulators.md).

    ev = EvSimulator(meter=meter_sim)        # meter: anything with set_load(volts=, amps=)
    port = await ev.start("127.0.0.1")
    ev.plug(); ev.charge(max_amps=16, phases=3)
    ev.pilot()   # (9000, 9000) until the firmware offers current with PWM

The physics follow IEC 61851-1: the pilot's positive half shows the EV's state (A 12 V,
B 9 V, C 6 V, D 3 V, E 0 V), the negative half -12 V while the PWM oscillates (the EV's
diode), the duty cycle sets the current on offer. The EV asks for C only while current is on
offer and it wants to charge, and draws only while the contactor is physically closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("chargekit.simulators.ev")

STATE_MV = {"A": 12000, "B": 9000, "C": 6000, "D": 3000, "E": 0}
NEGATIVE_MV = -12000
AMBIENT_C10 = 250
OVERTEMP_C10 = 900
PWM_OFF = 1000  # constant +12 V: no current on offer


def offered_amps(permille: int) -> float:
    """Current the EVSE offers at a PWM duty cycle (IEC 61851-1 table A.7), 0 outside it.

    >>> offered_amps(533), offered_amps(900), offered_amps(1000)
    (32.0, 65.0, 0.0)
    """
    if 80 <= permille < 100:
        return 6.0
    if 100 <= permille <= 850:
        return round(permille * 0.06, 2)
    if 850 < permille <= 960:
        return round((permille / 10 - 64) * 2.5, 2)
    if 960 < permille <= 970:
        return 80.0
    return 0.0


def state_of(high_mv: int, low_mv: int) -> str:
    """The pilot state letter (A-F) that these two half-wave levels show, +/-1.5 V bands."""
    if high_mv <= NEGATIVE_MV + 1500:
        return "F"
    for letter, mv in STATE_MV.items():
        if abs(high_mv - mv) <= 1500:
            return letter
    return "E"


@dataclass
class Ev:
    """What the car does: it is plugged or not, wants energy or not, and draws at most
    max_amps on 1 or 3 phases. ventilation asks for D instead of C; error pulls the pilot
    to 0 V (E); diode_fault drops the diode, so the negative half is no longer -12 V."""

    plugged: bool = False
    wants_charge: bool = False
    max_amps: float = 16.0
    phases: int = 3
    ventilation: bool = False
    error: bool = False
    diode_fault: bool = False


class Contactor:
    """The power contactor: the coil command moves the contacts (and the auxiliary feedback
    contact) after `delay_s`. Faults: `welded` (once closed it stays closed), `wont_close`."""

    def __init__(self, on_change: Callable[[], None], *, delay_s: float = 0.02) -> None:
        self.delay_s = delay_s
        self.commanded = False
        self.closed = False  # physical state of the main contacts
        self.welded = False
        self.wont_close = False
        self._on_change = on_change
        self._timer: asyncio.TimerHandle | None = None

    def command(self, on: bool) -> None:
        if on == self.commanded:
            return
        self.commanded = on
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(self.delay_s, self._settle)

    def _settle(self) -> None:
        self._timer = None
        self.settle()
        self._on_change()

    def settle(self) -> None:
        """Move the contacts to where coil and faults put them (no delay)."""
        if self.closed and self.welded:
            return
        self.closed = self.commanded and not self.wont_close

    @property
    def feedback(self) -> int:
        return 1 if self.closed else 0

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class EvSimulator:
    """The IO server the sim board connects to, plus the EV/pilot/contactor physics.

    One board at a time: a new connection (a reboot) replaces the old one and starts with
    the outputs at their power-on values (PWM off, coil off). While no board is connected the
    EVSE is unpowered: pilot 0 V, coil off.

    Callbacks (plain functions, may be None): on_report(kind, data) for `report` lines,
    on_log(text) for `log` lines, on_change() after any change of the physics.
    """

    def __init__(
        self,
        *,
        meter: Any = None,
        volts: float = 230.0,
        contactor_delay_s: float = 0.02,
        on_report: Callable[[str, Any], None] | None = None,
        on_log: Callable[[str], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.ev = Ev()
        self.meter = meter
        self.volts = volts
        self.contactor = Contactor(self._update, delay_s=contactor_delay_s)
        self.duty = PWM_OFF
        self.powered = False
        self.rcd_tripped = False
        self.temp_c10: int | None = AMBIENT_C10
        self.station_id: str | None = None
        self.last_offered_a = 0.0
        self.on_report = on_report
        self.on_log = on_log
        self.on_change = on_change
        self.connections = 0
        self.reports = 0
        self._server: asyncio.Server | None = None
        self._board: asyncio.StreamWriter | None = None
        self._sent: dict[str, str] = {}
        self._load: tuple[float, ...] | None = None

    # -- physics ---------------------------------------------------------------------------

    @property
    def offered_a(self) -> float:
        return offered_amps(self.duty) if self.powered else 0.0

    @property
    def requesting(self) -> bool:
        """The EV asks for C (or D): plugged, wanting energy, current on offer, no error."""
        ev = self.ev
        return (
            self.powered and ev.plugged and ev.wants_charge and not ev.error and self.offered_a > 0
        )

    def pilot(self) -> tuple[int, int]:
        """(high_mv, low_mv): the two halves of the pilot waveform as the EVSE measures them."""
        ev = self.ev
        if not self.powered:
            return 0, 0
        if self.duty <= 0:
            return NEGATIVE_MV, NEGATIVE_MV
        if not ev.plugged:
            high = STATE_MV["A"]
        elif ev.error:
            return 0, 0  # the EV shorts the pilot to PE
        elif self.requesting:
            high = STATE_MV["D" if ev.ventilation else "C"]
        else:
            high = STATE_MV["B"]
        if self.duty >= PWM_OFF:
            return high, high
        if ev.plugged and ev.diode_fault:
            return high, -high  # no diode: the EV's resistors load the negative half too
        return high, NEGATIVE_MV

    @property
    def state(self) -> str:
        return state_of(*self.pilot())

    @property
    def drawn_a(self) -> float:
        """Current per active phase through the contactor."""
        ev = self.ev
        if not self.contactor.closed or not ev.plugged or self.rcd_tripped:
            return 0.0
        if self.requesting:
            return float(min(ev.max_amps, self.offered_a))
        if self.contactor.welded and ev.wants_charge and not ev.error:
            # the station cannot open a welded contactor: the car keeps what it last got
            return float(min(ev.max_amps, self.last_offered_a))
        return 0.0

    def phase_amps(self) -> list[float]:
        a = self.drawn_a
        return [a, a, a] if self.ev.phases == 3 else [a, 0.0, 0.0]

    # -- operations (the harness's control API) ------------------------------------------

    def plug(self) -> None:
        self.ev.plugged = True
        self._update()

    def unplug(self) -> None:
        self.ev.plugged = False
        self.ev.wants_charge = False
        self._update()

    def charge(self, max_amps: float | None = None, phases: int | None = None) -> None:
        """Plug in (if not yet) and ask for energy."""
        if max_amps is not None:
            self.ev.max_amps = max_amps
        if phases is not None:
            if phases not in (1, 3):
                raise ValueError("phases must be 1 or 3")
            self.ev.phases = phases
        self.ev.plugged = True
        self.ev.wants_charge = True
        self._update()

    def pause(self) -> None:
        """The EV stops asking for energy (back to B) but stays plugged."""
        self.ev.wants_charge = False
        self._update()

    FAULTS = ("rcd", "welded", "wont_close", "overtemp", "diode", "ev_error", "ventilation")

    def set_fault(self, kind: str, on: bool = True) -> None:
        if kind == "rcd":
            self.rcd_tripped = on
        elif kind == "welded":
            self.contactor.welded = on
            if not on:
                self.contactor.settle()
        elif kind == "wont_close":
            self.contactor.wont_close = on
            self.contactor.settle()
        elif kind == "overtemp":
            self.temp_c10 = OVERTEMP_C10 if on else AMBIENT_C10
        elif kind == "diode":
            self.ev.diode_fault = on
        elif kind == "ev_error":
            self.ev.error = on
        elif kind == "ventilation":
            self.ev.ventilation = on
        else:
            raise ValueError(f"unknown fault {kind!r}; one of {', '.join(self.FAULTS)}")
        self._update()

    def set_temperature(self, c10: int | None) -> None:
        self.temp_c10 = c10
        self._update()

    def snapshot(self) -> dict[str, Any]:
        high, low = self.pilot()
        return {
            "pilot": self.state,
            "pilot_mv": [high, low],
            "pwm_permille": self.duty,
            "powered": self.powered,
            "contactor": {"commanded": self.contactor.commanded, "closed": self.contactor.closed},
            "offered_a": self.offered_a,
            "drawn_a": self.drawn_a,
            "phases": self.ev.phases,
            "ev": {
                "plugged": self.ev.plugged,
                "wants_charge": self.ev.wants_charge,
                "max_amps": self.ev.max_amps,
            },
            "rcd_tripped": self.rcd_tripped,
            "temp_c10": self.temp_c10,
        }

    # -- the IO line ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        self._server = await asyncio.start_server(self._serve, host, port)
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        self.contactor.cancel()
        if self._board is not None:
            self._board.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def send_command(self, name: str) -> bool:
        """Ask the firmware to run a maintenance command (`cmd <name>` on the IO line)."""
        if self._board is None:
            return False
        with contextlib.suppress(ConnectionError, RuntimeError):
            self._board.write(f"cmd {name}\n".encode())
            return True
        return False

    @property
    def board_connected(self) -> bool:
        return self._board is not None

    def _state_lines(self) -> dict[str, str]:
        # insertion order is the wire order; temp last (the board waits for it on connect)
        high, low = self.pilot()
        return {
            "pilot": f"pilot {high} {low}",
            "feedback": f"in feedback {self.contactor.feedback}",
            "rcd": f"in rcd {1 if self.rcd_tripped else 0}",
            "temp": f"temp {'-' if self.temp_c10 is None else self.temp_c10}",
        }

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        old = self._board
        self._board = writer
        self.connections += 1
        if old is not None:
            old.close()
        self.powered = True
        self.duty = PWM_OFF
        self.contactor.command(False)
        self._sent = {}
        self._update()
        try:
            while line := await reader.readline():
                self._command(line.decode("utf-8", "replace").strip())
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            if self._board is writer:
                self._board = None
                self.powered = False
                self.contactor.command(False)
                self._update()

    def _command(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        try:
            if word == "pwm":
                self.duty = max(0, min(1000, int(rest)))
            elif word == "out":
                name, value = rest.split()
                if name == "contactor":
                    self.contactor.command(value == "1")
            elif word == "hello":
                self.station_id = rest.strip() or None
            elif word == "report":
                self.reports += 1
                message = json.loads(rest)
                if self.on_report is not None:
                    self.on_report(message["kind"], message.get("data"))
                return
            elif word == "log":
                if self.on_log is not None:
                    self.on_log(rest)
                return
            else:
                return  # unknown words are ignored, both ways
        except (ValueError, KeyError, TypeError) as error:
            logger.warning("bad IO line %r: %s", line[:200], error)
            return
        self._update()

    def _update(self) -> None:
        offered = self.offered_a
        if offered > 0:
            self.last_offered_a = offered
        if self._board is not None:
            out = []
            for key, text in self._state_lines().items():
                if self._sent.get(key) != text:
                    self._sent[key] = text
                    out.append(text + "\n")
            if out:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    self._board.write("".join(out).encode())
        load = tuple(self.phase_amps())
        if load != self._load and self.meter is not None:
            self._load = load
            self.meter.set_load(volts=self.volts, amps=list(load))
        if self.on_change is not None:
            self.on_change()
