"""The store's errors: the REST layer maps them to HTTP statuses, never a backend's own types.

NotFound -> 404, Conflict -> 409, InvalidValue -> 422, Unavailable -> 503.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error the store raises."""


class NotFound(StoreError):
    """The station, token or transaction asked for does not exist."""


class Conflict(StoreError):
    """The change clashes with what is stored: a duplicate key, or rows that still refer to it."""


class ReferenceConflict(Conflict):
    """A row refers to one that does not exist, or a referenced row cannot go."""


class InvalidValue(StoreError, ValueError):
    """An argument the store cannot accept: a naive datetime, an unknown status, a bad limit."""


class Unavailable(StoreError):
    """The database cannot be reached or is busy beyond the timeout."""


class SchemaTooNew(StoreError):
    """The database holds migrations this code does not know: newer code has run against it."""
