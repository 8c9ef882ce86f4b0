# Malformed OCPP-J frames and the error code each must be answered with, replayed on both
# interpreters by test_malformed_corpus.py. Entries: (frame as str or bytes, code, id or None).

DEEP = "[" * 5000 + "]" * 5000

FRAMES = (
    (b"", "FormationViolation", None),
    (b"\xff\xfe[2]", "FormationViolation", None),
    (b"\xc3\x28", "FormationViolation", None),
    ("", "FormationViolation", None),
    ("   ", "FormationViolation", None),
    ("[2,", "FormationViolation", None),
    ("[2, '1', 'Heartbeat', {}]", "FormationViolation", None),
    ('[2,"1","Heartbeat",{}] trailing', "FormationViolation", None),
    ("[NaN]", "FormationViolation", None),
    ("null", "FormationViolation", None),
    ("42", "FormationViolation", None),
    ('"text"', "FormationViolation", None),
    ("{}", "FormationViolation", None),
    ('{"0": 2}', "FormationViolation", None),
    ("[]", "FormationViolation", None),
    ('["2","1","Heartbeat",{}]', "FormationViolation", None),
    ('[2.0,"1","Heartbeat",{}]', "FormationViolation", None),
    ('[true,"1","Heartbeat",{}]', "FormationViolation", None),
    ('[null,"1","Heartbeat",{}]', "FormationViolation", None),
    ('[5,"1","Heartbeat",{}]', "PropertyConstraintViolation", None),
    ('[0,"1",{}]', "PropertyConstraintViolation", None),
    ('[-2,"1","Heartbeat",{}]', "PropertyConstraintViolation", None),
    ("[2]", "ProtocolError", None),
    ('[2,"1"]', "ProtocolError", "1"),
    ('[2,"1","Heartbeat"]', "ProtocolError", "1"),
    ('[3,"1"]', "ProtocolError", "1"),
    ('[4,"1","GenericError",""]', "ProtocolError", "1"),
    ('[2,"1","Heartbeat",{},{}]', "FormationViolation", "1"),
    ('[3,"1",{},{}]', "FormationViolation", "1"),
    ('[2,1,"Heartbeat",{}]', "TypeConstraintViolation", None),
    ('[2,null,"Heartbeat",{}]', "TypeConstraintViolation", None),
    ('[2,"","Heartbeat",{}]', "PropertyConstraintViolation", None),
    ('[2,"' + "x" * 37 + '","Heartbeat",{}]', "TypeConstraintViolation", None),
    ('[2,"1",7,{}]', "TypeConstraintViolation", "1"),
    ('[2,"1","heartbeat",{}]', "NotImplemented", "1"),
    ('[2,"1","FlyToTheMoon",{}]', "NotImplemented", "1"),
    ('[2,"1","SignCertificate",{"csr":"x"}]', "NotSupported", "1"),
    ('[2,"1","Heartbeat",[]]', "FormationViolation", "1"),
    ('[2,"1","Heartbeat",null]', "FormationViolation", "1"),
    ('[2,"1","Heartbeat","{}"]', "FormationViolation", "1"),
    ('[2,"1","Heartbeat",{"x":1}]', "FormationViolation", "1"),
    ('[2,"1","Authorize",{}]', "ProtocolError", "1"),
    ('[2,"1","Authorize",{"idTag":12345}]', "TypeConstraintViolation", "1"),
    ('[2,"1","Authorize",{"idTag":"123456789012345678901"}]', "TypeConstraintViolation", "1"),
    ('[2,"1","Reset",{"type":"Medium"}]', "PropertyConstraintViolation", "1"),
    ('[2,"1","Reset",{"type":"hard"}]', "PropertyConstraintViolation", "1"),
    ('[2,"1","UnlockConnector",{"connectorId":"1"}]', "TypeConstraintViolation", "1"),
    ('[2,"1","UnlockConnector",{"connectorId":1.0}]', "TypeConstraintViolation", "1"),
    ('[2,"1","UnlockConnector",{"connectorId":true}]', "TypeConstraintViolation", "1"),
    (
        '[2,"1","StartTransaction",{"connectorId":1,"idTag":"A","meterStart":0,'
        '"timestamp":"yesterday"}]',
        "PropertyConstraintViolation",
        "1",
    ),
    (
        '[2,"1","StartTransaction",{"connectorId":1,"idTag":"A","meterStart":0,'
        '"timestamp":"2026-02-30T10:00:00Z"}]',
        "PropertyConstraintViolation",
        "1",
    ),
    (
        '[2,"1","MeterValues",{"connectorId":1,"meterValue":[]}]',
        "OccurenceConstraintViolation",
        "1",
    ),
    (
        '[2,"1","MeterValues",{"connectorId":1,"meterValue":[{"timestamp":'
        '"2026-01-01T00:00:00Z","sampledValue":[{"value":"1","unit":"Volt"}]}]}]',
        "PropertyConstraintViolation",
        "1",
    ),
    ('[2,"1","MeterValues",{"connectorId":1,"meterValue":{}}]', "TypeConstraintViolation", "1"),
    (
        '[2,"1","UpdateFirmware",{"location":"not a uri","retrieveDate":"2026-01-01T00:00:00Z"}]',
        "PropertyConstraintViolation",
        "1",
    ),
    (
        '[2,"1","SetChargingProfile",{"connectorId":1,"csChargingProfiles":{'
        '"chargingProfileId":1,"stackLevel":0,"chargingProfilePurpose":"TxProfile",'
        '"chargingProfileKind":"Absolute","chargingSchedule":{"chargingRateUnit":"A",'
        '"chargingSchedulePeriod":[{"startPeriod":0,"limit":16.25}]}}}]',
        "PropertyConstraintViolation",
        "1",
    ),
    ('[4,"1",500,"x",{}]', "TypeConstraintViolation", "1"),
    ('[4,"1","Oops","x",{}]', "PropertyConstraintViolation", "1"),
    ('[4,"1","GenericError","x",[]]', "FormationViolation", "1"),
    ('[3,"1",[]]', "FormationViolation", "1"),
    (DEEP, "FormationViolation", None),
)
