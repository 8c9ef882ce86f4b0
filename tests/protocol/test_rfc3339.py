# RFC 3339 timestamps; runs under CPython and MicroPython.
from protocol_testlib import raises

from chargekit.protocol import rfc3339


def test_format_known_instants():
    assert rfc3339.format_utc(0) == "1970-01-01T00:00:00Z"
    assert rfc3339.format_utc(946684800) == "2000-01-01T00:00:00Z"
    assert rfc3339.format_utc(951782400) == "2000-02-29T00:00:00Z"
    assert rfc3339.format_utc(1795449830) == "2026-11-23T16:03:50Z"
    assert rfc3339.format_utc(4102444799) == "2099-12-31T23:59:59Z"
    assert rfc3339.format_utc_ms(1795449830123) == "2026-11-23T16:03:50.123Z"
    assert rfc3339.format_utc_ms(1795449830007) == "2026-11-23T16:03:50.007Z"


def test_parse_known_instants():
    assert rfc3339.parse("1970-01-01T00:00:00Z") == 0
    assert rfc3339.parse("2026-11-23T16:03:50Z") == 1795449830
    assert rfc3339.parse("2026-11-23T17:03:50+01:00") == 1795449830
    assert rfc3339.parse("2026-11-23T10:33:50-05:30") == 1795449830
    assert rfc3339.parse("2026-11-23t16:03:50z") == 1795449830
    assert rfc3339.parse_ms("2026-11-23T16:03:50.1Z") == 1795449830100
    assert rfc3339.parse_ms("2026-11-23T16:03:50.123456789Z") == 1795449830123
    assert rfc3339.parse("1969-12-31T23:59:59Z") == -1


def test_round_trip_across_four_centuries_of_days():
    day = -25567  # 1900-01-01
    while day < 146097:
        seconds = day * 86400 + 45296
        text = rfc3339.format_utc(seconds)
        assert rfc3339.parse(text) == seconds, text
        y, m, d = rfc3339.civil_from_days(day)
        assert rfc3339.days_from_civil(y, m, d) == day
        day += 97


def test_format_refuses_years_rfc3339_cannot_write():
    assert rfc3339.format_utc(253402300799) == "9999-12-31T23:59:59Z"
    raises(ValueError, rfc3339.format_utc, 253402300800)
    raises(ValueError, rfc3339.format_utc, -62135596801)


def test_leap_years():
    assert rfc3339.is_datetime("2000-02-29T00:00:00Z")
    assert rfc3339.is_datetime("2024-02-29T00:00:00Z")
    assert not rfc3339.is_datetime("1900-02-29T00:00:00Z")
    assert not rfc3339.is_datetime("2026-02-29T00:00:00Z")


def test_rejects_what_is_not_rfc3339():
    bad = (
        "",
        "2026-11-23",
        "2026-11-23T16:03Z",
        "2026-11-23T16:03:50",
        "2026-11-23 16:03:50Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-23T24:00:00Z",
        "2026-11-23T23:60:00Z",
        "2026-11-23T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "2026-11-23T16:03:50.Z",
        "2026-11-23T16:03:50+0100",
        "2026-11-23T16:03:50+24:00",
        "2026-11-23T16:03:50Z ",
        "+2026-11-2T16:03:50Z",
        "2026-11-23T16:03:50UTC",
        "2O26-11-23T16:03:50Z",
    )
    for text in bad:
        assert not rfc3339.is_datetime(text), text
        raises(ValueError, rfc3339.parse, text)
    assert not rfc3339.is_datetime(None)
    assert not rfc3339.is_datetime(1795449830)


def test_now_is_unix_time_on_every_port():
    now = rfc3339.now()
    assert now > 1700000000  # after 2023: the port's epoch offset was applied
    assert abs(rfc3339.now_ms() // 1000 - now) <= 1
    assert rfc3339.EPOCH_OFFSET == rfc3339.epoch_offset(__import__("time").gmtime(0)[0])
    assert rfc3339.epoch_offset(1970) == 0
    # a port counting from 2000: its 0 is 2000-01-01 in Unix time
    assert rfc3339.format_utc(0 + rfc3339.epoch_offset(2000)) == "2000-01-01T00:00:00Z"
