# The task shape every driver shares: start() creates its loop once, deinit() cancels it.
# A subclass either implements poll() (called every poll_ms; an exception is logged and the
# loop goes on, because a safety loop must never end) or overrides _run() entirely.
import asyncio

from firmware import log


class Poller:
    poll_ms = 100
    log_tag = "driver"
    _task = None

    def poll(self):
        raise NotImplementedError

    async def _run(self):
        failures = 0
        while True:
            try:
                self.poll()
                failures = 0
            except Exception as exc:
                # The first failure and then one in a hundred: a 5 ms loop must not flood the log.
                if failures % 100 == 0:
                    log.error(
                        self.log_tag, "poll failed (%d in a row):" % (failures + 1), repr(exc)
                    )
                failures += 1
            await asyncio.sleep_ms(self.poll_ms)

    def start(self):
        """Start the task (again after deinit); a second call changes nothing."""
        if self._task is None:
            self._task = asyncio.create_task(self._run())
        return self._task

    def deinit(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
