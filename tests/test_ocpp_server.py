"""The CSMS's OCPP 1.6J server against the `ocpp` library's ChargePoint as the independent
client, over real sockets: the app runs under uvicorn in-process on a free port.

Assertions are on the exact JSON that crossed the wire where it matters (frames recorded by
the client's connection; the server's command ids fixed by an injected id factory).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from ocpp.charge_point import camel_to_snake_case
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from chargekit.central.app import create_app
from chargekit.central.ocpp import (
    COMMANDS,
    CommandRejected,
    CommandTimeout,
    IdTagInfo,
    InvalidPayload,
    InvalidResponse,
    MemoryDomain,
    MeterValue,
    SampledValue,
    StationNotConnected,
    UnknownCommand,
)
from chargekit.central.ocpp.handlers import CentralChargePoint
from chargekit.central.settings import Settings, SettingsError
from chargekit.protocol.ocpp16 import actions_sent_by

PASSWORD = "0123456789abcdef"  # 16 bytes, the security profile 1 minimum
STATIONS = {"CP-1": PASSWORD, "CP-2": PASSWORD}
NOW = "2026-11-23T10:00:00Z"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")


# --- harness -----------------------------------------------------------------------------------


@dataclass
class Central:
    app: Any
    domain: MemoryDomain
    port: int

    @property
    def ocpp(self) -> Any:
        return self.app.state.ocpp

    def url(self, station_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp/{station_id}"


@asynccontextmanager
async def running(domain: MemoryDomain | None = None, **settings: Any) -> AsyncIterator[Central]:
    """The app under uvicorn on a free port, with fixed command ids "c1", "c2", ..."""
    domain = domain or MemoryDomain(stations=STATIONS, tokens={"TAG1": "Accepted"})
    config_settings = Settings(port=0, **settings)
    app = create_app(config_settings, domain=domain)
    counter = itertools.count(1)
    app.state.ocpp.id_factory = lambda: f"c{next(counter)}"
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    options = config_settings.uvicorn_options()  # TLS files when set (security profile 2)
    options.update(log_level="critical")
    del options["host"], options["port"]  # we listen on our own socket
    config = uvicorn.Config(app, lifespan="on", timeout_graceful_shutdown=2, **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.005)
    try:
        yield Central(app, domain, sock.getsockname()[1])
    finally:
        server.should_exit = True
        await task


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def open_ws(
    central: Central,
    station_id: str = "CP-1",
    *,
    password: str | None = PASSWORD,
    subprotocols: list[str] | None = None,
) -> ClientConnection:
    return await connect(
        central.url(station_id),
        # [] would send an empty Sec-WebSocket-Protocol header; None sends none
        subprotocols=["ocpp1.6"] if subprotocols is None else subprotocols or None,
        additional_headers=basic(station_id, password) if password is not None else None,
        open_timeout=5,
    )


class Recorder:
    """The client's connection for the ocpp ChargePoint, keeping every frame as JSON."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.sent: list[Any] = []
        self.received: list[Any] = []

    async def recv(self) -> str:
        text = await self.ws.recv()
        self.received.append(json.loads(text))
        return text

    async def send(self, text: str) -> None:
        self.sent.append(json.loads(text))
        await self.ws.send(text)


class Station(ChargePoint):
    """The `ocpp` library's charge point, schema validation on, ids "1", "2", ..."""

    def __init__(self, station_id: str, connection: Recorder) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        counter = itertools.count(1)
        self._unique_id_generator = lambda: str(next(counter))
        self.requests: list[tuple[str, dict[str, Any]]] = []


@asynccontextmanager
async def station(
    central: Central, station_id: str = "CP-1", cls: type[Station] = Station
) -> AsyncIterator[tuple[Station, Recorder]]:
    ws = await open_ws(central, station_id)
    recorder = Recorder(ws)
    cp = cls(station_id, recorder)
    task = asyncio.create_task(cp.start())
    try:
        yield cp, recorder
    finally:
        task.cancel()
        await ws.close()


async def exchange(ws: ClientConnection, frame: str | bytes) -> list[Any]:
    await ws.send(frame)
    return json.loads(await asyncio.wait_for(ws.recv(), 5))


async def wait_for(condition: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def methods(domain: MemoryDomain) -> list[tuple[str, str]]:
    return [(name, station_id) for name, station_id, _ in domain.calls if name != "authenticate"]


# --- every charge-point-to-central action ------------------------------------------------------


def test_every_charge_point_action_has_a_schema_validated_handler():
    cp = CentralChargePoint("CP-1", connection=None, domain=MemoryDomain())
    assert sorted(cp.route_map) == actions_sent_by("CP")
    assert not any(route["_skip_schema_validation"] for route in cp.route_map.values())


async def test_every_charge_point_action_round_trips():
    domain = MemoryDomain(stations=STATIONS, tokens={"TAG1": "Accepted", "OLD": "Blocked"})
    async with running(domain) as central, station(central) as (cp, rec):
        boot = await cp.call(
            call.BootNotification(
                charge_point_vendor="ChargeKit",
                charge_point_model="Sim-2",
                charge_point_serial_number="SN-7",
                firmware_version="0.1.0",
                meter_type="SDM630",
            )
        )
        assert (boot.status, boot.interval) == ("Accepted", 300)
        assert TIME_RE.match(boot.current_time)
        info = domain.stations["CP-1"].boot
        assert (info.vendor, info.model, info.serial, info.firmware_version, info.meter_type) == (
            "ChargeKit",
            "Sim-2",
            "SN-7",
            "0.1.0",
            "SDM630",
        )

        heartbeat = await cp.call(call.Heartbeat())
        assert TIME_RE.match(heartbeat.current_time)
        assert domain.stations["CP-1"].last_heartbeat is not None

        await cp.call(
            call.StatusNotification(
                connector_id=1,
                error_code="NoError",
                status="Preparing",
                timestamp=NOW,
                info="plugged",
            )
        )
        connector = domain.stations["CP-1"].connectors[1]
        assert (connector.status, connector.error_code, connector.info) == (
            "Preparing",
            "NoError",
            "plugged",
        )
        assert connector.timestamp == datetime(2026, 11, 23, 10, tzinfo=UTC)

        assert (await cp.call(call.Authorize(id_tag="tag1"))).id_tag_info == {"status": "Accepted"}
        assert (await cp.call(call.Authorize(id_tag="OLD"))).id_tag_info == {"status": "Blocked"}
        assert (await cp.call(call.Authorize(id_tag="NOPE"))).id_tag_info == {"status": "Invalid"}

        start = await cp.call(
            call.StartTransaction(connector_id=1, id_tag="TAG1", meter_start=1000, timestamp=NOW)
        )
        assert rec.received[-1] == [
            3,
            rec.sent[-1][1],
            {"idTagInfo": {"status": "Accepted"}, "transactionId": 1},
        ]
        assert start.transaction_id == 1

        sample = {
            "timestamp": "2026-11-23T10:05:00.250+01:00",
            "sampledValue": [
                {"value": "1500", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
            ],
        }
        await cp.call(call.MeterValues(connector_id=1, transaction_id=1, meter_value=[sample]))
        assert rec.sent[-1][3] == {"connectorId": 1, "transactionId": 1, "meterValue": [sample]}

        stop = await cp.call(
            call.StopTransaction(
                meter_stop=2500,
                timestamp="2026-11-23T11:00:00Z",
                transaction_id=1,
                id_tag="TAG1",
                reason="EVDisconnected",
                transaction_data=[
                    {
                        "timestamp": "2026-11-23T10:30:00Z",
                        "sampledValue": [{"value": "2000", "context": "Sample.Clock"}],
                    }
                ],
            )
        )
        assert stop.id_tag_info == {"status": "Accepted"}
        tx = domain.transactions[1]
        assert (tx.meter_start, tx.meter_stop, tx.reason, tx.stop_id_tag) == (
            1000,
            2500,
            "EVDisconnected",
            "TAG1",
        )
        assert tx.meter_values == [
            MeterValue(
                datetime(2026, 11, 23, 9, 5, 0, 250000, tzinfo=UTC),
                (
                    SampledValue("1500"),
                    SampledValue("7.2", measurand="Power.Active.Import", unit="kW"),
                ),
            ),
            MeterValue(
                datetime(2026, 11, 23, 10, 30, tzinfo=UTC),
                (SampledValue("2000", context="Sample.Clock"),),
            ),
        ]

        # StopTransaction without idTag: no idTagInfo in the answer, reason defaults to Local
        await cp.call(call.StopTransaction(meter_stop=1, timestamp=NOW, transaction_id=99))
        assert rec.received[-1] == [3, rec.sent[-1][1], {}]
        assert domain.calls_to("stop_transaction")[-1][1]["reason"] == "Local"

        transfer = await cp.call(
            call.DataTransfer(vendor_id="com.example", message_id="hello", data="{}")
        )
        assert transfer.status == "UnknownVendorId"
        assert domain.data_transfers == [("CP-1", "com.example", "hello", "{}")]

        await cp.call(call.DiagnosticsStatusNotification(status="Uploaded"))
        await cp.call(call.FirmwareStatusNotification(status="Installed"))
        assert domain.stations["CP-1"].diagnostics_status == "Uploaded"
        assert domain.stations["CP-1"].firmware_status == "Installed"

        # every answer was a CALLRESULT to the CALL with the same id
        assert [frame[:2] for frame in rec.received] == [[3, frame[1]] for frame in rec.sent]


@pytest.mark.parametrize(
    ("registration", "interval"), [("Accepted", 300), ("Pending", 300), ("Rejected", 300)]
)
async def test_boot_notification_answers_the_stations_registration(registration, interval):
    domain = MemoryDomain(stations=STATIONS)
    domain.stations["CP-1"].registration = registration
    async with running(domain) as central, station(central) as (cp, _):
        boot = await cp.call(call.BootNotification(charge_point_vendor="V", charge_point_model="M"))
        assert (boot.status, boot.interval) == (registration, interval)
        conn = central.ocpp.registry.get("CP-1")
        assert (conn.info().registration, conn.heartbeat_interval) == (registration, interval)


async def test_replayed_start_transaction_returns_the_same_transaction_id():
    async with running() as central:
        ws = await open_ws(central)
        start = '[2,"%s","StartTransaction",{"connectorId":1,"idTag":"TAG1","meterStart":7,"timestamp":"%s"}]'
        first = await exchange(ws, start % ("a", NOW))
        await ws.close()
        # the answer was lost; the station reconnects and sends the journaled message again
        ws = await open_ws(central)
        again = await exchange(ws, start % ("b", NOW))
        same_instant = await exchange(ws, start % ("c", "2026-11-23T11:00:00+01:00"))
        later = await exchange(ws, start % ("d", "2026-11-23T10:00:01Z"))
        await ws.close()
    accepted = {"status": "Accepted"}
    assert first == [3, "a", {"transactionId": 1, "idTagInfo": accepted}]
    assert again == [3, "b", {"transactionId": 1, "idTagInfo": accepted}]
    assert same_instant == [3, "c", {"transactionId": 1, "idTagInfo": accepted}]
    assert later == [3, "d", {"transactionId": 2, "idTagInfo": accepted}]
    assert sorted(central.domain.transactions) == [1, 2]


# --- malformed frames --------------------------------------------------------------------------

MALFORMED = [
    ("not json", "-1", "FormationViolation"),
    ('[2,"x","Heartbeat",{}', "-1", "FormationViolation"),
    ("{}", "-1", "FormationViolation"),
    ("[]", "-1", "FormationViolation"),
    ('["2","m0","Heartbeat",{}]', "-1", "FormationViolation"),
    ('[2,12,"Heartbeat",{}]', "-1", "TypeConstraintViolation"),
    ('[2,"' + "i" * 37 + '","Heartbeat",{}]', "-1", "TypeConstraintViolation"),
    ('[9,"m1",{}]', "-1", "PropertyConstraintViolation"),
    ('[2,"m2","Heartbeat"]', "m2", "ProtocolError"),
    ('[2,"m3","Heartbeat",{},{}]', "m3", "FormationViolation"),
    ('[2,"m4","Heartbeat",[]]', "m4", "FormationViolation"),
    ('[2,"m5","FlyToTheMoon",{}]', "m5", "NotImplemented"),
    ('[2,"m6","SignCertificate",{"csr":"x"}]', "m6", "NotSupported"),
    ('[2,"m7","Reset",{"type":"Hard"}]', "m7", "NotSupported"),
    ('[2,"m8","Authorize",{}]', "m8", "ProtocolError"),
    ('[2,"m9","Authorize",{"idTag":5}]', "m9", "TypeConstraintViolation"),
    ('[2,"m10","Authorize",{"idTag":"' + "A" * 21 + '"}]', "m10", "TypeConstraintViolation"),
    ('[2,"m11","Authorize",{"idTag":"A","colour":"red"}]', "m11", "FormationViolation"),
    (
        '[2,"m12","StatusNotification",{"connectorId":1,"errorCode":"NoError","status":"Dancing"}]',
        "m12",
        "PropertyConstraintViolation",
    ),
    (
        '[2,"m13","StartTransaction",{"connectorId":1.5,"idTag":"A","meterStart":0,"timestamp":"'
        + NOW
        + '"}]',
        "m13",
        "TypeConstraintViolation",
    ),
    (
        '[2,"m14","StartTransaction",{"connectorId":1,"idTag":"A","meterStart":0,'
        '"timestamp":"yesterday"}]',
        "m14",
        "PropertyConstraintViolation",
    ),
    (
        '[2,"m15","MeterValues",{"connectorId":1,"meterValue":[]}]',
        "m15",
        "OccurenceConstraintViolation",
    ),
]


async def test_malformed_frames_get_the_right_callerror_and_the_connection_stays_usable():
    async with running() as central:
        ws = await open_ws(central)
        for frame, unique_id, code in MALFORMED:
            answer = await exchange(ws, frame)
            assert answer[:3] == [4, unique_id, code], frame
            assert len(answer) == 5 and isinstance(answer[3], str) and answer[4] == {}
        # a stray CALLRESULT (passed on, dropped by the library) and a faulty CALLERROR
        # (rejected here) are never answered; the next CALL still is
        await ws.send('[3,"nobody-asked",{}]')
        await ws.send('[4,"nobody-asked","GenericError"]')
        answer = await exchange(ws, '[2,"ok","Heartbeat",{}]')
        assert answer[:2] == [3, "ok"] and TIME_RE.match(answer[2]["currentTime"])
        # binary frames are read as UTF-8 text
        assert (await exchange(ws, b'[2,"ok2","Heartbeat",{}]'))[:2] == [3, "ok2"]
        conn = central.ocpp.registry.get("CP-1")
        assert conn.frames_rejected == len(MALFORMED) + 1
        await ws.close()


class FailingDomain(MemoryDomain):
    async def authorize(self, station_id: str, id_tag: str) -> IdTagInfo:
        raise RuntimeError("database on fire")


async def test_a_failing_domain_gives_internal_error_and_the_connection_stays_usable(caplog):
    caplog.set_level(logging.CRITICAL, logger="chargekit.central.ocpp.wire")
    async with running(FailingDomain(stations=STATIONS)) as central:
        ws = await open_ws(central)
        answer = await exchange(ws, '[2,"e1","Authorize",{"idTag":"TAG1"}]')
        assert answer == [4, "e1", "InternalError", "An unexpected error occurred.", {}]
        assert (await exchange(ws, '[2,"e2","Heartbeat",{}]'))[:2] == [3, "e2"]
        await ws.close()


# --- handshake: subprotocol, station id, HTTP Basic ---------------------------------------------


async def refused(coro: Any) -> tuple[int, str, dict[str, str]]:
    with pytest.raises(InvalidStatus) as info:
        await coro
    response = info.value.response
    return response.status_code, bytes(response.body).decode(), dict(response.headers)


async def test_handshake_without_the_ocpp16_subprotocol_is_refused():
    async with running() as central:
        for offered in ([], ["ocpp2.0.1"]):
            status, body, _ = await refused(open_ws(central, subprotocols=offered))
            assert (status, body) == (400, "WebSocket subprotocol ocpp1.6 required\n")
        ws = await open_ws(central, subprotocols=["ocpp2.0.1", "ocpp1.6"])
        assert ws.subprotocol == "ocpp1.6"
        await ws.close()


async def test_invalid_station_ids_are_refused():
    async with running() as central:
        for station_id in ("bad%20id", "a" * 49, "..", "caf%C3%A9"):
            status, body, _ = await refused(open_ws(central, station_id, password=None))
            assert status == 400 and body.startswith("invalid station id: "), station_id


async def test_unknown_stations_and_wrong_passwords_are_refused():
    async with running() as central:
        cases = [
            open_ws(central, "CP-9"),  # unknown
            open_ws(central, "CP-1", password="wrong-password-123"),
            open_ws(central, "CP-1", password=None),  # no credentials for a station that has some
        ]
        for attempt in cases:
            status, body, headers = await refused(attempt)
            assert (status, body) == (401, "unauthorized: unknown station or wrong password\n")
            assert headers["www-authenticate"].startswith("Basic realm=")
        # the Basic user must be the station id
        other_user = connect(
            central.url("CP-1"),
            subprotocols=["ocpp1.6"],
            additional_headers=basic("CP-2", PASSWORD),
        )
        status, body, _ = await refused(other_user)
        assert (status, body) == (401, "unauthorized: Basic user must be the station id\n")
        bearer = connect(
            central.url("CP-1"),
            subprotocols=["ocpp1.6"],
            additional_headers={"Authorization": "Bearer abc"},
        )
        assert (await refused(bearer))[:2] == (
            401,
            "unauthorized: Authorization must be HTTP Basic\n",
        )
    assert central.domain.calls_to("connected") == []
    assert "CP-9" not in central.domain.stations


async def test_unknown_station_is_registered_with_auto_register():
    async with running(auto_register=True) as central:
        async with station(central, "CP-NEW") as (cp, _):
            boot = await cp.call(
                call.BootNotification(charge_point_vendor="V", charge_point_model="M")
            )
            assert boot.status == "Accepted"
        assert central.domain.stations["CP-NEW"].password == PASSWORD  # kept for next time
        # known stations still need their password
        status, _, _ = await refused(open_ws(central, "CP-1", password="wrong-password-123"))
        assert status == 401


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_security_profile_2_tls_with_basic_auth(tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    trust = ssl.create_default_context(cafile=str(cert))
    async with running(ssl_certfile=str(cert), ssl_keyfile=str(key)) as central:
        url = central.url("CP-1").replace("ws://", "wss://")
        options = {"subprotocols": ["ocpp1.6"], "ssl": trust}
        async with connect(url, additional_headers=basic("CP-1", PASSWORD), **options) as ws:
            assert (await exchange(ws, '[2,"t","Heartbeat",{}]'))[:2] == [3, "t"]
        with pytest.raises(InvalidStatus) as info:
            await connect(url, additional_headers=basic("CP-1", "wrong-password-123"), **options)
        assert info.value.response.status_code == 401


# --- connection registry -----------------------------------------------------------------------


async def test_a_reconnecting_station_replaces_its_old_connection():
    async with running() as central:
        registry = central.ocpp.registry
        old = await open_ws(central)
        await wait_for(lambda: "CP-1" in registry)
        old_conn = registry.get("CP-1")
        new = await open_ws(central)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(old.recv(), 5)
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1000,
            "replaced by a new connection",
        )
        assert registry.get("CP-1") is not old_conn and old_conn.closed
        assert (await exchange(new, '[2,"h","Heartbeat",{}]'))[:2] == [3, "h"]
        assert methods(central.domain) == [
            ("connected", "CP-1"),
            ("connected", "CP-1"),
            ("heartbeat", "CP-1"),
        ]
        await new.close()
        await wait_for(lambda: "CP-1" not in registry)
        assert methods(central.domain)[-1] == ("disconnected", "CP-1")
        assert central.domain.stations["CP-1"].online is False


async def test_server_shutdown_closes_connections_and_marks_stations_offline():
    async with running() as central:
        ws = await open_ws(central)
        assert (await exchange(ws, '[2,"h","Heartbeat",{}]'))[:2] == [3, "h"]
        (info,) = central.ocpp.registry.snapshot()
        assert (info.station_id, info.frames_in, info.frames_rejected) == ("CP-1", 1, 0)
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 2)
    assert methods(central.domain)[-1] == ("disconnected", "CP-1")
    assert len(central.ocpp.registry) == 0


async def test_a_silent_station_is_marked_offline_and_closed():
    # heartbeat interval 1 s, offline after 1 interval of silence (checked every 0.25 s)
    async with running(heartbeat_interval=1, offline_after=1) as central:
        assert central.ocpp.registry.monitor_period == 0.25
        silent = await open_ws(central, "CP-1")
        chatty = await open_ws(central, "CP-2")
        await wait_for(lambda: len(central.ocpp.registry) == 2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for i in range(8):  # CP-2 speaks every 0.2 s for 1.6 s
            assert (await exchange(chatty, f'[2,"h{i}","Heartbeat",{{}}]'))[:2] == [3, f"h{i}"]
            await asyncio.sleep(0.2)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(silent.recv(), 2)
        assert closed.value.rcvd.reason == "silent for more than 1 s"
        assert loop.time() - started < 3
        assert central.ocpp.registry.station_ids() == ["CP-2"]
        assert ("CP-1", {}) in central.domain.calls_to("disconnected")
        assert ("CP-2", {}) not in central.domain.calls_to("disconnected")
        await chatty.close()


# --- commands ----------------------------------------------------------------------------------

SCHEDULE = {
    "chargingRateUnit": "A",
    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.5, "numberPhases": 3}],
    "minChargingRate": 6.1,
}
PROFILE = {
    "chargingProfileId": 7,
    "stackLevel": 0,
    "chargingProfilePurpose": "TxDefaultProfile",
    "chargingProfileKind": "Absolute",
    "chargingSchedule": {"startSchedule": NOW, **SCHEDULE},
}
# command -> (payload, the station's answer)
COMMAND_CASES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "CancelReservation": ({"reservationId": 3}, {"status": "Accepted"}),
    "ChangeAvailability": ({"connectorId": 0, "type": "Inoperative"}, {"status": "Scheduled"}),
    "ChangeConfiguration": (
        {"key": "HeartbeatInterval", "value": "60"},
        {"status": "RebootRequired"},
    ),
    "ClearCache": ({}, {"status": "Accepted"}),
    "ClearChargingProfile": ({"id": 7}, {"status": "Unknown"}),
    "DataTransfer": (
        {"vendorId": "com.example", "messageId": "ping", "data": "1"},
        {"status": "Accepted", "data": "pong"},
    ),
    "GetCompositeSchedule": (
        {"connectorId": 1, "duration": 3600, "chargingRateUnit": "A"},
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": NOW,
            "chargingSchedule": SCHEDULE,
        },
    ),
    "GetConfiguration": (
        {"key": ["HeartbeatInterval", "Nope"]},
        {
            "configurationKey": [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}],
            "unknownKey": ["Nope"],
        },
    ),
    "GetDiagnostics": (
        {"location": "ftp://logs.example.com/up", "retries": 2},
        {"fileName": "diag.zip"},
    ),
    "GetLocalListVersion": ({}, {"listVersion": 4}),
    "RemoteStartTransaction": (
        {
            "connectorId": 1,
            "idTag": "TAG1",
            "chargingProfile": {**PROFILE, "chargingProfilePurpose": "TxProfile"},
        },
        {"status": "Accepted"},
    ),
    "RemoteStopTransaction": ({"transactionId": 1}, {"status": "Rejected"}),
    "ReserveNow": (
        {"connectorId": 1, "expiryDate": NOW, "idTag": "TAG1", "reservationId": 3},
        {"status": "Occupied"},
    ),
    "Reset": ({"type": "Soft"}, {"status": "Accepted"}),
    "SendLocalList": (
        {
            "listVersion": 5,
            "updateType": "Full",
            "localAuthorizationList": [
                {"idTag": "TAG1", "idTagInfo": {"status": "Accepted", "expiryDate": NOW}}
            ],
        },
        {"status": "Accepted"},
    ),
    "SetChargingProfile": (
        {"connectorId": 1, "csChargingProfiles": PROFILE},
        {"status": "Accepted"},
    ),
    "TriggerMessage": (
        {"requestedMessage": "StatusNotification", "connectorId": 1},
        {"status": "Accepted"},
    ),
    "UnlockConnector": ({"connectorId": 1}, {"status": "Unlocked"}),
    "UpdateFirmware": (
        {"location": "https://fw.example.com/1.2.bin", "retrieveDate": NOW},
        {},
    ),
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _answering(action: str) -> Any:
    async def handler(self: Station, **kwargs: Any) -> Any:
        self.requests.append((action, kwargs))
        return getattr(call_result, action)(**camel_to_snake_case(COMMAND_CASES[action][1]))

    handler.__name__ = f"on_{_snake(action)}"
    return on(action)(handler)


# A charge point with an @on handler for every central-to-charge-point action.
AnsweringStation = type(
    "AnsweringStation", (Station,), {f"on_{_snake(a)}": _answering(a) for a in COMMAND_CASES}
)


def test_every_command_is_covered():
    assert sorted(COMMAND_CASES) == list(COMMANDS)


async def test_every_command_reaches_the_station_and_returns_its_answer():
    async with running() as central, station(central, cls=AnsweringStation) as (cp, rec):
        await wait_for(lambda: "CP-1" in central.ocpp.registry)
        for n, (name, (payload, answer)) in enumerate(COMMAND_CASES.items(), start=1):
            result = await central.ocpp.send_command("CP-1", name, payload, timeout=5)
            assert result == answer, name
            # the CALL on the wire is exactly our payload; the answer comes back unchanged
            assert rec.received[-1] == [2, f"c{n}", name, payload]
            assert rec.sent[-1] == [3, f"c{n}", answer]
        schedule = await central.ocpp.send_command(
            "CP-1", "GetCompositeSchedule", COMMAND_CASES["GetCompositeSchedule"][0]
        )
        # plain JSON numbers, not the Decimals the library validates schedules with
        limit = schedule["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"]
        assert type(limit) is float and limit == 16.5
    assert [action for action, _ in cp.requests][: len(COMMAND_CASES)] == list(COMMAND_CASES)


async def test_command_errors():
    async with running(command_timeout=0.3) as central:
        ocpp = central.ocpp
        with pytest.raises(StationNotConnected):
            await ocpp.send_command("CP-1", "Reset", {"type": "Soft"})
        ws = await open_ws(central)  # a raw station: we answer by hand
        await wait_for(lambda: "CP-1" in ocpp.registry)

        with pytest.raises(UnknownCommand):
            await ocpp.send_command("CP-1", "BootNotification", {})
        with pytest.raises(InvalidPayload) as invalid:
            await ocpp.send_command("CP-1", "Reset", {"type": "Sideways"})
        assert (invalid.value.code, invalid.value.description) == (
            "PropertyConstraintViolation",
            "type: not a valid ResetType",
        )
        with pytest.raises(InvalidPayload) as invalid:
            await ocpp.send_command("CP-1", "RemoteStartTransaction", {"connectorId": 1})
        assert invalid.value.code == "ProtocolError"

        # nothing reached the station for the refused payloads: the next frame is c1
        pending = asyncio.create_task(ocpp.send_command("CP-1", "Reset", {"type": "Hard"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert frame == [2, "c1", "Reset", {"type": "Hard"}]
        with pytest.raises(CommandTimeout) as timeout:  # never answered
            await pending
        assert (timeout.value.message_id, timeout.value.timeout) == ("c1", 0.3)

        pending = asyncio.create_task(
            ocpp.send_command("CP-1", "UnlockConnector", {"connectorId": 1})
        )
        frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps([4, frame[1], "VendorSpecificFault", "stuck", {"pin": 3}]))
        with pytest.raises(CommandRejected) as rejected:
            await pending
        assert (rejected.value.code, rejected.value.description, rejected.value.details) == (
            "VendorSpecificFault",
            "stuck",
            {"pin": 3},
        )

        pending = asyncio.create_task(ocpp.send_command("CP-1", "Reset", {"type": "Soft"}))
        frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
        await ws.send(json.dumps([3, "someone-else", {"status": "Accepted"}]))  # ignored
        await ws.send(json.dumps([3, frame[1], {"status": "Maybe"}]))
        with pytest.raises(InvalidResponse) as bad:
            await pending
        assert bad.value.payload == {"status": "Maybe"}

        # the station goes away while a command waits: a clear error, not the full timeout
        pending = asyncio.create_task(ocpp.send_command("CP-1", "ClearCache", timeout=5))
        await asyncio.wait_for(ws.recv(), 2)
        await ws.close()
        with pytest.raises(StationNotConnected):
            await asyncio.wait_for(pending, 2)


async def test_commands_wait_their_turn_one_call_outstanding():
    async with running() as central:
        ws = await open_ws(central)
        await wait_for(lambda: "CP-1" in central.ocpp.registry)
        first = asyncio.create_task(central.ocpp.send_command("CP-1", "ClearCache", timeout=2))
        second = asyncio.create_task(
            central.ocpp.send_command("CP-1", "GetLocalListVersion", timeout=2)
        )
        frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert frame == [2, "c1", "ClearCache", {}]
        with pytest.raises(TimeoutError):  # no second CALL before the first is answered
            await asyncio.wait_for(ws.recv(), 0.2)
        await ws.send('[3,"c1",{"status":"Accepted"}]')
        frame = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert frame == [2, "c2", "GetLocalListVersion", {}]
        await ws.send('[3,"c2",{"listVersion":1}]')
        assert await first == {"status": "Accepted"}
        assert await second == {"listVersion": 1}
        await ws.close()


# --- settings ----------------------------------------------------------------------------------


def test_settings_precedence_defaults_toml_env_overrides(tmp_path: Path):
    toml = tmp_path / "chargekit.toml"
    toml.write_text('port = 9100\nauto_register = true\ndb_url = "postgresql://localhost/ck"\n')
    env = {
        "CHARGEKIT_CONFIG": str(toml),
        "CHARGEKIT_PORT": "9200",
        "CHARGEKIT_OFFLINE_AFTER": "2.5",
        "CHARGEKIT_ADMIN_KEY": "k" * 20,
        "CHARGEKIT_UNRELATED": "ignored",
    }
    settings = Settings.load(env=env, host="0.0.0.0", heartbeat_interval=None)
    assert (settings.host, settings.port, settings.auto_register) == ("0.0.0.0", 9200, True)
    assert (settings.db_url, settings.offline_after, settings.admin_key) == (
        "postgresql://localhost/ck",
        2.5,
        "k" * 20,
    )
    assert settings.heartbeat_interval == 300
    assert Settings.load(env={}) == Settings()
    assert Settings().uvicorn_options() == {"host": "127.0.0.1", "port": 9000, "log_level": "info"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CHARGEKIT_PORT": "nine"}, "CHARGEKIT_PORT: must be an integer, got 'nine'"),
        ({"CHARGEKIT_PORT": "70000"}, "port: 70000 is not a TCP port"),
        ({"CHARGEKIT_AUTO_REGISTER": "maybe"}, "CHARGEKIT_AUTO_REGISTER: must be true or false"),
        ({"CHARGEKIT_DB_URL": "mysql://x"}, "db_url: 'mysql://x' must start with one of"),
        ({"CHARGEKIT_COMMAND_TIMEOUT": "nan"}, "command_timeout: must be a finite number"),
        ({"CHARGEKIT_OFFLINE_AFTER": "0.5"}, "offline_after: must be 0 or at least 1"),
        ({"CHARGEKIT_ADMIN_KEY": "short"}, "admin_key: must be at least 16 characters"),
        ({"CHARGEKIT_SSL_CERTFILE": "/no/cert.pem"}, "ssl_certfile and ssl_keyfile: give both"),
        ({"CHARGEKIT_LOG_LEVEL": "loud"}, "log_level: 'loud' is not one of"),
    ],
)
def test_settings_errors_name_the_setting(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.load(env=env)


def test_settings_file_errors(tmp_path: Path):
    bad = tmp_path / "bad.toml"
    for text, message in [
        ("prot = 1\n", "unknown setting 'prot'"),
        ('port = "9000"\n', "port: must be an integer, got '9000'"),
        ("port = \n", "not valid TOML"),
    ]:
        bad.write_text(text)
        with pytest.raises(SettingsError, match=re.escape(f"{bad}: {message}")):
            Settings.load(bad, env={})
    with pytest.raises(SettingsError, match="cannot read"):
        Settings.load(tmp_path / "missing.toml", env={})
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    tls = Settings(ssl_certfile=str(cert), ssl_keyfile=str(cert))
    assert tls.tls and tls.uvicorn_options()["ssl_keyfile"] == str(cert)
