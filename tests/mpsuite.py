"""Run folders of plain test modules under the real `micropython`, one pytest item per test.

tests/protocol/ and tests/fwtests/ hold modules whose test_* functions (sync or async) use
plain asserts; tests/mpy_runner.py runs them on the device interpreter against a staged,
mpy-cross compiled image, and the pytest items here report each function's outcome.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from chargekit.tools.micropython import run_micropython

HERE = Path(__file__).parent
RUNNER = HERE / "mpy_runner.py"


def test_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.name.startswith("test_")
    ]


def cases(folder: Path) -> list[tuple[str, str]]:
    modules = sorted(p.stem for p in folder.glob("test_*.py"))
    return [(m, t) for m in modules for t in test_functions(folder / f"{m}.py")]


def case_ids(found: Sequence[tuple[str, str]]) -> list[str]:
    return [f"{m}::{t}" for m, t in found]


def module_runner(
    folder: Path, image: Path, *, heapsize: str, timeout: float = 120
) -> Callable[[str], dict]:
    """A function module -> {test name: result}, running each module once under micropython."""
    cache: dict[str, dict] = {}

    def results(module: str) -> dict:
        if module not in cache:
            run = run_micropython(
                RUNNER, args=[module], path=[image, folder], heapsize=heapsize, timeout=timeout
            )
            reported = {r["test"]: r for r in run.results()}
            if "<import>" in reported or run.timed_out or not reported:
                run.check()  # shows the interpreter's output
                pytest.fail(f"{module} did not import under micropython:\n{reported}")
            cache[module] = reported
        return cache[module]

    return results


def check(results: Callable[[str], dict], module: str, test: str) -> None:
    result = results(module).get(test)
    assert result is not None, f"{module}.{test} was not run under micropython"
    assert result["ok"], result["error"]
