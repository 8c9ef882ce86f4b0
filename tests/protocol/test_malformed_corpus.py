from malformed_frames import FRAMES, LENIENT_JSON
from protocol_testlib import raises_ocpp

from chargekit.protocol import ocppj


def test_every_malformed_frame_gets_its_error_code():
    for frame, code, message_id in FRAMES:
        exc = raises_ocpp(code, ocppj.decode, frame)
        assert exc.message_id == message_id, (frame, exc.message_id)


def test_callerror_for_a_malformed_frame_is_itself_a_valid_frame():
    for frame, _code, message_id in FRAMES:
        try:
            ocppj.decode(frame)
        except Exception as exc:
            if not exc.answerable():
                continue
            reply = ocppj.decode(ocppj.encode(ocppj.error_for(exc)))
            assert reply.unique_id == (message_id or "-1")
            assert reply.code == exc.code


def test_json_that_lenient_parsers_take_is_refused():
    for frame in LENIENT_JSON:
        raises_ocpp("FormationViolation", ocppj.decode, frame)


def test_strict_json_still_takes_every_form_of_valid_json():
    from chargekit.protocol import strictjson

    text = '{"a": [1, -0, 0.5, -1.5e+3, 2E-2, true, false, null, "\\u00e9\\n\\"", {}, []], "": {"b": "c"}}'
    strictjson.check_syntax(text)
    assert strictjson.loads(text)["a"][4] == 0.02
    for text in ("0", " \t\r\n[ ] ", '""', "-0.0e0", '"\\ud83d\\ude00"'):
        strictjson.check_syntax(text)
        strictjson.loads(text)
