# Payload validation; runs under CPython and MicroPython.
from protocol_testlib import raises_ocpp

from chargekit.protocol import ocpp16, ocpp16_payloads
from chargekit.protocol.validate import check_object, check_request, check_response

NOW = "2026-11-23T16:03:50Z"


def sampled(**fields):
    value = {"value": "1234"}
    value.update(fields)
    return value


def meter_values(*samples):
    return {
        "connectorId": 1,
        "transactionId": 5,
        "meterValue": [{"timestamp": NOW, "sampledValue": list(samples)}],
    }


def test_every_action_has_a_request_and_a_response_spec():
    assert len(ocpp16.ACTIONS) == 28
    for action in ocpp16.ACTIONS:
        assert action in ocpp16_payloads.REQUESTS, action
        assert action in ocpp16_payloads.RESPONSES, action
    assert sorted(ocpp16_payloads.REQUESTS) == sorted(ocpp16.ACTIONS)
    assert sorted(ocpp16_payloads.RESPONSES) == sorted(ocpp16.ACTIONS)


def test_every_spec_names_known_types_and_enums():
    specs = list(ocpp16_payloads.REQUESTS.values()) + list(ocpp16_payloads.RESPONSES.values())
    specs += list(ocpp16_payloads.TYPES.values())
    for spec in specs:
        for field in spec.split():
            name, kind = field.split(":")
            kind = kind.rstrip("!").lstrip("*+")
            assert name and kind[0] in "sindbtueo", field
            if kind[0] == "e":
                assert kind[1:] in ocpp16.ENUMS, field
            if kind[0] == "o":
                assert kind[1:] in ocpp16_payloads.TYPES, field
            if kind[0] == "s" and len(kind) > 1:
                assert int(kind[1:]) > 0, field


def test_valid_payloads_pass_and_are_returned():
    payload = {
        "chargePointVendor": "ChargeKit",
        "chargePointModel": "CK-22",
        "firmwareVersion": "0.1.0",
    }
    assert check_request("BootNotification", payload) is payload
    assert check_request("Heartbeat", {}) == {}
    assert check_response(
        "BootNotification", {"status": "Accepted", "currentTime": NOW, "interval": 300}
    )
    assert check_request(
        "MeterValues", meter_values(sampled(measurand="Voltage", phase="L1-N", unit="V"))
    )


def test_missing_required_field_is_a_protocol_error():
    exc = raises_ocpp(
        "ProtocolError", check_request, "BootNotification", {"chargePointVendor": "V"}
    )
    assert "chargePointModel" in exc.description


def test_unknown_field_is_a_formation_violation():
    exc = raises_ocpp("FormationViolation", check_request, "Heartbeat", {"extra": True})
    assert "extra" in exc.description


def test_wrong_types_are_type_constraint_violations():
    for payload in (
        {"connectorId": "1"},
        {"connectorId": 1.5},
        {"connectorId": False},
        {"connectorId": None},
    ):
        raises_ocpp("TypeConstraintViolation", check_request, "UnlockConnector", payload)
    raises_ocpp(
        "TypeConstraintViolation", check_request, "GetConfiguration", {"key": "HeartbeatInterval"}
    )
    raises_ocpp("TypeConstraintViolation", check_request, "GetConfiguration", {"key": [1]})
    raises_ocpp(
        "TypeConstraintViolation",
        check_response,
        "GetConfiguration",
        {"configurationKey": [{"key": "A", "readonly": "yes"}]},
    )


def test_string_limits_are_type_constraint_violations():
    assert check_request("Authorize", {"idTag": "A" * 20})
    raises_ocpp("TypeConstraintViolation", check_request, "Authorize", {"idTag": "A" * 21})
    assert check_request("DataTransfer", {"vendorId": "v" * 255, "data": "d" * 5000})
    raises_ocpp("TypeConstraintViolation", check_request, "DataTransfer", {"vendorId": "v" * 256})


def test_string_limit_counts_characters_not_bytes():
    assert check_request("Authorize", {"idTag": "\u00e9" * 20})


def test_enum_values_are_case_sensitive_property_violations():
    raises_ocpp(
        "PropertyConstraintViolation",
        check_request,
        "ChangeAvailability",
        {"connectorId": 0, "type": "operative"},
    )
    raises_ocpp(
        "TypeConstraintViolation",
        check_request,
        "ChangeAvailability",
        {"connectorId": 0, "type": 1},
    )


def test_nested_errors_name_their_path():
    payload = meter_values(sampled(), sampled(measurand="Energy"))
    exc = raises_ocpp("PropertyConstraintViolation", check_request, "MeterValues", payload)
    assert exc.description == "meterValue[0].sampledValue[1].measurand: not a valid Measurand"


def test_required_lists_need_an_item_only_where_the_schema_says_so():
    raises_ocpp(
        "OccurenceConstraintViolation",
        check_request,
        "MeterValues",
        {"connectorId": 1, "meterValue": []},
    )
    bare = {"connectorId": 1, "meterValue": [{"timestamp": NOW, "sampledValue": []}]}
    raises_ocpp("OccurenceConstraintViolation", check_request, "MeterValues", bare)
    stop = {
        "meterStop": 10,
        "timestamp": NOW,
        "transactionId": 1,
        "transactionData": [{"timestamp": NOW, "sampledValue": []}],
    }
    assert check_request("StopTransaction", stop)


def test_hertz_is_a_meter_values_unit_but_not_a_transaction_data_unit():
    assert check_request("MeterValues", meter_values(sampled(measurand="Frequency", unit="Hertz")))
    stop = {
        "meterStop": 10,
        "timestamp": NOW,
        "transactionId": 1,
        "transactionData": [{"timestamp": NOW, "sampledValue": [sampled(unit="Hertz")]}],
    }
    raises_ocpp("PropertyConstraintViolation", check_request, "StopTransaction", stop)


def test_date_times():
    for stamp in (
        "2026-11-23T16:03:50Z",
        "2026-11-23T16:03:50.123456+01:00",
        "2024-02-29t00:00:00z",
    ):
        assert check_response("Heartbeat", {"currentTime": stamp})
    for stamp in (
        "2026-11-23",
        "2026-11-23 16:03:50Z",
        "2025-02-29T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "",
    ):
        raises_ocpp(
            "PropertyConstraintViolation", check_response, "Heartbeat", {"currentTime": stamp}
        )
    raises_ocpp("TypeConstraintViolation", check_response, "Heartbeat", {"currentTime": 1795449830})


def test_charging_limits_allow_one_decimal():
    def profile(limit):
        return {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
                },
            },
        }

    for limit in (16, 21.4, 0.1, 32.0):
        assert check_request("SetChargingProfile", profile(limit))
    raises_ocpp("PropertyConstraintViolation", check_request, "SetChargingProfile", profile(4.11))
    raises_ocpp("TypeConstraintViolation", check_request, "SetChargingProfile", profile("16"))
    raises_ocpp(
        "TypeConstraintViolation", check_request, "SetChargingProfile", profile(float("inf"))
    )


def test_uris():
    base = {"retrieveDate": NOW}
    for location in ("https://fw.example.com/ck-0.2.bin", "ftp://u:p@host/x", "file:/tmp/x"):
        base["location"] = location
        assert check_request("UpdateFirmware", base)
    for location in ("fw.bin", "://x", "1http://x", "ht tp://x", "http://x y"):
        base["location"] = location
        raises_ocpp("PropertyConstraintViolation", check_request, "UpdateFirmware", base)


def test_unknown_and_unsupported_actions():
    raises_ocpp("NotImplemented", check_request, "Fly", {})
    raises_ocpp("NotSupported", check_request, "InstallCertificate", {})
    raises_ocpp("NotSupported", check_response, "SignedUpdateFirmware", {})


def test_top_level_payload_must_be_an_object():
    for payload in ([], "x", None, 1):
        raises_ocpp("FormationViolation", check_request, "Heartbeat", payload)


def test_check_object_reports_unknown_keys_that_look_like_spec_text():
    raises_ocpp("FormationViolation", check_object, {"idTag": "A", "idTag:s20! x": 1}, "idTag:s20!")
