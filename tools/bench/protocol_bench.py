"""Benchmark of the protocol layer: decode + validate cost, and its RAM on MicroPython.

    .venv/bin/python tools/bench/protocol_bench.py [--seconds 2]

CPython: frames per second through chargekit.protocol (ocppj.decode with validation) against
the baseline measured in the same run: the ocpp library's unpack + jsonschema validation,
which is what the central's ocpp.ChargePoint does for every message.
MicroPython (unix port, mpy-cross bytecode): heap taken by importing the protocol modules,
heap allocated per decode, and decodes per second.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

FRAMES = {
    "Heartbeat": '[2,"1","Heartbeat",{}]',
    "StartTransaction": '[2,"2","StartTransaction",{"connectorId":1,"idTag":"04A1B2C3",'
    '"meterStart":123456,"timestamp":"2026-11-23T16:03:50Z"}]',
    "MeterValues (8 samples)": json.dumps(
        [
            2,
            "3",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": 42,
                "meterValue": [
                    {
                        "timestamp": "2026-11-23T16:03:50Z",
                        "sampledValue": [
                            {
                                "value": "230.1",
                                "context": "Sample.Periodic",
                                "measurand": measurand,
                                "phase": phase,
                                "unit": unit,
                            }
                            for measurand, phase, unit in [
                                ("Voltage", "L1-N", "V"),
                                ("Voltage", "L2-N", "V"),
                                ("Voltage", "L3-N", "V"),
                                ("Current.Import", "L1", "A"),
                                ("Current.Import", "L2", "A"),
                                ("Current.Import", "L3", "A"),
                                ("Power.Active.Import", "L1", "W"),
                                ("Energy.Active.Import.Register", "L1", "Wh"),
                            ]
                        ],
                    }
                ],
            },
        ]
    ),
}


def rate(fn, seconds: float) -> float:
    """Calls per second of fn over about `seconds`."""
    count, started = 0, time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(200):
            fn()
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


def cpython_rates(seconds: float) -> list[tuple[str, float, float]]:
    from ocpp.messages import _validate_payload, unpack

    from chargekit.protocol import ocppj

    rows = []
    for name, frame in FRAMES.items():
        ours = rate(lambda frame=frame: ocppj.decode(frame), seconds)

        def library(frame=frame):
            _validate_payload(unpack(frame), "1.6")

        rows.append((name, ours, rate(library, seconds)))
    return rows


MICROPYTHON_PROBE = """
import gc, json, time
out = {"modules": {}, "frames": {}}
for module in ("errors", "rfc3339", "ocpp16", "ocpp16_payloads", "validate", "strictjson", "ocppj"):
    gc.collect()
    before = gc.mem_alloc()
    __import__("chargekit.protocol." + module)
    gc.collect()
    out["modules"][module] = gc.mem_alloc() - before
from chargekit.protocol import ocppj
frames = json.loads(FRAMES_JSON)


def allocated(fn, arg):
    gc.collect()
    gc.disable()
    start = gc.mem_alloc()
    fn(arg)
    used = gc.mem_alloc() - start
    gc.enable()
    return used


for name in frames:
    frame = frames[name]
    ocppj.decode(frame)
    per_decode = allocated(ocppj.decode, frame)
    json_only = allocated(json.loads, frame)
    n = 0
    t0 = time.ticks_ms()
    while time.ticks_diff(time.ticks_ms(), t0) < SECONDS_MS:
        ocppj.decode(frame)
        n += 1
    elapsed = time.ticks_diff(time.ticks_ms(), t0)
    out["frames"][name] = {
        "alloc_bytes": per_decode, "json_bytes": json_only, "per_second": n * 1000 // elapsed
    }
print("@@RESULT " + json.dumps(out))
"""


def micropython_figures(seconds: float) -> dict:
    from chargekit.tools.micropython import protocol_source_dir, run_micropython, stage

    with tempfile.TemporaryDirectory() as tmp:
        image = stage({"chargekit/protocol": protocol_source_dir()}, Path(tmp))
        code = MICROPYTHON_PROBE.replace("FRAMES_JSON", repr(json.dumps(FRAMES))).replace(
            "SECONDS_MS", str(int(seconds * 1000))
        )
        run = run_micropython(code=code, path=[image], heapsize="192k", timeout=120).check()
        return run.results()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    args = parser.parse_args(argv)

    print(f"CPython {sys.version.split()[0]}: decode + validate, frames/s")
    print(f"{'frame':26} {'chargekit':>12} {'ocpp lib':>12} {'ratio':>7}")
    for name, ours, baseline in cpython_rates(args.seconds):
        print(f"{name:26} {ours:12,.0f} {baseline:12,.0f} {ours / baseline:6.1f}x")

    figures = micropython_figures(args.seconds)
    print("\nMicroPython unix port, .mpy bytecode, heap 192 KiB")
    modules = figures["modules"]
    print(f"heap taken by importing ocppj and what it imports: {sum(modules.values()):,} bytes")
    print("  " + ", ".join(f"{name} {size:,}" for name, size in modules.items()))
    print(f"{'frame':26} {'alloc/decode':>13} {'json.loads':>11} {'decodes/s':>10}")
    for name, row in figures["frames"].items():
        print(
            f"{name:26} {row['alloc_bytes']:>11,} B {row['json_bytes']:>9,} B"
            f" {row['per_second']:>10,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
