# The OCPP 1.6J charge point: connection, boot, heartbeat, status, authorization, the
# transaction messages (through the power-loss-safe journal) and the central's commands.
#
#   client = OcppClient(station, board, url="ws://csms/ocpp", station_id="CP1", password=pw)
#   station.authorize = client.authorize
#   station.ocpp = client          # the station calls begin()/end()/status_changed()
#   client.start()
#
# Tasks: one connection loop (connect with backoff, BootNotification until Accepted on the
# first connection after power-up, then Heartbeat until the link drops) and one sender that
# sends, strictly in order, the journal's transaction messages and then the latest
# StatusNotification per connector. Nothing but BootNotification leaves before the boot is
# Accepted. Business timers (heartbeat, samples,
# backoff) run on board.clock, which the sim speeds up.
#
# Not here yet: authorization cache and SendLocalList (offline, settings["id_tags"] is the
# local list), reservations, smart charging, firmware update, diagnostics, configuration kept
# across reboots, ChangeAvailability kept across reboots.
import asyncio
import gc

from firmware import evse as evse_mod
from firmware import log
from firmware.net import websocket
from firmware.net.backoff import Backoff
from firmware.ocpp.rpc import BadResponse, CallError, CallTimeout, ConnectionLost, Rpc
from firmware.store import START, STOP, Journal
from protocol import errors, rfc3339

_TAG = "ocpp"
VERSION = "chargekit-0.1.0"
_METER_VALUES = "MeterValues"
# Configuration keys this client implements: name -> read only.
_KEYS = {
    "HeartbeatInterval": False,
    "MeterValueSampleInterval": False,
    "WebSocketPingInterval": False,
    "NumberOfConnectors": True,
    "SupportedFeatureProfiles": True,
}
_PROFILES = "Core,RemoteTrigger"


class OcppClient:
    backoff_base_ms = 1000  # reconnect delay (business time), doubling up to backoff_cap_ms
    backoff_cap_ms = 60000
    boot_retry_ms = 60000  # after a Pending/Rejected boot whose interval is 0, or no answer
    reset_wait_ms = 5000  # Reset: how long StopTransaction may take to leave before reboot
    # Largest message from the central: the CALLs handled here are small, and the
    # WebSocket's buffer needs one contiguous block on a fragmented heap at every reconnect.
    max_frame = 4096

    def __init__(self, station, board, *, url, station_id, password=None, ca=None):
        self.station = station
        self.board = board
        self.clock = board.clock
        self.url = url.rstrip("/") + "/" + station_id
        self.station_id = station_id
        self.password = password
        self.ca = ca
        settings = board.settings
        self.vendor = settings.get("vendor", "ChargeKit")
        self.model = settings.get("model", "ChargeKit-1")
        self.config = {
            "HeartbeatInterval": 300,
            "MeterValueSampleInterval": settings.get("meter_sample_s", 60),
            "WebSocketPingInterval": settings.get("ping_s", 30),
            "NumberOfConnectors": 1,
        }
        self.journal = Journal(board.files)
        # A block for the WebSocket's receive buffer, taken while the heap is young: once
        # fragmented, no max_frame-sized hole may be left. Freed just before each connect
        # (the buffer lands in it) and taken again when the link is gone.
        self._reserve = bytearray(self.max_frame)
        self.rpc = None
        self.online = False  # connected and the boot Accepted
        self.boots = 0  # accepted BootNotifications (for tests and the console)
        self.tx = None  # local id of the running transaction
        self._status_due = {}  # connector -> (status, error code) not yet sent
        self._wake = asyncio.Event()  # the sender has something to do
        self._down = asyncio.Event()  # the current link is gone
        self._recovered = asyncio.Event()  # open transactions of the last run are stopped
        self._tasks = []
        self._sampling = None
        self.handlers = {
            "RemoteStartTransaction": self._remote_start,
            "RemoteStopTransaction": self._remote_stop,
            "Reset": self._reset,
            "ChangeAvailability": self._change_availability,
            "UnlockConnector": self._unlock,
            "TriggerMessage": self._trigger,
            "GetConfiguration": self._get_configuration,
            "ChangeConfiguration": self._change_configuration,
        }

    # -- life cycle --------------------------------------------------------------------------
    def start(self):
        if self._tasks:
            return
        self.journal.open()
        for coro in (self._recover(), self._connection(), self._sender()):
            self._tasks.append(asyncio.create_task(coro))

    def deinit(self):
        for task in self._tasks + [self._sampling]:
            if task is not None:
                task.cancel()
        self._tasks = []
        if self.rpc is not None:
            self.rpc.deinit()

    def _now(self):
        t = self.clock.time()
        return rfc3339.format_utc(t if t is not None else rfc3339.now())

    async def _pause(self, ms):
        """Wait `ms` of business time; True when the link went down meanwhile."""
        real = int(ms / getattr(self.clock, "scale", 1))
        try:
            await asyncio.wait_for_ms(self._down.wait(), real if real > 0 else 1)
        except asyncio.TimeoutError:
            return False
        return True

    # -- power loss ----------------------------------------------------------------------------
    async def _recover(self):
        # Transactions the last run left open ended when the power went: stop them with the
        # meter's reading now (no energy flowed since) or else the last one on flash.
        try:
            for t in self.journal.open_transactions():
                wh = await self.station._meter_wh()
                if wh is None:
                    wh = t["meter_wh"]
                log.warn(_TAG, "transaction", t["local_id"], "was open at power loss")
                self.journal.end_transaction(
                    t["local_id"], int(wh), self._now(), "PowerLoss", {"idTag": t["id_tag"]}
                )
        except Exception as exc:
            log.error(_TAG, "power loss recovery failed:", repr(exc))
        self._recovered.set()
        self._wake.set()

    # -- the station's hooks -----------------------------------------------------------------
    async def begin(self, session, meter_wh):
        """The transaction starts: durable (StartTransaction queued) when this returns."""
        await self._recovered.wait()
        local = self.journal.begin_transaction(
            1, session["id_tag"], int(meter_wh or 0), self._now()
        )
        self.tx = local
        session["local_id"] = local
        self._sampling = asyncio.create_task(self._sampler(local))
        self._wake.set()
        return local

    def end(self, session):
        local = session.get("local_id")
        if local is None:
            return
        if self.tx == local:
            self.tx = None
        wh = session.get("meter_stop_wh")
        if wh is None:
            wh = self.journal.transaction(local)["meter_wh"]
        self.journal.end_transaction(
            local, int(wh), self._now(), session.get("reason"), {"idTag": session["id_tag"]}
        )
        self._wake.set()

    def status_changed(self, evse):
        self._status_due[evse.connector_id] = (evse.status, evse.error_code)
        self._wake.set()

    async def authorize(self, id_tag):
        rpc = self.rpc
        if self.online and rpc is not None:
            try:
                conf = await rpc.call("Authorize", {"idTag": id_tag})
                return conf["idTagInfo"]["status"]
            except (ConnectionLost, CallTimeout) as exc:
                log.warn(_TAG, "Authorize failed, deciding offline:", repr(exc))
            except CallError as exc:
                log.warn(_TAG, "Authorize refused:", exc)
                return "Invalid"
        # LocalAuthorizeOffline with the settings' list as the local authorization list.
        return await self.station.local_authorizer(id_tag)

    # -- metering ------------------------------------------------------------------------------
    def _sample(self, context):
        meter = self.station.meter
        if meter is None or meter.energy_wh is None:
            return None
        values = [
            {
                "value": str(int(meter.energy_wh)),
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unit": "Wh",
            }
        ]
        if meter.power_w is not None:
            values.append(
                {
                    "value": str(int(meter.power_w)),
                    "context": context,
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                }
            )
        return {"timestamp": self._now(), "sampledValue": values}

    def _meter_values(self, local, context):
        sample = self._sample(context)
        if sample is None:
            return
        payload = {"connectorId": 1, "meterValue": [sample]}
        if local is None:
            self.journal.enqueue(_METER_VALUES, payload)
            self._wake.set()
            return
        self.journal.record_meter(
            local, int(self.station.meter.energy_wh), sample["timestamp"], force=True
        )
        self.journal.enqueue(_METER_VALUES, payload, local)
        self._wake.set()

    async def _sampler(self, local):
        while self.tx == local:
            interval = self.config["MeterValueSampleInterval"]
            await self.clock.sleep_ms((interval or 60) * 1000)
            if self.tx != local:  # ended while asleep: nothing after its StopTransaction
                return
            if interval:
                try:
                    self._meter_values(local, "Sample.Periodic")
                except Exception as exc:
                    log.error(_TAG, "meter sample failed:", repr(exc))

    # -- the connection ------------------------------------------------------------------------
    async def _connection(self):
        backoff = Backoff(self.backoff_base_ms, self.backoff_cap_ms)
        while True:
            user = self.station_id if self.password else None
            self._reserve = None
            gc.collect()
            try:
                ws = await websocket.connect(
                    self.url,
                    user=user,
                    password=self.password,
                    ca=self.ca,
                    ping_interval_ms=self.config["WebSocketPingInterval"] * 1000,
                    max_frame=self.max_frame,
                )
            except Exception as exc:
                log.warn(_TAG, "connect failed:", repr(exc))
                self._keep_block()
                await self.clock.sleep_ms(backoff.next_ms())
                continue
            log.info(_TAG, "connected to", self.url)
            self._down.clear()
            rpc = Rpc(ws, self.handlers, clock=self.clock)
            self.rpc = rpc
            reader = rpc.start()
            watcher = asyncio.create_task(self._watch(reader))
            try:
                # BootNotification once per power-up; a reconnect goes on where it left off.
                if self.boots or await self._boot(rpc):
                    backoff.reset()
                    self.online = True
                    self._wake.set()
                    await self._heartbeats(rpc)
            except Exception as exc:
                log.error(_TAG, "session failed:", repr(exc))
            self.online = False
            self._down.set()
            watcher.cancel()
            rpc.deinit()
            try:
                await ws.close()
            except Exception:
                pass
            ws = rpc = reader = watcher = None
            self.rpc = None
            self._keep_block()
            log.warn(_TAG, "offline")
            await self.clock.sleep_ms(backoff.next_ms())

    def _keep_block(self):
        gc.collect()
        try:
            self._reserve = bytearray(self.max_frame)
        except MemoryError:
            log.warn(_TAG, "no block left for the next connection")

    async def _watch(self, reader):
        try:
            await reader
        finally:
            self._down.set()

    def _set_clock(self, text):
        try:
            self.clock.set_time(rfc3339.parse(text))
        except ValueError:
            log.warn(_TAG, "bad currentTime", text)

    async def _boot(self, rpc):
        payload = self._boot_payload()
        while not self._down.is_set():
            try:
                conf = await rpc.call("BootNotification", payload)
            except ConnectionLost:
                return False
            except (CallTimeout, CallError) as exc:
                log.warn(_TAG, "BootNotification failed:", exc)
                if await self._pause(self.boot_retry_ms):
                    return False
                continue
            self._set_clock(conf["currentTime"])
            interval = conf["interval"]
            if conf["status"] == "Accepted":
                if interval > 0:
                    self.config["HeartbeatInterval"] = interval
                self.online = True
                self.boots += 1
                log.info(_TAG, "boot accepted; heartbeat every", interval, "s")
                self._status_due[0] = ("Available", "NoError")
                evse = self.station.evse
                self._status_due[evse.connector_id] = (evse.status, evse.error_code)
                self._wake.set()
                return True
            log.info(_TAG, "boot", conf["status"], "; again in", interval, "s")
            if await self._pause(interval * 1000 if interval > 0 else self.boot_retry_ms):
                return False
        return False

    async def _heartbeats(self, rpc):
        # At least 10 s: an interval of 0 (accepted by ChangeConfiguration or sent in a boot
        # answer) must not turn into a Heartbeat after every round trip.
        while not await self._pause(max(self.config["HeartbeatInterval"], 10) * 1000):
            try:
                conf = await rpc.call("Heartbeat", {})
                self._set_clock(conf["currentTime"])
            except ConnectionLost:
                return
            except Exception as exc:
                log.warn(_TAG, "Heartbeat failed:", exc)

    # -- sending in order ----------------------------------------------------------------------
    async def _sender(self):
        while True:
            try:
                if self.online and self._recovered.is_set():
                    if self.journal.queue:
                        await self._send_queued(self.rpc)
                        continue
                    if self._status_due:
                        await self._send_status(self.rpc)
                        continue
            except (ConnectionLost, CallTimeout) as exc:
                log.warn(_TAG, "send failed, kept for later:", repr(exc))
                await self._pause(self.boot_retry_ms)  # a link still up: back off
                continue
            except Exception as exc:
                log.error(_TAG, "sender:", repr(exc))
                await asyncio.sleep_ms(100)
                continue
            self._wake.clear()
            await self._wake.wait()

    async def _send_queued(self, rpc):
        journal = self.journal
        local = journal.queue[0][3]
        seq, action, payload = journal.pending()[0]
        try:
            conf = await self._call_transactional(rpc, action, payload)
        except errors.OcppError as exc:  # e.g. a StopTransaction whose start never got an id
            log.error(_TAG, action, seq, "cannot be sent, dropped:", exc)
            journal.ack(seq)
            return
        except CallError as exc:
            if exc.code == errors.INTERNAL_ERROR and not isinstance(exc, BadResponse):
                # The central's own trouble (its database down, a bug): the message is still
                # owed to it. Keep it; the sender backs off and tries again.
                raise CallTimeout("central InternalError: " + str(exc))
            log.error(_TAG, action, seq, "refused, dropped:", exc)  # sending again cannot help
            journal.ack(seq)
            return
        journal.ack(seq, conf)
        if action == START:
            status = conf["idTagInfo"]["status"]
            if status != "Accepted" and self.tx == local:
                log.warn(_TAG, "StartTransaction answered", status, ": stopping")
                self.station.evse.stop("DeAuthorized")
        elif action == STOP:
            log.info(_TAG, "transaction", local, "closed on the central")

    async def _call_transactional(self, rpc, action, payload):
        # Rpc.call_transactional's policy (TransactionMessageAttempts, growing intervals) for
        # timeouts and InternalError, except that a lost link ends it at once: the message
        # stays queued for the next connection, and waiting here would pin the dead
        # connection's buffers in RAM.
        attempt = 1
        while True:
            try:
                return await rpc.call(action, payload)
            except ConnectionLost:
                raise
            except CallError as exc:
                if exc.code != errors.INTERNAL_ERROR or attempt >= rpc.transaction_attempts:
                    raise
                failure = exc
            except CallTimeout as exc:
                if attempt >= rpc.transaction_attempts:
                    raise  # kept: the sender tries again later
                failure = exc
            log.warn(_TAG, action, "attempt", attempt, "failed:", failure)
            if await self._pause(rpc.transaction_retry_interval_ms * attempt):
                raise ConnectionLost("link lost while waiting to retry")
            attempt += 1

    async def _send_status(self, rpc):
        connector = next(iter(self._status_due))
        status, code = self._status_due.pop(connector)
        try:
            await rpc.call(
                "StatusNotification",
                {
                    "connectorId": connector,
                    "status": status,
                    "errorCode": code,
                    "timestamp": self._now(),
                },
            )
        except (ConnectionLost, CallTimeout):
            if connector not in self._status_due:  # keep it unless a newer one came
                self._status_due[connector] = (status, code)
            raise
        except CallError as exc:
            log.warn(_TAG, "StatusNotification refused:", exc)

    def _later(self, coro):
        # After the answer to the CALL being handled has left (the worker sends it next).
        async def run():
            await asyncio.sleep_ms(10)
            try:
                await coro
            except Exception as exc:
                log.warn(_TAG, "triggered message failed:", repr(exc))

        asyncio.create_task(run())

    # -- the central's commands ----------------------------------------------------------------
    def _remote_start(self, req):
        if req.get("connectorId", 1) != 1:
            return {"status": "Rejected"}
        outcome = self.station.evse.authorize(req["idTag"])
        log.info(_TAG, "RemoteStartTransaction", req["idTag"], outcome)
        return {"status": "Accepted" if outcome == "Accepted" else "Rejected"}

    def _remote_stop(self, req):
        local = self.tx
        if local is None or self.journal.central_id(local) != req["transactionId"]:
            return {"status": "Rejected"}
        self.station.evse.stop("Remote")
        return {"status": "Accepted"}

    def _reset(self, req):
        self._later(self._do_reset("SoftReset" if req["type"] == "Soft" else "HardReset"))
        return {"status": "Accepted"}

    async def _do_reset(self, reason):
        evse = self.station.evse
        if evse.phase in (evse_mod.STARTING, evse_mod.ACTIVE):
            evse.stop(reason)
            waited = 0
            # The station journals the stop once the contacts are open (end() clears tx);
            # then the sender gets a moment to deliver the StopTransaction.
            while (self.tx is not None or self.journal.queue) and waited < self.reset_wait_ms:
                await asyncio.sleep_ms(50)
                waited += 50
        log.info(_TAG, "reset:", reason)
        self.board.reset()

    def _change_availability(self, req):
        if req["connectorId"] not in (0, 1):
            return {"status": "Rejected"}
        status = self.station.evse.set_available(req["type"] == "Operative")
        return {"status": status}

    def _unlock(self, req):
        return {"status": "NotSupported"}  # no connector lock on this hardware

    def _trigger(self, req):
        what = req["requestedMessage"]
        rpc = self.rpc
        if what == "BootNotification":
            self._later(rpc.call("BootNotification", self._boot_payload()))
        elif what == "Heartbeat":
            self._later(rpc.call("Heartbeat", {}))
        elif what == "StatusNotification":
            evse = self.station.evse
            connector = req.get("connectorId")
            if connector in (None, 0):
                self._status_due[0] = ("Available", "NoError")
            if connector in (None, evse.connector_id):
                self._status_due[evse.connector_id] = (evse.status, evse.error_code)
            self._wake.set()
        elif what == "MeterValues":
            self._meter_values(self.tx, "Trigger")
        else:
            return {"status": "NotImplemented"}
        return {"status": "Accepted"}

    def _boot_payload(self):
        return {
            "chargePointVendor": self.vendor,
            "chargePointModel": self.model,
            "firmwareVersion": VERSION,
        }

    def _value(self, key):
        if key == "SupportedFeatureProfiles":
            return _PROFILES
        return str(self.config[key])

    def _get_configuration(self, req):
        keys = req.get("key") or list(_KEYS)
        known = []
        unknown = []
        for key in keys:
            if key in _KEYS:
                known.append({"key": key, "readonly": _KEYS[key], "value": self._value(key)})
            else:
                unknown.append(key)
        conf = {"configurationKey": known}
        if unknown:
            conf["unknownKey"] = unknown
        return conf

    def _change_configuration(self, req):
        key = req["key"]
        if key not in _KEYS:
            return {"status": "NotSupported"}
        if _KEYS[key]:
            return {"status": "Rejected"}
        value = req["value"]
        # protocol.config_keys.parse_value's rule for INT keys, without its 12 kB of tables.
        if not value or len(value) > 10 or not all("0" <= c <= "9" for c in value):
            return {"status": "Rejected"}
        if int(value) > 2147483647:
            return {"status": "Rejected"}
        self.config[key] = int(value)
        log.info(_TAG, "configuration", key, "=", self.config[key])
        return {"status": "Accepted"}
