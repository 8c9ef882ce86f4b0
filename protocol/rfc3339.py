# RFC 3339 UTC timestamps ("2026-11-23T16:03:50Z") on MicroPython and CPython.
#
# Integer arithmetic only: ports with single-precision floats (ESP32) cannot hold epoch seconds
# in a float, and time.mktime() is local time on some ports. Results are Unix time whatever the
# port's own epoch is.

import time

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def epoch_offset(year_of_zero):
    """Seconds to add to the port's time for Unix time, from the year time.gmtime(0) names."""
    # Some MicroPython ports count time from 2000-01-01; Unix time is what goes on the wire.
    return 946684800 if year_of_zero == 2000 else 0


EPOCH_OFFSET = epoch_offset(time.gmtime(0)[0])


def now():
    """Unix time in whole seconds."""
    return time.time_ns() // 1000000000 + EPOCH_OFFSET


def now_ms():
    """Unix time in milliseconds."""
    return time.time_ns() // 1000000 + EPOCH_OFFSET * 1000


def days_from_civil(year, month, day):
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    if month <= 2:
        year -= 1
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468


def civil_from_days(days):
    """(year, month, day) of a day count since 1970-01-01."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (1 if month <= 2 else 0), month, day


def _two(n):
    return ("0" if n < 10 else "") + str(n)


def format_utc(seconds):
    """'YYYY-MM-DDTHH:MM:SSZ' for Unix time in seconds (int)."""
    days, rem = divmod(int(seconds), 86400)
    y, m, d = civil_from_days(days)
    if not 0 < y < 10000:
        raise ValueError("year outside 1..9999")
    return "%04d-%s-%sT%s:%s:%sZ" % (
        y,
        _two(m),
        _two(d),
        _two(rem // 3600),
        _two(rem // 60 % 60),
        _two(rem % 60),
    )


def format_utc_ms(ms):
    """'YYYY-MM-DDTHH:MM:SS.mmmZ' for Unix time in milliseconds (int)."""
    seconds, frac = divmod(int(ms), 1000)
    return format_utc(seconds)[:-1] + ".%03dZ" % frac


def _digits(text, start, end):
    value = 0
    for i in range(start, end):
        c = text[i]
        if c < "0" or c > "9":
            raise ValueError("not a digit at " + str(i))
        value = value * 10 + ord(c) - 48
    return value


def _expect(text, i, chars):
    if text[i] not in chars:
        raise ValueError("expected " + chars[0] + " at " + str(i))


def parse_ms(text):
    """Unix time in milliseconds of an RFC 3339 date-time; ValueError if it is not one.

    Accepts fractional seconds of any length (truncated to milliseconds) and any offset
    (Z, z, +hh:mm, -hh:mm); 'T' may be lower case as RFC 3339 allows.
    """
    if not isinstance(text, str) or len(text) < 20:
        raise ValueError("not an RFC 3339 date-time")
    year = _digits(text, 0, 4)
    _expect(text, 4, "-")
    month = _digits(text, 5, 7)
    _expect(text, 7, "-")
    day = _digits(text, 8, 10)
    _expect(text, 10, "Tt")
    hour = _digits(text, 11, 13)
    _expect(text, 13, ":")
    minute = _digits(text, 14, 16)
    _expect(text, 16, ":")
    second = _digits(text, 17, 19)
    if year == 0 or not 1 <= month <= 12 or hour > 23 or minute > 59 or second > 59:
        raise ValueError("date or time out of range")
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if not 1 <= day <= _DAYS_IN_MONTH[month - 1] + (1 if month == 2 and leap else 0):
        raise ValueError("day out of range")
    i = 19
    millis = 0
    if text[i] == ".":
        start = i = i + 1
        while i < len(text) and "0" <= text[i] <= "9":
            i += 1
        if i == start:
            raise ValueError("empty fraction")
        frac = text[start : min(i, start + 3)]
        millis = _digits(frac + "00"[: 3 - len(frac)], 0, 3)
    rest = text[i:]
    if rest in ("Z", "z"):
        offset = 0
    elif len(rest) == 6 and rest[0] in "+-" and rest[3] == ":":
        oh = _digits(rest, 1, 3)
        om = _digits(rest, 4, 6)
        if oh > 23 or om > 59:
            raise ValueError("offset out of range")
        offset = (oh * 60 + om) * (1 if rest[0] == "+" else -1)
    else:
        raise ValueError("bad zone designator")
    seconds = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    return (seconds - offset * 60) * 1000 + millis


def parse(text):
    """Unix time in whole seconds of an RFC 3339 date-time (fraction dropped)."""
    return parse_ms(text) // 1000


def is_datetime(text):
    try:
        parse_ms(text)
        return True
    except ValueError:
        return False
