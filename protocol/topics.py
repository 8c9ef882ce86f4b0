# MQTT topics chargekit/v1/{station_id}/{channel}. Runs on MicroPython and CPython.

PREFIX = "chargekit/v1/"
TELEMETRY = "telemetry"
STATUS = "status"
EVENT = "event"
CMD = "cmd"
OUTLET = "outlet"
CHANNELS = (TELEMETRY, STATUS, EVENT, CMD, OUTLET)

# Station ids are OCPP charge box identities (CiString48 in practice) and must be usable as one
# MQTT topic level, one URL path segment and an HTTP Basic user name (RFC 7617: no ':').
MAX_STATION_ID = 48
_ID_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_."


class TopicError(ValueError):
    pass


def check_station_id(station_id):
    """Raise TopicError unless station_id is 1..48 of [A-Za-z0-9-_.], not only dots."""
    if not isinstance(station_id, str) or not 0 < len(station_id) <= MAX_STATION_ID:
        raise TopicError("station id must be 1 to 48 characters")
    for c in station_id:
        if c not in _ID_CHARS:
            raise TopicError("station id may hold only letters, digits and - _ .")
    if not station_id.strip("."):
        raise TopicError("station id cannot be only dots")
    return station_id


def topic(station_id, channel):
    if channel not in CHANNELS:
        raise TopicError("unknown channel " + str(channel))
    return PREFIX + check_station_id(station_id) + "/" + channel


def subscription(channel="+", station_id="+"):
    """A subscription filter: one channel of all stations by default."""
    if channel != "+" and channel not in CHANNELS:
        raise TopicError("unknown channel " + str(channel))
    if station_id != "+":
        check_station_id(station_id)
    return PREFIX + station_id + "/" + channel


def parse(name):
    """(station_id, channel) of a topic; TopicError if it is not one of ours."""
    if not isinstance(name, str) or not name.startswith(PREFIX):
        raise TopicError("not a chargekit/v1 topic")
    parts = name[len(PREFIX) :].split("/")
    if len(parts) != 2 or parts[1] not in CHANNELS:
        raise TopicError("expected chargekit/v1/{station_id}/{channel}")
    return check_station_id(parts[0]), parts[1]
