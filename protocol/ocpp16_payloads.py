# Payload specifications of every OCPP 1.6 action, request (.req) and response (.conf), in a
# compact notation read by validate.py. Strings cost far less RAM on a microcontroller than
# nested tuples, and one line per message is easy to check against the specification;
# tests/test_protocol_conformance.py checks every line against the ocpp package's JSON schemas.
#
# A spec is space-separated fields  name:[*|+]type[!]
#   !  required            *  array            +  array with at least one item
#   s  string, sN at most N characters         i  integer         n  number
#   d  number with at most one decimal (multipleOf 0.1)           b  boolean
#   t  RFC 3339 date-time  u  URI              eName  value of enumeration Name (ocpp16.ENUMS)
#   oName  object of type Name (TYPES below)
# Every object refuses properties it does not list (the schemas' additionalProperties: false).

TYPES = {
    "IdTagInfo": "expiryDate:t parentIdTag:s20 status:eAuthorizationStatus!",
    "MeterValue": "timestamp:t! sampledValue:+oSampledValue!",
    "SampledValue": (
        "value:s! context:eReadingContext format:eValueFormat measurand:eMeasurand"
        " phase:ePhase location:eLocation unit:eUnitOfMeasure"
    ),
    # StopTransaction.transactionData: the schema allows empty lists and no "Hertz" unit.
    "TxMeterValue": "timestamp:t! sampledValue:*oTxSampledValue!",
    "TxSampledValue": (
        "value:s! context:eReadingContext format:eValueFormat measurand:eMeasurand"
        " phase:ePhase location:eLocation unit:eUnitOfMeasureTxData"
    ),
    "ChargingProfile": (
        "chargingProfileId:i! transactionId:i stackLevel:i!"
        " chargingProfilePurpose:eChargingProfilePurposeType!"
        " chargingProfileKind:eChargingProfileKindType! recurrencyKind:eRecurrencyKindType"
        " validFrom:t validTo:t chargingSchedule:oChargingSchedule!"
    ),
    "ChargingSchedule": (
        "duration:i startSchedule:t chargingRateUnit:eChargingRateUnitType!"
        " chargingSchedulePeriod:*oChargingSchedulePeriod! minChargingRate:d"
    ),
    "ChargingSchedulePeriod": "startPeriod:i! limit:d! numberPhases:i",
    "KeyValue": "key:s50! readonly:b! value:s500",
    "AuthorizationData": "idTag:s20! idTagInfo:oIdTagInfo",
}

REQUESTS = {
    "Authorize": "idTag:s20!",
    "BootNotification": (
        "chargePointVendor:s20! chargePointModel:s20! chargePointSerialNumber:s25"
        " chargeBoxSerialNumber:s25 firmwareVersion:s50 iccid:s20 imsi:s20 meterType:s25"
        " meterSerialNumber:s25"
    ),
    "CancelReservation": "reservationId:i!",
    "ChangeAvailability": "connectorId:i! type:eAvailabilityType!",
    "ChangeConfiguration": "key:s50! value:s500!",
    "ClearCache": "",
    "ClearChargingProfile": (
        "id:i connectorId:i chargingProfilePurpose:eChargingProfilePurposeType stackLevel:i"
    ),
    "DataTransfer": "vendorId:s255! messageId:s50 data:s",
    "DiagnosticsStatusNotification": "status:eDiagnosticsStatus!",
    "FirmwareStatusNotification": "status:eFirmwareStatus!",
    "GetCompositeSchedule": "connectorId:i! duration:i! chargingRateUnit:eChargingRateUnitType",
    "GetConfiguration": "key:*s50",
    "GetDiagnostics": "location:u! retries:i retryInterval:i startTime:t stopTime:t",
    "GetLocalListVersion": "",
    "Heartbeat": "",
    "MeterValues": "connectorId:i! transactionId:i meterValue:+oMeterValue!",
    "RemoteStartTransaction": "connectorId:i idTag:s20! chargingProfile:oChargingProfile",
    "RemoteStopTransaction": "transactionId:i!",
    "ReserveNow": "connectorId:i! expiryDate:t! idTag:s20! parentIdTag:s20 reservationId:i!",
    "Reset": "type:eResetType!",
    "SendLocalList": (
        "listVersion:i! localAuthorizationList:*oAuthorizationData updateType:eUpdateType!"
    ),
    "SetChargingProfile": "connectorId:i! csChargingProfiles:oChargingProfile!",
    "StartTransaction": "connectorId:i! idTag:s20! meterStart:i! reservationId:i timestamp:t!",
    "StatusNotification": (
        "connectorId:i! errorCode:eChargePointErrorCode! info:s50 status:eChargePointStatus!"
        " timestamp:t vendorId:s255 vendorErrorCode:s50"
    ),
    "StopTransaction": (
        "idTag:s20 meterStop:i! timestamp:t! transactionId:i! reason:eReason"
        " transactionData:*oTxMeterValue"
    ),
    "TriggerMessage": "requestedMessage:eMessageTrigger! connectorId:i",
    "UnlockConnector": "connectorId:i!",
    "UpdateFirmware": "location:u! retries:i retrieveDate:t! retryInterval:i",
}

RESPONSES = {
    "Authorize": "idTagInfo:oIdTagInfo!",
    "BootNotification": "status:eRegistrationStatus! currentTime:t! interval:i!",
    "CancelReservation": "status:eCancelReservationStatus!",
    "ChangeAvailability": "status:eAvailabilityStatus!",
    "ChangeConfiguration": "status:eConfigurationStatus!",
    "ClearCache": "status:eClearCacheStatus!",
    "ClearChargingProfile": "status:eClearChargingProfileStatus!",
    "DataTransfer": "status:eDataTransferStatus! data:s",
    "DiagnosticsStatusNotification": "",
    "FirmwareStatusNotification": "",
    "GetCompositeSchedule": (
        "status:eGetCompositeScheduleStatus! connectorId:i scheduleStart:t"
        " chargingSchedule:oChargingSchedule"
    ),
    "GetConfiguration": "configurationKey:*oKeyValue unknownKey:*s50",
    "GetDiagnostics": "fileName:s255",
    "GetLocalListVersion": "listVersion:i!",
    "Heartbeat": "currentTime:t!",
    "MeterValues": "",
    "RemoteStartTransaction": "status:eRemoteStartStopStatus!",
    "RemoteStopTransaction": "status:eRemoteStartStopStatus!",
    "ReserveNow": "status:eReservationStatus!",
    "Reset": "status:eResetStatus!",
    "SendLocalList": "status:eUpdateStatus!",
    "SetChargingProfile": "status:eChargingProfileStatus!",
    "StartTransaction": "idTagInfo:oIdTagInfo! transactionId:i!",
    "StatusNotification": "",
    "StopTransaction": "idTagInfo:oIdTagInfo",
    "TriggerMessage": "status:eTriggerMessageStatus!",
    "UnlockConnector": "status:eUnlockStatus!",
    "UpdateFirmware": "",
}
