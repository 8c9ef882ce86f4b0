"""The firmware's OCPP-J RPC (firmware/ocpp/rpc.py, under `micropython`) against the `ocpp`
library's view of OCPP 1.6.

Until the firmware has its WebSocket client, the library cannot talk to the firmware over a
socket, so this test meets it at the frames: CALLs built by the library from its `call`
dataclasses (its own camelCase conversion and None removal) are fed to the firmware's Rpc
over the loopback connection, answers built from its `call_result` dataclasses are fed back to
the firmware's own CALLs, and everything the firmware sends is unpacked and schema-validated
by the library.
"""

from __future__ import annotations

import json

import pytest
from ocpp.charge_point import remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import Call, CallError, CallResult, unpack, validate_payload
from ocpp.v16 import call, call_result, datatypes, enums

from chargekit.tools.micropython import run_micropython, stage_firmware

pytestmark = pytest.mark.micropython

NOW = "2026-03-01T12:00:00Z"

# Runs on the device interpreter: the Rpc with handlers shaped like the firmware's will be,
# the test file's frames replayed on the central's end of a loopback pair.
FIRMWARE = r"""
import asyncio, json, sys
from firmware.ocpp import loopback, rpc

NOW = "2026-03-01T12:00:00Z"
STATUS = {"status": "Accepted"}


class Clock:
    async def sleep_ms(self, ms):
        await asyncio.sleep_ms(0)


def get_configuration(payload):
    return {
        "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
        "unknownKey": [k for k in payload.get("key", ()) if k != "HeartbeatInterval"],
    }


async def remote_start(payload):
    await asyncio.sleep_ms(1)
    return STATUS


HANDLERS = {
    "RemoteStartTransaction": remote_start,
    "RemoteStopTransaction": lambda p: {"status": "Rejected"},
    "Reset": lambda p: STATUS,
    "ChangeAvailability": lambda p: {"status": "Scheduled"},
    "ChangeConfiguration": lambda p: {"status": "RebootRequired"},
    "GetConfiguration": get_configuration,
    "ClearCache": lambda p: STATUS,
    "UnlockConnector": lambda p: {"status": "Unlocked"},
    "TriggerMessage": lambda p: STATUS,
    "DataTransfer": lambda p: {"status": "UnknownVendorId"},
    "SetChargingProfile": lambda p: STATUS,
    "GetLocalListVersion": lambda p: {"listVersion": -1},
    "ClearChargingProfile": lambda p: {"status": "Unknown"},
}

METER = [{"timestamp": NOW, "sampledValue": [
    {"value": "1520", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
    {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW", "context": "Sample.Periodic"},
    {"value": "16.1", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
]}]
OUTGOING = [
    ("BootNotification", {"chargePointVendor": "ChargeKit", "chargePointModel": "CK-1",
                          "chargePointSerialNumber": "SIM-0001", "firmwareVersion": "0.1.0"}),
    ("Heartbeat", {}),
    ("StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Preparing",
                            "timestamp": NOW}),
    ("Authorize", {"idTag": "04A1B2C3"}),
    ("StartTransaction", {"connectorId": 1, "idTag": "04A1B2C3", "meterStart": 1200,
                          "timestamp": NOW}),
    ("MeterValues", {"connectorId": 1, "transactionId": 42, "meterValue": METER}),
    ("StopTransaction", {"transactionId": 42, "meterStop": 1520, "timestamp": NOW,
                         "idTag": "04A1B2C3", "reason": "Local", "transactionData": METER}),
    ("DataTransfer", {"vendorId": "com.chargekit", "messageId": "ping", "data": "x"}),
]


def report(**fields):
    print("@@RESULT " + json.dumps(fields))


async def main(cases):
    station, central = loopback.pair()
    r = rpc.Rpc(station, HANDLERS, clock=Clock(), id_prefix="cp-", call_timeout_ms=2000)
    r.start()
    for frame in cases["incoming"]:
        await central.send(frame)
        report(kind="in", frame=frame, reply=await asyncio.wait_for_ms(central.recv(), 2000))
    for action, payload in OUTGOING:
        task = asyncio.create_task(r.call(action, payload))
        sent = await asyncio.wait_for_ms(central.recv(), 2000)
        answer = cases["answers"][action]
        await central.send(json.dumps([3, json.loads(sent)[1], answer]))
        try:
            report(kind="out", action=action, sent=sent, result=await task)
        except rpc.RpcError as exc:
            report(kind="out", action=action, sent=sent, error=repr(exc))
    r.deinit()


asyncio.run(main(json.load(open(sys.argv[1]))))
"""


def library_frame(unique_id: str, payload: object) -> str:
    """The CALL frame the library's ChargePoint.call would send for a `call` dataclass."""
    body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
    return Call(unique_id, type(payload).__name__, body).to_json()


def library_payload(payload: object) -> dict:
    return remove_nones(snake_to_camel_case(serialize_as_dict(payload)))


PROFILE = datatypes.ChargingProfile(
    charging_profile_id=3,
    stack_level=1,
    charging_profile_purpose=enums.ChargingProfilePurposeType.tx_default_profile,
    charging_profile_kind=enums.ChargingProfileKindType.absolute,
    charging_schedule=datatypes.ChargingSchedule(
        charging_rate_unit=enums.ChargingRateUnitType.amps,
        charging_schedule_period=[
            datatypes.ChargingSchedulePeriod(start_period=0, limit=16.0),
            datatypes.ChargingSchedulePeriod(start_period=3600, limit=10.5, number_phases=3),
        ],
        start_schedule=NOW,
    ),
)

INCOMING = [
    call.RemoteStartTransaction(id_tag="04A1B2C3", connector_id=1),
    call.RemoteStopTransaction(transaction_id=42),
    call.Reset(type=enums.ResetType.soft),
    call.ChangeAvailability(connector_id=0, type=enums.AvailabilityType.inoperative),
    call.ChangeConfiguration(key="HeartbeatInterval", value="60"),
    call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey"]),
    call.GetConfiguration(),
    call.ClearCache(),
    call.UnlockConnector(connector_id=1),
    call.TriggerMessage(requested_message=enums.MessageTrigger.status_notification, connector_id=1),
    call.DataTransfer(vendor_id="com.example", message_id="hello", data="{}"),
    call.SetChargingProfile(connector_id=1, cs_charging_profiles=PROFILE),
    call.GetLocalListVersion(),
    call.ClearChargingProfile(id=3),
]
# Valid CALLs the firmware has no handler for: answered NotSupported.
UNHANDLED = [
    call.ReserveNow(connector_id=1, expiry_date=NOW, id_tag="04A1B2C3", reservation_id=9),
    call.GetDiagnostics(location="ftp://example.com/diag"),
]

ID_TAG_INFO = datatypes.IdTagInfo(status=enums.AuthorizationStatus.accepted, expiry_date=NOW)
ANSWERS = {
    "BootNotification": call_result.BootNotification(
        current_time=NOW, interval=300, status=enums.RegistrationStatus.accepted
    ),
    "Heartbeat": call_result.Heartbeat(current_time=NOW),
    "StatusNotification": call_result.StatusNotification(),
    "Authorize": call_result.Authorize(id_tag_info=ID_TAG_INFO),
    "StartTransaction": call_result.StartTransaction(transaction_id=42, id_tag_info=ID_TAG_INFO),
    "MeterValues": call_result.MeterValues(),
    "StopTransaction": call_result.StopTransaction(id_tag_info=ID_TAG_INFO),
    "DataTransfer": call_result.DataTransfer(status=enums.DataTransferStatus.accepted, data="pong"),
}


@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("rpc_vs_ocpp")
    frames = [library_frame(f"cs-{i}", p) for i, p in enumerate(INCOMING + UNHANDLED)]
    cases = {
        "incoming": frames,
        "answers": {action: library_payload(p) for action, p in ANSWERS.items()},
    }
    (tmp / "cases.json").write_text(json.dumps(cases))
    image = stage_firmware(tmp / "image")
    run = run_micropython(
        code=FIRMWARE, path=[image], args=[str(tmp / "cases.json")], heapsize="160k", timeout=30
    )
    run.check()
    return run.results()


async def test_firmware_answers_library_calls_with_schema_valid_results(exchange):
    replies = [r for r in exchange if r["kind"] == "in"]
    assert len(replies) == len(INCOMING) + len(UNHANDLED)
    for i, (payload, reply) in enumerate(zip(INCOMING, replies, strict=False)):
        action = type(payload).__name__
        message = unpack(reply["reply"])
        assert isinstance(message, CallResult), (action, reply["reply"])
        assert message.unique_id == f"cs-{i}"
        message.action = action
        await validate_payload(message, "1.6")  # raises on a schema violation


async def test_firmware_answers_unhandled_library_calls_not_supported(exchange):
    replies = [r for r in exchange if r["kind"] == "in"][len(INCOMING) :]
    assert len(replies) == len(UNHANDLED)
    for i, reply in enumerate(replies, start=len(INCOMING)):
        message = unpack(reply["reply"])
        assert isinstance(message, CallError), reply["reply"]
        assert (message.unique_id, message.error_code) == (f"cs-{i}", "NotSupported")
        message.to_exception()  # a code the library knows


async def test_firmware_calls_are_schema_valid_and_take_library_results(exchange):
    calls = [r for r in exchange if r["kind"] == "out"]
    assert [c["action"] for c in calls] == list(ANSWERS)
    ids = set()
    for sent in calls:
        message = unpack(sent["sent"])
        assert isinstance(message, Call) and message.action == sent["action"]
        assert len(message.unique_id) <= 36 and message.unique_id.startswith("cp-")
        ids.add(message.unique_id)
        await validate_payload(message, "1.6")
        assert "error" not in sent, sent
        assert sent["result"] == library_payload(ANSWERS[sent["action"]])
    assert len(ids) == len(calls)
