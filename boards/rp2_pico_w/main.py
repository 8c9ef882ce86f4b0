# Starts the charge point. With the maintenance jumper fitted (pins.MAINTENANCE to GND) the
# application and its watchdog stay off, so files can be copied over the REPL (a running
# watchdog cannot be stopped; a jumper, unlike a boot key held at reset, does not also start
# the chip's ROM bootloader). If the application ever ends with an error, the board reboots
# after a pause that leaves the traceback readable on the console.
import asyncio
import sys
import time

import board
import machine

if board.maintenance_requested():
    print("maintenance jumper fitted: application not started")
else:
    from firmware import app

    try:
        asyncio.run(app.run(board.build()))
    except Exception as exc:
        sys.print_exception(exc)
        time.sleep(5)
        machine.reset()
