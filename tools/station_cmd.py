"""`chargekit station`: one simulated charge point with its control API.

chargekit station --id CP001 --central ws://127.0.0.1:9000/ocpp --control-port 8701
curl -X POST localhost:8701/ev/plug
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import sys

from chargekit.simulators import DEFAULT_HEAP


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "station",
        help="run the firmware on the sim board with simulated hardware and a control API",
        description="Run the real firmware under micropython on the sim board, with the RFID, "
        "meter and EV simulators, a network proxy to the central and a JSON control API "
        "(docs/simulators.md).",
    )
    parser.add_argument("--board", default="sim", choices=["sim"], help="board (default sim)")
    parser.add_argument("--id", required=True, dest="station_id", help="station identity")
    parser.add_argument("--central", required=True, help="central URL, e.g. ws://host:9000/ocpp")
    parser.add_argument("--control-port", type=int, default=8701, help="control API port")
    parser.add_argument("--control-host", default="127.0.0.1", help="address of the simulators")
    parser.add_argument("--meter", default="sdm630", choices=["sdm630", "sdm120", "abb_b23"])
    parser.add_argument("--reader", default="pn532", choices=["pn532", "rdm6300"])
    parser.add_argument(
        "--heap", default=DEFAULT_HEAP, help=f"micropython heap size (default {DEFAULT_HEAP})"
    )
    parser.add_argument("--data-dir", help="firmware flash folder (default: a temporary one)")
    parser.add_argument(
        "--time-scale", type=float, default=1.0, help="business time runs this much faster"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra firmware setting, VALUE as JSON or text (e.g. --set authorize=all)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.set_defaults(func=run)


def parse_settings(items: list[str]) -> dict:
    settings = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"chargekit station: --set wants KEY=VALUE, got {item!r}")
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return settings


def run(args: argparse.Namespace) -> int:
    from chargekit.simulators.station import Station, StationError

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(message)s",
        stream=sys.stderr,
    )
    station = Station(
        args.station_id,
        args.central,
        meter=args.meter,
        reader=args.reader,
        heap=args.heap,
        data_dir=args.data_dir,
        time_scale=args.time_scale,
        control_port=args.control_port,
        host=args.control_host,
        settings=parse_settings(args.set),
    )

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            await station.start()
        except (StationError, OSError) as error:
            print(f"chargekit station: {error}", file=sys.stderr)
            return 1
        logging.getLogger("chargekit.station").info(
            "%s: control API on %s", args.station_id, station.control_url
        )
        try:
            await stop.wait()
        finally:
            await station.stop()
        return 0

    return asyncio.run(main())
