"""Run the firmware unit tests (tests/fwtests/test_*.py) under the real `micropython`.

protocol/ and firmware/ are staged as the device holds them (mpy-cross compiled, imported as
the top-level packages `protocol` and `firmware`); each test function is one pytest item.
Tests that need a CPython peer (a simulator on a socket) live in tests/test_*_sim.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mpsuite import case_ids, cases, check, module_runner

from chargekit.tools.micropython import stage_firmware

SHARED = Path(__file__).parent / "fwtests"
# A Pico W leaves about 160 KB of heap to the application; the tests must fit in that.
HEAPSIZE = "160k"
CASES = cases(SHARED)


@pytest.fixture(scope="session")
def firmware_results(tmp_path_factory):
    image = stage_firmware(tmp_path_factory.mktemp("image"))
    return module_runner(SHARED, image, heapsize=HEAPSIZE)


@pytest.mark.micropython
@pytest.mark.parametrize(("module", "test"), CASES, ids=case_ids(CASES))
def test_on_micropython(module, test, firmware_results):
    check(firmware_results, module, test)
