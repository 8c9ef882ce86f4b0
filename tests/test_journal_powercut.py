"""Power cuts at seeded random moments against the firmware journal, under `micropython`.

Each seeded run SIGKILLs a workload of charging sessions (tools/soak_journal.py WORKLOAD) after
a random number of committed calls or a random 50-300 ms, some with appends torn in two,
then recovers the journal and checks it against a model of the committed calls: nothing
committed lost, no transaction duplicated, queue order kept, nothing invented. Every third
run cuts the power twice on the same folder. tools/soak_journal.py runs many more.
"""

from __future__ import annotations

import pytest

from chargekit.tools import soak_journal
from chargekit.tools.micropython import stage_firmware

pytestmark = pytest.mark.micropython

RUNS = 50


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return stage_firmware(tmp_path_factory.mktemp("image"))


@pytest.mark.parametrize("seed", range(1, RUNS + 1))
def test_power_cut_loses_nothing_committed(seed, image, tmp_path):
    cycles = soak_journal.run_one(image, tmp_path, seed, cycles=2 if seed % 3 == 0 else 1)
    for cycle in cycles:
        assert cycle.killed_by in ("markers", "delay")
        # The workload got going before the cut (open, then at least one committed call),
        # except where a seeded kill came after the very first marker.
        assert cycle.committed >= 1 or cycle.killed_by == "delay"


def test_the_check_catches_a_lost_and_an_invented_record(image, tmp_path):
    # The checker itself: a recovered state that misses a committed call, or holds one that
    # was never made, is a mismatch.
    lines = [
        'S {"seq": 0, "tx": [], "q": [], "hist": []}\n',
        'T ["b", 1, "TAG", 10, "t1"]\n',
        'C ["b", 1, "TAG", 10, "t1"] 1\n',
        'T ["q", "DataTransfer", {"vendorId": "x"}, null]\n',
    ]
    model = soak_journal.Model(soak_journal.EMPTY)
    model.apply(["b", 1, "TAG", 10, "t1"], 1)
    good = dict(model.state(), corrupt=0, evicted=0, full=False)
    after = soak_journal.Model(good)
    after.apply(["e", 1, 10, "boot", "PowerLoss"])
    second = dict(after.state(), corrupt=0, evicted=0, full=False)
    soak_journal.check_cycle(soak_journal.EMPTY, lines, good, second)  # consistent: passes
    lost = dict(soak_journal.EMPTY, corrupt=0, evicted=0, full=False)
    with pytest.raises(soak_journal.Mismatch):
        soak_journal.check_cycle(soak_journal.EMPTY, lines, lost, lost)
    invented = soak_journal.Model(good)
    invented.apply(["q", "DataTransfer", {"vendorId": "other"}, None])
    wrong = dict(invented.state(), corrupt=0, evicted=0, full=False)
    with pytest.raises(soak_journal.Mismatch):
        soak_journal.check_cycle(soak_journal.EMPTY, lines, wrong, second)
    doubled = dict(good, q=good["q"] + good["q"])
    with pytest.raises(soak_journal.Mismatch):
        soak_journal.check_invariants(doubled)


def test_figures_bytes_per_session_and_time_per_append(image, tmp_path):
    figures = soak_journal.measure(image, tmp_path)
    # A plain session (start, its ack, stop, its ack) is four short lines.
    assert 100 < figures["minimal_session_bytes"] < 400
    assert figures["appends"] == 34 and figures["session_bytes"] > 0
    print("journal figures:", figures)
