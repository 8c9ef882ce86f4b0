"""`chargekit ocpp check`: decode and validate an OCPP-J frame the way the stations do.

    $ chargekit ocpp check '[2,"1","Authorize",{"idTag":"04A1B2C3D4E5F6A7B8C9D0"}]'
    CALLERROR [4,"1","TypeConstraintViolation","idTag: longer than 20 chars",{}]

A CALLRESULT is checked against an action's response spec with --action.
"""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ocpp", help="OCPP 1.6J helpers")
    commands = parser.add_subparsers(title="ocpp commands", metavar="COMMAND", required=True)
    check = commands.add_parser("check", help="validate one frame (argument or stdin)")
    check.add_argument("frame", nargs="?", help="the JSON frame; read from stdin when absent")
    check.add_argument("--action", help="action a CALLRESULT answers, to validate its payload")
    check.set_defaults(func=run_check)


def run_check(args: argparse.Namespace) -> int:
    from chargekit.protocol import ocppj
    from chargekit.protocol.errors import OcppError

    text = args.frame if args.frame is not None else sys.stdin.read()
    try:
        message = ocppj.decode(text)
        if isinstance(message, ocppj.CallResult) and args.action:
            ocppj.check_result(message, args.action)
    except OcppError as error:
        if error.answerable():
            print("CALLERROR", ocppj.encode(ocppj.error_for(error)))
        else:
            print(f"invalid: {error}")
        return 1
    kind = type(message).__name__
    action = f" {message.action}" if isinstance(message, ocppj.Call) else ""
    print(f"OK {kind}{action} id={message.unique_id}")
    return 0
