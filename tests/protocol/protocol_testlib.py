# Helpers for the protocol tests that run under both CPython (pytest) and MicroPython
# (tests/mpy_runner.py): plain asserts only, no pytest imports.

from chargekit.protocol.errors import OcppError


def raises_ocpp(code, fn, *args, **kwargs):
    """Call fn and return the OcppError it raised; fail unless it raised one with `code`."""
    try:
        fn(*args, **kwargs)
    except OcppError as exc:
        assert exc.code == code, "expected " + code + ", got " + exc.code + " (" + str(exc) + ")"
        return exc
    raise AssertionError("expected OcppError " + code + ", nothing raised")


def raises(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("expected " + exc_type.__name__ + ", nothing raised")
