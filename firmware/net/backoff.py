# Capped exponential backoff with jitter, for reconnecting to the central system:
#   delay = Backoff(1000, 60000)
#   await asyncio.sleep_ms(delay.next_ms())   # after each failed attempt
#   delay.reset()                             # once connected
# The ceiling doubles per attempt up to cap_ms; each delay is drawn from [ceiling/2, ceiling]
# ("equal jitter"), so a fleet that lost the same central does not come back in lockstep.
import random


class Backoff:
    def __init__(self, base_ms=1000, cap_ms=60000):
        if base_ms <= 0 or cap_ms < base_ms:
            raise ValueError("need 0 < base_ms <= cap_ms")
        self.base_ms = base_ms
        self.cap_ms = cap_ms
        self.attempts = 0
        self._ceiling = base_ms

    def next_ms(self):
        ceiling = self._ceiling
        # doubling stops at the cap, so the numbers stay small ints on a 32-bit port
        self._ceiling = min(ceiling * 2, self.cap_ms)
        self.attempts += 1
        half = ceiling // 2
        return ceiling - half + random.randint(0, half)

    def reset(self):
        self.attempts = 0
        self._ceiling = self.base_ms
