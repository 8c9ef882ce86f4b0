# Light payload validation for OCPP 1.6: reads the compact specs of ocpp16_payloads.py and
# raises OcppError with the code the peer is answered with. Runs on MicroPython and CPython.
#
# Codes (docs/decisions/0002-protocol-layer.md): missing required field ProtocolError; unknown
# field FormationViolation; wrong JSON type or a string over its length TypeConstraintViolation
# (CiStringN is a type); a value outside its enumeration, a malformed date-time or URI, or a
# number with too many decimals PropertyConstraintViolation; an empty list where one item is
# required OccurenceConstraintViolation.

from . import errors
from .ocpp16 import ACTIONS, ENUMS, SECURITY_EXTENSION_ACTIONS
from .ocpp16_payloads import REQUESTS, RESPONSES, TYPES
from .rfc3339 import is_datetime

_INF = float("inf")


def _fail(code, where, what):
    raise errors.OcppError(code, where + ": " + what)


def _is_number(value):
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value == value
        and value != _INF
        and value != -_INF
    )


def _is_uri(text):
    # RFC 3986: scheme ":" hier-part, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    colon = text.find(":")
    if colon < 1 or not text[0].isalpha():
        return False
    for c in text[:colon]:
        if not (c.isalpha() or c.isdigit() or c in "+-.") or ord(c) > 127:
            return False
    return " " not in text


def _check_value(value, kind, where):
    code = kind[0]
    if code == "s":
        if not isinstance(value, str):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a string")
        if len(kind) > 1 and len(value) > int(kind[1:]):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "longer than " + kind[1:] + " chars")
    elif code == "i":
        if not isinstance(value, int) or isinstance(value, bool):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be an integer")
    elif code == "n" or code == "d":
        if not _is_number(value):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a number")
        if code == "d" and isinstance(value, float) and round(value, 1) != value:
            _fail(errors.PROPERTY_CONSTRAINT_VIOLATION, where, "at most one decimal allowed")
    elif code == "b":
        if not isinstance(value, bool):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be true or false")
    elif code == "t":
        if not isinstance(value, str):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a date-time string")
        if not is_datetime(value):
            _fail(errors.PROPERTY_CONSTRAINT_VIOLATION, where, "not an RFC 3339 date-time")
    elif code == "u":
        if not isinstance(value, str):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a URI string")
        if not _is_uri(value):
            _fail(errors.PROPERTY_CONSTRAINT_VIOLATION, where, "not a URI")
    elif code == "e":
        if not isinstance(value, str):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a string")
        if value not in ENUMS[kind[1:]]:
            _fail(errors.PROPERTY_CONSTRAINT_VIOLATION, where, "not a valid " + kind[1:])
    elif code == "o":
        if not isinstance(value, dict):
            _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be an object")
        check_object(value, TYPES[kind[1:]], where + ".")
    else:
        raise errors.OcppError(errors.INTERNAL_ERROR, "bad spec type " + kind)


def check_object(obj, spec, prefix=""):
    """Check dict `obj` against one compact spec string; raise OcppError on the first fault."""
    known = 0
    for field in spec.split():
        colon = field.find(":")
        name = field[:colon]
        kind = field[colon + 1 :]
        required = kind[-1] == "!"
        if required:
            kind = kind[:-1]
        if name not in obj:
            if required:
                _fail(errors.PROTOCOL_ERROR, prefix + name, "required field missing")
            continue
        known += 1
        value = obj[name]
        where = prefix + name
        if kind[0] == "*" or kind[0] == "+":
            if not isinstance(value, list):
                _fail(errors.TYPE_CONSTRAINT_VIOLATION, where, "must be a list")
            if kind[0] == "+" and not value:
                _fail(errors.OCCURENCE_CONSTRAINT_VIOLATION, where, "needs at least one item")
            item_kind = kind[1:]
            for i, item in enumerate(value):
                _check_value(item, item_kind, where + "[" + str(i) + "]")
        else:
            _check_value(value, kind, where)
    if known != len(obj):
        names = [field[: field.find(":")] for field in spec.split()]
        for name in obj:
            if name not in names:
                _fail(errors.FORMATION_VIOLATION, prefix + str(name), "unknown field")


def check_action(action):
    """Raise NotImplemented for an unknown action, NotSupported for a recognized one we lack."""
    if action not in ACTIONS:
        if action in SECURITY_EXTENSION_ACTIONS:
            raise errors.OcppError(errors.NOT_SUPPORTED, action + " is not supported")
        raise errors.OcppError(errors.NOT_IMPLEMENTED, "unknown action " + str(action))


def _check_payload(table, action, payload):
    check_action(action)
    if not isinstance(payload, dict):
        raise errors.OcppError(errors.FORMATION_VIOLATION, "payload must be a JSON object")
    check_object(payload, table[action])
    return payload


def check_request(action, payload):
    """Validate the payload of a CALL for `action`; returns the payload."""
    return _check_payload(REQUESTS, action, payload)


def check_response(action, payload):
    """Validate the payload of the CALLRESULT answering a CALL for `action`."""
    return _check_payload(RESPONSES, action, payload)
