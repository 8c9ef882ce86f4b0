# OCPP-J framing; runs under CPython and MicroPython.
import json

from protocol_testlib import raises_ocpp

from chargekit.protocol import ocppj
from chargekit.protocol.errors import ERROR_CODES, OcppError


def test_encode_call_is_compact_json_in_frame_order():
    text = ocppj.encode_call(
        "19223201", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
    )
    # MicroPython dicts keep no insertion order, so key order inside the payload may differ.
    assert text.startswith('[2,"19223201","BootNotification",{') and " " not in text
    assert json.loads(text) == [
        2,
        "19223201",
        "BootNotification",
        {"chargePointVendor": "V", "chargePointModel": "M"},
    ]


def test_decode_call():
    call = ocppj.decode('[2, "abc", "Heartbeat", {}]')
    assert isinstance(call, ocppj.Call)
    assert (call.message_type_id, call.unique_id, call.action, call.payload) == (
        2,
        "abc",
        "Heartbeat",
        {},
    )


def test_decode_accepts_utf8_bytes():
    call = ocppj.decode(b'[2,"1","Authorize",{"idTag":"\xc3\xa9t\xc3\xa9"}]')
    assert call.payload == {"idTag": "\u00e9t\u00e9"}


def test_decode_callresult_and_check_it_against_the_action():
    result = ocppj.decode('[3,"7",{"currentTime":"2026-11-23T16:03:50Z"}]')
    assert isinstance(result, ocppj.CallResult)
    assert result.payload == {"currentTime": "2026-11-23T16:03:50Z"}
    assert ocppj.check_result(result, "Heartbeat") is result
    exc = raises_ocpp("ProtocolError", ocppj.check_result, result, "BootNotification")
    assert exc.message_id == "7"
    assert not exc.answerable()


def test_decode_callerror():
    err = ocppj.decode('[4,"9","NotImplemented","no such action",{"hint":"x"}]')
    assert isinstance(err, ocppj.CallError)
    assert (err.unique_id, err.code, err.description, err.details) == (
        "9",
        "NotImplemented",
        "no such action",
        {"hint": "x"},
    )


def test_round_trip_of_each_message_type():
    for message in (
        ocppj.Call("1", "Reset", {"type": "Soft"}),
        ocppj.CallResult("2", {"status": "Accepted"}),
        ocppj.CallError("3", "GenericError", "boom", {"a": 1}),
    ):
        again = ocppj.decode(ocppj.encode(message))
        assert again.to_list() == message.to_list()


def test_id_of_exactly_36_characters_is_accepted():
    uid = "x" * 36
    assert ocppj.decode('[2,"' + uid + '","Heartbeat",{}]').unique_id == uid


def test_encode_call_validates_the_payload():
    raises_ocpp("ProtocolError", ocppj.encode_call, "1", "Authorize", {})
    raises_ocpp("TypeConstraintViolation", ocppj.encode_call, 1, "Heartbeat", {})
    raises_ocpp("TypeConstraintViolation", ocppj.encode_call, "x" * 37, "Heartbeat", {})
    raises_ocpp("NotImplemented", ocppj.encode_call, "1", "Nope", {})
    assert ocppj.encode_call("1", "Authorize", {}, validate=False) == '[2,"1","Authorize",{}]'


def test_encode_result_validates_when_the_action_is_given():
    assert (
        ocppj.encode_result("1", {"status": "Accepted"}, "Reset") == '[3,"1",{"status":"Accepted"}]'
    )
    raises_ocpp(
        "PropertyConstraintViolation", ocppj.encode_result, "1", {"status": "Sure"}, "Reset"
    )


def test_encode_error_refuses_codes_outside_the_spec():
    assert ocppj.encode_error("5", "GenericError", "x") == '[4,"5","GenericError","x",{}]'
    raises_ocpp("InternalError", ocppj.encode_error, "5", "Oops")


def test_every_spec_error_code_decodes():
    for code in ERROR_CODES:
        assert ocppj.decode(json.dumps([4, "1", code, "", {}])).code == code
    assert "OccurenceConstraintViolation" in ERROR_CODES


def test_validation_error_keeps_the_frame_id_for_the_reply():
    exc = raises_ocpp(
        "ProtocolError", ocppj.decode, '[2,"42","StartTransaction",{"connectorId":1}]'
    )
    assert exc.message_id == "42"
    assert exc.answerable()
    reply = json.loads(ocppj.encode(ocppj.error_for(exc)))
    assert reply[:3] == [4, "42", "ProtocolError"]
    assert "idTag" in reply[3]


def test_decode_without_validation_still_checks_action_and_payload_type():
    call = ocppj.decode('[2,"1","Authorize",{}]', validate=False)
    assert call.payload == {}
    raises_ocpp("NotImplemented", ocppj.decode, '[2,"1","Nope",{}]', validate=False)
    raises_ocpp("FormationViolation", ocppj.decode, '[2,"1","Heartbeat",[]]', validate=False)


def test_error_from_a_frame_without_readable_id_answers_with_minus_one():
    exc = raises_ocpp("FormationViolation", ocppj.decode, "not json")
    assert exc.message_id is None and exc.answerable()
    assert ocppj.error_for(exc).unique_id == "-1"


def test_errors_on_callresult_and_callerror_frames_are_not_answered():
    exc = raises_ocpp("FormationViolation", ocppj.decode, '[3,"1",[]]')
    assert exc.message_type_id == 3 and not exc.answerable()
    exc = raises_ocpp("FormationViolation", ocppj.decode, '[4,"1","GenericError","",[]]')
    assert exc.message_type_id == 4 and not exc.answerable()


def test_callerror_codes_outside_the_spec_are_still_received():
    # the ocpp library answers 1.6 frames with "FormatViolation"; the pending CALL must still end
    err = ocppj.decode('[4,"1","FormatViolation","bad payload",{}]')
    assert (err.unique_id, err.code) == ("1", "FormatViolation")


def test_ocpp_error_is_an_exception_with_readable_text():
    exc = OcppError("GenericError", "d" * 1000)
    assert len(exc.description) == 255
    assert str(exc).startswith("GenericError: ddd")
    assert exc.details == {}
