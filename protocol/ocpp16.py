# OCPP 1.6 (edition 2) vocabulary: actions of the six feature profiles, who sends them, and the
# enumerations of the specification. Runs on MicroPython and CPython.

PROTOCOL = "ocpp1.6"  # WebSocket subprotocol

CORE = "Core"
FIRMWARE_MANAGEMENT = "FirmwareManagement"
LOCAL_AUTH_LIST_MANAGEMENT = "LocalAuthListManagement"
RESERVATION = "Reservation"
SMART_CHARGING = "SmartCharging"
REMOTE_TRIGGER = "RemoteTrigger"
PROFILES = (
    CORE,
    FIRMWARE_MANAGEMENT,
    LOCAL_AUTH_LIST_MANAGEMENT,
    RESERVATION,
    SMART_CHARGING,
    REMOTE_TRIGGER,
)

# Who sends the CALL: the charge point ("CP"), the central system ("CS"), or either ("both").
FROM_CP = "CP"
FROM_CS = "CS"
FROM_BOTH = "both"

# action -> (profile, sender)
ACTIONS = {
    "Authorize": (CORE, FROM_CP),
    "BootNotification": (CORE, FROM_CP),
    "ChangeAvailability": (CORE, FROM_CS),
    "ChangeConfiguration": (CORE, FROM_CS),
    "ClearCache": (CORE, FROM_CS),
    "DataTransfer": (CORE, FROM_BOTH),
    "GetConfiguration": (CORE, FROM_CS),
    "Heartbeat": (CORE, FROM_CP),
    "MeterValues": (CORE, FROM_CP),
    "RemoteStartTransaction": (CORE, FROM_CS),
    "RemoteStopTransaction": (CORE, FROM_CS),
    "Reset": (CORE, FROM_CS),
    "StartTransaction": (CORE, FROM_CP),
    "StatusNotification": (CORE, FROM_CP),
    "StopTransaction": (CORE, FROM_CP),
    "UnlockConnector": (CORE, FROM_CS),
    "DiagnosticsStatusNotification": (FIRMWARE_MANAGEMENT, FROM_CP),
    "FirmwareStatusNotification": (FIRMWARE_MANAGEMENT, FROM_CP),
    "GetDiagnostics": (FIRMWARE_MANAGEMENT, FROM_CS),
    "UpdateFirmware": (FIRMWARE_MANAGEMENT, FROM_CS),
    "GetLocalListVersion": (LOCAL_AUTH_LIST_MANAGEMENT, FROM_CS),
    "SendLocalList": (LOCAL_AUTH_LIST_MANAGEMENT, FROM_CS),
    "CancelReservation": (RESERVATION, FROM_CS),
    "ReserveNow": (RESERVATION, FROM_CS),
    "ClearChargingProfile": (SMART_CHARGING, FROM_CS),
    "GetCompositeSchedule": (SMART_CHARGING, FROM_CS),
    "SetChargingProfile": (SMART_CHARGING, FROM_CS),
    "TriggerMessage": (REMOTE_TRIGGER, FROM_CS),
}

# Actions of the 1.6 security extension: recognized, not supported yet, so a CALL for one of
# them is answered NotSupported rather than NotImplemented.
SECURITY_EXTENSION_ACTIONS = (
    "CertificateSigned",
    "DeleteCertificate",
    "ExtendedTriggerMessage",
    "GetInstalledCertificateIds",
    "GetLog",
    "InstallCertificate",
    "LogStatusNotification",
    "SecurityEventNotification",
    "SignCertificate",
    "SignedFirmwareStatusNotification",
    "SignedUpdateFirmware",
)


def actions_sent_by(sender):
    """Names of the actions whose CALL `sender` ("CP" or "CS") may send, sorted."""
    return sorted(a for a, (_, s) in ACTIONS.items() if s == sender or s == FROM_BOTH)


def actions_of(profile):
    return sorted(a for a, (p, _) in ACTIONS.items() if p == profile)


# Enumerations, named as in the specification (section 7). Values in the specification's order.
AUTHORIZATION_STATUS = ("Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx")
AVAILABILITY_STATUS = ("Accepted", "Rejected", "Scheduled")
AVAILABILITY_TYPE = ("Inoperative", "Operative")
CANCEL_RESERVATION_STATUS = ("Accepted", "Rejected")
CHARGE_POINT_ERROR_CODE = (
    "ConnectorLockFailure",
    "EVCommunicationError",
    "GroundFailure",
    "HighTemperature",
    "InternalError",
    "LocalListConflict",
    "NoError",
    "OtherError",
    "OverCurrentFailure",
    "PowerMeterFailure",
    "PowerSwitchFailure",
    "ReaderFailure",
    "ResetFailure",
    "UnderVoltage",
    "OverVoltage",
    "WeakSignal",
)
CHARGE_POINT_STATUS = (
    "Available",
    "Preparing",
    "Charging",
    "SuspendedEVSE",
    "SuspendedEV",
    "Finishing",
    "Reserved",
    "Unavailable",
    "Faulted",
)
CHARGING_PROFILE_KIND = ("Absolute", "Recurring", "Relative")
CHARGING_PROFILE_PURPOSE = ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile")
CHARGING_PROFILE_STATUS = ("Accepted", "Rejected", "NotSupported")
CHARGING_RATE_UNIT = ("A", "W")
CLEAR_CACHE_STATUS = ("Accepted", "Rejected")
CLEAR_CHARGING_PROFILE_STATUS = ("Accepted", "Unknown")
CONFIGURATION_STATUS = ("Accepted", "Rejected", "RebootRequired", "NotSupported")
DATA_TRANSFER_STATUS = ("Accepted", "Rejected", "UnknownMessageId", "UnknownVendorId")
DIAGNOSTICS_STATUS = ("Idle", "Uploaded", "UploadFailed", "Uploading")
FIRMWARE_STATUS = (
    "Downloaded",
    "DownloadFailed",
    "Downloading",
    "Idle",
    "InstallationFailed",
    "Installing",
    "Installed",
)
GET_COMPOSITE_SCHEDULE_STATUS = ("Accepted", "Rejected")
LOCATION = ("Cable", "EV", "Inlet", "Outlet", "Body")
MEASURAND = (
    "Energy.Active.Export.Register",
    "Energy.Active.Import.Register",
    "Energy.Reactive.Export.Register",
    "Energy.Reactive.Import.Register",
    "Energy.Active.Export.Interval",
    "Energy.Active.Import.Interval",
    "Energy.Reactive.Export.Interval",
    "Energy.Reactive.Import.Interval",
    "Power.Active.Export",
    "Power.Active.Import",
    "Power.Offered",
    "Power.Reactive.Export",
    "Power.Reactive.Import",
    "Power.Factor",
    "Current.Import",
    "Current.Export",
    "Current.Offered",
    "Voltage",
    "Frequency",
    "Temperature",
    "SoC",
    "RPM",
)
MESSAGE_TRIGGER = (
    "BootNotification",
    "DiagnosticsStatusNotification",
    "FirmwareStatusNotification",
    "Heartbeat",
    "MeterValues",
    "StatusNotification",
)
PHASE = ("L1", "L2", "L3", "N", "L1-N", "L2-N", "L3-N", "L1-L2", "L2-L3", "L3-L1")
READING_CONTEXT = (
    "Interruption.Begin",
    "Interruption.End",
    "Sample.Clock",
    "Sample.Periodic",
    "Transaction.Begin",
    "Transaction.End",
    "Trigger",
    "Other",
)
REASON = (
    "EmergencyStop",
    "EVDisconnected",
    "HardReset",
    "Local",
    "Other",
    "PowerLoss",
    "Reboot",
    "Remote",
    "SoftReset",
    "UnlockCommand",
    "DeAuthorized",
)
RECURRENCY_KIND = ("Daily", "Weekly")
REGISTRATION_STATUS = ("Accepted", "Pending", "Rejected")
REMOTE_START_STOP_STATUS = ("Accepted", "Rejected")
RESERVATION_STATUS = ("Accepted", "Faulted", "Occupied", "Rejected", "Unavailable")
RESET_STATUS = ("Accepted", "Rejected")
RESET_TYPE = ("Hard", "Soft")
TRIGGER_MESSAGE_STATUS = ("Accepted", "Rejected", "NotImplemented")
# The specification's UnitOfMeasure (with its misspelt "Celcius" kept beside "Celsius"); the
# bundled MeterValues schema also allows "Hertz", the StopTransaction schema does not.
UNIT_OF_MEASURE = (
    "Wh",
    "kWh",
    "varh",
    "kvarh",
    "W",
    "kW",
    "VA",
    "kVA",
    "var",
    "kvar",
    "A",
    "V",
    "K",
    "Celcius",
    "Celsius",
    "Fahrenheit",
    "Percent",
    "Hertz",
)
UNIT_OF_MEASURE_TX_DATA = UNIT_OF_MEASURE[:-1]
UNLOCK_STATUS = ("Unlocked", "UnlockFailed", "NotSupported")
UPDATE_STATUS = ("Accepted", "Failed", "NotSupported", "VersionMismatch")
UPDATE_TYPE = ("Differential", "Full")
VALUE_FORMAT = ("Raw", "SignedData")

# The enumerations by their specification names; payload specs refer to them by these names.
ENUMS = {
    "AuthorizationStatus": AUTHORIZATION_STATUS,
    "AvailabilityStatus": AVAILABILITY_STATUS,
    "AvailabilityType": AVAILABILITY_TYPE,
    "CancelReservationStatus": CANCEL_RESERVATION_STATUS,
    "ChargePointErrorCode": CHARGE_POINT_ERROR_CODE,
    "ChargePointStatus": CHARGE_POINT_STATUS,
    "ChargingProfileKindType": CHARGING_PROFILE_KIND,
    "ChargingProfilePurposeType": CHARGING_PROFILE_PURPOSE,
    "ChargingProfileStatus": CHARGING_PROFILE_STATUS,
    "ChargingRateUnitType": CHARGING_RATE_UNIT,
    "ClearCacheStatus": CLEAR_CACHE_STATUS,
    "ClearChargingProfileStatus": CLEAR_CHARGING_PROFILE_STATUS,
    "ConfigurationStatus": CONFIGURATION_STATUS,
    "DataTransferStatus": DATA_TRANSFER_STATUS,
    "DiagnosticsStatus": DIAGNOSTICS_STATUS,
    "FirmwareStatus": FIRMWARE_STATUS,
    "GetCompositeScheduleStatus": GET_COMPOSITE_SCHEDULE_STATUS,
    "Location": LOCATION,
    "Measurand": MEASURAND,
    "MessageTrigger": MESSAGE_TRIGGER,
    "Phase": PHASE,
    "ReadingContext": READING_CONTEXT,
    "Reason": REASON,
    "RecurrencyKindType": RECURRENCY_KIND,
    "RegistrationStatus": REGISTRATION_STATUS,
    "RemoteStartStopStatus": REMOTE_START_STOP_STATUS,
    "ReservationStatus": RESERVATION_STATUS,
    "ResetStatus": RESET_STATUS,
    "ResetType": RESET_TYPE,
    "TriggerMessageStatus": TRIGGER_MESSAGE_STATUS,
    "UnitOfMeasure": UNIT_OF_MEASURE,
    "UnitOfMeasureTxData": UNIT_OF_MEASURE_TX_DATA,
    "UnlockStatus": UNLOCK_STATUS,
    "UpdateStatus": UPDATE_STATUS,
    "UpdateType": UPDATE_TYPE,
    "ValueFormat": VALUE_FORMAT,
}

# CiString limits of the specification, for code that builds values before validation.
ID_TOKEN_MAX = 20
