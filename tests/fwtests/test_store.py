# The power-loss-safe journal (firmware/store.py) on real files: every change is read back by
# a fresh Journal on the same folder, as after a reboot.
import json

from firmware import hal, log, store

ROOT = "/tmp/chargekit-store-test-"
_n = [0]


def fresh(**options):
    _n[0] += 1
    files = hal.Files(ROOT + str(_n[0]))
    for name in files.list():
        files.remove(name)
    files.remove("journal.snap.tmp")
    options.setdefault("meter_every_ms", 0)
    return files, store.Journal(files, **options).open()


def reopen(files, **options):
    options.setdefault("meter_every_ms", 0)
    return store.Journal(files, **options).open()


def state(j):
    # Through JSON and back: what was loaded from flash compares equal to what is in RAM.
    return json.loads(
        json.dumps(
            {"seq": j.seq, "tx": [j.tx[k] for k in sorted(j.tx)], "q": j.queue, "hist": j.history}
        )
    )


def session(j, connector=1, tag="04A1B2C3", start=1000, stop=1500, central=None):
    local = j.begin_transaction(connector, tag, start, "t0")
    j.record_meter(local, (start + stop) // 2, "t1")
    j.ack(local, {"transactionId": central or local + 100, "idTagInfo": {"status": "Accepted"}})
    seq = j.end_transaction(local, stop, "t2", "Local")
    j.ack(seq, {})
    return local


def test_crc_soft_matches_binascii_crc32():
    for data in (b"", b"abc", b'[1, "b", {"x": 2}]' * 7):
        assert store.crc_soft(data) == store.crc(data)
    assert store.crc_soft(b"123456789") == 0xCBF43926  # the CRC-32 check value


def test_every_kind_of_record_is_recovered_after_a_reboot():
    files, j = fresh(log_bytes=100000)
    steps = [
        lambda: j.begin_transaction(1, "TAG1", 1000, "t0", {"reservationId": 7}),
        lambda: j.record_meter(j.open_transactions()[0]["local_id"], 1100, "t1"),
        lambda: j.enqueue("MeterValues", {"connectorId": 1, "meterValue": []}, 1),
        lambda: j.enqueue("StatusNotification", {"connectorId": 1, "status": "Charging"}),
        lambda: j.ack(1, {"transactionId": 555}),
        lambda: j.map_transaction(1, 556),
        lambda: j.end_transaction(1, 1300, "t2", "EVDisconnected", {"idTag": "TAG1"}),
        lambda: j.ack(3),
        lambda: j.ack(4),
        lambda: j.ack(j.queue[0][0]),  # the StopTransaction: the transaction retires
    ]
    for i, step in enumerate(steps):
        step()
        assert state(reopen(files, log_bytes=100000)) == state(j), (i, state(j))
    assert j.queue == [] and j.tx == {}
    assert j.history[0]["meter_stop"] == 1300 and j.history[0]["central_id"] == 556
    assert j.history[0]["reason"] == "EVDisconnected"


def test_open_transaction_is_found_after_a_reboot_and_can_be_stopped_for_power_loss():
    files, j = fresh()
    local = j.begin_transaction(2, "TAG", 5000, "t0")
    j.record_meter(local, 5250, "t1")
    j = reopen(files)
    (tx,) = j.open_transactions()
    assert (tx["local_id"], tx["connector"], tx["meter_start"]) == (local, 2, 5000)
    assert (tx["meter_wh"], tx["meter_time"]) == (5250, "t1")
    seq = j.end_transaction(local, tx["meter_wh"], "t9", "PowerLoss")
    j = reopen(files)
    assert j.open_transactions() == []
    assert [(a, p.get("reason")) for _, a, p in j.pending()] == [
        ("StartTransaction", None),
        ("StopTransaction", "PowerLoss"),
    ]
    assert j.pending()[1][0] == seq


def test_torn_last_line_is_ignored_and_cut_off_before_the_next_append():
    files, j = fresh(log_bytes=100000)
    j.begin_transaction(1, "TAG", 10, "t0")
    before = state(j)
    line = store.encode_line(["m", j.seq + 1, j.seq, 99, "t1"])
    for cut in (1, 9, len(line) - 1):
        files.append("journal.log", line[:cut])
        j = reopen(files, log_bytes=100000)
        assert j.corrupt == 1
        assert state(j) == before
    j.record_meter(1, 20, "t3")
    j2 = reopen(files, log_bytes=100000)
    assert j2.corrupt == 0
    assert j2.open_transactions()[0]["meter_wh"] == 20
    assert state(j2) == state(j)


def test_checksum_mismatch_skips_only_that_record():
    files, j = fresh(log_bytes=100000)
    local = j.begin_transaction(1, "TAG", 10, "t0")
    j.record_meter(local, 20, "t1")
    j.record_meter(local, 30, "t2")
    data = bytearray(files.read("journal.log"))
    lines = bytes(data).split(b"\n")
    # Damage the second record (20 Wh): a bit flipped in its body.
    at = len(lines[0]) + 1 + lines[1].find(b"20")
    data[at] = ord("7")
    files.write("journal.log", bytes(data))
    j = reopen(files)
    assert j.corrupt == 1
    assert j.open_transactions()[0]["meter_wh"] == 30
    # A damaged sequence number or checksum field counts the same.
    assert store.decode_line(b"zzzzzzzz [1]") is None
    assert store.decode_line(b"00000000") is None


def test_damaged_snapshot_is_reported_and_the_log_still_replayed():
    files, j = fresh()
    session(j)
    j.compact()
    snap = bytearray(files.read("journal.snap"))
    snap[20] ^= 1
    files.write("journal.snap", bytes(snap))
    seen = []
    log.sink = lambda lvl, tag, text: seen.append((lvl, tag))
    try:
        j = reopen(files)
    finally:
        log.sink = None
    assert j.corrupt == 1 and (log.ERROR, "store") in seen
    local = j.begin_transaction(1, "TAG", 1, "t0")
    assert reopen(files).open_transactions()[0]["local_id"] == local


def test_compaction_keeps_the_log_small_and_loses_nothing():
    files, j = fresh(log_bytes=600)
    for i in range(12):
        session(j, connector=1 + i % 2, start=i * 1000, stop=i * 1000 + 700)
        assert len(files.read("journal.log") or b"") <= 600
    open_local = j.begin_transaction(1, "LAST", 99000, "t0")
    j.enqueue("MeterValues", {"connectorId": 1, "meterValue": [1]}, open_local)
    j2 = reopen(files, log_bytes=600)
    assert state(j2) == state(j)
    assert len(j2.history) == store.Journal.keep_closed
    assert [t["meter_start"] for t in j2.history] == [8000, 9000, 10000, 11000]


def test_records_already_in_the_snapshot_are_not_applied_twice():
    # A power cut between writing the snapshot and removing the log.
    files, j = fresh(log_bytes=100000)
    local = j.begin_transaction(1, "TAG", 10, "t0")
    j.enqueue("MeterValues", {"meterValue": [1]}, local)
    old_log = files.read("journal.log")
    j.compact()
    files.write("journal.log", old_log)
    j2 = reopen(files)
    assert state(j2) == state(j)
    assert len(j2.queue) == 2


def test_local_ids_are_never_reused_across_reboots():
    files, j = fresh()
    seen = set()
    for _ in range(4):
        local = session(j)
        assert local not in seen
        seen.add(local)
        j = reopen(files)  # compacts: the log is empty, the ids still grow
    assert sorted(seen) == list(sorted(seen))
    assert len(seen) == 4


def test_queue_order_is_kept_with_acks_out_of_order():
    files, j = fresh()
    a = j.begin_transaction(1, "A", 0, "t0")
    b = j.begin_transaction(2, "B", 0, "t0")
    m = j.enqueue("MeterValues", {"connectorId": 1, "meterValue": [1]}, a)
    n = j.enqueue("DataTransfer", {"vendorId": "x"})
    e = j.end_transaction(b, 5, "t1", "Local")
    assert [s for s, _, _ in j.pending()] == [a, b, m, n, e]
    assert j.ack(n)
    assert not j.ack(n)  # already gone
    j = reopen(files)
    assert [s for s, _, _ in j.pending()] == [a, b, m, e]
    assert [act for _, act, _ in j.pending()] == [
        "StartTransaction",
        "StartTransaction",
        "MeterValues",
        "StopTransaction",
    ]


def test_central_transaction_id_is_mapped_and_filled_into_later_messages():
    files, j = fresh()
    local = j.begin_transaction(1, "TAG", 100, "t0")
    m = j.enqueue("MeterValues", {"connectorId": 1, "meterValue": [2]}, local)
    e = j.end_transaction(local, 300, "t1", "Remote", {"idTag": "TAG"})
    # Offline: no central id yet, the payloads say nothing about it.
    assert all("transactionId" not in p for _, _, p in j.pending())
    j.ack(local, {"transactionId": 4242, "idTagInfo": {"status": "Accepted"}})
    j = reopen(files)
    assert j.central_id(local) == 4242
    assert [(s, p["transactionId"]) for s, _, p in j.pending()] == [(m, 4242), (e, 4242)]
    assert "transactionId" not in j.queue[0][2]  # stored with the local id only
    j.ack(m)
    j.ack(e)
    j = reopen(files)
    assert j.tx == {} and j.central_id(local) == 4242  # kept in the history
    j.map_transaction(local, 4243)
    assert reopen(files).central_id(local) == 4243


def test_bound_drops_history_then_non_transaction_messages_oldest_first():
    files, j = fresh(max_bytes=1200, log_bytes=100000)
    for i in range(4):
        session(j, start=i)
    notes = [
        j.enqueue("DataTransfer", {"vendorId": "v", "data": "x" * 120, "n": i}) for i in range(5)
    ]
    local = j.begin_transaction(1, "TAG", 7, "t0")
    j.enqueue("MeterValues", {"connectorId": 1, "meterValue": ["y" * 100]}, local)
    j.compact()
    assert len(files.read("journal.snap")) <= 1200
    assert not j.full and j.evicted > 0
    assert j.history == []  # went first
    kept = [p["n"] for _, a, p in j.pending() if a == "DataTransfer"]
    assert kept == list(range(5 - len(kept), 5)) and len(kept) < 5  # the oldest went
    assert [a for _, a, _ in j.pending()][-2:] == ["StartTransaction", "MeterValues"]
    assert state(reopen(files, max_bytes=1200)) == state(j)
    assert notes[-1] in [s for s, _, _ in j.pending()]


def test_unacknowledged_transaction_messages_are_never_dropped_even_past_the_bound():
    files, j = fresh(max_bytes=400, log_bytes=300)
    seen = []
    log.sink = lambda lvl, tag, text: seen.append((lvl, tag))
    try:
        local = j.begin_transaction(1, "TAG", 0, "t0")
        j.enqueue("StatusNotification", {"status": "Charging"})
        sent = [
            j.enqueue("MeterValues", {"connectorId": 1, "meterValue": [i] * 10}, local)
            for i in range(8)
        ]
        stop = j.end_transaction(local, 800, "t1", "Local")
    finally:
        log.sink = None
    assert j.full and (log.ERROR, "store") in seen
    expected = [local] + sent + [stop]
    assert [s for s, a, _ in j.pending()] == expected  # the status note was dropped
    j = reopen(files, max_bytes=400, log_bytes=300)
    assert j.full
    assert [s for s, _, _ in j.pending()] == expected
    for s in expected:
        j.ack(s, {"transactionId": 1})
    j.compact()
    assert not j.full


def test_meter_readings_are_throttled_but_the_latest_is_kept():
    files, j = fresh()
    j.meter_every_ms = 60000
    local = j.begin_transaction(1, "TAG", 0, "t0")
    assert j.record_meter(local, 10, "t1")
    assert not j.record_meter(local, 20, "t2")
    assert j.open_transactions()[0]["meter_wh"] == 20
    assert reopen(files).open_transactions()[0]["meter_wh"] == 10
    assert j.record_meter(local, 30, "t3", force=True)
    assert reopen(files).open_transactions()[0]["meter_wh"] == 30
    size = len(files.read("journal.log") or b"") + len(files.read("journal.snap"))
    for wh in range(40, 400, 10):
        j.record_meter(local, wh, "t")
    assert len(files.read("journal.log") or b"") + len(files.read("journal.snap")) == size


def test_misuse_is_refused():
    files, j = fresh()
    local = j.begin_transaction(1, "TAG", 0, "t0")
    for bad in (
        lambda: j.begin_transaction(1, "OTHER", 0, "t1"),  # connector busy
        lambda: j.end_transaction(local + 50, 0, "t1"),
        lambda: j.record_meter(local + 50, 0, "t1"),
        lambda: j.enqueue("MeterValues", {}, local + 50),
        lambda: j.map_transaction(local + 50, 1),
        lambda: store.Journal(files, max_byte=1),
    ):
        try:
            bad()
        except store.StoreError:
            continue
        raise AssertionError("accepted")
    j.end_transaction(local, 5, "t1")
    try:
        j.end_transaction(local, 6, "t2")  # a second stop would duplicate the transaction
    except store.StoreError:
        pass
    else:
        raise AssertionError("ended twice")
    assert len(reopen(files).pending()) == 2
