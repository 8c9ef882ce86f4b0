"""The `chargekit` command: one subcommand per module, loaded only when it runs.

Each module in COMMAND_MODULES has ``register(subparsers)`` adding its subcommand(s) with a
``func(args) -> int`` default; later parts of the system add their modules here.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from chargekit import __version__

COMMAND_MODULES = [
    "chargekit.tools.mpycheck",
    "chargekit.tools.ocpp_check",
    "chargekit.tools.station_cmd",
    "chargekit.tools.central_cmd",
    "chargekit.tools.keys_cmd",
    "chargekit.tools.demo_cmd",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chargekit",
        description="ChargeKit: charge-point firmware and central system tools.",
    )
    parser.add_argument("--version", action="version", version=f"chargekit {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
