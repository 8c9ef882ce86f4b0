# firmware.ocpp.rpc under micropython: the station's Rpc on one end of a loopback pair, the
# test playing the central system on the other end with fixed message ids ("t1", "t2", ...),
# asserting on the exact frames that cross.
import asyncio
import gc
import json
import sys

from firmware.ocpp import loopback, rpc
from protocol import errors

# The malformed-frame corpus lives in tests/protocol, next to this folder.
for _folder in sys.path:
    if _folder.endswith("fwtests"):
        sys.path.append(_folder[: -len("fwtests")] + "protocol")
        break
from malformed_frames import FRAMES, LENIENT_JSON  # noqa: E402

NOW = "2026-01-01T00:00:00Z"
BOOT = {"chargePointVendor": "ChargeKit", "chargePointModel": "CK1"}
BOOT_CONF = {"status": "Accepted", "currentTime": NOW, "interval": 300}
START = {"connectorId": 1, "idTag": "ABC", "meterStart": 0, "timestamp": NOW}
START_CONF = {"transactionId": 7, "idTagInfo": {"status": "Accepted"}}


class FakeClock:
    def __init__(self):
        self.now = 0
        self.sleeps = []

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b

    async def sleep_ms(self, ms):
        self.sleeps.append(ms)
        self.now += ms
        await asyncio.sleep_ms(0)


def make(handlers=None, **options):
    station, central = loopback.pair()
    options.setdefault("call_timeout_ms", 1000)
    r = rpc.Rpc(station, handlers, clock=FakeClock(), id_prefix="t", **options)
    r.start()
    return r, central


async def recv(central, ms=1000):
    return json.loads(await asyncio.wait_for_ms(central.recv(), ms))


async def send(central, frame):
    await central.send(frame if isinstance(frame, str) else json.dumps(frame))


async def settle():
    for _ in range(5):
        await asyncio.sleep_ms(0)


async def expect_raises(cls, awaitable):
    try:
        await awaitable
    except cls as exc:
        return exc
    raise AssertionError("expected " + cls.__name__)


# --- outgoing CALLs --------------------------------------------------------------------------


async def test_call_returns_the_result_payload_and_ids_count_up():
    r, central = make()
    task = asyncio.create_task(r.call("Heartbeat", {}))
    assert await recv(central) == [2, "t1", "Heartbeat", {}]
    await send(central, [3, "t1", {"currentTime": NOW}])
    assert await task == {"currentTime": NOW}
    task = asyncio.create_task(r.call("BootNotification", BOOT))
    assert await recv(central) == [2, "t2", "BootNotification", BOOT]
    await send(central, [3, "t2", BOOT_CONF])
    assert await task == BOOT_CONF
    r.deinit()


async def test_callerror_answer_raises_call_error():
    r, central = make()
    task = asyncio.create_task(r.call("Heartbeat", {}))
    await recv(central)
    await send(central, [4, "t1", "NotImplemented", "no heartbeat here", {"why": 1}])
    exc = await expect_raises(rpc.CallError, task)
    assert not isinstance(exc, rpc.BadResponse)
    assert (exc.code, exc.description, exc.details) == (
        "NotImplemented",
        "no heartbeat here",
        {"why": 1},
    )
    r.deinit()


async def test_no_answer_raises_call_timeout_and_a_late_answer_is_dropped():
    r, central = make(call_timeout_ms=50)
    exc = await expect_raises(rpc.CallTimeout, r.call("Heartbeat", {}))
    assert "t1" in str(exc)
    assert await recv(central) == [2, "t1", "Heartbeat", {}]
    task = asyncio.create_task(r.call("Heartbeat", {}))
    assert (await recv(central))[1] == "t2"
    await send(central, [3, "t1", {"currentTime": NOW}])  # the late answer to t1
    await settle()
    assert r.dropped == 1 and not task.done()
    await send(central, [3, "t2", {"currentTime": NOW}])
    assert await task == {"currentTime": NOW}
    r.deinit()


async def test_answer_with_unknown_id_is_dropped():
    r, central = make()
    task = asyncio.create_task(r.call("Heartbeat", {}))
    await recv(central)
    await send(central, [3, "zzz", {"currentTime": NOW}])
    await send(central, [4, "t9", "GenericError", "", {}])
    await send(central, [3, "t1", {"currentTime": NOW}])
    assert await task == {"currentTime": NOW}
    assert r.dropped == 2
    r.deinit()


async def test_one_outstanding_call_at_a_time_in_order():
    r, central = make()
    tasks = [
        asyncio.create_task(r.call("Heartbeat", {})),
        asyncio.create_task(r.call("Authorize", {"idTag": "A"})),
        asyncio.create_task(r.call("StartTransaction", START)),
    ]
    actions = []
    for i, conf in enumerate(
        ({"currentTime": NOW}, {"idTagInfo": {"status": "Accepted"}}, START_CONF)
    ):
        frame = await recv(central)
        actions.append(frame[2])
        assert frame[1] == "t%d" % (i + 1)
        await asyncio.sleep_ms(20)
        assert central.inbox == []  # nothing else goes out while this CALL is unanswered
        await send(central, [3, frame[1], conf])
    assert actions == ["Heartbeat", "Authorize", "StartTransaction"]
    assert (await tasks[2])["transactionId"] == 7
    r.deinit()


async def test_queue_is_bounded_and_a_cancelled_waiter_leaves_it():
    r, central = make(queue_size=2)
    first = asyncio.create_task(r.call("Heartbeat", {}))
    await recv(central)
    second = asyncio.create_task(r.call("Authorize", {"idTag": "B"}))
    third = asyncio.create_task(r.call("Authorize", {"idTag": "C"}))
    await settle()
    await expect_raises(rpc.QueueFull, r.call("Authorize", {"idTag": "D"}))
    second.cancel()
    await settle()
    fourth = asyncio.create_task(r.call("Authorize", {"idTag": "E"}))  # room again
    await settle()
    assert central.inbox == []
    await send(central, [3, "t1", {"currentTime": NOW}])
    await first
    frame = await recv(central)
    assert frame[2:] == ["Authorize", {"idTag": "C"}]
    await send(central, [3, frame[1], {"idTagInfo": {"status": "Accepted"}}])
    await third
    frame = await recv(central)
    assert frame[2:] == ["Authorize", {"idTag": "E"}]
    await send(central, [3, frame[1], {"idTagInfo": {"status": "Blocked"}}])
    assert (await fourth)["idTagInfo"]["status"] == "Blocked"
    r.deinit()


async def test_answer_that_breaks_the_spec_raises_bad_response():
    r, central = make()
    cases = (
        (
            [3, "t1", {"status": "Bogus", "currentTime": NOW, "interval": 1}],
            "PropertyConstraintViolation",
        ),
        ([3, "t2", {"status": "Accepted", "interval": 1}], "ProtocolError"),
        ('[4,"t3",500,"x",{}]', "TypeConstraintViolation"),
        ('[3,"t4",[]]', "FormationViolation"),
    )
    for answer, code in cases:
        task = asyncio.create_task(r.call("BootNotification", BOOT))
        await recv(central)
        await send(central, answer)
        exc = await expect_raises(rpc.BadResponse, task)
        assert exc.code == code, (answer, exc.code)
    r.deinit()


async def test_invalid_outgoing_payload_raises_ocpp_error_and_sends_nothing():
    r, central = make()
    exc = await expect_raises(errors.OcppError, r.call("Authorize", {"idTag": "X" * 21}))
    assert exc.code == "TypeConstraintViolation"
    await expect_raises(errors.OcppError, r.call("FlyToTheMoon", {}))
    assert central.inbox == []
    task = asyncio.create_task(r.call("Heartbeat", {}))  # the turn was given back
    await recv(central)
    await send(central, [3, "t3", {"currentTime": NOW}])
    await task
    r.deinit()


async def test_lost_connection_fails_the_call_at_once_and_ends_run():
    r, central = make(call_timeout_ms=60000)
    task = asyncio.create_task(r.call("Heartbeat", {}))
    await recv(central)
    central.close()
    await expect_raises(rpc.ConnectionLost, asyncio.wait_for_ms(task, 1000))
    await asyncio.wait_for_ms(r._task, 1000)  # run() returned
    await expect_raises(rpc.ConnectionLost, r.call("Heartbeat", {}))  # send fails
    r.deinit()


async def test_message_ids_have_a_random_prefix_and_fit_36_chars():
    station, central = loopback.pair()
    one = rpc.Rpc(station, clock=FakeClock(), call_timeout_ms=10)
    two = rpc.Rpc(station, clock=FakeClock())
    assert one.id_prefix != two.id_prefix and len(one.id_prefix) == 9
    one.start()
    one._counter = 999999998
    for expected in ("999999999", "1"):
        await expect_raises(rpc.CallTimeout, one.call("Heartbeat", {}))
        unique_id = (await recv(central))[1]
        assert unique_id == one.id_prefix + expected and len(unique_id) <= 36
    one.deinit()
    await expect_raises(rpc.ConnectionLost, one.call("Heartbeat", {}))
    try:
        rpc.Rpc(station, clock=FakeClock(), id_prefix="x" * 28)
        raise AssertionError("long prefix taken")
    except ValueError:
        pass


# --- incoming CALLs --------------------------------------------------------------------------


def _answered(frame, message_id):
    # Faults in a CALLRESULT/CALLERROR whose id could be read are never answered.
    head = frame[:2] if isinstance(frame, str) else ""
    return not (message_id is not None and head in ("[3", "[4"))


async def test_every_malformed_frame_gets_its_error_code():
    r, central = make({"ClearCache": lambda p: {"status": "Accepted"}})
    for i, (frame, code, message_id) in enumerate(FRAMES):
        await central.send(frame)
        await send(central, [2, "p%d" % i, "ClearCache", {}])
        reply = await recv(central)
        if _answered(frame, message_id):
            assert reply[0] == 4 and reply[2] == code, (frame, reply)
            assert reply[1] == (message_id or "-1"), (frame, reply)
            reply = await recv(central)
        assert reply == [3, "p%d" % i, {"status": "Accepted"}], (frame, reply)
    for frame in LENIENT_JSON:
        await central.send(frame)
        reply = await recv(central)
        assert reply[:3] == [4, "-1", "FormationViolation"], (frame, reply)
    r.deinit()


async def test_unreadable_frames_can_be_dropped_instead():
    r, central = make({"ClearCache": lambda p: {"status": "Accepted"}})
    r.answer_unreadable = False
    await send(central, "[2,")
    await send(central, '[2,"1","Heartbeat",{"x":1}]')
    await send(central, [2, "p", "ClearCache", {}])
    assert (await recv(central))[:3] == [4, "1", "FormationViolation"]
    assert await recv(central) == [3, "p", {"status": "Accepted"}]
    assert r.refused == 2
    r.deinit()


async def test_known_action_without_handler_is_not_supported():
    r, central = make({})
    await send(central, [2, "c1", "ClearCache", {}])
    await send(central, [2, "c2", "BootNotification", BOOT])  # a CP->CS action
    assert (await recv(central))[:3] == [4, "c1", "NotSupported"]
    assert (await recv(central))[:3] == [4, "c2", "NotSupported"]
    r.deinit()


async def test_sync_and_async_handlers_answer():
    seen = []

    def on_clear(payload):
        seen.append(payload)
        return {"status": "Accepted"}

    async def on_reset(payload):
        await asyncio.sleep_ms(1)
        seen.append(payload)
        return {"status": "Rejected"}

    r, central = make({"ClearCache": on_clear, "Reset": on_reset})
    await send(central, [2, "c1", "Reset", {"type": "Hard"}])
    await send(central, [2, "c2", "ClearCache", {}])
    assert await recv(central) == [3, "c1", {"status": "Rejected"}]  # in arrival order
    assert await recv(central) == [3, "c2", {"status": "Accepted"}]
    assert seen == [{"type": "Hard"}, {}]
    r.deinit()


async def test_handler_faults_become_callerrors_and_the_loop_goes_on():
    def crash(payload):
        raise ValueError("boom")

    async def crash_later(payload):
        await asyncio.sleep_ms(0)
        return {}["missing"]

    def refuse(payload):
        raise errors.OcppError(errors.PROPERTY_CONSTRAINT_VIOLATION, "connector 9 unknown")

    handlers = {
        "ClearCache": crash,
        "Reset": crash_later,
        "UnlockConnector": refuse,
        "ChangeAvailability": lambda p: {"status": "Maybe"},  # not to spec
        "GetLocalListVersion": lambda p: {"listVersion": object()},  # not JSON at all
        "DataTransfer": lambda p: {"status": "Accepted"},
    }
    r, central = make(handlers, incoming_size=6)  # all six queue before the worker runs
    await send(central, [2, "c1", "ClearCache", {}])
    await send(central, [2, "c2", "Reset", {"type": "Soft"}])
    await send(central, [2, "c3", "UnlockConnector", {"connectorId": 9}])
    await send(central, [2, "c4", "ChangeAvailability", {"connectorId": 0, "type": "Operative"}])
    await send(central, [2, "c5", "GetLocalListVersion", {}])
    await send(central, [2, "c6", "DataTransfer", {"vendorId": "ck"}])
    codes = []
    for _ in range(5):
        codes.append((await recv(central))[:3])
    assert codes == [
        [4, "c1", "InternalError"],
        [4, "c2", "InternalError"],
        [4, "c3", "PropertyConstraintViolation"],
        [4, "c4", "InternalError"],
        [4, "c5", "InternalError"],
    ]
    assert await recv(central) == [3, "c6", {"status": "Accepted"}]
    r.deinit()


async def test_incoming_queue_is_bounded():
    gate = asyncio.Event()

    async def slow(payload):
        await gate.wait()
        return {"status": "Accepted"}

    r, central = make({"ClearCache": slow}, incoming_size=1)
    for i in range(3):  # c0 runs, c1 waits, c2 finds the queue full
        await send(central, [2, "c%d" % i, "ClearCache", {}])
        await settle()
    assert (await recv(central))[:3] == [4, "c2", "InternalError"]
    gate.set()
    assert (await recv(central))[1] == "c0"
    assert (await recv(central))[1] == "c1"
    r.deinit()


async def test_answers_go_out_while_our_call_is_outstanding():
    r, central = make({"ClearCache": lambda p: {"status": "Accepted"}})
    task = asyncio.create_task(r.call("Heartbeat", {}))
    await recv(central)
    await send(central, [2, "c1", "ClearCache", {}])
    assert await recv(central) == [3, "c1", {"status": "Accepted"}]
    await send(central, [3, "t1", {"currentTime": NOW}])
    assert await task == {"currentTime": NOW}
    r.deinit()


async def test_a_handler_may_call_out_itself():
    got = []

    async def on_trigger(payload):
        got.append(await r.call("Heartbeat", {}))
        return {"status": "Accepted"}

    r, central = make({"TriggerMessage": on_trigger})
    await send(central, [2, "c1", "TriggerMessage", {"requestedMessage": "Heartbeat"}])
    assert await recv(central) == [2, "t1", "Heartbeat", {}]
    await send(central, [3, "t1", {"currentTime": NOW}])
    assert await recv(central) == [3, "c1", {"status": "Accepted"}]
    assert got == [{"currentTime": NOW}]
    r.deinit()


# --- transaction-message retries -------------------------------------------------------------


async def _answering(central, answers):
    """Play the central: answer each CALL with the next answer (None: stay silent)."""
    frames = []
    for answer in answers:
        frame = await recv(central, 2000)
        frames.append(frame)
        if answer is not None:
            await send(central, [answer[0], frame[1]] + answer[1:])
    return frames


async def test_transaction_message_retried_on_timeouts_with_growing_interval():
    r, central = make(call_timeout_ms=30)
    peer = asyncio.create_task(_answering(central, [None, None, None]))
    await expect_raises(
        rpc.CallTimeout, r.call_transactional("StartTransaction", START, retry_interval_ms=1000)
    )
    frames = await peer
    assert [f[1] for f in frames] == ["t1", "t2", "t3"]  # a new id per attempt
    assert r.clock.sleeps == [1000, 2000]
    r.deinit()


async def test_transaction_message_retried_on_internal_error_until_accepted():
    r, central = make()
    error = [4, "InternalError", "db down", {}]
    peer = asyncio.create_task(_answering(central, [error, error, [3, START_CONF]]))
    conf = await r.call_transactional("StartTransaction", START, attempts=3, retry_interval_ms=5)
    assert conf == START_CONF
    assert len(await peer) == 3
    assert r.clock.sleeps == [5, 10]
    r.deinit()


async def test_transaction_message_not_retried_on_other_callerrors_or_bad_answers():
    r, central = make()
    peer = asyncio.create_task(_answering(central, [[4, "NotSupported", "", {}]]))
    exc = await expect_raises(rpc.CallError, r.call_transactional("StartTransaction", START))
    assert exc.code == "NotSupported"
    await peer
    peer = asyncio.create_task(_answering(central, [[3, {"transactionId": 1}]]))
    exc = await expect_raises(rpc.BadResponse, r.call_transactional("StartTransaction", START))
    assert exc.code == "ProtocolError"
    await peer
    assert r.clock.sleeps == [] and central.inbox == []
    r.deinit()


async def test_transaction_message_retried_while_the_link_is_down():
    r, central = make()
    central.close()
    await expect_raises(
        rpc.ConnectionLost,
        r.call_transactional(
            "StopTransaction",
            {"transactionId": 7, "meterStop": 5, "timestamp": NOW},
            attempts=4,
            retry_interval_ms=100,
        ),
    )
    assert r.clock.sleeps == [100, 200, 300]
    r.deinit()


# --- heap --------------------------------------------------------------------------------------


async def test_round_trips_do_not_leak():
    r, central = make({"ClearCache": lambda p: {"status": "Accepted"}})

    async def round_trip(i):
        task = asyncio.create_task(r.call("Heartbeat", {}))
        frame = await recv(central)
        await send(central, [3, frame[1], {"currentTime": NOW}])
        await task
        await send(central, [2, "c%d" % i, "ClearCache", {}])
        await recv(central)

    for i in range(5):  # warm up: specs parsed, buffers grown
        await round_trip(i)
    gc.collect()
    before = gc.mem_free()
    for i in range(40):
        await round_trip(i)
    gc.collect()
    leaked = before - gc.mem_free()
    print("rpc: heap change after 40 round trips:", leaked, "bytes")
    assert leaked < 512, leaked
    r.deinit()
