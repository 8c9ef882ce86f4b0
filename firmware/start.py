# What a real board's main.py runs. With the maintenance jumper fitted (the board's
# maintenance_requested()) the application and its watchdog stay off, so files can be copied
# over the REPL (a running watchdog cannot be stopped; a jumper, unlike a boot key held at
# reset, does not also start the chip's ROM bootloader). If the application ever ends with an
# error, the board reboots after a pause that leaves the traceback readable on the console.
import asyncio
import sys
import time


def main(board):
    """board: the board module (boards/<name>/board.py), imported by main.py."""
    if board.maintenance_requested():
        print("maintenance jumper fitted: application not started")
        return
    from firmware import app

    try:
        asyncio.run(app.run(board.build()))
    except BaseException as exc:  # KeyboardInterrupt too: nothing watches the coil any more
        app.shutdown()
        sys.print_exception(exc)
        if isinstance(exc, KeyboardInterrupt):
            return  # a technician stopped it at the REPL
        time.sleep(5)
        import machine

        machine.reset()
