"""The central's store: every test runs on SQLite (a temporary file) and on PostgreSQL.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) gets a fresh database for this module,
emptied before each test and dropped at the end; migration tests make their own.
"""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pgtest import PG_SERVER, FakeClock, create_database, drop_database, empty
from services import require_service

from chargekit.central.store import (
    Conflict,
    InvalidValue,
    MeterSample,
    NewToken,
    NotFound,
    SchemaTooNew,
    Store,
    StoreError,
    Unavailable,
    open_store,
)
from chargekit.central.store.migrate import Migration, load_migrations, migrate
from chargekit.central.store.store import open_database

T0 = datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC)


# -- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    require_service("postgres")
    name = create_database()
    yield f"{PG_SERVER}/{name}"
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    """The database of one test: a new SQLite file, or the module's PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    """A database no store has opened yet."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    require_service("postgres")
    name = create_database()
    yield f"{PG_SERVER}/{name}"
    drop_database(name)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def store(url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(url, clock=clock)
    await empty(url)
    yield opened
    await opened.close()


async def _station(store: Store, station_id: str = "CP001", **fields) -> None:
    await store.stations.create(station_id, **fields)


# -- stations ----------------------------------------------------------------------------------


async def test_station_create_get_and_fields(store: Store, clock: FakeClock):
    created = await store.stations.create(
        "CP001",
        registration_status="Pending",
        password_hash="pbkdf2$abc",
        vendor="ChargeKit",
        model="Sim",
        serial_number="SN1",
        firmware_version="0.1.0",
    )
    assert created == await store.stations.get("CP001")
    assert uuid.UUID(created.uuid).version == 4
    assert (created.registration_status, created.password_hash) == ("Pending", "pbkdf2$abc")
    assert (created.vendor, created.model, created.serial_number) == ("ChargeKit", "Sim", "SN1")
    assert created.firmware_version == "0.1.0"
    assert created.created_at == created.updated_at == T0
    assert created.last_seen is None
    assert "pbkdf2" not in repr(created)
    other = await store.stations.create("CP002")
    assert other.registration_status == "Accepted" and other.uuid != created.uuid
    assert dataclasses.asdict(other)["id"] == "CP002"


async def test_station_create_conflict_and_missing(store: Store):
    await _station(store)
    with pytest.raises(Conflict, match="CP001"):
        await store.stations.create("CP001")
    with pytest.raises(NotFound):
        await store.stations.get("nope")
    with pytest.raises(InvalidValue):
        await store.stations.create("CP003", registration_status="Maybe")
    with pytest.raises(InvalidValue):
        await store.stations.create("")


async def test_station_list_filter_and_pagination(store: Store):
    for n, status in enumerate(["Accepted", "Pending", "Accepted", "Rejected", "Accepted"]):
        await _station(store, f"CP{n:03d}", registration_status=status)
    items, total = await store.stations.list(limit=2, offset=1)
    assert [s.id for s in items] == ["CP001", "CP002"] and total == 5
    items, total = await store.stations.list(registration_status="Accepted", offset=2)
    assert [s.id for s in items] == ["CP004"] and total == 3
    items, total = await store.stations.list(offset=10)
    assert items == [] and total == 5


async def test_station_update(store: Store, clock: FakeClock):
    await _station(store, vendor="Old", model="M")
    later = clock.advance(seconds=5)
    updated = await store.stations.update(
        "CP001", registration_status="Rejected", vendor=None, password_hash="h2"
    )
    assert (updated.registration_status, updated.vendor, updated.model) == ("Rejected", None, "M")
    assert updated.password_hash == "h2"
    assert updated.updated_at == later and updated.created_at == T0
    assert await store.stations.update("CP001") == updated
    with pytest.raises(NotFound):
        await store.stations.update("nope", vendor="x")
    with pytest.raises(InvalidValue):
        await store.stations.update("CP001", registration_status="Unknown")


async def test_station_touch_and_boot_info(store: Store, clock: FakeClock):
    await _station(store)
    seen = clock.advance(minutes=1)
    await store.stations.touch("CP001")
    assert (await store.stations.get("CP001")).last_seen == seen
    await store.stations.touch("CP001", T0)  # older: last_seen does not go back
    assert (await store.stations.get("CP001")).last_seen == seen
    await store.stations.update("CP001", iccid="old", firmware_status="Installed")
    booted = await store.stations.set_boot_info(
        "CP001",
        vendor="V",
        model="M",
        serial_number="S",
        charge_box_serial_number="B",
        firmware_version="1.2",
        imsi="I",
        meter_type="SDM630",
        meter_serial_number="MS",
        at=seen,
    )
    boot = dataclasses.asdict(booted)
    assert {k: boot[k] for k in ("vendor", "model", "serial_number", "firmware_version")} == {
        "vendor": "V",
        "model": "M",
        "serial_number": "S",
        "firmware_version": "1.2",
    }
    assert (booted.charge_box_serial_number, booted.imsi, booted.iccid) == ("B", "I", None)
    assert (booted.meter_type, booted.meter_serial_number) == ("SDM630", "MS")
    assert booted.firmware_status == "Installed"  # not part of a boot
    assert booted.last_seen == seen and await store.stations.get("CP001") == booted
    with pytest.raises(InvalidValue):
        await store.stations.set_boot_info("CP001", vendor="", model="M")
    status = await store.stations.update("CP001", diagnostics_status="Uploaded")
    assert status.diagnostics_status == "Uploaded"
    with pytest.raises(NotFound):
        await store.stations.touch("nope")
    with pytest.raises(NotFound):
        await store.stations.set_boot_info("nope", vendor="V", model="M")


async def test_station_delete(store: Store):
    await _station(store, "CP001")
    await _station(store, "CP002")
    await store.connectors.upsert_status("CP001", 1, status="Available")
    await store.stations.delete("CP001")
    with pytest.raises(NotFound):
        await store.stations.get("CP001")
    await _station(store, "CP001")
    assert await store.connectors.list("CP001") == []  # the connectors went with it
    await store.transactions.start("CP002", 1, id_tag="T", started_at=T0, meter_start=0)
    with pytest.raises(Conflict, match="transactions"):
        await store.stations.delete("CP002")
    assert (await store.stations.get("CP002")).id == "CP002"
    with pytest.raises(NotFound):
        await store.stations.delete("nope")


# -- connectors --------------------------------------------------------------------------------


async def test_connector_upsert_status_and_list(store: Store, clock: FakeClock):
    await _station(store)
    assert await store.connectors.list("CP001") == []
    first = await store.connectors.upsert_status("CP001", 2, status="Available")
    assert (first.status, first.error_code, first.info, first.updated_at) == (
        "Available",
        "NoError",
        None,
        T0,
    )
    await store.connectors.upsert_status("CP001", 0, status="Available")
    later = T0 + timedelta(seconds=30)
    faulted = await store.connectors.upsert_status(
        "CP001",
        2,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD",
        vendor_id="com.example",
        vendor_error_code="E42",
        at=later,
    )
    assert (faulted.status, faulted.error_code, faulted.info) == ("Faulted", "GroundFailure", "RCD")
    assert (faulted.vendor_id, faulted.vendor_error_code) == ("com.example", "E42")
    assert faulted.updated_at == later
    # A late replay of an older status does not overwrite the newer one.
    stale = await store.connectors.upsert_status("CP001", 2, status="Charging", at=T0)
    assert stale == faulted
    listed = await store.connectors.list("CP001")
    assert [(c.connector_id, c.status) for c in listed] == [(0, "Available"), (2, "Faulted")]
    assert await store.connectors.get("CP001", 2) == faulted
    with pytest.raises(NotFound):
        await store.connectors.upsert_status("nope", 1, status="Available")
    with pytest.raises(NotFound):
        await store.connectors.list("nope")
    with pytest.raises(NotFound):
        await store.connectors.get("CP001", 7)
    with pytest.raises(InvalidValue):
        await store.connectors.upsert_status("CP001", -1, status="Available")


# -- tokens ------------------------------------------------------------------------------------


async def test_token_crud(store: Store, clock: FakeClock):
    expiry = datetime(2027, 1, 1, tzinfo=UTC)
    token = await store.tokens.create("04A1B2C3", expires_at=expiry, parent_id_tag="FLEET")
    assert (token.id_tag, token.status, token.expires_at, token.parent_id_tag) == (
        "04A1B2C3",
        "Accepted",
        expiry,
        "FLEET",
    )
    assert await store.tokens.get("04a1b2c3") == token
    later = clock.advance(seconds=1)
    blocked = await store.tokens.update("04a1B2c3", status="Blocked", expires_at=None)
    assert (blocked.id_tag, blocked.status, blocked.expires_at) == ("04A1B2C3", "Blocked", None)
    assert blocked.parent_id_tag == "FLEET" and blocked.updated_at == later
    assert await store.tokens.update("04A1B2C3") == blocked
    await store.tokens.delete("04a1b2c3")
    for call in (store.tokens.get, store.tokens.delete):
        with pytest.raises(NotFound):
            await call("04A1B2C3")
    with pytest.raises(NotFound):
        await store.tokens.update("04A1B2C3", status="Accepted")


async def test_token_id_tag_unique_case_insensitively(store: Store):
    await store.tokens.create("abcDEF")
    for spelling in ("ABCDEF", "abcdef", "abcDEF"):
        with pytest.raises(Conflict):
            await store.tokens.create(spelling)
    items, total = await store.tokens.list()
    assert [t.id_tag for t in items] == ["abcDEF"] and total == 1
    with pytest.raises(InvalidValue, match="20"):
        await store.tokens.create("X" * 21)
    with pytest.raises(InvalidValue):
        await store.tokens.create("X", status="ConcurrentTx")


async def test_token_list_filter_and_pagination(store: Store):
    for n in range(5):
        await store.tokens.create(f"T{n}", status="Blocked" if n % 2 else "Accepted")
    items, total = await store.tokens.list(limit=2, offset=2)
    assert [t.id_tag for t in items] == ["T2", "T3"] and total == 5
    items, total = await store.tokens.list(status="Blocked")
    assert [t.id_tag for t in items] == ["T1", "T3"] and total == 2


async def test_token_bulk_import_is_one_transaction(store: Store):
    await store.tokens.create("EXISTING", status="Blocked")
    batch = [
        NewToken("A1"),
        NewToken("existing", status="Accepted"),
        NewToken("B2", status="Expired", expires_at=T0, parent_id_tag="A1"),
    ]
    result = await store.tokens.bulk_import(batch)
    assert (result.created, result.updated) == (2, 1)
    existing = await store.tokens.get("EXISTING")
    assert (existing.id_tag, existing.status) == ("existing", "Accepted")
    assert (await store.tokens.get("b2")).expires_at == T0
    again = await store.tokens.bulk_import(batch)
    assert (again.created, again.updated) == (0, 3)
    # One bad row: nothing of the batch is stored.
    with pytest.raises(InvalidValue, match=r"tokens\[1\]\.status"):
        await store.tokens.bulk_import([NewToken("NEW1"), NewToken("NEW2", status="Nope")])
    with pytest.raises(InvalidValue, match="repeats"):
        await store.tokens.bulk_import([NewToken("NEW1"), NewToken("new1")])
    with pytest.raises(NotFound):
        await store.tokens.get("NEW1")
    assert (await store.tokens.bulk_import([])).created == 0
    many = [NewToken(f"M{n:05d}") for n in range(2000)]
    assert (await store.tokens.bulk_import(many)).created == 2000
    assert (await store.tokens.list(limit=1))[1] == 2003


# -- transactions ------------------------------------------------------------------------------


async def test_start_transaction_is_idempotent(store: Store, clock: FakeClock):
    await _station(store)
    started = T0 - timedelta(seconds=3)
    tx, created = await store.transactions.start(
        "CP001", 1, id_tag="04A1", started_at=started, meter_start=1200, reservation_id=7
    )
    assert created and tx.is_open and tx.energy_wh is None
    assert (tx.station_id, tx.connector_id, tx.id_tag, tx.started_at) == (
        "CP001",
        1,
        "04A1",
        started,
    )
    assert (tx.meter_start, tx.reservation_id, tx.created_at) == (1200, 7, T0)
    clock.advance(minutes=5)
    replay, created = await store.transactions.start(
        "CP001", 1, id_tag="04A1", started_at=started, meter_start=1200, reservation_id=7
    )
    assert not created and replay == tx
    other, created = await store.transactions.start(
        "CP001", 1, id_tag="04A1", started_at=started, meter_start=1201
    )
    assert created and other.id != tx.id
    assert (await store.transactions.list(station_id="CP001"))[1] == 2
    with pytest.raises(NotFound):
        await store.transactions.start("nope", 1, id_tag="X", started_at=T0, meter_start=0)


async def test_concurrent_replayed_starts_open_one_transaction(store: Store):
    await _station(store)
    results = await asyncio.gather(
        *(
            store.transactions.start("CP001", 2, id_tag="RACE", started_at=T0, meter_start=5)
            for _ in range(8)
        )
    )
    assert len({tx.id for tx, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert (await store.transactions.list())[1] == 1


async def test_stop_transaction_is_idempotent(store: Store, clock: FakeClock):
    await _station(store)
    tx, _ = await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=100)
    end = T0 + timedelta(hours=1)
    later = clock.advance(hours=1, seconds=1)
    stopped, now = await store.transactions.stop(
        tx.id, stopped_at=end, meter_stop=7100, reason="Local", id_tag="a"
    )
    assert now and not stopped.is_open and stopped.energy_wh == 7000
    assert (stopped.stopped_at, stopped.meter_stop, stopped.stop_reason) == (end, 7100, "Local")
    assert (stopped.stop_id_tag, stopped.updated_at) == ("a", later)
    clock.advance(minutes=1)
    again, now = await store.transactions.stop(
        tx.id, stopped_at=end + timedelta(minutes=5), meter_stop=9999, reason="Other"
    )
    assert not now and again == stopped
    assert await store.transactions.get(tx.id, samples=False) == stopped
    with pytest.raises(NotFound):
        await store.transactions.stop(999_999, stopped_at=end, meter_stop=1)
    with pytest.raises(NotFound):
        await store.transactions.get(999_999)


async def test_stop_stores_transaction_data(store: Store):
    await _station(store)
    tx, _ = await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=0)
    data = [
        MeterSample(T0, 0, context="Transaction.Begin"),
        MeterSample(T0 + timedelta(minutes=30), 5000.5, context="Transaction.End"),
    ]
    await store.transactions.stop(tx.id, stopped_at=T0, meter_stop=5000, samples=data)
    await store.transactions.stop(tx.id, stopped_at=T0, meter_stop=5000, samples=data)  # replay
    assert (await store.transactions.get(tx.id)).samples == tuple(data)


async def test_meter_samples_batch_and_replay(store: Store):
    await _station(store)
    tx, _ = await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=0)
    assert (await store.transactions.get(tx.id)).samples == ()
    assert (await store.transactions.list())[0][0].samples is None  # lists do not load them
    t1, t2 = T0 + timedelta(seconds=60), T0 + timedelta(seconds=120)
    batch = [
        MeterSample(t2, 250.0),
        MeterSample(t1, 120.0),
        MeterSample(t1, 16.1, measurand="Current.Import", unit="A", phase="L1"),
        MeterSample(t1, 16.2, measurand="Current.Import", unit="A", phase="L2"),
        MeterSample(t1, 31.5, measurand="Temperature", unit="Celsius", location="Body"),
    ]
    assert await store.transactions.add_samples(tx.id, batch) == 5
    assert await store.transactions.add_samples(tx.id, batch) == 0  # a replayed MeterValues
    assert await store.transactions.add_samples(tx.id, [MeterSample(t2, 250.0)]) == 0
    loaded = (await store.transactions.get(tx.id)).samples
    assert loaded is not None and len(loaded) == 5
    assert [s.timestamp for s in loaded] == [t1, t1, t1, t1, t2]
    assert set(loaded) == set(batch)
    assert loaded[-1] == MeterSample(
        t2, 250.0, "Energy.Active.Import.Register", "Wh", None, "Outlet", "Sample.Periodic"
    )
    no_location = MeterSample(t2, 1.0, "Voltage", "V", phase="L1-N", location=None)
    assert await store.transactions.add_samples(tx.id, [no_location]) == 1
    assert no_location in ((await store.transactions.get(tx.id)).samples or ())
    with pytest.raises(NotFound):
        await store.transactions.add_samples(999_999, batch)
    with pytest.raises(InvalidValue, match=r"samples\[1\]\.timestamp"):
        bad = [MeterSample(t2 + timedelta(1), 1.0), MeterSample(datetime(2026, 1, 1), 2.0)]
        await store.transactions.add_samples(tx.id, bad)
    assert len((await store.transactions.get(tx.id)).samples or ()) == 6
    assert await store.transactions.add_samples(tx.id, []) == 0
    with pytest.raises(NotFound):
        await store.transactions.add_samples(999_999, [])


async def test_large_sample_batches_span_statements(store: Store):
    await _station(store)
    tx, _ = await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=0)
    batch = [MeterSample(T0 + timedelta(seconds=n), float(n)) for n in range(1200)]
    assert await store.transactions.add_samples(tx.id, batch) == 1200
    more = [*batch[-600:], MeterSample(T0 - timedelta(seconds=1), -1.0)]
    assert await store.transactions.add_samples(tx.id, more) == 1
    loaded = (await store.transactions.get(tx.id)).samples or ()
    assert [s.value for s in loaded] == [-1.0, *range(1200)]


async def test_transaction_list_filters_and_totals(store: Store):
    await _station(store, "CP001")
    await _station(store, "CP002")
    ids = {}
    for n in range(6):
        station = "CP001" if n < 4 else "CP002"
        tag = "Alice" if n % 2 == 0 else "BOB"
        tx, _ = await store.transactions.start(
            station, 1 + n % 2, id_tag=tag, started_at=T0 + timedelta(hours=n), meter_start=n
        )
        ids[n] = tx.id
        if n in (0, 1, 4):
            await store.transactions.stop(tx.id, stopped_at=tx.started_at, meter_stop=n + 10)

    async def listed(**filters) -> tuple[list[int], int]:
        items, total = await store.transactions.list(**filters)
        return [next(k for k, v in ids.items() if v == t.id) for t in items], total

    assert await listed() == ([5, 4, 3, 2, 1, 0], 6)
    assert await listed(station_id="CP001") == ([3, 2, 1, 0], 4)
    assert await listed(id_tag="alice") == ([4, 2, 0], 3)
    assert await listed(id_tag="Bob", station_id="CP001") == ([3, 1], 2)
    assert await listed(status="open") == ([5, 3, 2], 3)
    assert await listed(status="closed") == ([4, 1, 0], 3)
    assert await listed(station_id="CP001", connector_id=2) == ([3, 1], 2)
    since, until = T0 + timedelta(hours=1), T0 + timedelta(hours=4)
    assert await listed(since=since, until=until) == ([3, 2, 1], 3)
    assert await listed(since=since, until=until, status="open", limit=1) == ([3], 2)
    assert await listed(limit=2, offset=2) == ([3, 2], 6)
    assert await listed(limit=2, offset=6) == ([], 6)
    assert await listed(station_id="CP999") == ([], 0)
    with pytest.raises(InvalidValue):
        await store.transactions.list(status="running")


# -- audit log ---------------------------------------------------------------------------------


async def test_audit_append_and_list(store: Store, clock: FakeClock):
    payload = {"connectorId": 1, "idTag": "04A1", "nested": [1, 2.5, None, "é"]}
    first = await store.audit.append(
        "RemoteStartTransaction",
        key_id="key-1",
        station_id="CP001",
        payload=payload,
        result={"status": "Accepted"},
    )
    assert (first.command, first.key_id, first.station_id, first.at) == (
        "RemoteStartTransaction",
        "key-1",
        "CP001",
        T0,
    )
    assert first.payload == payload and first.result == {"status": "Accepted"}
    clock.advance(seconds=1)
    await store.audit.append("Reset", key_id="key-2", station_id="CP002", payload={"type": "Soft"})
    clock.advance(seconds=1)
    third = await store.audit.append("Reset", key_id="key-1", station_id="CP001", result="timeout")
    assert third.payload is None and third.result == "timeout"
    entries, total = await store.audit.list()
    assert [e.id for e in entries][::2] == [third.id, first.id] and total == 3
    assert entries[2] == first
    assert [e.id for e in (await store.audit.list(station_id="CP001"))[0]] == [third.id, first.id]
    assert (await store.audit.list(key_id="key-1", command="Reset"))[1] == 1
    assert (await store.audit.list(since=T0 + timedelta(seconds=1)))[1] == 2
    assert (await store.audit.list(until=T0 + timedelta(seconds=1)))[1] == 1
    assert (await store.audit.list(limit=1, offset=1))[0][0].command == "Reset"
    with pytest.raises(InvalidValue):
        await store.audit.append("Reset", payload={"when": T0})


# -- times, validation, errors -----------------------------------------------------------------


async def test_times_round_trip_exactly(store: Store):
    await _station(store)
    india = timezone(timedelta(hours=5, minutes=30))
    moments = [
        datetime(2026, 3, 29, 1, 59, 59, 999999, tzinfo=UTC),
        datetime(2026, 11, 23, 17, 30, 0, 1, tzinfo=india),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=timezone(timedelta(hours=-8))),
        datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC),
    ]
    for n, moment in enumerate(moments):
        token = await store.tokens.create(f"TIME{n}", expires_at=moment)
        assert token.expires_at == moment and token.expires_at.tzinfo is UTC
        stored = await store.tokens.get(f"TIME{n}")
        assert stored.expires_at == moment and stored.expires_at.utcoffset() == timedelta(0)
        tx, _ = await store.transactions.start(
            "CP001", 1, id_tag="T", started_at=moment, meter_start=n
        )
        assert (await store.transactions.get(tx.id)).started_at == moment
        replay, created = await store.transactions.start(
            "CP001", 1, id_tag="T", started_at=moment.astimezone(UTC), meter_start=n
        )
        assert (replay.id, created) == (tx.id, False)
    # Filters compare instants, whatever the offset they are given in.
    one_microsecond = timedelta(microseconds=1)
    hit = moments[1]
    items, _ = await store.transactions.list(since=hit, until=hit + one_microsecond)
    assert [t.started_at for t in items] == [hit]
    items, _ = await store.transactions.list(
        since=hit + one_microsecond, until=hit + 2 * one_microsecond
    )
    assert items == []


async def test_naive_times_and_bad_arguments_are_refused(store: Store):
    await _station(store)
    naive = datetime(2026, 1, 1)
    with pytest.raises(InvalidValue, match="naive"):
        await store.transactions.start("CP001", 1, id_tag="A", started_at=naive, meter_start=0)
    with pytest.raises(InvalidValue):
        await store.tokens.create("A", expires_at=naive)
    with pytest.raises(InvalidValue):
        await store.stations.touch("CP001", naive)
    with pytest.raises(InvalidValue):
        await store.transactions.list(since="2026-01-01")
    for offset, limit in ((-1, 10), (0, 0), (0, 1001), (0, True)):
        with pytest.raises(InvalidValue):
            await store.stations.list(offset=offset, limit=limit)
    with pytest.raises(InvalidValue):
        await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=2**63)
    with pytest.raises(InvalidValue):
        await store.transactions.start("CP001", 1, id_tag="A", started_at=T0, meter_start=1.5)
    assert issubclass(InvalidValue, ValueError)
    for error in (NotFound, Conflict, InvalidValue, Unavailable, SchemaTooNew):
        assert issubclass(error, StoreError)


async def test_ping_close_and_use_after_close(url: str):
    store = await open_store(url)
    assert store.backend == url.split(":")[0]
    await store.ping()
    async with store:
        pass
    await store.close()  # twice is fine
    with pytest.raises(StoreError):
        await store.stations.get("CP001")


async def test_open_store_refuses_bad_urls(tmp_path):
    for url in (
        "mysql://db/x",
        "sqlite://host/db",
        "sqlite:///",
        f"sqlite:///{tmp_path}/x.db?wal=1",
    ):
        with pytest.raises(InvalidValue):
            await open_store(url)
    with pytest.raises(InvalidValue):
        await open_store(f"sqlite:///{tmp_path}/x.db?synchronous=sometimes")
    with pytest.raises(Unavailable):
        await open_store(f"sqlite:///{tmp_path}/missing/dir/x.db")
    with pytest.raises(Unavailable):
        await open_store("postgresql://postgres@127.0.0.1:1/none")


async def test_sqlite_pragmas(tmp_path):
    """WAL, foreign keys on, synchronous NORMAL unless the URL asks for FULL."""
    for query, level in (("", 1), ("?synchronous=full", 2)):
        store = await open_store(f"sqlite:///{tmp_path}/p{level}.db{query}")
        try:
            writer = store._db._write_conn  # type: ignore[attr-defined]
            assert await writer.fetchval("PRAGMA journal_mode") == "wal"
            assert await writer.fetchval("PRAGMA foreign_keys") == 1
            assert await writer.fetchval("PRAGMA synchronous") == level
            await store.stations.create("CP001")
            assert (tmp_path / f"p{level}.db-wal").exists()
        finally:
            await store.close()


# -- migrations --------------------------------------------------------------------------------


async def test_migrations_apply_once(fresh_url: str, clock: FakeClock):
    store = await open_store(fresh_url, clock=clock)
    assert store.applied_migrations == tuple(m.version for m in load_migrations()) == (1, 2)
    await store.stations.create("CP001")
    await store.close()
    clock.advance(days=1)
    again = await open_store(fresh_url, clock=clock)
    try:
        assert again.applied_migrations == ()
        history = await again.migrations()
        assert [(m.version, m.name, m.applied_at) for m in history] == [
            (1, "initial", T0),
            (2, "api_keys", T0),
        ]
        assert (await again.stations.get("CP001")).id == "CP001"
    finally:
        await again.close()


async def test_concurrent_opens_apply_each_migration_once(fresh_url: str):
    stores = await asyncio.gather(*(open_store(fresh_url) for _ in range(4)))
    try:
        assert sorted(s.applied_migrations for s in stores) == [(), (), (), (1, 2)]
        assert [m.version for m in await stores[0].migrations()] == [1, 2]
    finally:
        for s in stores:
            await s.close()


async def test_new_migration_applies_and_newer_schema_is_refused(fresh_url: str, clock: FakeClock):
    extra = Migration(
        3,
        "extra",
        "-- a test migration with the dialect words\n"
        "CREATE TABLE test_extra (\n    id {serial},\n    at {timestamp},\n    doc {json}\n);\n"
        "CREATE INDEX test_extra_at ON test_extra (at);\n",
    )
    db = await open_database(fresh_url)
    try:
        assert await migrate(db, clock=clock, migrations=[*load_migrations(), extra]) == [1, 2, 3]
        assert await migrate(db, clock=clock, migrations=[*load_migrations(), extra]) == []
    finally:
        await db.close()
    with pytest.raises(SchemaTooNew, match=r"\[3\]"):
        await open_store(fresh_url)
    bad = Migration(4, "bad", "CREATE TABLE x (id {uuid});")
    with pytest.raises(StoreError, match="unknown word"):
        bad.statements({})


# -- durability --------------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import UTC, datetime, timedelta
    from chargekit.central.store import MeterSample, open_store

    async def main(url):
        store = await open_store(url)
        await store.stations.create("CPKILL")
        t0 = datetime(2026, 1, 1, tzinfo=UTC)
        tx, _ = await store.transactions.start(
            "CPKILL", 1, id_tag="KILL", started_at=t0, meter_start=1000)
        print("started", tx.id, flush=True)
        n = 0
        while True:
            n += 1
            at = t0 + timedelta(seconds=n)
            await store.transactions.add_samples(
                tx.id, [MeterSample(at, 1000.0 + n), MeterSample(at, 16.0, "Current.Import", "A")])
            await store.stations.touch("CPKILL", at)  # a single-statement write
            print("committed", n, flush=True)

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_committed_data_survives_sigkill(url: str, store: Store):
    """A writer killed with SIGKILL mid-stream loses nothing it reported committed."""
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        started = child.stdout.readline().split()
        assert started[0] == "started", started
        for line in child.stdout:
            if line.split()[1] == "40":
                break
        child.send_signal(signal.SIGKILL)  # while it keeps writing
        rest = child.stdout.read().split()
    finally:
        child.kill()
        child.wait(timeout=10)
    assert child.returncode == -signal.SIGKILL
    committed = max([40, *(int(word) for word in rest if word.isdigit())])
    reopened = await open_store(url)
    try:
        tx = await reopened.transactions.get(int(started[1]))
        assert (tx.station_id, tx.id_tag, tx.meter_start, tx.is_open) == (
            "CPKILL",
            "KILL",
            1000,
            True,
        )
        energy = sorted(int(s.value) - 1000 for s in tx.samples or () if s.unit == "Wh")
        assert energy[:committed] == list(range(1, committed + 1))
        assert len(tx.samples or ()) >= 2 * committed
        assert len(tx.samples or ()) % 2 == 0  # a batch is stored whole or not at all
        station = await reopened.stations.get("CPKILL")
        assert station.last_seen is not None
        assert station.last_seen >= datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=committed)
    finally:
        await reopened.close()
