# Event envelope, MQTT topics and idTags; runs under CPython and MicroPython.
import json

from protocol_testlib import raises

from chargekit.protocol import envelope, idtag, topics


def test_event_envelope_round_trip():
    text = envelope.encode(
        "station.status", {"station": "CP001", "status": "Available"}, 1795449830
    )
    assert json.loads(text) == {
        "kind": "station.status",
        "timestamp": "2026-11-23T16:03:50Z",
        "data": {"station": "CP001", "status": "Available"},
    }
    assert envelope.decode(text)["data"]["status"] == "Available"
    assert envelope.decode(text.encode())["kind"] == "station.status"
    assert envelope.event("boot")["timestamp"].endswith("Z")


def test_malformed_envelopes_are_refused():
    for text in (
        "",
        "[]",
        "{",
        '{"kind":"x","timestamp":"2026-11-23T16:03:50Z"}',
        '{"kind":"","timestamp":"2026-11-23T16:03:50Z","data":{}}',
        '{"kind":"x","timestamp":"2026-11-23T16:03:50+00:00","data":{}}',
        '{"kind":"x","timestamp":"yesterday","data":{}}',
        '{"kind":"x","timestamp":"2026-11-23T16:03:50Z","data":[]}',
        '{"kind":"x","timestamp":"2026-11-23T16:03:50Z","data":{},"more":1}',
    ):
        raises(envelope.EnvelopeError, envelope.decode, text)
    raises(envelope.EnvelopeError, envelope.event, "x", [1])
    raises(envelope.EnvelopeError, envelope.event, "k" * 65)


def test_topics():
    assert topics.topic("CP001", "telemetry") == "chargekit/v1/CP001/telemetry"
    assert topics.parse("chargekit/v1/CP001/cmd") == ("CP001", "cmd")
    assert topics.subscription("status") == "chargekit/v1/+/status"
    assert topics.subscription("+", "CP001") == "chargekit/v1/CP001/+"
    assert topics.topic("CP-001_a.b", "status") == "chargekit/v1/CP-001_a.b/status"
    for station in ("", "a/b", "+", "#", "x" * 49, "caf\u00e9", "a b", "a:b", ".", ".."):
        raises(topics.TopicError, topics.topic, station, "status")
    raises(topics.TopicError, topics.topic, "CP001", "logs")
    for name in (
        "chargekit/v2/CP001/status",
        "chargekit/v1/CP001",
        "chargekit/v1/CP001/status/x",
        "chargekit/v1//status",
        "other/CP001/status",
        "chargekit/v1/CP001/nope",
    ):
        raises(topics.TopicError, topics.parse, name)


def test_uid_to_idtag():
    assert idtag.from_uid(b"\x04\xa1\xb2\xc3") == "04A1B2C3"
    assert idtag.from_uid(bytes(range(7))) == "00010203040506"
    assert idtag.from_uid(bytearray(b"\xff" * 10)) == "F" * 20
    raises(ValueError, idtag.from_uid, b"")
    raises(ValueError, idtag.from_uid, b"\x00" * 11)


def test_idtags_compare_case_insensitively():
    assert idtag.normalize(" 04a1b2c3 ") == "04A1B2C3"
    assert idtag.same("04a1b2c3", "04A1B2C3 ")
    assert not idtag.same("04A1B2C3", "04A1B2C4")
    raises(ValueError, idtag.normalize, "   ")
    raises(ValueError, idtag.normalize, "A" * 21)
