# The power-loss-safe journal: transactions and the queue of transaction messages on flash.
#
#   j = Journal(board.files).open()            # replays what survived the last power cut
#   for tx in j.open_transactions(): ...       # stop each with reason PowerLoss
#   local = j.begin_transaction(1, "04A1B2C3", 1200, "2024-05-01T10:00:00Z")
#   for seq, action, payload in j.pending(): ... send, then j.ack(seq, response)
#
# Two files under board.files: `<name>.log`, an append-only log with one record per line, and
# `<name>.snap`, a snapshot of the whole state written atomically (tmp + rename). A line is
# "<crc32 hex> <json list>\n" and carries a sequence number; a line that is torn (no newline)
# or fails its checksum is skipped, and records at or below the snapshot's sequence number
# are already in it. So a power cut at any moment leaves the state as it was after the last
# call that returned, or with that one in-flight call applied as well; nothing else.
#
# Every call that changes the state appends its record (flushed) before it changes memory and
# returns: what a caller has seen return is durable. A call that starts or ends a transaction
# queues its StartTransaction / StopTransaction in the same record, so there is no moment
# where a transaction ended on flash but its StopTransaction is not queued.
#
# Bound: when the log passes `log_bytes` it is folded into a new snapshot. If that snapshot
# passes `max_bytes`, closed transactions kept as history go first, then queued messages
# that belong to no transaction, oldest first; an unacknowledged transaction message
# (StartTransaction, StopTransaction, MeterValues of a transaction) never: if those alone
# pass the bound they are kept, `full` is set and the journal logs an error.
# Flash used stays below about 2 * max_bytes + log_bytes (the old and the new snapshot
# during compaction, plus the log).
import json
import time

from firmware import log

try:
    from binascii import crc32 as _crc32
except ImportError:  # a port built without it
    _crc32 = None


class StoreError(Exception):
    pass


_POLY = 0xEDB88320


def crc_soft(data):
    """CRC-32 (the zlib one) for ports whose binascii has no crc32."""
    c = 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (_POLY if c & 1 else 0)
    return c ^ 0xFFFFFFFF


def crc(data):
    if _crc32 is not None:
        return _crc32(data) & 0xFFFFFFFF
    return crc_soft(data)


def encode_line(rec):
    body = json.dumps(rec).encode()
    return b"%08x " % crc(body) + body + b"\n"


def decode_line(line):
    """The record of one line without its newline, or None when torn or corrupt."""
    if len(line) < 11 or line[8] != 32:  # 8 hex digits, a space, at least "[]"
        return None
    body = line[9:]
    try:
        if int(line[:8], 16) != crc(body):
            return None
        return json.loads(body)
    except ValueError:
        return None


START = "StartTransaction"
STOP = "StopTransaction"


class Journal:
    max_bytes = 16384  # the bound on the state (the snapshot)
    log_bytes = 4096  # the log is folded into the snapshot past this size
    meter_every_ms = 60000  # record_meter writes at most this often per transaction
    keep_closed = 4  # closed transactions kept as history (first to go at the bound)

    def __init__(self, files, *, name="journal", **options):
        self.files = files
        self.snap_name = name + ".snap"
        self.log_name = name + ".log"
        for key, value in options.items():
            if not hasattr(self, key):
                raise StoreError("unknown option " + key)
            setattr(self, key, value)
        self._reset()

    def _reset(self):
        self.seq = 0  # the last sequence number used
        self.tx = {}  # local id -> transaction (open, or closed with messages still queued)
        self.queue = []  # unacknowledged messages in order: [seq, action, payload, local id]
        self.history = []  # closed transactions with nothing queued, oldest first
        self.full = False  # the unacknowledged transaction messages alone pass max_bytes
        self.corrupt = 0  # damaged lines (or snapshot) skipped by open()
        self.evicted = 0  # items dropped at the bound since open()
        self._log_size = 0
        self._meter_at = {}  # local id -> ticks of its last durable meter record

    # -- recovery -------------------------------------------------------------------------

    def open(self):
        """Load the snapshot, replay the log and fold both into a fresh snapshot."""
        self._reset()
        data = self.files.read(self.snap_name)
        if data:
            snap = decode_line(data.rstrip(b"\n"))
            if isinstance(snap, dict) and snap.get("v") == 1:
                self.seq = snap["seq"]
                for t in snap["tx"]:
                    self.tx[t["local_id"]] = t
                self.queue = snap["q"]
                self.history = snap["hist"]
            else:
                self.corrupt += 1
                log.error("store", "snapshot", self.snap_name, "is damaged: starting without it")
        data = self.files.read(self.log_name)
        if data:
            start = 0
            while start < len(data):
                end = data.find(b"\n", start)
                if end < 0:
                    self.corrupt += 1  # the torn last line of a power cut
                    break
                rec = decode_line(data[start:end])
                start = end + 1
                if not isinstance(rec, list) or len(rec) < 2:
                    self.corrupt += 1
                    continue
                if rec[1] > self.seq:  # at or below: already in the snapshot
                    self._apply(rec)
            del data
            if self.corrupt:
                log.warn("store", "skipped", self.corrupt, "damaged journal record(s)")
            # Folding now also cuts off a torn tail before anything is appended after it.
            self.compact()
        return self

    # -- queries --------------------------------------------------------------------------

    def open_transactions(self):
        """Transactions begun and not ended, oldest first: dicts with local_id, connector,
        id_tag, meter_start, start, meter_wh, meter_time (last reading), central_id."""
        return [self.tx[k] for k in sorted(self.tx) if self.tx[k]["stop"] is None]

    def transaction(self, local_id):
        t = self.tx.get(local_id)
        if t is None:
            for t in self.history:
                if t["local_id"] == local_id:
                    return t
        return t

    def central_id(self, local_id):
        t = self.transaction(local_id)
        return None if t is None else t["central_id"]

    def pending(self):
        """Unacknowledged messages in order as (seq, action, payload); a transaction's
        StopTransaction and MeterValues carry the central transactionId once it is known."""
        out = []
        for seq, action, payload, local in self.queue:
            if local is not None and action != START:
                cid = self.central_id(local)
                if cid is not None:
                    payload = dict(payload)
                    payload["transactionId"] = cid
            out.append((seq, action, payload))
        return out

    # -- changes (each durable when it returns) -------------------------------------------

    def begin_transaction(self, connector, id_tag, meter_start, timestamp, extra=None):
        """Open a transaction and queue its StartTransaction; returns the local id."""
        for t in self.tx.values():
            if t["connector"] == connector and t["stop"] is None:
                raise StoreError(
                    "connector %d has transaction %d open" % (connector, t["local_id"])
                )
        self._write(["b", self.seq + 1, connector, id_tag, meter_start, timestamp, extra])
        return self.seq

    def record_meter(self, local_id, wh, timestamp, force=False):
        """Keep the latest register reading of an open transaction; it reaches flash at most
        every meter_every_ms (or with force). Returns True when this reading is durable."""
        t = self._open_tx(local_id)
        now = time.ticks_ms()
        last = self._meter_at.get(local_id)
        if force or last is None or time.ticks_diff(now, last) >= self.meter_every_ms:
            self._write(["m", self.seq + 1, local_id, wh, timestamp])
            self._meter_at[local_id] = now
            return True
        t["meter_wh"] = wh  # in RAM only: the next compaction or reading persists it
        t["meter_time"] = timestamp
        return False

    def end_transaction(self, local_id, meter_stop, timestamp, reason=None, extra=None):
        """Close a transaction and queue its StopTransaction (extra: idTag, transactionData);
        returns the message's seq."""
        self._open_tx(local_id)
        self._write(["e", self.seq + 1, local_id, meter_stop, timestamp, reason, extra])
        self._meter_at.pop(local_id, None)
        return self.seq

    def enqueue(self, action, payload, local_id=None):
        """Queue a message for the central; with local_id it belongs to that transaction
        (MeterValues) and is never dropped at the bound. Returns its seq."""
        if local_id is not None and local_id not in self.tx:
            raise StoreError("no transaction %s" % local_id)
        self._write(["q", self.seq + 1, action, payload, local_id])
        return self.seq

    def ack(self, seq, response=None):
        """The central answered message `seq` (or it is given up): drop it from the queue.
        A StartTransaction's response maps the transaction to its central transactionId.
        Returns False when no such message is queued."""
        for item in self.queue:
            if item[0] == seq:
                break
        else:
            return False
        cid = None
        if item[1] == START and isinstance(response, dict):
            cid = response.get("transactionId")
        self._write(["a", self.seq + 1, seq, cid])
        return True

    def map_transaction(self, local_id, central_id):
        if self.transaction(local_id) is None:
            raise StoreError("no transaction %s" % local_id)
        self._write(["x", self.seq + 1, local_id, central_id])

    def compact(self):
        """Write the state as a new snapshot (within the bound) and empty the log."""
        snap = self._snapshot()
        self.full = False
        if len(snap) > self.max_bytes:
            snap = self._evict(snap)
        self.files.write(self.snap_name, snap)
        self.files.remove(self.log_name)
        self._log_size = 0

    # -- inside ---------------------------------------------------------------------------

    def _open_tx(self, local_id):
        t = self.tx.get(local_id)
        if t is None or t["stop"] is not None:
            raise StoreError("transaction %s is not open" % local_id)
        return t

    def _write(self, rec):
        line = encode_line(rec)
        try:
            self.files.append(self.log_name, line)
        except OSError:
            # A failed append may leave half a line: rewrite the state without it.
            try:
                self.compact()
            except OSError:
                pass
            raise
        self._log_size += len(line)
        self._apply(rec)
        if self._log_size > self.log_bytes:
            self.compact()

    def _apply(self, rec):
        kind = rec[0]
        seq = self.seq = rec[1]
        if kind == "b":
            _, _, connector, id_tag, meter_start, ts, extra = rec
            self.tx[seq] = {
                "local_id": seq,
                "connector": connector,
                "id_tag": id_tag,
                "meter_start": meter_start,
                "start": ts,
                "meter_wh": meter_start,
                "meter_time": ts,
                "central_id": None,
                "meter_stop": None,
                "stop": None,
                "reason": None,
            }
            payload = {
                "connectorId": connector,
                "idTag": id_tag,
                "meterStart": meter_start,
                "timestamp": ts,
            }
            if extra:
                payload.update(extra)
            self.queue.append([seq, START, payload, seq])
        elif kind == "m":
            t = self.tx.get(rec[2])
            if t is not None:
                t["meter_wh"] = rec[3]
                t["meter_time"] = rec[4]
        elif kind == "e":
            _, _, local, meter_stop, ts, reason, extra = rec
            t = self.tx.get(local)
            if t is None:
                return
            t["meter_stop"] = t["meter_wh"] = meter_stop
            t["stop"] = t["meter_time"] = ts
            t["reason"] = reason
            payload = {"meterStop": meter_stop, "timestamp": ts}
            if reason is not None:
                payload["reason"] = reason
            if extra:
                payload.update(extra)
            self.queue.append([seq, STOP, payload, local])
        elif kind == "q":
            self.queue.append([seq, rec[2], rec[3], rec[4]])
        elif kind == "a":
            for i, item in enumerate(self.queue):
                if item[0] == rec[2]:
                    self.queue.pop(i)
                    local = item[3]
                    if local is not None:
                        if rec[3] is not None and local in self.tx:
                            self.tx[local]["central_id"] = rec[3]
                        self._retire(local)
                    break
        elif kind == "x":
            t = self.transaction(rec[2])
            if t is not None:
                t["central_id"] = rec[3]

    def _retire(self, local):
        # A closed transaction with nothing left to send moves to the history.
        t = self.tx.get(local)
        if t is None or t["stop"] is None:
            return
        for item in self.queue:
            if item[3] == local:
                return
        del self.tx[local]
        self.history.append(t)
        if len(self.history) > self.keep_closed:
            self.history.pop(0)

    def _snapshot(self):
        state = {
            "v": 1,
            "seq": self.seq,
            "tx": [self.tx[k] for k in sorted(self.tx)],
            "q": self.queue,
            "hist": self.history,
        }
        return encode_line(state)

    def _evict(self, snap):
        # Old non-transaction data first: the history, then messages of no transaction.
        size = len(snap)
        dropped = 0
        while size > self.max_bytes and self.history:
            size -= len(json.dumps(self.history.pop(0))) + 2
            dropped += 1
        i = 0
        while size > self.max_bytes and i < len(self.queue):
            if self.queue[i][3] is None:
                size -= len(json.dumps(self.queue.pop(i))) + 2
                dropped += 1
            else:
                i += 1
        if dropped:
            self.evicted += dropped
            log.warn("store", "journal bound reached:", dropped, "item(s) dropped")
        snap = self._snapshot()
        self.full = len(snap) > self.max_bytes
        if self.full:
            log.error(
                "store",
                "journal over its bound (%d > %d bytes) with %d unacknowledged message(s): kept"
                % (len(snap), self.max_bytes, len(self.queue)),
            )
        return snap
