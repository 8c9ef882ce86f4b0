"""`chargekit mpy-check`: compile every .py under the device folders with mpy-cross."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEVICE_FOLDERS = ("protocol", "firmware", "boards")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mpy-check",
        help="compile MicroPython sources with mpy-cross and list every failure",
    )
    parser.add_argument(
        "paths",
        nargs="*",
        default=list(DEVICE_FOLDERS),
        help="files or folders (default: %(default)s)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chargekit.tools.micropython import CompileError, compile_file, python_files

    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"mpy-check: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return 2
    files = python_files(args.paths)
    failures = []
    for source in files:
        try:
            compile_file(source)
        except CompileError as error:
            failures.append(str(error))
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"mpy-check: {len(files) - len(failures)} of {len(files)} files compile")
    return 1 if failures else 0
