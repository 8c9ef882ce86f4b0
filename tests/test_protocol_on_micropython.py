"""Run the shared protocol tests (tests/protocol/test_*.py) under the real `micropython`.

protocol/ is compiled with mpy-cross and staged as it ships; each test function becomes one
pytest item here, so an incompatibility names the exact test that broke on the device.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chargekit.tools.micropython import protocol_source_dir, run_micropython, stage

HERE = Path(__file__).parent
SHARED = HERE / "protocol"
# The heap of a small board: the whole protocol suite must run inside it.
HEAPSIZE = "192k"


def _test_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")
    ]


MODULES = sorted(p.stem for p in SHARED.glob("test_*.py"))
CASES = [(module, test) for module in MODULES for test in _test_functions(SHARED / f"{module}.py")]


@pytest.fixture(scope="session")
def micropython_results(tmp_path_factory):
    image = stage({"chargekit/protocol": protocol_source_dir()}, tmp_path_factory.mktemp("image"))
    cache: dict[str, dict] = {}

    def results(module: str) -> dict:
        if module not in cache:
            run = run_micropython(
                HERE / "mpy_runner.py",
                args=[module],
                path=[image, SHARED],
                heapsize=HEAPSIZE,
                timeout=120,
            )
            reported = {r["test"]: r for r in run.results()}
            if "<import>" in reported or run.timed_out or not reported:
                run.check()  # shows the interpreter's output
                pytest.fail(f"{module} did not import under micropython:\n{reported}")
            cache[module] = reported
        return cache[module]

    return results


@pytest.mark.micropython
@pytest.mark.parametrize(("module", "test"), CASES, ids=[f"{m}::{t}" for m, t in CASES])
def test_on_micropython(module, test, micropython_results):
    result = micropython_results(module).get(test)
    assert result is not None, f"{module}.{test} was not run under micropython"
    assert result["ok"], result["error"]


def test_every_shared_module_has_tests():
    assert len(MODULES) >= 6
    assert len(CASES) >= 50
