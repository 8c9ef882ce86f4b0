"""Power cuts at seeded random moments against the firmware journal (firmware/store.py).

    .venv/bin/python tools/soak_journal.py --runs 500 --seed 1 [--cycles 3] [--measure]

Each run works in a fresh data folder for `cycles` power cuts. A cycle runs WORKLOAD under
`micropython`: it opens the journal (stopping what it finds open with PowerLoss, as the
application does after a reboot), then runs charging sessions for ever (begin, meter
readings, MeterValues, acknowledgements with central transaction ids, end), printing
"T <op>" before each call and "C <op> <result>" after it returns. The run is SIGKILLed after a
seeded random number of "C" lines or a seeded random delay; in "tear" cycles every append
is written in two halves with a pause between them, so the kill often leaves a torn line.
Then RECOVERY opens the journal, prints the state, stops the open transactions with
PowerLoss, opens it again and prints that state.

The check replays the committed operations on an independent model of the journal: the
recovered state must equal the model after the last committed call, or after the one
in-flight call too; nothing committed is lost, nothing is duplicated or invented, the queue
keeps its order. SIGKILL tests the process dying at any instruction; the page cache
survives it, so it does not test the flash itself (hal.Files syncs where the port can).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chargekit.tools.micropython import find_tool, run_micropython, stage_firmware

KEEP_CLOSED = 4  # store.Journal.keep_closed
LOG_BYTES = 1500  # small: the kills land in compactions too

# Runs on the device interpreter until killed.
WORKLOAD = r"""
import json, random, sys, time
from firmware import hal, store

root, seed, tear = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"


class TearingFiles(hal.Files):
    # An append in two halves with a pause between: a kill in the pause tears the line.
    def append(self, name, data):
        cut = len(data) // 2
        with open(self.path(name), "ab") as f:
            f.write(data[:cut])
            f.flush()
            time.sleep_us(300)
            f.write(data[cut:])
            f.flush()


def out(text):
    sys.stdout.write(text + "\n")


def call(op, fn, *args):
    out("T " + json.dumps(op))
    result = fn(*args)
    out("C " + json.dumps(op) + " " + json.dumps(result))
    return result


files = (TearingFiles if tear else hal.Files)(root)
j = store.Journal(files, log_bytes=int(sys.argv[4]), max_bytes=1000000, meter_every_ms=0).open()
out("S " + json.dumps({"seq": j.seq, "tx": [j.tx[k] for k in sorted(j.tx)], "q": j.queue,
                       "hist": j.history}))
random.seed(seed)
for t in j.open_transactions():
    call(["e", t["local_id"], t["meter_wh"], "boot", "PowerLoss"], j.end_transaction,
         t["local_id"], t["meter_wh"], "boot", "PowerLoss")
n = 0
while n < 100000:
    n += 1
    ts = "t%d" % n
    r = random.randrange(100)
    if j.queue and (r < 30 or len(j.queue) > 12):
        item = j.queue[0] if r % 4 else j.queue[random.randrange(len(j.queue))]
        response = {"transactionId": 7000 + item[0]} if item[1] == "StartTransaction" else {}
        call(["a", item[0], response], j.ack, item[0], response)
        continue
    connector = 1 + r % 2
    open_tx = [t for t in j.open_transactions() if t["connector"] == connector]
    if not open_tx:
        tag = "TAG%d" % random.randrange(50)
        wh = random.randrange(100000)
        call(["b", connector, tag, wh, ts], j.begin_transaction, connector, tag, wh, ts)
        continue
    t = open_tx[0]
    local = t["local_id"]
    wh = t["meter_wh"] + random.randrange(1, 500)
    if r < 60:
        call(["m", local, wh, ts], j.record_meter, local, wh, ts, True)
    elif r < 85:
        payload = {"connectorId": connector, "meterValue": [{"timestamp": ts, "wh": wh}]}
        call(["q", "MeterValues", payload, local], j.enqueue, "MeterValues", payload, local)
    elif r < 92:
        payload = {"vendorId": "ck", "data": ts}
        call(["q", "DataTransfer", payload, None], j.enqueue, "DataTransfer", payload)
    else:
        call(["e", local, wh, ts, "Local"], j.end_transaction, local, wh, ts, "Local")
"""

RECOVERY = r"""
import json, sys
from firmware import hal, store

root, log_bytes = sys.argv[1], int(sys.argv[2])


def show(j):
    print("@@RESULT " + json.dumps({"seq": j.seq, "tx": [j.tx[k] for k in sorted(j.tx)],
          "q": j.queue, "hist": j.history, "corrupt": j.corrupt, "evicted": j.evicted,
          "full": j.full}))


files = hal.Files(root)
j = store.Journal(files, log_bytes=log_bytes, max_bytes=1000000).open()
show(j)
for t in j.open_transactions():
    j.end_transaction(t["local_id"], t["meter_wh"], "boot", "PowerLoss")
show(store.Journal(files, log_bytes=log_bytes, max_bytes=1000000).open())
"""

EMPTY = {"seq": 0, "tx": [], "q": [], "hist": []}


class Mismatch(AssertionError):
    pass


class Model:
    """What the journal must hold, built from the operations alone."""

    def __init__(self, state: dict):
        self.seq = state["seq"]
        self.tx = {t["local_id"]: t for t in copy.deepcopy(state["tx"])}
        self.q = copy.deepcopy(state["q"])
        self.hist = copy.deepcopy(state["hist"])

    def state(self) -> dict:
        return canonical(
            {"seq": self.seq, "tx": [self.tx[k] for k in sorted(self.tx)], "q": self.q,
             "hist": self.hist}
        )  # fmt: skip

    def apply(self, op: list, result=None) -> None:
        kind = op[0]
        if kind == "b":
            _, connector, tag, wh, ts = op
            self.seq += 1
            local = self.seq
            if result is not None and result != local:
                raise Mismatch(f"begin returned {result}, expected local id {local}")
            self.tx[local] = {
                "local_id": local, "connector": connector, "id_tag": tag, "meter_start": wh,
                "start": ts, "meter_wh": wh, "meter_time": ts, "central_id": None,
                "meter_stop": None, "stop": None, "reason": None,
            }  # fmt: skip
            payload = {"connectorId": connector, "idTag": tag, "meterStart": wh, "timestamp": ts}
            self.q.append([local, "StartTransaction", payload, local])
        elif kind == "m":
            _, local, wh, ts = op
            self.seq += 1
            self.tx[local].update(meter_wh=wh, meter_time=ts)
        elif kind == "q":
            _, action, payload, local = op
            self.seq += 1
            self.q.append([self.seq, action, payload, local])
        elif kind == "e":
            _, local, wh, ts, reason = op
            self.seq += 1
            t = self.tx[local]
            t.update(meter_stop=wh, meter_wh=wh, stop=ts, meter_time=ts, reason=reason)
            payload = {"meterStop": wh, "timestamp": ts, "reason": reason}
            self.q.append([self.seq, "StopTransaction", payload, local])
        elif kind == "a":
            _, acked, response = op
            self.seq += 1
            (item,) = [i for i in self.q if i[0] == acked]
            self.q.remove(item)
            local = item[3]
            if local is None:
                return
            if item[1] == "StartTransaction" and "transactionId" in response:
                self.tx[local]["central_id"] = response["transactionId"]
            t = self.tx[local]
            if t["stop"] is not None and not any(i[3] == local for i in self.q):
                del self.tx[local]
                self.hist = [*self.hist, t][-KEEP_CLOSED:]
        else:
            raise ValueError(op)


def canonical(state: dict) -> dict:
    return json.loads(json.dumps({k: state[k] for k in ("seq", "tx", "q", "hist")}))


def check_invariants(state: dict) -> None:
    seqs = [i[0] for i in state["q"]]
    if seqs != sorted(set(seqs)):
        raise Mismatch(f"queue out of order or duplicated: {seqs}")
    locals_ = [t["local_id"] for t in state["tx"]] + [t["local_id"] for t in state["hist"]]
    if len(locals_) != len(set(locals_)):
        raise Mismatch(f"a transaction appears twice: {locals_}")
    for kind in ("StartTransaction", "StopTransaction"):
        owners = [i[3] for i in state["q"] if i[1] == kind]
        if len(owners) != len(set(owners)):
            raise Mismatch(f"two {kind} messages for one transaction: {owners}")
    connectors = [t["connector"] for t in state["tx"] if t["stop"] is None]
    if len(connectors) != len(set(connectors)):
        raise Mismatch(f"two open transactions on one connector: {state['tx']}")


@dataclass
class Cycle:
    committed: int = 0
    in_flight: bool = False
    applied_in_flight: bool = False
    torn: int = 0
    killed_by: str = ""
    lines: list[str] = field(default_factory=list)


def run_workload(
    image: Path, data: Path, seed: int, *, tear: bool, kill_after: int | None, delay_s: float
) -> tuple[list[str], str]:
    """Run WORKLOAD until `kill_after` committed markers or `delay_s`, then SIGKILL it."""
    script = image / "journal_workload.py"
    if not script.exists():
        script.write_text(WORKLOAD)
    env = dict(os.environ, MICROPYPATH=os.pathsep.join([".frozen", str(image)]))
    proc = subprocess.Popen(
        [find_tool("micropython"), "-X", "heapsize=160k", str(script), str(data), str(seed),
         "1" if tear else "0", str(LOG_BYTES)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    lines: list[str] = []
    enough = threading.Event()

    def read() -> None:
        count = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("C "):
                count += 1
                if kill_after is not None and count >= kill_after:
                    enough.set()
        enough.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    enough.wait(delay_s)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(5)
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != -signal.SIGKILL:
        raise Mismatch(f"workload ended by itself ({proc.returncode}): {stderr[-2000:]}")
    return lines, "markers" if kill_after is not None and enough.is_set() else "delay"


def recover(image: Path, data: Path) -> tuple[dict, dict]:
    run = run_micropython(
        code=RECOVERY, path=[image], args=[str(data), str(LOG_BYTES)], heapsize="160k", timeout=20
    )
    run.check()
    first, second = run.results()
    return first, second


def check_cycle(before: dict, lines: list[str], first: dict, second: dict) -> Cycle:
    """Compare what RECOVERY found with the model of the committed operations."""
    cycle = Cycle(lines=lines)
    complete = [ln.rstrip("\n") for ln in lines if ln.endswith("\n")]
    model = Model(before)
    pending_op = None
    for line in complete:
        tag, _, rest = line.partition(" ")
        if tag == "S":
            opened = canonical(json.loads(rest))
            if opened != model.state():
                raise Mismatch(f"the workload opened {opened}\nexpected {model.state()}")
        elif tag == "T":
            pending_op = json.loads(rest)
        elif tag == "C":
            op_text, _, result = rest.rpartition(" ")
            op = json.loads(op_text)
            if op != pending_op:
                raise Mismatch(f"commit marker {op} without its start marker")
            model.apply(op, json.loads(result))
            cycle.committed += 1
            pending_op = None
    recovered = canonical(first)
    check_invariants(recovered)
    if first["evicted"] or first["full"]:
        raise Mismatch("the journal dropped data below its bound")
    cycle.torn = first["corrupt"]
    expected = model.state()
    if recovered != expected:
        if pending_op is None:
            raise Mismatch(f"recovered {recovered}\nexpected {expected}")
        cycle.in_flight = True
        model.apply(pending_op)
        if recovered != model.state():
            raise Mismatch(
                f"recovered {recovered}\nexpected {expected}\nor with {pending_op}: {model.state()}"
            )
        cycle.applied_in_flight = True
    else:
        cycle.in_flight = pending_op is not None
    # After recovery: the open transactions stopped with PowerLoss, read back once more.
    after = Model(recovered)
    for t in [t for t in recovered["tx"] if t["stop"] is None]:
        after.apply(["e", t["local_id"], t["meter_wh"], "boot", "PowerLoss"])
    if canonical(second) != after.state():
        raise Mismatch(f"after PowerLoss stops: {canonical(second)}\nexpected {after.state()}")
    check_invariants(canonical(second))
    return cycle


def run_one(image: Path, workdir: Path, seed: int, *, cycles: int = 1) -> list[Cycle]:
    """One seeded run: `cycles` power cuts in a row on one data folder."""
    rng = random.Random(seed)
    data = workdir / f"run{seed}"
    data.mkdir(parents=True, exist_ok=True)
    before = dict(EMPTY)
    done = []
    for n in range(cycles):
        tear = rng.random() < 0.4
        if rng.random() < 0.5:
            kill_after, delay_s = rng.randint(1, 400), 3.0
        else:
            kill_after, delay_s = None, rng.uniform(0.05, 0.3)
        lines, killed_by = run_workload(
            image, data, seed * 100 + n, tear=tear, kill_after=kill_after, delay_s=delay_s
        )
        first, second = recover(image, data)
        try:
            cycle = check_cycle(before, lines, first, second)
        except Mismatch as error:
            raise Mismatch(f"seed {seed} cycle {n} (tear={tear}, {killed_by}): {error}") from None
        cycle.killed_by = killed_by
        done.append(cycle)
        before = canonical(second)
    return done


MEASURE = r"""
import json, sys, time
from firmware import hal, store

files = hal.Files(sys.argv[1])
j = store.Journal(files, log_bytes=1 << 30, meter_every_ms=0).open()
t0 = time.ticks_us()
local = j.begin_transaction(1, "04A1B2C3D4E5F6", 123456, "2026-11-23T16:03:50Z")
j.ack(local, {"transactionId": 987654})
for i in range(10):
    wh = 123456 + 100 * i
    j.record_meter(local, wh, "2026-11-23T16:%02d:50Z" % (4 + i))
    seq = j.enqueue("MeterValues", {"connectorId": 1, "meterValue": [{"timestamp":
        "2026-11-23T16:%02d:50Z" % (4 + i), "sampledValue": [{"value": str(wh),
        "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]}]}, local)
    j.ack(seq)
stop = j.end_transaction(local, 124456, "2026-11-23T16:20:00Z", "EVDisconnected")
j.ack(stop)
elapsed = time.ticks_diff(time.ticks_us(), t0)
size = len(files.read("journal.log"))
n = 1 + 1 + 10 * 3 + 1 + 1
print("@@RESULT " + json.dumps({"appends": n, "us_per_append": elapsed // n,
    "session_bytes": size, "minimal_session_bytes": None}))
files.remove("journal.log")
files.remove("journal.snap")
j = store.Journal(files, log_bytes=1 << 30).open()
local = j.begin_transaction(1, "04A1B2C3D4E5F6", 123456, "2026-11-23T16:03:50Z")
j.ack(local, {"transactionId": 987654})
j.ack(j.end_transaction(local, 124456, "2026-11-23T16:20:00Z", "EVDisconnected"))
print("@@RESULT " + json.dumps({"minimal_session_bytes": len(files.read("journal.log"))}))
"""


def measure(image: Path, workdir: Path) -> dict:
    """Bytes a session adds to the log, and the time of one durable append (unix port)."""
    data = workdir / "measure"
    data.mkdir(parents=True, exist_ok=True)
    run = run_micropython(code=MEASURE, path=[image], args=[str(data)], heapsize="160k")
    run.check()
    first, second = run.results()
    first["minimal_session_bytes"] = second["minimal_session_bytes"]
    return first


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1, help="first seed; runs use seed..seed+N-1")
    parser.add_argument("--cycles", type=int, default=3, help="power cuts per run")
    parser.add_argument("--measure", action="store_true", help="print bytes and time figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-journal-") as tmp:
        workdir = Path(tmp)
        image = stage_firmware(workdir / "image")
        if args.measure:
            print(json.dumps(measure(image, workdir)))
        started = time.monotonic()
        totals = {"cycles": 0, "committed": 0, "in_flight_applied": 0, "torn": 0}
        for seed in range(args.seed, args.seed + args.runs):
            try:
                cycles = run_one(image, workdir, seed, cycles=args.cycles)
            except Mismatch as error:
                print(f"FAIL {error}", file=sys.stderr)
                return 1
            totals["cycles"] += len(cycles)
            totals["committed"] += sum(c.committed for c in cycles)
            totals["in_flight_applied"] += sum(c.applied_in_flight for c in cycles)
            totals["torn"] += sum(c.torn for c in cycles)
        totals["seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps(totals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
