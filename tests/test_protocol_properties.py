"""Property tests of protocol/ on CPython (the malformed-frame corpus covers MicroPython).

decode() of anything raises only OcppError, with a spec error code, and what it accepts
survives a round trip; the RFC 3339 code agrees with the standard library and with the
validator jsonschema uses.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st
from rfc3339_validator import validate_rfc3339

from chargekit.protocol import ocppj, rfc3339, strictjson
from chargekit.protocol.errors import ERROR_CODES, OcppError
from chargekit.protocol.ocpp16 import ACTIONS, SECURITY_EXTENSION_ACTIONS

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
action_names = st.sampled_from(sorted(ACTIONS) + list(SECURITY_EXTENSION_ACTIONS)) | st.text(
    max_size=12
)
frame_like = st.tuples(
    st.sampled_from([2, 3, 4, 5, 0, -1, "2", None, True, 2.0]),
    st.text(max_size=40) | st.integers() | st.none(),
    action_names | json_values,
    json_values,
    json_values,
).flatmap(lambda parts: st.integers(0, 5).map(lambda n: json.dumps(list(parts[:n]))))
valid_calls = st.builds(
    lambda uid, payload: json.dumps([2, uid, "DataTransfer", payload]),
    st.text(min_size=1, max_size=36),
    st.fixed_dictionaries(
        {"vendorId": st.text(max_size=255)},
        optional={"data": st.text(), "messageId": st.text(max_size=50)},
    ),
)
anything = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300),
    json_values.map(json.dumps),
    frame_like,
    valid_calls,
    st.tuples(valid_calls, st.integers(0, 400)).map(lambda t: t[0][: t[1]]),  # cut short
    valid_calls.map(lambda text: text.encode("utf-8")),
)


@settings(max_examples=3000, deadline=None)
@given(anything)
@example(b"\xed\xa0\x80")  # an encoded lone surrogate: not UTF-8
@example('[2,"1","DataTransfer",{"vendorId":"\\ud800"}]')
@example("[" * 100000)
def test_decode_raises_nothing_but_ocpp_errors(data):
    try:
        message = ocppj.decode(data)
    except OcppError as error:
        assert error.code in ERROR_CODES
        if error.answerable():
            reply = ocppj.decode(ocppj.encode(ocppj.error_for(error)))
            assert reply.code == error.code
        return
    again = ocppj.decode(ocppj.encode(message))
    assert again.to_list() == message.to_list()


@settings(max_examples=2000, deadline=None)
@given(st.integers(min_value=-62135596800, max_value=253402300799))  # years 1 to 9999
def test_format_and_parse_agree_with_datetime(seconds):
    text = rfc3339.format_utc(seconds)
    assert text == datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ").rjust(
        20, "0"
    )
    assert rfc3339.parse(text) == seconds


@settings(max_examples=2000, deadline=None)
@given(st.datetimes(timezones=st.timezones()))
def test_parse_of_any_offset_matches_datetime(moment):
    if moment.utcoffset().seconds % 60 or abs(moment.utcoffset().total_seconds()) >= 86400:
        return  # RFC 3339 offsets are whole minutes within a day
    text = moment.isoformat(timespec="milliseconds")
    try:
        shown = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
        expected = (shown - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    except OverflowError:
        return  # within a day of year 1 or 9999, the UTC instant is out of datetime's range
    assert rfc3339.parse_ms(text) == expected


def mutated_stamp(parts):
    text, position, char = parts
    position %= len(text) + 1
    return text[:position] + char + text[position + 1 :]


stamps = st.tuples(
    st.sampled_from(
        ["2026-11-23T16:03:50Z", "2024-02-29T23:59:59.999+05:30", "0001-01-01t00:00:00z"]
    ),
    st.integers(0, 40),
    st.sampled_from([*"0123456789-:TtZz+. x", "", "\n", "99"]),
).map(mutated_stamp)


@settings(max_examples=3000, deadline=None)
@given(stamps | st.text(max_size=35))
def test_is_datetime_agrees_with_the_schema_validator(text):
    # jsonschema checks date-time as validate_rfc3339(text.upper()); its regex "$" also lets a
    # trailing newline through, which no sender means and we refuse.
    if text.endswith("\n"):
        return
    assert rfc3339.is_datetime(text) == validate_rfc3339(text.upper()), text


def json_mutation(parts):
    text, position, piece = parts
    position %= len(text) + 1
    return text[:position] + piece + text[position + 1 :]


json_texts = st.one_of(
    json_values.map(json.dumps),
    st.tuples(
        json_values.map(json.dumps),
        st.integers(0, 200),
        st.sampled_from([*'[]{},:"\\ 0-.eE+', "tru", "nul", "\x01", "\\u12", "\\q", "01", ""]),
    ).map(json_mutation),
    st.text(alphabet='[]{},:"\\ 0123456789-.eE+truefalsn', max_size=30),
)


@settings(max_examples=4000, deadline=None)
@given(json_texts)
def test_micropython_json_scanner_agrees_with_cpython_json(text):
    # strictjson.check_syntax guards MicroPython's lenient json.loads; CPython's is the referee
    try:
        json.loads(text, parse_constant=lambda name: 1 / 0)
        valid = True
    except (ValueError, ZeroDivisionError, RecursionError):
        valid = False
    try:
        strictjson.check_syntax(text)
        accepted = True
    except ValueError:
        accepted = False
    assert accepted == valid, text
