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


_parsed = {}  # spec string -> tuple of fields, filled on first use of each spec


def _fields(spec):
    """(name, code, arg, required, array) of each field of a spec, parsed once."""
    fields = _parsed.get(spec)
    if fields is None:
        out = []
        for field in spec.split():
            colon = field.find(":")
            kind = field[colon + 1 :]
            required = kind[-1] == "!"
            if required:
                kind = kind[:-1]
            array = kind[0] if kind[0] == "*" or kind[0] == "+" else ""
            if array:
                kind = kind[1:]
            code, arg = kind[0], kind[1:]
            if code == "s":
                arg = int(arg) if arg else 0
            elif code == "e":
                arg = (arg, ENUMS[arg])  # the name, for the error message
            elif code == "o":
                arg = TYPES[arg]
            out.append((field[:colon], code, arg, required, array))
        fields = _parsed[spec] = tuple(out)
    return fields


def _at(exc, step):
    # Errors are raised with the message only; the path of the offending field is prepended
    # here while the error unwinds, so a valid payload allocates no strings at all.
    # step is a field name or "[i]"; below it comes ".field...", "[i]..." or the message.
    exc.description = step + ("" if exc.description[:1] in ".[" else ": ") + exc.description
    return exc


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


def _check_value(value, code, arg):
    if code == "s":
        if not isinstance(value, str):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a string")
        if arg and len(value) > arg:
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "longer than %d chars" % arg)
    elif code == "i":
        if not isinstance(value, int) or isinstance(value, bool):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be an integer")
    elif code == "n" or code == "d":
        if not _is_number(value):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a number")
        if code == "d" and isinstance(value, float) and round(value, 1) != value:
            raise errors.OcppError(
                errors.PROPERTY_CONSTRAINT_VIOLATION, "at most one decimal allowed"
            )
    elif code == "b":
        if not isinstance(value, bool):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be true or false")
    elif code == "t":
        if not isinstance(value, str):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a date-time string")
        if not is_datetime(value):
            raise errors.OcppError(
                errors.PROPERTY_CONSTRAINT_VIOLATION, "not an RFC 3339 date-time"
            )
    elif code == "u":
        if not isinstance(value, str):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a URI string")
        if not _is_uri(value):
            raise errors.OcppError(errors.PROPERTY_CONSTRAINT_VIOLATION, "not a URI")
    elif code == "e":
        if not isinstance(value, str):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a string")
        if value not in arg[1]:
            raise errors.OcppError(errors.PROPERTY_CONSTRAINT_VIOLATION, "not a valid " + arg[0])
    elif code == "o":
        if not isinstance(value, dict):
            raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be an object")
        try:
            check_object(value, arg)
        except errors.OcppError as exc:
            exc.description = "." + exc.description
            raise exc
    else:
        raise errors.OcppError(errors.INTERNAL_ERROR, "bad spec type " + code)


def check_object(obj, spec):
    """Check dict `obj` against one compact spec string; raise OcppError on the first fault."""
    known = 0
    for name, code, arg, required, array in _fields(spec):
        if name not in obj:
            if required:
                raise _at(errors.OcppError(errors.PROTOCOL_ERROR, "required field missing"), name)
            continue
        known += 1
        value = obj[name]
        try:
            if array:
                if not isinstance(value, list):
                    raise errors.OcppError(errors.TYPE_CONSTRAINT_VIOLATION, "must be a list")
                if array == "+" and not value:
                    raise errors.OcppError(
                        errors.OCCURENCE_CONSTRAINT_VIOLATION, "needs at least one item"
                    )
                i = 0
                try:
                    for i in range(len(value)):
                        _check_value(value[i], code, arg)
                except errors.OcppError as exc:
                    raise _at(exc, "[%d]" % i)
            else:
                _check_value(value, code, arg)
        except errors.OcppError as exc:
            raise _at(exc, name)
    if known != len(obj):
        for name in obj:
            for field in _fields(spec):
                if field[0] == name:
                    break
            else:
                raise _at(errors.OcppError(errors.FORMATION_VIOLATION, "unknown field"), str(name))


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
