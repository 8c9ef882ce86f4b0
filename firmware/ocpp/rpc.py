# The OCPP-J RPC envelope of the charge point, after MicroOcpp's Core/Connection + Operation:
# message ids, one outstanding CALL, timeouts, answers to incoming CALLs and the
# transaction-message retry policy. What a message means lives in the callers and handlers.
#
#   rpc = Rpc(ws, {"Reset": on_reset}, clock=clock)  # ws: async send(text), async recv()
#   rpc.start()
#   conf = await rpc.call("Heartbeat", {})           # -> {"currentTime": ...}
#
# Incoming CALLs are answered by one worker task, in arrival order, so the receive loop keeps
# reading while a handler runs: a handler may itself `await rpc.call(...)` (the deadlock the
# `ocpp` library has when an @on handler calls out cannot happen here).
import asyncio
import os
import time

from micropython import const

from firmware import log
from protocol import errors, ocppj

_TAG = "rpc"
# The id counter stays below 10**9 (9 digits), so prefix + counter fits in 36 chars.
_ID_WRAP = const(1000000000)
_MAX_PREFIX = const(27)
_TIMED_OUT = "timeout"  # the answer slot's value when the watcher gave up waiting


class RpcError(Exception):
    pass


class CallError(RpcError):
    """The central system answered CALLERROR (code, description, details)."""

    def __init__(self, code, description="", details=None):
        super().__init__(code, description)
        self.code = code
        self.description = description
        self.details = details if details is not None else {}

    def __str__(self):
        return self.code + ": " + self.description


class BadResponse(CallError):
    """The answer broke the spec; code is the violation (as an OcppError would carry it)."""


class CallTimeout(RpcError):
    pass


class ConnectionLost(RpcError):
    pass


class QueueFull(RpcError):
    pass


def _random_prefix():
    try:
        raw = os.urandom(4)
    except Exception:  # a port without os.urandom: ticks still differ from boot to boot
        raw = time.ticks_ms().to_bytes(4, "little")
    return "%02x%02x%02x%02x-" % (raw[0], raw[1], raw[2], raw[3])


class Rpc:
    call_timeout_ms = 30000
    queue_size = 8  # callers waiting for their turn behind the outstanding CALL
    incoming_size = 4  # incoming CALLs waiting for the handler worker
    transaction_attempts = 3  # TransactionMessageAttempts
    transaction_retry_interval_ms = 60000  # TransactionMessageRetryInterval
    # A frame whose id cannot be read is answered with id "-1" (docs/decisions/0002); False
    # drops it (logged) instead.
    answer_unreadable = True

    def __init__(
        self,
        connection,
        handlers=None,
        *,
        clock,
        call_timeout_ms=None,
        id_prefix=None,
        queue_size=None,
        incoming_size=None,
    ):
        self.connection = connection
        self.handlers = handlers if handlers is not None else {}
        self.clock = clock  # hal.Clock: sleep_ms for the retry intervals
        if call_timeout_ms is not None:
            self.call_timeout_ms = call_timeout_ms
        if queue_size is not None:
            self.queue_size = queue_size
        if incoming_size is not None:
            self.incoming_size = incoming_size
        if id_prefix is None:
            id_prefix = _random_prefix()
        if len(id_prefix) > _MAX_PREFIX:
            raise ValueError("id_prefix longer than %d chars" % _MAX_PREFIX)
        self.id_prefix = id_prefix
        self._counter = 0
        # The one outstanding CALL: its id and action, the answer slot and its event.
        self._pending_id = None
        self._pending_action = None
        self._deadline = 0
        self._reply = None
        self._answered = asyncio.Event()
        self._armed = asyncio.Event()  # wakes the watcher when a CALL goes out
        self._busy = False
        self._waiters = []  # Events of callers waiting for their turn, in order
        self._incoming = []  # decoded CALLs for the worker
        self._work = asyncio.Event()
        self._sending = False
        self._sent = asyncio.Event()
        self._task = None
        self._worker = None
        self._watcher = None
        # Counters for the console and tests.
        self.dropped = 0  # answers with an unknown or old id, faulty answers to nobody
        self.refused = 0  # incoming frames answered with CALLERROR or dropped as malformed

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self):
        """Start the receive loop, the handler worker and the timeout watcher (again after
        deinit, or after run() ended on a lost connection); a second call changes nothing."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run())
        if self._worker is None:
            self._worker = asyncio.create_task(self._serve())
            self._watcher = asyncio.create_task(self._watch())
        return self._task

    def deinit(self):
        """Stop the tasks; the outstanding CALL and later ones fail with ConnectionLost."""
        for task in (self._task, self._worker, self._watcher):
            if task is not None:
                task.cancel()
        self._task = self._worker = self._watcher = None
        del self._incoming[:]
        self._resolve(ConnectionLost("rpc closed"))

    async def run(self):
        """Read frames until recv() raises or returns None (the connection is gone): the
        outstanding CALL then fails with ConnectionLost at once and run() returns."""
        while True:
            try:
                data = await self.connection.recv()
                why = "closed"
            except Exception as exc:  # CancelledError is not an Exception: deinit still works
                data = None
                why = repr(exc)
            if data is None:
                log.warn(_TAG, "connection lost:", why)
                self._resolve(ConnectionLost(why))
                return
            try:
                await self._receive(data)
            except Exception as exc:  # a bug here must not end the receive loop
                log.error(_TAG, "receive failed:", repr(exc))

    # --- outgoing CALLs ----------------------------------------------------------------------

    async def call(self, action, payload):
        """Send a CALL and return the CALLRESULT's payload (checked against the action's .conf
        spec). Raises CallError for a CALLERROR answer, BadResponse for an answer that breaks
        the spec, CallTimeout when none comes within call_timeout_ms of the send,
        ConnectionLost when the send fails or the connection goes, QueueFull when queue_size
        callers already wait, and errors.OcppError (nothing sent) when `payload` itself
        breaks the .req spec. Calls go out one at a time, in the order call() was entered.
        Needs start() first (the timeout watcher runs there)."""
        await self._take_turn()
        try:
            if self._watcher is None:  # not started, or closed while this call waited
                raise ConnectionLost("rpc not running")
            self._counter = self._counter % (_ID_WRAP - 1) + 1
            unique_id = self.id_prefix + str(self._counter)
            text = ocppj.encode_call(unique_id, action, payload)
            self._reply = None
            self._answered.clear()
            # The deadline before the id: the watcher acts once both are set.
            self._deadline = time.ticks_add(time.ticks_ms(), self.call_timeout_ms)
            self._pending_id = unique_id
            self._pending_action = action
            try:
                await self._send(text)
            except Exception as exc:
                raise ConnectionLost("send failed: " + repr(exc))
            text = None  # the frame can go before we wait
            self._armed.set()
            while self._reply is None:
                await self._answered.wait()
            reply = self._reply
        finally:
            self._pending_id = None
            self._pending_action = None
            self._reply = None
            self._pass_turn()
        if reply is _TIMED_OUT:
            raise CallTimeout(
                "%s %s: no answer in %d ms" % (action, unique_id, self.call_timeout_ms)
            )
        if isinstance(reply, Exception):
            raise reply
        if reply.message_type_id == ocppj.CALLERROR:
            raise CallError(reply.code, reply.description, reply.details)
        return reply.payload

    async def call_transactional(self, action, payload, attempts=None, retry_interval_ms=None):
        """call() with OCPP's retry policy for transaction messages (StartTransaction,
        StopTransaction, MeterValues of a transaction).

        Makes up to `attempts` (TransactionMessageAttempts, at least 1) calls. After failed
        attempt n it waits n x `retry_interval_ms` (TransactionMessageRetryInterval) on the
        clock, then calls again with a new message id. Retried: CallTimeout, ConnectionLost
        and a CALLERROR with code InternalError. Raised at once: any other CALLERROR, a
        BadResponse, QueueFull and OcppError (retrying cannot change their outcome). When all
        attempts fail, the last error is raised; the message is then the journal's to keep
        and replay. A timed-out attempt may still have been processed by the central system,
        so a replay can reach it twice.
        """
        if attempts is None:
            attempts = self.transaction_attempts
        if retry_interval_ms is None:
            retry_interval_ms = self.transaction_retry_interval_ms
        attempt = 1
        while True:
            try:
                return await self.call(action, payload)
            except BadResponse:
                raise
            except CallError as exc:
                if exc.code != errors.INTERNAL_ERROR or attempt >= attempts:
                    raise
                failure = exc
            except (CallTimeout, ConnectionLost) as exc:
                if attempt >= attempts:
                    raise
                failure = exc
            log.warn(_TAG, action, "attempt", attempt, "of", attempts, "failed:", failure)
            await self.clock.sleep_ms(retry_interval_ms * attempt)
            attempt += 1

    async def _take_turn(self):
        if not self._busy and not self._waiters:
            self._busy = True
            return
        if len(self._waiters) >= self.queue_size:
            raise QueueFull("%d calls already waiting" % len(self._waiters))
        turn = asyncio.Event()
        self._waiters.append(turn)
        try:
            await turn.wait()
        except BaseException:
            # Cancelled while waiting: leave the line, or pass a turn already handed to us.
            if turn.is_set():
                self._pass_turn()
            else:
                self._waiters.remove(turn)
            raise

    def _pass_turn(self):
        if self._waiters:
            self._waiters.pop(0).set()  # _busy stays True: the turn goes to the next caller
        else:
            self._busy = False

    async def _watch(self):
        # One task times out every CALL: asyncio.wait_for_ms would cost a Task and two
        # coroutines (about 900 bytes) per message. Deadlines only grow (one CALL at a time,
        # each after the last), so sleeping until the current one is never late for the next;
        # the 1 s cap bounds the lateness if call_timeout_ms is lowered meanwhile.
        while True:
            if self._pending_id is None or self._reply is not None:
                self._armed.clear()
                await self._armed.wait()
                continue
            left = time.ticks_diff(self._deadline, time.ticks_ms())
            if left > 0:
                await asyncio.sleep_ms(left if left < 1000 else 1000)
            else:
                self._resolve(_TIMED_OUT)

    def _resolve(self, reply):
        if self._pending_id is not None and self._reply is None:
            self._reply = reply
            self._answered.set()

    # --- incoming frames ---------------------------------------------------------------------

    async def _receive(self, data):
        try:
            frame = ocppj.decode(data, validate=True)
        except errors.OcppError as exc:
            await self._refuse(exc, data)
            return
        if frame.message_type_id == ocppj.CALL:
            await self._accept(frame)
        elif frame.unique_id != self._pending_id or self._reply is not None:
            self.dropped += 1
            log.warn(_TAG, "dropped answer with unknown id", frame.unique_id)
        elif frame.message_type_id == ocppj.CALLRESULT:
            try:
                ocppj.check_result(frame, self._pending_action)
            except errors.OcppError as exc:
                log.warn(_TAG, "bad answer to", self._pending_action, exc)
                frame = BadResponse(exc.code, exc.description, exc.details)
            self._resolve(frame)
        else:
            self._resolve(frame)

    async def _refuse(self, exc, data):
        if not exc.answerable():
            # A faulty CALLRESULT/CALLERROR is never answered; it fails our CALL if it is its
            # answer, so the caller learns at once instead of by timeout.
            if exc.message_id is not None and exc.message_id == self._pending_id:
                log.warn(_TAG, "bad answer to", self._pending_action, exc)
                self._resolve(BadResponse(exc.code, exc.description, exc.details))
            else:
                self.dropped += 1
                log.warn(_TAG, "dropped faulty answer:", exc)
            return
        self.refused += 1
        if exc.message_id is None and not self.answer_unreadable:
            log.warn(_TAG, "dropped unreadable frame:", exc)
            return
        log.warn(_TAG, "refused frame:", exc)
        await self._send_quiet(ocppj.encode(ocppj.error_for(exc)))

    async def _accept(self, call):
        if call.action not in self.handlers:
            self.refused += 1
            await self._send_error(
                call.unique_id, errors.NOT_SUPPORTED, call.action + " not supported"
            )
        elif len(self._incoming) >= self.incoming_size:
            self.refused += 1
            await self._send_error(call.unique_id, errors.INTERNAL_ERROR, "busy")
        else:
            self._incoming.append(call)
            self._work.set()

    async def _serve(self):
        while True:
            if not self._incoming:
                self._work.clear()
                await self._work.wait()
                continue
            call = self._incoming.pop(0)
            text = await self._handle(call)
            await self._send_quiet(text)

    async def _handle(self, call):
        """The answer frame to `call`: the handler's response, or the CALLERROR it deserves."""
        try:
            response = self.handlers[call.action](call.payload)
            if hasattr(response, "send"):  # an async handler
                response = await response
        except errors.OcppError as exc:  # the handler refuses the request with a code
            return ocppj.encode(ocppj.error_for(exc, call.unique_id))
        except Exception as exc:
            log.error(_TAG, call.action, "handler failed:", repr(exc))
            return ocppj.encode_error(call.unique_id, errors.INTERNAL_ERROR, "handler failed")
        try:
            return ocppj.encode_result(call.unique_id, response, call.action)
        except Exception as exc:  # not to spec or not JSON: a handler bug
            log.error(_TAG, call.action, "handler answered badly:", repr(exc))
            return ocppj.encode_error(
                call.unique_id, errors.INTERNAL_ERROR, "handler gave an invalid response"
            )

    async def _send_error(self, unique_id, code, description):
        await self._send_quiet(ocppj.encode_error(unique_id, code, description))

    async def _send(self, text):
        # One frame at a time on the connection. A flag and an Event rather than asyncio.Lock,
        # whose `async with` costs about 500 bytes per frame even when nobody waits.
        while self._sending:
            self._sent.clear()
            await self._sent.wait()
        self._sending = True
        try:
            await self.connection.send(text)
        finally:
            self._sending = False
            self._sent.set()

    async def _send_quiet(self, text):
        # Answers to the central: when the link is gone, it times out on its side.
        try:
            await self._send(text)
        except Exception as exc:
            log.warn(_TAG, "send failed:", repr(exc))
