# Entry point of the sim board: `micropython main.py settings.json` (see boards/sim/board.py).
import asyncio

import board

from firmware import app


async def main():
    b = board.build()
    await b.start()  # idempotent: app.run may start the board again
    await app.run(b)


asyncio.run(main())
