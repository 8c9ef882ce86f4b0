"""StoreDomain, the OCPP server's domain over the store, on SQLite and on PostgreSQL; station
password hashing; and create_app with the store-backed domain under uvicorn, the `ocpp`
library's ChargePoint as the station over real sockets.

PostgreSQL (127.0.0.1:5432, user postgres, trust auth) gets one fresh database for this
module, emptied before each test and dropped at the end (as in tests/test_store.py).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import uvicorn
from ocpp.v16 import ChargePoint, call
from pgtest import PG_SERVER, FakeClock, create_database, drop_database, empty
from services import require_service
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from chargekit.central.app import create_app, redact_url
from chargekit.central.domain import (
    StoreDomain,
    hash_password,
    needs_rehash,
    verify_password,
)
from chargekit.central.domain import store_domain as store_domain_module
from chargekit.central.ocpp import (
    BootInfo,
    CsmsDomain,
    DataTransferResult,
    IdTagInfo,
    MeterValue,
    SampledValue,
)
from chargekit.central.settings import Settings
from chargekit.central.store import MeterSample, NotFound, Store, open_store

T0 = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)
PASSWORD = "0123456789abcdef"
# Hashing with scrypt's full cost is ~50 ms; most tests store a cheap hash of the same format.
CHEAP = {"n": 2**4, "r": 1, "p": 1}


# -- databases ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    require_service("postgres")
    name = create_database("chargekit_domain")
    yield f"{PG_SERVER}/{name}"
    drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'central.db'}"
    return request.getfixturevalue("pg_database")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
async def store(url: str, clock: FakeClock) -> AsyncIterator[Store]:
    opened = await open_store(url, clock=clock)
    await empty(url)
    yield opened
    await opened.close()


@pytest.fixture
def domain(store: Store, clock: FakeClock) -> StoreDomain:
    return StoreDomain(store, heartbeat_interval=120, clock=clock)


async def _station(store: Store, station_id: str = "CP-1", **fields: Any) -> None:
    fields.setdefault("password_hash", hash_password(PASSWORD, **CHEAP))
    await store.stations.create(station_id, **fields)


def _mv(when: datetime, *values: SampledValue) -> MeterValue:
    return MeterValue(when, values)


# -- passwords ---------------------------------------------------------------------------------


def test_password_hash_format_and_verification():
    hashed = hash_password(PASSWORD)
    scheme, n, r, p, salt, key = hashed.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert len(base64.urlsafe_b64decode(salt + "==")) == 16
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert verify_password(PASSWORD, hashed)
    assert not verify_password(PASSWORD.upper(), hashed)
    assert not verify_password("", hashed)
    assert hash_password(PASSWORD) != hashed  # a fresh salt every time
    assert not needs_rehash(hashed) and needs_rehash(hash_password(PASSWORD, **CHEAP))
    unicode = hash_password("pässwörd-ÄÖÜ-1234", **CHEAP)
    assert verify_password("pässwörd-ÄÖÜ-1234", unicode)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "plain-text-password",
        "bcrypt$12$x$y",
        "scrypt$16384$8$1$c2FsdA",
        "scrypt$16000$8$1$c2FsdHNhbHQ$" + "A" * 43,  # n not a power of two
        "scrypt$2097152$8$1$c2FsdHNhbHQ$" + "A" * 43,  # absurd cost
        "scrypt$16384$8$1$!!!$" + "A" * 43,
        "scrypt$16384$8$1$c2FsdHNhbHQ$QUJD",  # key too short
    ],
)
def test_malformed_stored_hashes_raise_value_error(bad):
    with pytest.raises(ValueError):
        verify_password(PASSWORD, bad)
    assert needs_rehash(bad)


def test_hash_password_refuses_empty_and_non_text():
    with pytest.raises(ValueError):
        hash_password("")
    with pytest.raises(TypeError):
        hash_password(b"bytes")  # type: ignore[arg-type]


# -- authentication and registration -----------------------------------------------------------


async def test_store_domain_is_a_csms_domain(domain: StoreDomain):
    assert isinstance(domain, CsmsDomain)
    with pytest.raises(RuntimeError, match="no store yet"):
        await StoreDomain().authorize("CP-1", "TAG")


async def test_authenticate(store: Store, domain: StoreDomain, monkeypatch, caplog):
    await _station(store)
    assert await domain.authenticate("CP-9", PASSWORD) == "unknown"
    assert await domain.authenticate("CP-1", PASSWORD) == "ok"
    assert await domain.authenticate("CP-1", "wrong-password-123") == "bad_password"
    assert await domain.authenticate("CP-1", None) == "bad_password"
    assert await domain.authenticate("CP-1", "") == "bad_password"

    # a verified password is remembered: reconnects skip the KDF
    calls = []
    real = store_domain_module.verify_password

    def counting(password: str, hashed: str) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(store_domain_module, "verify_password", counting)
    assert await domain.authenticate("CP-1", PASSWORD) == "ok"
    assert calls == []
    assert await domain.authenticate("CP-1", "wrong-password-123") == "bad_password"
    assert calls == ["wrong-password-123"]
    # a new stored hash forgets the remembered password
    await store.stations.update("CP-1", password_hash=hash_password("another-password-1", **CHEAP))
    assert await domain.authenticate("CP-1", PASSWORD) == "bad_password"
    assert await domain.authenticate("CP-1", "another-password-1") == "ok"

    # an unusable stored hash refuses and says so in the log
    await store.stations.update("CP-1", password_hash="md5$abc")
    with caplog.at_level(logging.ERROR, logger="chargekit.central.domain"):
        assert await domain.authenticate("CP-1", PASSWORD) == "bad_password"
    assert "stored password hash is unusable" in caplog.text


async def test_stations_without_a_password_only_if_allowed(store: Store, clock: FakeClock):
    await _station(store, "CP-0", password_hash=None)
    strict = StoreDomain(store, clock=clock)
    assert await strict.authenticate("CP-0", None) == "bad_password"
    assert await strict.authenticate("CP-0", "anything-at-all-1") == "bad_password"
    lenient = StoreDomain(store, clock=clock, allow_passwordless=True)
    assert await lenient.authenticate("CP-0", None) == "ok"
    assert await lenient.authenticate("CP-0", "anything-at-all-1") == "ok"


async def test_register_stores_the_first_passwords_hash(store: Store, domain: StoreDomain):
    assert await domain.register("CP-NEW", PASSWORD) is True
    station = await store.stations.get("CP-NEW")
    assert station.registration_status == "Accepted"
    assert station.password_hash.startswith("scrypt$16384$8$1$")
    assert verify_password(PASSWORD, station.password_hash)
    assert await domain.authenticate("CP-NEW", PASSWORD) == "ok"
    assert await domain.authenticate("CP-NEW", "someone-else-1234") == "bad_password"
    # A concurrent registration: nothing changes, and the caller learns it was not created.
    assert await domain.register("CP-NEW", "someone-else-1234") is False
    assert (await store.stations.get("CP-NEW")).password_hash == station.password_hash
    # Nobody claims an id without a password unless passwordless stations are allowed.
    assert await domain.register("CP-OPEN", None) is False
    with pytest.raises(NotFound):
        await store.stations.get("CP-OPEN")
    open_domain = StoreDomain(store, allow_passwordless=True)
    assert await open_domain.register("CP-OPEN", None) is True
    assert (await store.stations.get("CP-OPEN")).password_hash is None
    pending = StoreDomain(store, register_status="Pending", allow_passwordless=True)
    await pending.register("CP-P", "")
    assert (await store.stations.get("CP-P")).registration_status == "Pending"


# -- station messages --------------------------------------------------------------------------


@pytest.mark.parametrize("registration", ["Accepted", "Pending", "Rejected"])
async def test_boot_stores_the_station_and_answers_its_registration(
    store: Store, domain: StoreDomain, clock: FakeClock, registration: str
):
    await _station(store, registration_status=registration)
    clock.advance(seconds=5)
    info = BootInfo(
        vendor="ChargeKit",
        model="Sim-2",
        serial="SN-7",
        charge_box_serial="CB-1",
        firmware_version="0.1.0",
        iccid="8949",
        imsi="2620",
        meter_type="SDM630",
        meter_serial="M-42",
    )
    assert tuple(await domain.boot("CP-1", info)) == (registration, 120)
    station = await store.stations.get("CP-1")
    assert (
        station.vendor,
        station.model,
        station.serial_number,
        station.charge_box_serial_number,
        station.firmware_version,
        station.iccid,
        station.imsi,
        station.meter_type,
        station.meter_serial_number,
    ) == ("ChargeKit", "Sim-2", "SN-7", "CB-1", "0.1.0", "8949", "2620", "SDM630", "M-42")
    assert station.last_seen == clock.now
    # a later boot that leaves fields out clears them; empty strings count as absent
    await domain.boot("CP-1", BootInfo(vendor="ChargeKit", model="Sim-3", firmware_version=""))
    station = await store.stations.get("CP-1")
    assert (station.model, station.serial_number, station.firmware_version) == ("Sim-3", None, None)


async def test_boot_of_a_station_deleted_while_connected_is_rejected(domain: StoreDomain):
    assert tuple(await domain.boot("CP-GONE", BootInfo("V", "M"))) == ("Rejected", 120)


async def test_every_message_marks_the_station_seen_at_most_once_per_resolution(
    store: Store, clock: FakeClock
):
    await _station(store)
    await store.tokens.create("TAG1")
    domain = StoreDomain(store, clock=clock, seen_resolution=3600)
    assert (await store.stations.get("CP-1")).last_seen is None
    await domain.connected("CP-1")  # always
    assert (await store.stations.get("CP-1")).last_seen == T0
    clock.advance(seconds=10)
    await domain.authorize("CP-1", "TAG1")  # within the resolution: not written
    assert (await store.stations.get("CP-1")).last_seen == T0
    await domain.heartbeat("CP-1")  # always
    assert (await store.stations.get("CP-1")).last_seen == T0 + timedelta(seconds=10)
    await domain.disconnected("CP-1")  # forgets the throttle
    clock.advance(seconds=10)
    await domain.authorize("CP-1", "TAG1")
    assert (await store.stations.get("CP-1")).last_seen == T0 + timedelta(seconds=20)

    eager = StoreDomain(store, clock=clock, seen_resolution=0)
    for _ in range(2):
        clock.advance(seconds=1)
        await eager.data_transfer("CP-1", vendor_id="x")
        assert (await store.stations.get("CP-1")).last_seen == clock.now
    await eager.heartbeat("CP-GONE")  # a station deleted meanwhile: nothing to touch


async def test_status_notification(store: Store, domain: StoreDomain, clock: FakeClock):
    await _station(store)
    at = T0 - timedelta(minutes=1)
    await domain.status_notification(
        "CP-1",
        connector_id=1,
        status="Faulted",
        error_code="GroundFailure",
        info="RCD tripped",
        timestamp=at,
        vendor_id="com.example",
        vendor_error_code="E17",
    )
    connector = await store.connectors.get("CP-1", 1)
    assert (connector.status, connector.error_code, connector.info) == (
        "Faulted",
        "GroundFailure",
        "RCD tripped",
    )
    assert (connector.vendor_id, connector.vendor_error_code, connector.updated_at) == (
        "com.example",
        "E17",
        at,
    )
    # a late replay (older timestamp) changes nothing
    await domain.status_notification(
        "CP-1",
        connector_id=1,
        status="Available",
        error_code="NoError",
        timestamp=at - timedelta(1),
    )
    assert (await store.connectors.get("CP-1", 1)).status == "Faulted"
    # a station clock ahead of ours is capped at now, so the next true status still counts
    await domain.status_notification(
        "CP-1",
        connector_id=1,
        status="Available",
        error_code="NoError",
        info="",
        timestamp=T0 + timedelta(days=365),
    )
    connector = await store.connectors.get("CP-1", 1)
    assert (connector.status, connector.info, connector.updated_at) == ("Available", None, T0)
    clock.advance(seconds=30)
    await domain.status_notification(
        "CP-1", connector_id=1, status="Preparing", error_code="NoError", timestamp=clock.now
    )
    assert (await store.connectors.get("CP-1", 1)).status == "Preparing"
    # no timestamp: now; connector 0 is the station
    await domain.status_notification(
        "CP-1", connector_id=0, status="Available", error_code="NoError"
    )
    assert (await store.connectors.get("CP-1", 0)).updated_at == clock.now
    await domain.status_notification(
        "CP-GONE", connector_id=1, status="Available", error_code="NoError"
    )


async def test_authorize_answers_from_the_tokens(store: Store, domain: StoreDomain):
    await _station(store)
    soon, past = T0 + timedelta(days=30), T0 - timedelta(seconds=1)
    await store.tokens.create("04A1B2C3", expires_at=soon, parent_id_tag="FLEET-1")
    await store.tokens.create("BLOCKED1", status="Blocked")
    await store.tokens.create("OLD1", expires_at=past)
    await store.tokens.create("NOWEXP", expires_at=T0)  # expiring this very instant
    await store.tokens.create("MARKED", status="Expired")
    await store.tokens.create("BAD1", status="Invalid")
    assert await domain.authorize("CP-1", "04a1b2c3") == IdTagInfo("Accepted", soon, "FLEET-1")
    assert await domain.authorize("CP-1", "BLOCKED1") == IdTagInfo("Blocked")
    assert await domain.authorize("CP-1", "OLD1") == IdTagInfo("Expired", past)
    assert await domain.authorize("CP-1", "NOWEXP") == IdTagInfo("Expired", T0)
    assert await domain.authorize("CP-1", "MARKED") == IdTagInfo("Expired")
    assert await domain.authorize("CP-1", "BAD1") == IdTagInfo("Invalid")
    assert await domain.authorize("CP-1", "UNKNOWN") == IdTagInfo("Invalid")
    lenient = StoreDomain(store, accept_unknown_tags=True)
    assert await lenient.authorize("CP-1", "UNKNOWN") == IdTagInfo("Accepted")


async def test_start_transaction_is_idempotent_and_answers_the_tag(
    store: Store, domain: StoreDomain
):
    await _station(store)
    await store.tokens.create("TAG1")
    await store.tokens.create("BLOCKED1", status="Blocked")
    when = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    first = await domain.start_transaction(
        "CP-1", connector_id=1, id_tag="TAG1", meter_start=1200, timestamp=when, reservation_id=7
    )
    assert first.id_tag_info == IdTagInfo("Accepted")
    same_instant = when.astimezone(timezone(timedelta(hours=1)))
    replay = await domain.start_transaction(
        "CP-1", connector_id=1, id_tag="TAG1", meter_start=1200, timestamp=same_instant
    )
    assert replay.transaction_id == first.transaction_id
    refused = await domain.start_transaction(
        "CP-1", connector_id=2, id_tag="BLOCKED1", meter_start=5, timestamp=when
    )
    unknown = await domain.start_transaction(
        "CP-1", connector_id=2, id_tag="NOBODY", meter_start=6, timestamp=when
    )
    # refused tags still get a transaction id (the station stops it)
    assert refused.id_tag_info.status == "Blocked" and unknown.id_tag_info.status == "Invalid"
    ids = {first.transaction_id, refused.transaction_id, unknown.transaction_id}
    assert len(ids) == 3
    _, total = await store.transactions.list(station_id="CP-1")
    assert total == 3
    tx = await store.transactions.get(first.transaction_id)
    assert (tx.connector_id, tx.id_tag, tx.meter_start, tx.started_at, tx.reservation_id) == (
        1,
        "TAG1",
        1200,
        when,
        7,
    )
    with pytest.raises(NotFound):  # a station deleted meanwhile: InternalError for the station
        await domain.start_transaction(
            "CP-GONE", connector_id=1, id_tag="TAG1", meter_start=0, timestamp=when
        )


async def test_meter_values_and_stop_transaction(store: Store, domain: StoreDomain, caplog):
    await _station(store)
    await _station(store, "CP-2")
    await store.tokens.create("TAG1")
    t = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    start = await domain.start_transaction(
        "CP-1", connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=t
    )
    tx_id = start.transaction_id
    values = (
        _mv(
            t + timedelta(minutes=1),
            SampledValue("1500"),
            SampledValue("7.2", measurand="Power.Active.Import", unit="kW", phase="L1"),
            SampledValue("a1b2", format="SignedData"),  # no column for signed data: skipped
            SampledValue("NaN"),  # not a finite number: skipped
        ),
    )
    await domain.meter_values("CP-1", connector_id=1, transaction_id=tx_id, meter_values=values)
    await domain.meter_values("CP-1", connector_id=1, transaction_id=tx_id, meter_values=values)
    # without a transaction, unknown, another station's: acknowledged, not stored
    other = (_mv(t + timedelta(minutes=2), SampledValue("99")),)
    with caplog.at_level(logging.WARNING, logger="chargekit.central.domain"):
        await domain.meter_values("CP-1", connector_id=1, transaction_id=None, meter_values=other)
        await domain.meter_values("CP-1", connector_id=1, transaction_id=999, meter_values=other)
        await domain.meter_values("CP-1", connector_id=1, transaction_id=2**70, meter_values=other)
        await domain.meter_values("CP-2", connector_id=1, transaction_id=tx_id, meter_values=other)
    assert "unknown transaction 999" in caplog.text
    assert f"transaction {tx_id} of station CP-1: ignored" in caplog.text

    tx = await store.transactions.get(tx_id)
    assert tx.samples == (
        MeterSample(t + timedelta(minutes=1), 1500.0),
        MeterSample(
            t + timedelta(minutes=1), 7.2, measurand="Power.Active.Import", unit="kW", phase="L1"
        ),
    )

    # another station cannot stop it
    assert (
        await domain.stop_transaction(
            "CP-2", transaction_id=tx_id, meter_stop=1, timestamp=t + timedelta(hours=1)
        )
        is None
    )
    assert (await store.transactions.get(tx_id)).is_open

    stop_at = t + timedelta(minutes=30)
    data = (_mv(t + timedelta(minutes=29), SampledValue("2400", context="Sample.Clock")),)
    info = await domain.stop_transaction(
        "CP-1",
        transaction_id=tx_id,
        meter_stop=2500,
        timestamp=stop_at,
        reason="EVDisconnected",
        id_tag="tag1",
        transaction_data=data,
    )
    assert info == IdTagInfo("Accepted")
    # a replayed stop changes nothing and adds no sample twice
    again = await domain.stop_transaction(
        "CP-1",
        transaction_id=tx_id,
        meter_stop=9999,
        timestamp=stop_at + timedelta(minutes=5),
        reason="Local",
        transaction_data=data,
    )
    assert again is None
    tx = await store.transactions.get(tx_id)
    assert (tx.stopped_at, tx.meter_stop, tx.stop_reason, tx.stop_id_tag, tx.energy_wh) == (
        stop_at,
        2500,
        "EVDisconnected",
        "tag1",
        1500,
    )
    assert len(tx.samples) == 3 and tx.samples[-1].context == "Sample.Clock"
    # an unknown transaction is acknowledged (a refused stop would be retried forever)
    assert await domain.stop_transaction(
        "CP-1", transaction_id=12345, meter_stop=1, timestamp=stop_at, id_tag="NOBODY"
    ) == IdTagInfo("Invalid")


async def test_ownership_is_read_from_the_store_after_a_restart(store: Store, clock: FakeClock):
    await _station(store)
    t = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    first = StoreDomain(store, clock=clock)
    start = await first.start_transaction(
        "CP-1", connector_id=1, id_tag="TAG1", meter_start=0, timestamp=t
    )
    fresh = StoreDomain(store, clock=clock)  # no cache: what a restarted central has
    values = (_mv(t + timedelta(minutes=1), SampledValue("100")),)
    await fresh.meter_values(
        "CP-1", connector_id=1, transaction_id=start.transaction_id, meter_values=values
    )
    await fresh.stop_transaction(
        "CP-1",
        transaction_id=start.transaction_id,
        meter_stop=200,
        timestamp=t + timedelta(hours=1),
    )
    tx = await store.transactions.get(start.transaction_id)
    assert (tx.meter_stop, len(tx.samples)) == (200, 1)


async def test_data_transfer_diagnostics_and_firmware_status(store: Store, clock: FakeClock):
    await _station(store)

    async def echo(station_id: str, message_id: str | None, data: str | None):
        return DataTransferResult("Accepted", f"{station_id}:{message_id}:{data}")

    domain = StoreDomain(store, clock=clock, data_transfer={"com.chargekit": echo})
    assert await domain.data_transfer("CP-1", vendor_id="com.example") == DataTransferResult(
        "UnknownVendorId"
    )
    assert await domain.data_transfer(
        "CP-1", vendor_id="com.chargekit", message_id="ping", data="{}"
    ) == DataTransferResult("Accepted", "CP-1:ping:{}")
    await domain.diagnostics_status("CP-1", "Uploading")
    await domain.firmware_status("CP-1", "Installed")
    station = await store.stations.get("CP-1")
    assert (station.diagnostics_status, station.firmware_status) == ("Uploading", "Installed")
    await domain.diagnostics_status("CP-GONE", "Uploaded")  # deleted meanwhile: no error
    await domain.firmware_status("CP-GONE", "Installed")


# -- the app over real sockets, the ocpp library as the station ---------------------------------


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    """`app` under uvicorn on a free port (lifespan on); yields the port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_level="critical", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.005)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task


class Recorder:
    """The station's side of the socket, keeping every frame it received as JSON."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.received: list[Any] = []

    async def recv(self) -> str:
        text = await self.ws.recv()
        self.received.append(json.loads(text))
        return text

    async def send(self, text: str) -> None:
        await self.ws.send(text)


class Station(ChargePoint):
    """The `ocpp` library's charge point (schema validation on), ids "1", "2", ..."""

    def __init__(self, station_id: str, connection: Recorder) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        self.wire = connection
        counter = itertools.count(1)
        self._unique_id_generator = lambda: str(next(counter))


@asynccontextmanager
async def station(port: int, station_id: str, password: str | None) -> AsyncIterator[Station]:
    headers = None
    if password is not None:
        token = base64.b64encode(f"{station_id}:{password}".encode()).decode()
        headers = {"Authorization": f"Basic {token}"}
    async with connect(
        f"ws://127.0.0.1:{port}/ocpp/{station_id}",
        subprotocols=["ocpp1.6"],
        additional_headers=headers,
        open_timeout=5,
    ) as ws:
        cp = Station(station_id, Recorder(ws))
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()


async def test_a_charging_session_through_the_app_lands_in_the_store(url: str):
    store = await open_store(url)
    try:
        await empty(url)
        await store.stations.create("CP-1", password_hash=hash_password(PASSWORD))
        expiry = datetime(2030, 1, 1, tzinfo=UTC)
        await store.tokens.create("TAG1", expires_at=expiry, parent_id_tag="FLEET")
        app = create_app(Settings(port=0, heartbeat_interval=60), store=store)
        assert app.state.store is store and isinstance(app.state.domain, StoreDomain)
        async with serving(app) as port:
            with pytest.raises(InvalidStatus) as refused:
                async with station(port, "CP-1", "wrong-password-123"):
                    pass
            assert refused.value.response.status_code == 401
            async with station(port, "CP-1", PASSWORD) as cp:
                boot = await cp.call(
                    call.BootNotification(
                        charge_point_vendor="ChargeKit",
                        charge_point_model="Sim-2",
                        firmware_version="0.1.0",
                    )
                )
                assert (boot.status, boot.interval) == ("Accepted", 60)
                await cp.call(
                    call.StatusNotification(
                        connector_id=1, error_code="NoError", status="Preparing"
                    )
                )
                await cp.call(call.Authorize(id_tag="tag1"))
                assert cp.wire.received[-1][2] == {
                    "idTagInfo": {
                        "status": "Accepted",
                        "expiryDate": "2030-01-01T00:00:00Z",
                        "parentIdTag": "FLEET",
                    }
                }
                start = await cp.call(
                    call.StartTransaction(
                        connector_id=1,
                        id_tag="TAG1",
                        meter_start=1000,
                        timestamp="2026-11-23T10:00:00Z",
                    )
                )
                tx_id = start.transaction_id
                await cp.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=tx_id,
                        meter_value=[
                            {
                                "timestamp": "2026-11-23T10:05:00Z",
                                "sampledValue": [
                                    {"value": "1400", "unit": "Wh"},
                                    {
                                        "value": "7.2",
                                        "measurand": "Power.Active.Import",
                                        "unit": "kW",
                                    },
                                ],
                            }
                        ],
                    )
                )
                stop = await cp.call(
                    call.StopTransaction(
                        meter_stop=2500,
                        timestamp="2026-11-23T10:30:00Z",
                        transaction_id=tx_id,
                        id_tag="TAG1",
                        reason="EVDisconnected",
                    )
                )
                assert stop.id_tag_info["status"] == "Accepted"
                await cp.call(call.Heartbeat())
        tx = await store.transactions.get(tx_id)
        assert (tx.station_id, tx.meter_start, tx.meter_stop, tx.stop_reason, tx.energy_wh) == (
            "CP-1",
            1000,
            2500,
            "EVDisconnected",
            1500,
        )
        assert [(s.measurand, s.value) for s in tx.samples] == [
            ("Energy.Active.Import.Register", 1400.0),
            ("Power.Active.Import", 7.2),
        ]
        station_row = await store.stations.get("CP-1")
        assert (station_row.vendor, station_row.firmware_version) == ("ChargeKit", "0.1.0")
        assert station_row.last_seen is not None
        assert (await store.connectors.get("CP-1", 1)).status == "Preparing"
        assert app.state.store is store  # the caller's store: still open, the caller closes it
        await store.ping()
    finally:
        await store.close()


async def test_create_app_opens_and_closes_the_store_from_the_settings(tmp_path):
    db_url = f"sqlite:///{tmp_path / 'own.db'}"
    seen: list[Any] = []

    async def on_startup(app: Any) -> None:
        seen.append(("startup", app.state.store is not None))

    async def on_shutdown(app: Any) -> None:
        seen.append(("shutdown", app.state.store is not None))

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse(request.app.state.store.backend)

    app = create_app(
        Settings(port=0, db_url=db_url, auto_register=True),
        extra_routes=[Route("/hello", hello)],
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
    )
    assert app.state.store is None
    async with serving(app) as port:
        opened = app.state.store
        assert opened.applied_migrations[0] == 1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /hello HTTP/1.0\r\n\r\n")
        assert (await reader.read()).endswith(b"\r\n\r\nsqlite")
        writer.close()
        async with station(port, "CP-AUTO", PASSWORD) as cp:
            assert (await cp.call(call.Heartbeat())).current_time
    assert app.state.store is None
    assert seen == [("startup", True), ("shutdown", True)]
    with pytest.raises(RuntimeError):
        app.state.domain.store  # noqa: B018 - unbound after shutdown
    async with await open_store(db_url) as reopened:  # auto-registered with its password
        station_row = await reopened.stations.get("CP-AUTO")
        assert verify_password(PASSWORD, station_row.password_hash)
        assert station_row.last_seen is not None


def test_redact_url():
    assert redact_url("postgresql://u:secret@db:5432/ck") == "postgresql://u:***@db:5432/ck"
    assert redact_url("postgresql://u@db/ck") == "postgresql://u@db/ck"
    assert redact_url("sqlite:///chargekit.db") == "sqlite:///chargekit.db"
