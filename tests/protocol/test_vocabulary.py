# OCPP 1.6 vocabulary and configuration keys; runs under CPython and MicroPython.
from protocol_testlib import raises

from chargekit.protocol import config_keys, ocpp16


def test_six_profiles_and_their_actions():
    assert len(ocpp16.PROFILES) == 6
    assert len(ocpp16.actions_of(ocpp16.CORE)) == 16
    assert ocpp16.actions_of(ocpp16.FIRMWARE_MANAGEMENT) == [
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "GetDiagnostics",
        "UpdateFirmware",
    ]
    assert ocpp16.actions_of(ocpp16.LOCAL_AUTH_LIST_MANAGEMENT) == [
        "GetLocalListVersion",
        "SendLocalList",
    ]
    assert ocpp16.actions_of(ocpp16.RESERVATION) == ["CancelReservation", "ReserveNow"]
    assert ocpp16.actions_of(ocpp16.SMART_CHARGING) == [
        "ClearChargingProfile",
        "GetCompositeSchedule",
        "SetChargingProfile",
    ]
    assert ocpp16.actions_of(ocpp16.REMOTE_TRIGGER) == ["TriggerMessage"]


def test_who_sends_what():
    from_cp = ocpp16.actions_sent_by(ocpp16.FROM_CP)
    from_cs = ocpp16.actions_sent_by(ocpp16.FROM_CS)
    assert from_cp == [
        "Authorize",
        "BootNotification",
        "DataTransfer",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    ]
    assert len(from_cs) == 19 and "DataTransfer" in from_cs and "Reset" in from_cs
    assert not set(from_cp) & set(from_cs) - {"DataTransfer"}


def test_security_extension_actions_are_not_profile_actions():
    for action in ocpp16.SECURITY_EXTENSION_ACTIONS:
        assert action not in ocpp16.ACTIONS


def test_enumerations():
    assert ocpp16.ENUMS["ChargePointStatus"][0] == "Available"
    assert len(ocpp16.CHARGE_POINT_STATUS) == 9
    assert len(ocpp16.CHARGE_POINT_ERROR_CODE) == 16
    assert len(ocpp16.MEASURAND) == 22
    assert "Hertz" in ocpp16.UNIT_OF_MEASURE and "Hertz" not in ocpp16.UNIT_OF_MEASURE_TX_DATA
    for name, values in ocpp16.ENUMS.items():
        assert len(set(values)) == len(values), name


def test_every_default_parses_as_its_own_key():
    assert len(config_keys.KEYS) == 45
    for key, value in config_keys.defaults().items():
        config_keys.parse_value(key, value) if key != "AuthorizationKey" else None


def test_parse_values_by_type():
    assert config_keys.parse_value("HeartbeatInterval", "60") == 60
    assert config_keys.parse_value("LocalAuthorizeOffline", "TRUE") is True
    assert config_keys.parse_value("MeterValuesSampledData", "Voltage, Current.Import") == [
        "Voltage",
        "Current.Import",
    ]
    assert config_keys.parse_value("StopTxnAlignedData", "") == []
    assert config_keys.parse_value("ConnectorPhaseRotation", "0.RST,1.Unknown") == [
        "0.RST",
        "1.Unknown",
    ]
    for key, value in (
        ("HeartbeatInterval", "-1"),
        ("HeartbeatInterval", "1.5"),
        ("HeartbeatInterval", ""),
        ("HeartbeatInterval", "99999999999"),
        ("LightIntensity", "101"),
        ("SecurityProfile", "4"),
        ("LocalAuthorizeOffline", "yes"),
        ("MeterValuesSampledData", "Voltage,Speed"),
        ("MeterValuesSampledData", ",".join(["Voltage"] * 9)),
        ("ConnectorPhaseRotation", "RST"),
        ("AuthorizationKey", "short"),
        ("HeartbeatInterval", "6" * 501),
    ):
        raises(ValueError, config_keys.parse_value, key, value)
    raises(KeyError, config_keys.parse_value, "NoSuchKey", "1")


def test_station_limits_override_list_lengths():
    nine = ",".join(["Voltage"] * 9)
    assert (
        len(
            config_keys.parse_value(
                "MeterValuesSampledData", nine, {"MeterValuesSampledDataMaxLength": 10}
            )
        )
        == 9
    )


def test_change_status_follows_the_spec():
    assert config_keys.change_status("HeartbeatInterval", "120") == "Accepted"
    assert config_keys.change_status("HeartbeatInterval", "soon") == "Rejected"
    assert config_keys.change_status("NumberOfConnectors", "2") == "Rejected"
    assert config_keys.change_status("VendorSpecificThing", "1") == "NotSupported"
    assert config_keys.change_status("AuthorizationKey", "0123456789abcdef") == "Accepted"
    assert config_keys.change_status("SecurityProfile", "2", current=1) == "Accepted"
    assert config_keys.change_status("SecurityProfile", "1", current=2) == "Rejected"


def test_write_only_keys_are_not_visible():
    assert not config_keys.visible("AuthorizationKey")
    assert config_keys.visible("HeartbeatInterval")
    assert not config_keys.visible("Nope")
