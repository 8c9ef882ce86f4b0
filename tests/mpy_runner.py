# A tiny test runner for MicroPython: imports the test modules named on the command line,
# runs every test_* function, and prints one "@@RESULT {json}" line per test for
# tests/mpsuite.py to read; async test functions run under asyncio. Exit status 1 when anything failed.
import io
import json
import sys

# The interpreter puts this script's folder (tests/) first on the path, where tests/protocol
# would shadow the device's `protocol` package: take it off.
if sys.path and sys.path[0] == __file__.rpartition("/")[0]:
    sys.path.pop(0)


def _report(module, test, ok, error=""):
    print("@@RESULT " + json.dumps({"module": module, "test": test, "ok": ok, "error": error}))


def _trace(exc):
    buf = io.StringIO()
    sys.print_exception(exc, buf)
    return buf.getvalue()


def main(modules):
    failed = 0
    for module_name in modules:
        try:
            module = __import__(module_name)
        except Exception as exc:
            _report(module_name, "<import>", False, _trace(exc))
            failed += 1
            continue
        for name in sorted(dir(module)):
            if not name.startswith("test_"):
                continue
            try:
                outcome = getattr(module, name)()
                if hasattr(outcome, "send"):  # an async test: run it on a fresh event loop
                    import asyncio

                    asyncio.new_event_loop()
                    asyncio.run(outcome)
                _report(module_name, name, True)
            except Exception as exc:
                _report(module_name, name, False, _trace(exc))
                failed += 1
    return failed


sys.exit(1 if main(sys.argv[1:]) else 0)
