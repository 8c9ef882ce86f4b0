# Event envelope used on the event bus and MQTT: {"kind": ..., "timestamp": RFC 3339 Z,
# "data": {...}}. Runs on MicroPython and CPython.

import json

from . import rfc3339, strictjson

_MAX_KIND = 64


class EnvelopeError(ValueError):
    pass


def event(kind, data=None, timestamp=None):
    """An envelope dict; timestamp is Unix seconds (now when None)."""
    _check_kind(kind)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EnvelopeError("data must be an object")
    if timestamp is None:
        timestamp = rfc3339.now()
    return {"kind": kind, "timestamp": rfc3339.format_utc(timestamp), "data": data}


def encode(kind, data=None, timestamp=None):
    return json.dumps(event(kind, data, timestamp), separators=(",", ":"))


def _check_kind(kind):
    if not isinstance(kind, str) or not kind or len(kind) > _MAX_KIND:
        raise EnvelopeError("kind must be a non-empty string of at most 64 characters")


def decode(text):
    """The envelope dict from JSON text (str or UTF-8 bytes); EnvelopeError if malformed."""
    try:
        envelope = strictjson.loads(text)
    except ValueError:
        raise EnvelopeError("not a JSON envelope")
    if not isinstance(envelope, dict):
        raise EnvelopeError("envelope must be an object")
    for name in envelope:
        if name not in ("kind", "timestamp", "data"):
            raise EnvelopeError("unknown envelope field " + str(name))
    _check_kind(envelope.get("kind"))
    stamp = envelope.get("timestamp")
    if not isinstance(stamp, str) or stamp[-1:] != "Z" or not rfc3339.is_datetime(stamp):
        raise EnvelopeError("timestamp must be RFC 3339 UTC ending in Z")
    if not isinstance(envelope.get("data"), dict):
        raise EnvelopeError("data must be an object")
    return envelope
