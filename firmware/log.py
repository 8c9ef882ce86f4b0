# A small logger for the device: one line per event on the console (stdout, which is the
# serial port on a board) and the last lines kept in RAM for the technician console.
#   from firmware import log
#   log.warn("meter", "energy went down from", 1200, "to", 1100, "Wh: reading rejected")
import time

DEBUG = 10
INFO = 20
WARN = 30
ERROR = 40
_NAMES = {DEBUG: "D", INFO: "I", WARN: "W", ERROR: "E"}

level = INFO
keep = 40  # lines kept for the console's `log` command
recent = []
# Optional callable(level, tag, text): the sim board forwards lines to the harness.
sink = None


def write(lvl, tag, *parts):
    if lvl < level:
        return
    text = " ".join(str(p) for p in parts)
    line = "%s %d %s: %s" % (_NAMES.get(lvl, "?"), time.ticks_ms(), tag, text)
    print(line)
    recent.append(line)
    if len(recent) > keep:
        recent.pop(0)
    if sink is not None:
        try:
            sink(lvl, tag, text)
        except Exception:
            pass  # a broken sink must never take the firmware down


def debug(tag, *parts):
    write(DEBUG, tag, *parts)


def info(tag, *parts):
    write(INFO, tag, *parts)


def warn(tag, *parts):
    write(WARN, tag, *parts)


def error(tag, *parts):
    write(ERROR, tag, *parts)
