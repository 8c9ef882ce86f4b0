"""ChargeKit: charge-point firmware (MicroPython) and central system (Starlette).

The repository's folders import as subpackages of this one (see pyproject.toml):
``chargekit.protocol`` is ``protocol/``, ``chargekit.tools`` is ``tools/``, and so on.
"""

__version__ = "0.1.0"
