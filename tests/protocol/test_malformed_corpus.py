from malformed_frames import FRAMES
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
