"""CPython tools: the chargekit CLI, MicroPython runner and image staging."""
