"""protocol/ against the OCPP 1.6 JSON schemas bundled in the `ocpp` package (CPython only).

1. Every compact spec line, turned into JSON schema, equals the bundled schema.
2. The payloads protocol/ builds (minimal, full, every enum value) validate against the schemas
   and are read by the `ocpp` library.
3. Payloads drawn from the schemas (not from protocol/'s specs) pass protocol/'s validator.
4. Invalid payloads (each field broken each way it can be) are rejected by both, and
   protocol/ names the expected OCPP error code.
"""

from __future__ import annotations

import copy
import decimal
import json
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone
from functools import cache
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ocpp.messages import Call as LibCall
from ocpp.messages import CallResult as LibCallResult
from ocpp.messages import _validate_payload, unpack

from chargekit.protocol import ocppj
from chargekit.protocol.errors import OcppError
from chargekit.protocol.ocpp16 import ACTIONS, ENUMS
from chargekit.protocol.ocpp16_payloads import REQUESTS, RESPONSES, TYPES
from chargekit.protocol.validate import check_request, check_response

DIRECTIONS = {
    "request": (REQUESTS, check_request, ""),
    "response": (RESPONSES, check_response, "Response"),
}
CASES = [(action, direction) for action in sorted(ACTIONS) for direction in DIRECTIONS]
IDS = [f"{action}.{direction}" for action, direction in CASES]


@cache
def bundled_schema(action: str, direction: str) -> dict:
    name = f"{action}{DIRECTIONS[direction][2]}.json"
    return json.loads((resources.files("ocpp") / "v16" / "schemas" / name).read_text())


def schema_rejects(action: str, direction: str, payload: dict) -> bool:
    """As the ocpp library validates: Draft 4, formats checked, decimals parsed exactly."""
    schema = json.loads(json.dumps(bundled_schema(action, direction)), parse_float=decimal.Decimal)
    validator = jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker())
    exact = json.loads(json.dumps(payload), parse_float=decimal.Decimal)
    return any(True for _ in validator.iter_errors(exact))


# ---- 1. structure ---------------------------------------------------------------------------


def normalized(schema: dict) -> dict:
    """The parts of a JSON schema that decide validity, in one canonical shape."""
    # keywords that decide nothing; any other one must be understood here, or the comparison
    # would silently ignore a constraint the ocpp package adds
    inert = {"$schema", "$id", "title", "javaType", "type", "properties", "required", "items"}
    understood = {"additionalProperties", "minItems", "maxLength", "format", "enum", "multipleOf"}
    assert set(schema) <= inert | understood, set(schema) - inert - understood
    kind = schema["type"]
    out: dict = {"type": kind}
    if kind == "object":
        out["properties"] = {k: normalized(v) for k, v in schema.get("properties", {}).items()}
        out["required"] = sorted(schema.get("required", []))
        out["additionalProperties"] = schema.get("additionalProperties", True)
    elif kind == "array":
        out["items"] = normalized(schema["items"])
        out["minItems"] = schema.get("minItems", 0)
    elif kind == "string":
        out.update({k: schema[k] for k in ("maxLength", "format", "enum") if k in schema})
    elif kind == "number" and "multipleOf" in schema:
        out["multipleOf"] = schema["multipleOf"]
    return out


def fields(spec: str) -> Iterator[tuple[str, str, bool, str]]:
    """(name, kind, required, array marker '' / '*' / '+') of each field of a compact spec."""
    for field in spec.split():
        name, kind = field.split(":")
        required = kind.endswith("!")
        kind = kind.rstrip("!")
        array = kind[0] if kind[0] in "*+" else ""
        yield name, kind.lstrip("*+"), required, array


def spec_schema(spec: str) -> dict:
    properties, required = {}, []
    for name, kind, is_required, array in fields(spec):
        item = kind_schema(kind)
        properties[name] = (
            {"type": "array", "items": item, "minItems": 1 if array == "+" else 0}
            if array
            else item
        )
        if is_required:
            required.append(name)
    return {
        "type": "object",
        "properties": properties,
        "required": sorted(required),
        "additionalProperties": False,
    }


def kind_schema(kind: str) -> dict:
    code, arg = kind[0], kind[1:]
    simple = {
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "d": {"type": "number", "multipleOf": 0.1},
        "b": {"type": "boolean"},
        "t": {"type": "string", "format": "date-time"},
        "u": {"type": "string", "format": "uri"},
    }
    if code in simple:
        return simple[code]
    if code == "s":
        return {"type": "string", "maxLength": int(arg)} if arg else {"type": "string"}
    if code == "e":
        return {"type": "string", "enum": list(ENUMS[arg])}
    return spec_schema(TYPES[arg])


@pytest.mark.parametrize(("action", "direction"), CASES, ids=IDS)
def test_spec_equals_bundled_schema(action, direction):
    spec = DIRECTIONS[direction][0][action]
    assert spec_schema(spec) == normalized(bundled_schema(action, direction))


# ---- 2. payloads protocol/ builds -------------------------------------------------------------

EXAMPLES = {
    "i": 1,
    "n": 2.5,
    "d": 21.4,
    "b": True,
    "t": "2026-11-23T16:03:50Z",
    "u": "https://cs.example.com/upload",
}


def build(spec: str, *, full: bool) -> dict:
    """A payload from a spec: required fields only, or every field with strings at their limit."""
    payload = {}
    for name, kind, required, array in fields(spec):
        if not (required or full):
            continue
        value = example(kind, full=full)
        payload[name] = ([value, copy.deepcopy(value)] if full else [value]) if array else value
    return payload


def example(kind: str, *, full: bool):
    code, arg = kind[0], kind[1:]
    if code == "s":
        return "A" * (int(arg) if arg and full else min(int(arg or 8), 8))
    if code == "e":
        return ENUMS[arg][-1 if full else 0]
    if code == "o":
        return build(TYPES[arg], full=full)
    return EXAMPLES[code]


def leaves(spec: str, payload: dict, path: tuple = ()) -> Iterator[tuple[tuple, str, bool, str]]:
    """(path, kind, required, array marker) of every field present in payload, depth first."""
    for name, kind, required, array in fields(spec):
        if name not in payload:
            continue
        yield (*path, name), kind, required, array
        value = payload[name][0] if array else payload[name]
        inner = (*path, name, 0) if array else (*path, name)
        if kind[0] == "o":
            yield from leaves(TYPES[kind[1:]], value, inner)


def with_value(payload: dict, path: tuple, value=None, *, delete: bool = False) -> dict:
    changed = copy.deepcopy(payload)
    target = changed
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


def built_payloads(action: str, direction: str) -> list[dict]:
    spec = DIRECTIONS[direction][0][action]
    full = build(spec, full=True)
    payloads = [build(spec, full=False), full]
    for path, kind, _required, array in leaves(spec, full):
        if kind[0] == "e" and not array:
            payloads += [with_value(full, path, value) for value in ENUMS[kind[1:]]]
    return payloads


@pytest.mark.parametrize(("action", "direction"), CASES, ids=IDS)
def test_built_payloads_validate_against_the_schema_and_the_ocpp_library(action, direction):
    checker = DIRECTIONS[direction][1]
    for payload in built_payloads(action, direction):
        assert checker(action, payload) is payload
        assert not schema_rejects(action, direction, payload), payload
        if direction == "request":
            frame = ocppj.encode_call("id-1", action, payload)
            message = unpack(frame)
            assert isinstance(message, LibCall) and message.action == action
        else:
            frame = ocppj.encode_result("id-1", payload, action)
            message = unpack(frame)
            assert isinstance(message, LibCallResult)
            message.action = action
        _validate_payload(message, "1.6")  # raises on a payload the library refuses


def test_frames_built_by_the_ocpp_library_decode():
    frame = LibCall(
        "lib-1",
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "04A1B2C3",
            "meterStart": 1200,
            "timestamp": "2026-11-23T16:03:50.511Z",
        },
    ).to_json()
    call = ocppj.decode(frame)
    assert (call.unique_id, call.action, call.payload["meterStart"]) == (
        "lib-1",
        "StartTransaction",
        1200,
    )
    result = ocppj.decode(LibCallResult("lib-2", {"status": "Accepted"}).to_json())
    assert ocppj.check_result(result, "RemoteStartTransaction").payload == {"status": "Accepted"}


# ---- 3. payloads drawn from the schemas ---------------------------------------------------------


# hypothesis-jsonschema does not run on current Hypothesis; the schemas use few keywords, so
# strategies are derived from them here (from the schema, never from protocol/'s specs).
_DATE_TIMES = st.builds(
    lambda moment, style: moment.isoformat(timespec=style).replace("+00:00", "Z"),
    st.datetimes(
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
        )
    ),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
_URIS = st.from_regex(
    r"\A(https?|ftp|file):(//[a-z0-9.-]{1,20}(:[0-9]{1,5})?)?/[a-zA-Z0-9._/-]{0,30}\Z"
)


def schema_values(schema: dict) -> st.SearchStrategy:
    kind = schema["type"]
    if kind == "object":
        properties = {
            name: schema_values(sub) for name, sub in schema.get("properties", {}).items()
        }
        required = set(schema.get("required", []))
        return st.fixed_dictionaries(
            {k: v for k, v in properties.items() if k in required},
            optional={k: v for k, v in properties.items() if k not in required},
        )
    if kind == "array":
        return st.lists(
            schema_values(schema["items"]), min_size=schema.get("minItems", 0), max_size=3
        )
    if kind == "string":
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if schema.get("format") == "date-time":
            return _DATE_TIMES
        if schema.get("format") == "uri":
            return _URIS
        return st.text(max_size=schema.get("maxLength", 60))
    if kind == "integer":
        return st.integers(min_value=-(2**31), max_value=2**31 - 1)
    if kind == "number":
        if "multipleOf" in schema:
            return st.integers(-100000, 100000).map(
                lambda tenths: float(decimal.Decimal(tenths) / 10)
            )
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers()
    assert kind == "boolean", schema
    return st.booleans()


@pytest.mark.parametrize(("action", "direction"), CASES, ids=IDS)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_payloads_drawn_from_the_schema_pass(action, direction, data):
    payload = data.draw(schema_values(bundled_schema(action, direction)))
    assert not schema_rejects(action, direction, payload), payload  # the strategy is sound
    try:
        DIRECTIONS[direction][1](action, payload)
    except OcppError as error:
        pytest.fail(f"{action}.{direction} refused a schema-valid payload {payload!r}: {error}")


# ---- 4. invalid payloads ------------------------------------------------------------------------

WRONG_TYPE = {
    "s": 12345,
    "i": "1",
    "n": "1",
    "d": "1",
    "b": "true",
    "t": 20261123,
    "u": 7,
    "e": 1,
    "o": "x",
}


def mutations(spec: str, full: dict) -> Iterator[tuple[str, dict, str]]:
    """(what, payload, expected code) for every way each field of `full` can be broken."""
    yield "unknown top-level field", {**full, "unexpectedField": 1}, "FormationViolation"
    for path, kind, required, array in leaves(spec, full):
        where = ".".join(map(str, path))
        code = kind[0]
        if required:
            yield f"{where} missing", with_value(full, path, delete=True), "ProtocolError"
        if array:
            yield f"{where} not a list", with_value(full, path, {}), "TypeConstraintViolation"
            item = (*path, 0)
            if array == "+":
                yield f"{where} empty", with_value(full, path, []), "OccurenceConstraintViolation"
        else:
            item = path
        yield (
            f"{where} wrong type",
            with_value(full, item, WRONG_TYPE[code]),
            "TypeConstraintViolation",
        )
        if code == "i":
            yield f"{where} float", with_value(full, item, 1.5), "TypeConstraintViolation"
        if code in "in":
            yield f"{where} boolean", with_value(full, item, True), "TypeConstraintViolation"
        if code == "s" and kind[1:]:
            too_long = "A" * (int(kind[1:]) + 1)
            yield f"{where} too long", with_value(full, item, too_long), "TypeConstraintViolation"
        if code == "e":
            yield (
                f"{where} not in enum",
                with_value(full, item, "NoSuchValue"),
                "PropertyConstraintViolation",
            )
        if code == "t":
            for bad in ("2026-02-30T10:00:00Z", "2026-11-23 16:03:50Z", "yesterday"):
                yield (
                    f"{where} bad date-time {bad}",
                    with_value(full, item, bad),
                    "PropertyConstraintViolation",
                )
        if code == "d":
            yield (
                f"{where} two decimals",
                with_value(full, item, 4.11),
                "PropertyConstraintViolation",
            )
        if code == "o":
            nested = with_value(full, (*item, "unexpectedField"), 1)
            yield f"{where} unknown field", nested, "FormationViolation"


def test_the_schema_checker_checks_date_times():
    # rfc3339-validator must be installed, or jsonschema silently skips "date-time".
    assert schema_rejects("Heartbeat", "response", {"currentTime": "yesterday"})


@pytest.mark.parametrize(("action", "direction"), CASES, ids=IDS)
def test_invalid_payloads_are_rejected_by_both(action, direction):
    table, checker, _ = DIRECTIONS[direction]
    full = build(table[action], full=True)
    count = 0
    for what, payload, code in mutations(table[action], full):
        count += 1
        assert schema_rejects(action, direction, payload), f"schema accepted: {what}"
        with pytest.raises(OcppError) as raised:
            checker(action, payload)
        assert raised.value.code == code, f"{what}: {raised.value}"
    assert count >= 1
