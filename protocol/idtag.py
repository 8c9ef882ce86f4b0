# RFID UIDs as OCPP idTags: the UID bytes as upper-case hex in reader order, so a 4-, 7- or
# 10-byte ISO 14443 UID gives 8, 14 or 20 characters (idTag is CiString20). Runs on
# MicroPython and CPython.

_HEX = "0123456789ABCDEF"
MAX_UID_BYTES = 10


def from_uid(uid):
    """'04A1B2C3' from b'\\x04\\xa1\\xb2\\xc3'; ValueError for an empty or too long UID."""
    if not 0 < len(uid) <= MAX_UID_BYTES:
        raise ValueError("UID must be 1 to 10 bytes")
    out = []
    for b in uid:
        out.append(_HEX[b >> 4])
        out.append(_HEX[b & 15])
    return "".join(out)


def normalize(id_tag):
    """idTags are case-insensitive (CiString): compare and store them upper-cased."""
    if not isinstance(id_tag, str) or not 0 < len(id_tag.strip()) <= 20:
        raise ValueError("idTag must be 1 to 20 characters")
    return id_tag.strip().upper()


def same(a, b):
    return a.strip().upper() == b.strip().upper()
