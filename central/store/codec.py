"""Values between Python and both databases, and the checks on what callers pass in.

Times are timezone-aware UTC datetimes in Python. PostgreSQL keeps them as TIMESTAMPTZ; SQLite as
fixed-width text, ``2026-11-23T16:03:50.123456Z``, which sorts in time order and round-trips to
the microsecond::

    >>> time_text(datetime(2026, 11, 23, 16, 3, 50, 123456, tzinfo=UTC))
    '2026-11-23T16:03:50.123456Z'
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .errors import InvalidValue

Clock = Callable[[], datetime]

MAX_LIMIT = 1000


def system_clock() -> datetime:
    return datetime.now(UTC)


def utc(value: Any, name: str = "time") -> datetime:
    """`value` as a UTC datetime; naive datetimes and other types are refused."""
    if not isinstance(value, datetime):
        raise InvalidValue(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(f"{name}: a naive datetime is ambiguous; pass a timezone-aware one")
    return value.astimezone(UTC)


def optional_utc(value: Any, name: str) -> datetime | None:
    return None if value is None else utc(value, name)


def time_text(value: datetime) -> str:
    """The SQLite form of an aware datetime (strftime's %Y does not pad years below 1000)."""
    v = value.astimezone(UTC)
    return (
        f"{v.year:04d}-{v.month:02d}-{v.day:02d}T"
        f"{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}Z"
    )


def decode_time(value: Any) -> datetime | None:
    """A stored time back as an aware UTC datetime (asyncpg gives datetimes, SQLite text)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime.fromisoformat(value)


def dump_json(value: Any, name: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidValue(f"{name}: not serialisable as JSON ({exc})") from None


def load_json(value: Any) -> Any:
    return None if value is None else json.loads(value)


def text(value: Any, name: str, *, max_length: int | None = None) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidValue(f"{name}: expected a non-empty string")
    if max_length is not None and len(value) > max_length:
        raise InvalidValue(f"{name}: longer than {max_length} characters")
    return value


def optional_text(value: Any, name: str, *, max_length: int | None = None) -> str | None:
    return None if value is None else text(value, name, max_length=max_length)


def integer(value: Any, name: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(f"{name}: expected an integer")
    if minimum is not None and value < minimum:
        raise InvalidValue(f"{name}: must be >= {minimum}")
    if not -(2**63) <= value < 2**63:
        raise InvalidValue(f"{name}: outside the 64-bit range")
    return value


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidValue(f"{name}: expected a number")
    result = float(value)
    if result != result or result in (float("inf"), float("-inf")):
        raise InvalidValue(f"{name}: must be finite")
    return result


def choice(value: Any, allowed: Iterable[str], name: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidValue(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def page(offset: Any, limit: Any) -> tuple[int, int]:
    offset = integer(offset, "offset", minimum=0)
    limit = integer(limit, "limit", minimum=1)
    if limit > MAX_LIMIT:
        raise InvalidValue(f"limit: at most {MAX_LIMIT}")
    return offset, limit


def tag_key(id_tag: str) -> str:
    """The case-insensitive key of an idTag: OCPP idTags are CiString, "abc" == "ABC"."""
    return id_tag.casefold()
