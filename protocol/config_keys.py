# The standard configuration keys of OCPP 1.6 (specification chapter 9) and the two keys of the
# security extension that profiles 1 and 2 need. Values travel as strings; parse_value turns
# one into its typed value or refuses it. Runs on MicroPython and CPython.

from .ocpp16 import (
    CORE,
    LOCAL_AUTH_LIST_MANAGEMENT,
    MEASURAND,
    PROFILES,
    RESERVATION,
    SMART_CHARGING,
)

BOOL = "bool"
INT = "int"
CSL = "csl"  # comma-separated list
STRING = "str"

READ = "R"
READ_WRITE = "RW"
WRITE = "W"  # write-only: never shown by GetConfiguration
SECURITY = "Security"

_MEASURANDS_DEFAULT = "Energy.Active.Import.Register,Power.Active.Import"

# name -> (profile, type, access, default as sent on the wire, change needs a reboot)
KEYS = {
    "AllowOfflineTxForUnknownId": (CORE, BOOL, READ_WRITE, "false", False),
    "AuthorizationCacheEnabled": (CORE, BOOL, READ_WRITE, "true", False),
    "AuthorizeRemoteTxRequests": (CORE, BOOL, READ_WRITE, "false", False),
    "BlinkRepeat": (CORE, INT, READ_WRITE, "3", False),
    "ClockAlignedDataInterval": (CORE, INT, READ_WRITE, "0", False),
    "ConnectionTimeOut": (CORE, INT, READ_WRITE, "60", False),
    "ConnectorPhaseRotation": (CORE, CSL, READ_WRITE, "0.Unknown", False),
    "ConnectorPhaseRotationMaxLength": (CORE, INT, READ, "4", False),
    "GetConfigurationMaxKeys": (CORE, INT, READ, "64", False),
    "HeartbeatInterval": (CORE, INT, READ_WRITE, "300", False),
    "LightIntensity": (CORE, INT, READ_WRITE, "100", False),
    "LocalAuthorizeOffline": (CORE, BOOL, READ_WRITE, "true", False),
    "LocalPreAuthorize": (CORE, BOOL, READ_WRITE, "false", False),
    "MaxEnergyOnInvalidId": (CORE, INT, READ_WRITE, "0", False),
    "MeterValuesAlignedData": (CORE, CSL, READ_WRITE, "Energy.Active.Import.Register", False),
    "MeterValuesAlignedDataMaxLength": (CORE, INT, READ, "8", False),
    "MeterValuesSampledData": (CORE, CSL, READ_WRITE, _MEASURANDS_DEFAULT, False),
    "MeterValuesSampledDataMaxLength": (CORE, INT, READ, "8", False),
    "MeterValueSampleInterval": (CORE, INT, READ_WRITE, "60", False),
    "MinimumStatusDuration": (CORE, INT, READ_WRITE, "0", False),
    "NumberOfConnectors": (CORE, INT, READ, "1", False),
    "ResetRetries": (CORE, INT, READ_WRITE, "2", False),
    "StopTransactionOnEVSideDisconnect": (CORE, BOOL, READ_WRITE, "true", False),
    "StopTransactionOnInvalidId": (CORE, BOOL, READ_WRITE, "true", False),
    "StopTxnAlignedData": (CORE, CSL, READ_WRITE, "", False),
    "StopTxnAlignedDataMaxLength": (CORE, INT, READ, "8", False),
    "StopTxnSampledData": (CORE, CSL, READ_WRITE, "Energy.Active.Import.Register", False),
    "StopTxnSampledDataMaxLength": (CORE, INT, READ, "8", False),
    "SupportedFeatureProfiles": (CORE, CSL, READ, ",".join(PROFILES), False),
    "SupportedFeatureProfilesMaxLength": (CORE, INT, READ, "6", False),
    "TransactionMessageAttempts": (CORE, INT, READ_WRITE, "3", False),
    "TransactionMessageRetryInterval": (CORE, INT, READ_WRITE, "60", False),
    "UnlockConnectorOnEVSideDisconnect": (CORE, BOOL, READ_WRITE, "true", False),
    "WebSocketPingInterval": (CORE, INT, READ_WRITE, "30", False),
    "LocalAuthListEnabled": (LOCAL_AUTH_LIST_MANAGEMENT, BOOL, READ_WRITE, "true", False),
    "LocalAuthListMaxLength": (LOCAL_AUTH_LIST_MANAGEMENT, INT, READ, "48", False),
    "SendLocalListMaxLength": (LOCAL_AUTH_LIST_MANAGEMENT, INT, READ, "48", False),
    "ReserveConnectorZeroSupported": (RESERVATION, BOOL, READ, "true", False),
    "ChargeProfileMaxStackLevel": (SMART_CHARGING, INT, READ, "8", False),
    "ChargingScheduleAllowedChargingRateUnit": (SMART_CHARGING, CSL, READ, "Current,Power", False),
    "ChargingScheduleMaxPeriods": (SMART_CHARGING, INT, READ, "24", False),
    "ConnectorSwitch3to1PhaseSupported": (SMART_CHARGING, BOOL, READ, "false", False),
    "MaxChargingProfilesInstalled": (SMART_CHARGING, INT, READ, "8", False),
    # Security extension: the HTTP Basic password of profiles 1 and 2, and the profile in use.
    # Answered Accepted (as the OCPP test tool expects); the station reconnects to apply them.
    "AuthorizationKey": (SECURITY, STRING, WRITE, "", False),
    "SecurityProfile": (SECURITY, INT, READ_WRITE, "0", False),
}

# Allowed members of list-valued keys; the limit of each list is the key named ...MaxLength.
_PHASE_ROTATIONS = ("NotApplicable", "Unknown", "RST", "RTS", "SRT", "STR", "TRS", "TSR")
_CSL_MEMBERS = {
    "MeterValuesAlignedData": MEASURAND,
    "MeterValuesSampledData": MEASURAND,
    "StopTxnAlignedData": MEASURAND,
    "StopTxnSampledData": MEASURAND,
    "SupportedFeatureProfiles": PROFILES,
    "ChargingScheduleAllowedChargingRateUnit": ("Current", "Power"),
}
# Integer keys with bounds other than "not negative".
_INT_RANGE = {
    "LightIntensity": (0, 100),
    "SecurityProfile": (0, 3),
    "TransactionMessageAttempts": (0, 100),
}
_MAX_VALUE_LENGTH = 500


def _csl_limit(key):
    limit = KEYS.get(key + "MaxLength")
    return int(limit[3]) if limit else 0


def parse_value(key, text, limits=None):
    """Typed value of configuration `key` from its wire string; ValueError if not acceptable.

    `limits` maps ...MaxLength keys to the station's own values (defaults otherwise).
    """
    spec = KEYS.get(key)
    if spec is None:
        raise KeyError(key)
    kind = spec[1]
    if not isinstance(text, str) or len(text) > _MAX_VALUE_LENGTH:
        raise ValueError(key + ": value must be a string of at most 500 characters")
    if kind == BOOL:
        low = text.lower()
        if low not in ("true", "false"):
            raise ValueError(key + ": expected true or false")
        return low == "true"
    if kind == INT:
        if not text or not all("0" <= c <= "9" for c in text) or len(text) > 10:
            raise ValueError(key + ": expected a whole number >= 0")
        value = int(text)
        low, high = _INT_RANGE.get(key, (0, 2147483647))
        if not low <= value <= high:
            raise ValueError(key + ": expected " + str(low) + ".." + str(high))
        return value
    if kind == CSL:
        items = [item.strip() for item in text.split(",")] if text.strip() else []
        limit_key = key + "MaxLength"
        limit = (limits or {}).get(limit_key) or _csl_limit(key)
        if limit and len(items) > limit:
            raise ValueError(key + ": at most " + str(limit) + " items")
        allowed = _CSL_MEMBERS.get(key)
        for item in items:
            if key == "ConnectorPhaseRotation":
                dot = item.find(".")
                ok = dot > 0 and item[:dot].isdigit() and item[dot + 1 :] in _PHASE_ROTATIONS
            else:
                ok = allowed is None or item in allowed
            if not ok:
                raise ValueError(key + ": unexpected item " + repr(item))
        return items
    if key == "AuthorizationKey" and not 16 <= len(text) <= 40:
        raise ValueError(key + ": must be 16 to 40 characters")
    return text


def defaults():
    """{key: default wire string} for every key."""
    return {key: spec[3] for key, spec in KEYS.items()}


def change_status(key, text, limits=None, current=None):
    """ConfigurationStatus a ChangeConfiguration.req for key/text is answered with.

    `current` is the key's value in force, typed; SecurityProfile may only go up.
    """
    spec = KEYS.get(key)
    if spec is None:
        return "NotSupported"
    if spec[2] == READ:
        return "Rejected"
    try:
        value = parse_value(key, text, limits)
    except ValueError:
        return "Rejected"
    if key == "SecurityProfile" and current is not None and value < current:
        return "Rejected"
    return "RebootRequired" if spec[4] else "Accepted"


def visible(key):
    """True when GetConfiguration may show the key (write-only keys stay hidden)."""
    spec = KEYS.get(key)
    return spec is not None and spec[2] != WRITE
