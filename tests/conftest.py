# tests/fwtests/ holds firmware tests for the device interpreter: they import `firmware` and
# `protocol` as top-level packages, which CPython does not have. tests/test_firmware_on_micropython.py
# runs them under `micropython` instead, one pytest item per test function.
collect_ignore = ["fwtests"]
