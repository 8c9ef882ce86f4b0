"""Run the shared protocol tests (tests/protocol/test_*.py) under the real `micropython`.

protocol/ is compiled with mpy-cross and staged as it ships; each test function becomes one
pytest item here, so an incompatibility names the exact test that broke on the device.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mpsuite import case_ids, cases, check, module_runner

from chargekit.tools.micropython import protocol_source_dir, stage

SHARED = Path(__file__).parent / "protocol"
# The heap of a small board: the whole protocol suite must run inside it.
HEAPSIZE = "192k"
CASES = cases(SHARED)


@pytest.fixture(scope="session")
def protocol_results(tmp_path_factory):
    image = stage({"chargekit/protocol": protocol_source_dir()}, tmp_path_factory.mktemp("image"))
    return module_runner(SHARED, image, heapsize=HEAPSIZE)


@pytest.mark.micropython
@pytest.mark.parametrize(("module", "test"), CASES, ids=case_ids(CASES))
def test_on_micropython(module, test, protocol_results):
    check(protocol_results, module, test)


def test_every_shared_module_has_tests():
    assert len({m for m, _ in CASES}) >= 6
    assert len(CASES) >= 50
