# The energy meter: polls a Modbus RTU meter (register maps in meter_maps.py) and keeps the
# latest reading.
#
#   meter = Meter(board.meter_uart, model="sdm630", address=1, poll_ms=1000)
#   meter.on_change = lambda m: print(m.energy_wh, m.power_w)
#   meter.start()
#   ok = await meter.read_now()     # a fresh reading, e.g. at transaction start and stop
#
# energy_wh (import active energy) never goes down: a lower reading is rejected and logged.
# After fail_after polls in a row fail, online is False and failure reads
# "PowerMeterFailure: ..."; the next good poll brings the meter back.
import asyncio
import struct
import time

from firmware import log
from firmware.drivers.meter_maps import MAPS
from firmware.drivers.modbus import ModbusMaster

_SLOTS = ("v1", "v2", "v3", "i1", "i2", "i3", "p", "f", "ei", "ee")
_P = 6
_F = 7
_EI = 8
_EE = 9
# "Not available" in integer registers (the ABB convention); floats use NaN.
_NOT_AVAILABLE = {">H": 0xFFFF, ">I": 0xFFFFFFFF, ">i": 0x7FFFFFFF, ">Q": 0xFFFFFFFFFFFFFFFF}
_LOG_EVERY = 60  # a meter that keeps reading lower is logged again every this many polls


def _wh(v):
    # Integer maps already give whole Wh; a float (kWh * 1000) is rounded.
    return int(v + 0.5) if isinstance(v, float) else v


class Meter:
    poll_ms = 1000
    timeout_ms = 200
    retries = 2
    fail_after = 3  # polls in a row that fail before the meter counts as failed

    def __init__(
        self,
        stream,
        model="sdm630",
        address=1,
        poll_ms=None,
        timeout_ms=None,
        retries=None,
        fail_after=None,
        on_change=None,
        bus=None,
    ):
        if model not in MAPS:
            raise ValueError("unknown meter model " + repr(model))
        self.model = model
        self.address = address
        if poll_ms is not None:
            self.poll_ms = poll_ms
        if fail_after is not None:
            self.fail_after = fail_after
        # Several meters on one RS-485 line share one master (bus=).
        self.bus = bus or ModbusMaster(
            stream,
            self.timeout_ms if timeout_ms is None else timeout_ms,
            self.retries if retries is None else retries,
        )
        fc, blocks = MAPS[model]
        self._fc = fc
        self._blocks = tuple(
            (start, count, tuple((_SLOTS.index(q), 2 * off, fmt, k) for q, off, fmt, k in fields))
            for start, count, fields in blocks
        )
        self._vals = [None] * len(_SLOTS)
        # Latest reading; None until known (the phases a model lacks stay None).
        self.energy_wh = None
        self.export_wh = None
        self.power_w = None
        self.voltage_v = [None, None, None]
        self.current_a = [None, None, None]
        self.frequency_hz = None
        self.last_read_ms = None
        self.online = False
        self.failure = None
        self.error = None  # why the last poll failed, None after a good one
        self.fails = 0  # failed polls in a row
        self.rejected = 0  # energy readings rejected for going down
        self.on_change = on_change
        self._busy = False  # a poll is under way (a flag: asyncio.Lock allocates per use)
        self._polls = 0  # polls started
        self._ok = False
        self._task = None

    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    def deinit(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def read_now(self):
        """Poll now (or take a poll that started after this call); True when it succeeded."""
        called = self._polls
        while self._busy:
            await asyncio.sleep_ms(1)
        if self._polls == called:
            self._busy = True
            self._polls += 1
            try:
                self._ok = await self._poll()
            finally:
                self._busy = False
        return self._ok

    async def _run(self):
        while True:
            started = time.ticks_ms()
            await self.read_now()
            left = self.poll_ms - time.ticks_diff(time.ticks_ms(), started)
            await asyncio.sleep_ms(left if left > 0 else 0)

    async def _poll(self):
        vals = self._vals
        for i in range(len(vals)):
            vals[i] = None
        try:
            for start, count, fields in self._blocks:
                data = await self.bus.read(self.address, self._fc, start, count)
                for slot, off, fmt, scale in fields:
                    v = struct.unpack_from(fmt, data, off)[0]
                    if v != v or v == _NOT_AVAILABLE.get(fmt):  # NaN / not available
                        continue
                    vals[slot] = v * scale
            if vals[_EI] is None:
                raise ValueError("no energy register")
        except Exception as e:  # a line fault, an exception reply, a dead stream
            self._failed(str(e) or type(e).__name__)
            return False
        self._commit(vals)
        return True

    def _commit(self, vals):
        changed = not self.online
        energy = _wh(vals[_EI])
        if self.energy_wh is not None and energy < self.energy_wh:
            self.rejected += 1
            if self.rejected % _LOG_EVERY == 1:
                log.warn(
                    "meter",
                    "energy went down from",
                    self.energy_wh,
                    "to",
                    energy,
                    "Wh: reading rejected (%d so far)" % self.rejected,
                )
        elif energy != self.energy_wh:
            self.energy_wh = energy
            changed = True
        if vals[_EE] is not None:
            self.export_wh = _wh(vals[_EE])
        power = None if vals[_P] is None else int(round(vals[_P]))
        if power != self.power_w:
            self.power_w = power
            changed = True
        for i in range(3):
            self.voltage_v[i] = vals[i]
            self.current_a[i] = vals[3 + i]
        self.frequency_hz = vals[_F]
        self.last_read_ms = time.ticks_ms()
        self.fails = 0
        self.error = None
        if not self.online:
            self.online = True
            if self.failure is not None:
                log.info("meter", self.model, "at address", self.address, "answers again")
            self.failure = None
        if changed:
            self._notify()

    def _failed(self, why):
        self.fails += 1
        self.error = why
        log.debug("meter", "poll failed:", why)
        if self.fails >= self.fail_after and self.failure is None:
            self.online = False
            self.failure = "PowerMeterFailure: %s (%s at address %d)" % (
                why,
                self.model,
                self.address,
            )
            log.error("meter", self.failure)
            self._notify()

    def _notify(self):
        if self.on_change is not None:
            try:
                self.on_change(self)
            except Exception as e:
                log.error("meter", "on_change failed:", repr(e))
