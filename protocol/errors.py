# The one error type of the OCPP-J layer: it carries the OCPP 1.6 error code the peer is
# answered with. Runs on MicroPython and CPython.

NOT_IMPLEMENTED = "NotImplemented"
NOT_SUPPORTED = "NotSupported"
INTERNAL_ERROR = "InternalError"
PROTOCOL_ERROR = "ProtocolError"
SECURITY_ERROR = "SecurityError"
FORMATION_VIOLATION = "FormationViolation"
PROPERTY_CONSTRAINT_VIOLATION = "PropertyConstraintViolation"
OCCURENCE_CONSTRAINT_VIOLATION = "OccurenceConstraintViolation"  # the spec's spelling
TYPE_CONSTRAINT_VIOLATION = "TypeConstraintViolation"
GENERIC_ERROR = "GenericError"

ERROR_CODES = (
    NOT_IMPLEMENTED,
    NOT_SUPPORTED,
    INTERNAL_ERROR,
    PROTOCOL_ERROR,
    SECURITY_ERROR,
    FORMATION_VIOLATION,
    PROPERTY_CONSTRAINT_VIOLATION,
    OCCURENCE_CONSTRAINT_VIOLATION,
    TYPE_CONSTRAINT_VIOLATION,
    GENERIC_ERROR,
)

# The OCPP-J description field is a free string; keep ours short so a CALLERROR stays small.
_MAX_DESCRIPTION = 255


class OcppError(Exception):
    """A message that cannot be accepted, with the code to answer it with.

    message_id is the unique id of the offending frame when it could be read (None otherwise),
    message_type_id its message type (2, 3, 4) when it could be read. A CALLERROR is only
    sent back for a CALL, or for a frame whose type could not be read.
    """

    def __init__(self, code, description="", details=None, message_id=None, message_type_id=None):
        super().__init__(code, description)
        self.code = code
        self.description = description[:_MAX_DESCRIPTION]
        self.details = details if details is not None else {}
        self.message_id = message_id
        self.message_type_id = message_type_id

    def answerable(self):
        """True when the peer should get a CALLERROR for the frame that raised this."""
        return self.message_type_id is None or self.message_type_id == 2

    def __str__(self):
        return self.code + ": " + self.description
