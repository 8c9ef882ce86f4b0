# OCPP-J framing (OCPP 1.6 JSON over WebSocket): encode and strictly decode
#   CALL        [2, "<id>", "<Action>", {payload}]
#   CALLRESULT  [3, "<id>", {payload}]
#   CALLERROR   [4, "<id>", "<ErrorCode>", "<description>", {details}]
# Every fault raises errors.OcppError carrying the code to answer with. Runs on MicroPython
# and CPython.

import json

from . import errors, strictjson
from .validate import check_action, check_request, check_response

CALL = 2
CALLRESULT = 3
CALLERROR = 4
MAX_ID_LENGTH = 36
# Id used in a CALLERROR for a frame whose own id could not be read (as OCPP 2.0.1 does).
UNKNOWN_ID = "-1"

_FRAME_LENGTH = {CALL: 4, CALLRESULT: 3, CALLERROR: 5}


class Call:
    message_type_id = CALL

    def __init__(self, unique_id, action, payload):
        self.unique_id = unique_id
        self.action = action
        self.payload = payload

    def to_list(self):
        return [CALL, self.unique_id, self.action, self.payload]


class CallResult:
    message_type_id = CALLRESULT

    def __init__(self, unique_id, payload):
        self.unique_id = unique_id
        self.payload = payload

    def to_list(self):
        return [CALLRESULT, self.unique_id, self.payload]


class CallError:
    message_type_id = CALLERROR

    def __init__(self, unique_id, code, description="", details=None):
        self.unique_id = unique_id
        self.code = code
        self.description = description
        self.details = details if details is not None else {}

    def to_list(self):
        return [CALLERROR, self.unique_id, self.code, self.description, self.details]


def _dumps(frame):
    return json.dumps(frame, separators=(",", ":"))


def encode(message):
    """JSON text of a Call, CallResult or CallError."""
    return _dumps(message.to_list())


def encode_call(unique_id, action, payload, validate=True):
    """JSON text of a CALL; the payload is checked against the action's .req spec."""
    _check_id(unique_id)
    if validate:
        check_request(action, payload)
    return _dumps([CALL, unique_id, action, payload])


def encode_result(unique_id, payload, action=None):
    """JSON text of a CALLRESULT; checked against the .conf spec of `action` when given."""
    _check_id(unique_id)
    if action is not None:
        check_response(action, payload)
    return _dumps([CALLRESULT, unique_id, payload])


def encode_error(unique_id, code, description="", details=None):
    if code not in errors.ERROR_CODES:
        raise errors.OcppError(errors.INTERNAL_ERROR, "unknown error code " + str(code))
    return _dumps([CALLERROR, unique_id, code, description, details or {}])


def error_for(exc, unique_id=None):
    """The CallError answering OcppError `exc` (id from the exception when it has one)."""
    return CallError(
        unique_id or exc.message_id or UNKNOWN_ID, exc.code, exc.description, exc.details
    )


def _loads(data):
    try:
        return strictjson.loads(data)
    except ValueError as exc:
        raise errors.OcppError(errors.FORMATION_VIOLATION, "frame is not valid JSON: " + str(exc))


def _check_id(unique_id):
    if not isinstance(unique_id, str):
        raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "message id must be a string")
    if not unique_id:
        raise errors.OcppError(errors.PROPERTY_CONSTRAINT_VIOLATION, "message id is empty")
    if len(unique_id) > MAX_ID_LENGTH:
        raise errors.OcppError(
            errors.TYPE_CONSTRAINT_VIOLATION, "message id longer than 36 characters"
        )


def _frame(data):
    frame = _loads(data)
    if not isinstance(frame, list) or not frame:
        raise errors.OcppError(errors.FORMATION_VIOLATION, "frame must be a non-empty JSON array")
    type_id = frame[0]
    if not isinstance(type_id, int) or isinstance(type_id, bool):
        raise errors.OcppError(errors.FORMATION_VIOLATION, "message type must be an integer")
    if type_id not in _FRAME_LENGTH:
        raise errors.OcppError(
            errors.PROPERTY_CONSTRAINT_VIOLATION, "unknown message type " + str(type_id)
        )
    return frame, type_id


def decode(data, validate=True):
    """Call, CallResult or CallError from a frame (str or UTF-8 bytes).

    Raises OcppError on any fault; it carries the frame's id and type when they could be read.
    With validate, a CALL's payload is checked against its action's spec; a CALLRESULT can
    only be checked by whoever knows the action it answers (validate.check_response).
    """
    type_id = None
    unique_id = None
    try:
        frame, type_id = _frame(data)
        if len(frame) > 1 and isinstance(frame[1], str) and 0 < len(frame[1]) <= MAX_ID_LENGTH:
            unique_id = frame[1]
        expected = _FRAME_LENGTH[type_id]
        if len(frame) < expected:
            raise errors.OcppError(errors.PROTOCOL_ERROR, "frame is missing elements")
        if len(frame) > expected:
            raise errors.OcppError(errors.FORMATION_VIOLATION, "frame has too many elements")
        _check_id(frame[1])
        if type_id == CALL:
            return _decode_call(frame, validate)
        if type_id == CALLRESULT:
            if not isinstance(frame[2], dict):
                raise errors.OcppError(errors.FORMATION_VIOLATION, "payload must be a JSON object")
            return CallResult(frame[1], frame[2])
        return _decode_error(frame)
    except errors.OcppError as exc:
        exc.message_id = unique_id
        exc.message_type_id = type_id
        raise


def check_result(result, action):
    """Check a CallResult's payload against the .conf spec of the `action` it answers."""
    try:
        check_response(action, result.payload)
    except errors.OcppError as exc:
        exc.message_id = result.unique_id
        exc.message_type_id = CALLRESULT
        raise
    return result


def _decode_call(frame, validate):
    action = frame[2]
    if not isinstance(action, str):
        raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "action must be a string")
    if validate:
        check_request(action, frame[3])
    else:
        check_action(action)
        if not isinstance(frame[3], dict):
            raise errors.OcppError(errors.FORMATION_VIOLATION, "payload must be a JSON object")
    return Call(frame[1], action, frame[3])


def _decode_error(frame):
    code, description, details = frame[2], frame[3], frame[4]
    if not isinstance(code, str) or not isinstance(description, str):
        raise errors.OcppError(
            errors.TYPE_CONSTRAINT_VIOLATION, "error code and description must be strings"
        )
    # Any code string is taken: peers send codes outside 1.6's ten (the ocpp library itself
    # answers "FormatViolation"), and dropping the error would leave the CALL unanswered.
    if not isinstance(details, dict):
        raise errors.OcppError(errors.FORMATION_VIOLATION, "error details must be a JSON object")
    return CallError(frame[1], code, description, details)
