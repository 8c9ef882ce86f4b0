"""The operator REST API (central/api) against a real store (SQLite in a temporary folder; a
subset on PostgreSQL too) and a real OcppServer. HTTP goes through httpx's ASGITransport,
except for commands, where the app runs under uvicorn on a free port and the `ocpp`
library's ChargePoint connects over a real socket as the station.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest
import uvicorn
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from prometheus_client.parser import text_string_to_metric_families
from services import require_service
from starlette.applications import Starlette
from websockets.asyncio.client import connect

from chargekit.central.api import (
    OPERATIONS,
    announce_admin_key,
    build_api,
    ensure_admin_key,
    schemas,
)
from chargekit.central.api import metrics as api_metrics
from chargekit.central.api.auth import create_key, hash_key
from chargekit.central.api.commands import COMMAND_PATH
from chargekit.central.app import create_app
from chargekit.central.domain import StoreDomain, verify_password
from chargekit.central.ocpp import COMMANDS, OcppServer
from chargekit.central.settings import Settings
from chargekit.central.store import (
    REGISTRATION_STATUSES,
    TOKEN_STATUSES,
    MeterSample,
    Store,
    open_store,
)
from chargekit.tools import keys_cmd

ADMIN_KEY = "admin-key-for-the-tests-0123456789"
PASSWORD = "0123456789abcdef"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


# --- harness -----------------------------------------------------------------------------------


@dataclass
class Env:
    store: Store
    ocpp: OcppServer
    app: Starlette
    client: httpx.AsyncClient
    keys: dict[str, str]  # role -> key

    async def call(
        self, method: str, path: str, role: str | None = "admin", **kwargs: Any
    ) -> httpx.Response:
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers.setdefault("Authorization", f"Bearer {self.keys[role]}")
        return await self.client.request(method, path, headers=headers, **kwargs)

    async def ok(self, method: str, path: str, role: str = "admin", **kwargs: Any) -> Any:
        response = await self.call(method, path, role, **kwargs)
        assert response.status_code in (200, 201), response.text
        body = response.json()
        assert body["success"] is True and set(body) == {"success", "data"}
        return body["data"]

    async def fail(
        self, method: str, path: str, status: int, code: str, role: str | None = "admin", **kw: Any
    ) -> dict[str, Any]:
        response = await self.call(method, path, role, **kw)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), (
            response.text
        )
        body = response.json()
        assert body["success"] is False and set(body) == {"success", "error"}
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        return body["error"]


def make_app(store: Store, ocpp: OcppServer, settings: Settings) -> Starlette:
    """What create_app will do: the OCPP route plus build_api's routes."""
    # The one-line metrics hook for central/ocpp, emulated: instrument every connection.
    attach = ocpp.registry.attach

    async def attach_instrumented(conn: Any) -> None:
        api_metrics.instrument(conn)
        await attach(conn)

    ocpp.registry.attach = attach_instrumented  # type: ignore[method-assign]
    return Starlette(routes=[*ocpp.routes(), *build_api(store=store, ocpp=ocpp, settings=settings)])


@contextlib.asynccontextmanager
async def environment(url: str, **settings: Any) -> AsyncIterator[Env]:
    settings_ = Settings(admin_key=ADMIN_KEY, **settings)
    store = await open_store(url)
    ocpp = OcppServer(StoreDomain(store), command_timeout=settings_.command_timeout)
    app = make_app(store, ocpp, settings_)
    keys = {"admin": ADMIN_KEY}
    for role in ("operator", "read-only"):
        keys[role], _ = await create_key(store, role=role, name=f"{role} for tests")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://central") as client:
        try:
            yield Env(store, ocpp, app, client, keys)
        finally:
            await ocpp.stop()
            await store.close()


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def database(backend: str, tmp_path: Any) -> AsyncIterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path}/central.db"
        return
    require_service("postgres")
    name = f"chargekit_api_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{PG_SERVER}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def env(tmp_path: Any) -> AsyncIterator[Env]:
    async with environment(f"sqlite:///{tmp_path}/central.db") as e:
        yield e


BOTH = pytest.mark.parametrize("backend", ["sqlite", "postgres"])


# --- the models agree with the store -----------------------------------------------------------


def test_schema_enumerations_match_the_store():
    assert schemas.RegistrationStatus.__args__ == REGISTRATION_STATUSES  # type: ignore[attr-defined]
    assert schemas.TokenStatus.__args__ == TOKEN_STATUSES  # type: ignore[attr-defined]


# --- authentication and roles ------------------------------------------------------------------


def _sample_path(op_path: str) -> str:
    values = {"stationId": "CP-X", "idTag:path": "TAGX", "transactionId": "1", "keyId": "k0",
              "name": "Reset"}  # fmt: skip
    return "/api/v1" + re.sub(r"\{([^}]+)\}", lambda m: values[m.group(1)], op_path)


def _sample_body(op: Any) -> Any:
    if op.body is None:
        return None
    return {"type": "Soft"} if op.path == COMMAND_PATH else {}


async def test_every_operation_checks_the_key_and_the_role(env: Env):
    ranks = {"read-only": 0, "operator": 1, "admin": 2}
    seen = 0
    for op in OPERATIONS:
        path, body = _sample_path(op.path), _sample_body(op)
        kwargs = {} if body is None else {"json": body}
        await env.fail(op.method, path, 401, "unauthorized", role=None, **kwargs)
        response = await env.call(
            op.method, path, None, headers={"Authorization": "Bearer ck_nope_nope"}, **kwargs
        )
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        for role, rank in ranks.items():
            response = await env.call(op.method, path, role, **kwargs)
            allowed = rank >= ranks[op.role]
            if allowed:
                assert response.status_code not in (401, 403, 500), (op.name, role, response.text)
            else:
                assert response.status_code == 403, (op.name, role)
                assert response.json()["error"]["code"] == "forbidden"
            seen += 1
    assert seen == 3 * len(OPERATIONS)
    assert {op.role for op in OPERATIONS} == set(ranks)


async def test_whoami_and_malformed_authorization(env: Env):
    assert await env.ok("GET", "/api/v1/whoami") == {"keyId": "admin-env", "role": "admin"}
    me = await env.ok("GET", "/api/v1/whoami", "read-only")
    assert me["role"] == "read-only" and env.keys["read-only"].startswith(f"ck_{me['keyId']}_")
    for header in ("Basic YTpi", "Bearer", "Bearer  ", "Token abc", "Bearer " + "x" * 300):
        await env.fail("GET", "/api/v1/whoami", 401, "unauthorized", None,
                       headers={"Authorization": header})  # fmt: skip


@BOTH
async def test_api_keys_are_stored_hashed_created_listed_and_revoked(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        await _keys_scenario(env)


async def _keys_scenario(env: Env) -> None:
    created = await env.ok("POST", "/api/v1/keys", json={"role": "operator", "name": "billing"})
    key = created["key"]
    assert key.startswith(f"ck_{created['id']}_") and len(key) > 50
    record = await env.store.api_keys.get(created["id"])
    assert record.key_hash == hash_key(key) and key not in repr(record)
    headers = {"Authorization": f"Bearer {key}"}
    me = await env.ok("GET", "/api/v1/whoami", headers=headers)
    assert me == {"keyId": created["id"], "role": "operator"}

    listed = await env.ok("GET", "/api/v1/keys")
    assert listed["total"] == 3 and "key" not in listed["items"][0]
    assert [k["role"] for k in listed["items"]] == ["operator", "read-only", "operator"]
    assert (await env.ok("GET", f"/api/v1/keys/{created['id']}"))["name"] == "billing"

    revoked = await env.ok("DELETE", f"/api/v1/keys/{created['id']}")
    assert revoked["active"] is False and TIME_RE.match(revoked["revokedAt"])
    await env.fail("GET", "/api/v1/whoami", 401, "unauthorized", None, headers=headers)
    assert (await env.ok("GET", "/api/v1/keys"))["total"] == 2
    assert (await env.ok("GET", "/api/v1/keys?includeRevoked=true"))["total"] == 3
    await env.fail("DELETE", "/api/v1/keys/nosuchkey", 404, "not_found")
    await env.fail("POST", "/api/v1/keys", 422, "validation_error", json={"role": "root"})


@BOTH
async def test_generated_admin_key_and_the_last_admin(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, await open_store(url) as store:
        assert await ensure_admin_key(store, Settings(admin_key=ADMIN_KEY)) is None
        key = await ensure_admin_key(store, Settings())
        assert key is not None and key.startswith("ck_")
        assert await ensure_admin_key(store, Settings()) is None  # printed once only
        ocpp = OcppServer(StoreDomain(store))
        app = make_app(store, ocpp, Settings())
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
            auth = {"Authorization": f"Bearer {key}"}
            me = (await client.get("/api/v1/whoami", headers=auth)).json()["data"]
            assert me["role"] == "admin"
            last = await client.delete(f"/api/v1/keys/{me['keyId']}", headers=auth)
            assert last.status_code == 409 and last.json()["error"]["code"] == "conflict"
            second = await client.post("/api/v1/keys", headers=auth, json={"role": "admin"})
            assert second.status_code == 201
            gone = await client.delete(f"/api/v1/keys/{me['keyId']}", headers=auth)
            assert gone.status_code == 200
            assert (await client.get("/api/v1/whoami", headers=auth)).status_code == 401


def test_keys_cli_creates_lists_and_revokes(tmp_path: Any, capsys: Any):
    parser = argparse.ArgumentParser(prog="chargekit")
    keys_cmd.register(parser.add_subparsers())
    db = f"sqlite:///{tmp_path}/cli.db"

    def run(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(["keys", "--db", db, *argv])
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("create", "--role", "operator", "--name", "ops")
    key = out.strip()
    assert code == 0 and key.startswith("ck_") and "shown only now" in err

    async def check() -> tuple[str, str]:
        async with await open_store(db) as store:
            record = await store.api_keys.find(hash_key(key))
            assert record is not None
            return record.id, record.role

    key_id, role = asyncio.run(check())
    assert role == "operator"
    code, out, _ = run("list")
    assert code == 0 and key_id in out and "operator" in out and "ops" in out
    assert run("revoke", key_id)[0] == 0
    assert key_id not in run("list")[1] and key_id in run("list", "--all")[1]
    code, _, err = run("revoke", "nosuch")
    assert code == 1 and "does not exist" in err
    with pytest.raises(SystemExit):
        parser.parse_args(["keys", "create", "--role", "root"])


# --- validation: a table of bad requests -------------------------------------------------------

JSON = {"Content-Type": "application/json"}
BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str, str | None]] = [
    # method, path, request kwargs, status, code, a text the message must hold
    ("POST", "/stations", {"content": b"{not json", "headers": JSON}, 400, "invalid_json", "JSON"),
    ("POST", "/stations", {"content": b'{"id": "CP-9"', "headers": JSON}, 400, "invalid_json", None),
    ("POST", "/stations", {"content": b'{"id":"CP-9"}', "headers": {"Content-Type": "text/plain"}},
     415, "unsupported_media_type", "text/plain"),
    ("POST", "/stations", {"content": b'{"id":"CP-9"}'}, 415, "unsupported_media_type", None),
    ("POST", "/stations", {"content": b""}, 422, "validation_error", "required"),
    ("POST", "/stations", {"json": []}, 422, "validation_error", None),
    ("POST", "/stations", {"json": {"id": "CP-9", "colour": "red"}}, 422, "validation_error",
     "colour"),
    ("POST", "/stations", {"json": {"id": "CP 9"}}, 422, "validation_error", "id"),
    ("POST", "/stations", {"json": {"id": "..."}}, 422, "validation_error", "dots"),
    ("POST", "/stations", {"json": {"id": "C" * 49}}, 422, "validation_error", "id"),
    ("POST", "/stations", {"json": {"id": 7}}, 422, "validation_error", "id"),
    ("POST", "/stations", {"json": {"id": "CP-9", "password": "short"}}, 422, "validation_error",
     "password"),
    ("POST", "/stations", {"json": {"id": "CP-9", "registrationStatus": "Maybe"}}, 422,
     "validation_error", "registrationStatus"),
    ("POST", "/stations", {"json": {"id": "CP-9", "registration_status": "Pending"}}, 422,
     "validation_error", "registration_status"),
    ("POST", "/stations", {"content": b"x" * (4 * 1024 * 1024 + 1), "headers": JSON}, 413,
     "payload_too_large", None),
    ("PATCH", "/stations/CP-1", {"json": {"registrationStatus": None}}, 422, "validation_error",
     "registrationStatus"),
    ("PATCH", "/stations/CP-1", {"json": {"vendor": "a\x00b"}}, 422, "validation_error", "vendor"),
    ("GET", "/stations/bad%20id", {}, 422, "validation_error", "stationId"),
    ("GET", "/stations?limit=0", {}, 422, "validation_error", "limit"),
    ("GET", "/stations?limit=1001", {}, 422, "validation_error", "limit"),
    ("GET", "/stations?offset=-1", {}, 422, "validation_error", "offset"),
    ("GET", "/stations?limit=ten", {}, 422, "validation_error", "limit"),
    ("GET", "/stations?limit=1&limit=2", {}, 422, "validation_error", "twice"),
    ("GET", "/stations?colour=red", {}, 422, "validation_error", "colour"),
    ("GET", "/whoami?x=1", {}, 422, "validation_error", "x"),
    ("POST", "/tokens", {"json": {"idTag": "A" * 21}}, 422, "validation_error", "idTag"),
    ("POST", "/tokens", {"json": {"idTag": "T\n1"}}, 422, "validation_error", "idTag"),
    ("POST", "/tokens", {"json": {"idTag": "T1", "status": "Nope"}}, 422, "validation_error",
     "status"),
    ("POST", "/tokens", {"json": {"idTag": "T1", "expiresAt": "2026-12-01T00:00:00"}}, 422,
     "validation_error", "expiresAt"),
    ("POST", "/tokens", {"json": {"idTag": "T1", "expiresAt": "tomorrow"}}, 422,
     "validation_error", "expiresAt"),
    ("PATCH", "/tokens/T1", {"json": {"status": None}}, 422, "validation_error", "status"),
    ("POST", "/tokens/import", {"json": {"tokens": []}}, 422, "validation_error", "tokens"),
    ("POST", "/tokens/import", {"json": {"tokens": [{"idTag": "A"}, {"idTag": "B"},
     {"idTag": "C", "status": "Nope"}]}}, 422, "validation_error", "tokens[2].status"),
    ("POST", "/tokens/import", {"json": {"tokens": [{"idTag": "ab"}, {"idTag": "AB"}]}}, 422,
     "invalid_value", "tokens[1]"),
    ("GET", "/transactions?status=running", {}, 422, "validation_error", "status"),
    ("GET", "/transactions?from=2026-11-23T12:00:00", {}, 422, "validation_error", "from"),
    ("GET", "/transactions?to=9999-12-31T23:59:59-23:59", {}, 422, "validation_error", "9999"),
    ("GET", "/transactions?connectorId=-1", {}, 422, "validation_error", "connectorId"),
    ("GET", "/transactions/abc", {}, 422, "validation_error", "transactionId"),
    ("GET", "/transactions/0", {}, 422, "validation_error", "transactionId"),
    ("GET", "/transactions/99999999999999999999", {}, 422, "validation_error", "transactionId"),
    ("GET", "/audit?from=yesterday", {}, 422, "validation_error", "from"),
    ("GET", "/keys?includeRevoked=perhaps", {}, 422, "validation_error", "includeRevoked"),
    ("POST", "/stations/CP-1/commands/Reset", {"json": {"type": "Sideways"}}, 422,
     "invalid_payload", "type"),
    ("POST", "/stations/CP-1/commands/Reset", {"json": {"type": "Hard", "now": 1}}, 422,
     "invalid_payload", None),
    ("POST", "/stations/CP-1/commands/Reset", {"json": [1]}, 422, "validation_error", None),
    ("POST", "/stations/CP-1/commands/Reset?timeout=0", {"json": {"type": "Hard"}}, 422,
     "validation_error", "timeout"),
    ("POST", "/stations/CP-1/commands/RemoteStartTransaction",
     {"content": b'{"idTag": "A", "connectorId": 1e400}', "headers": JSON}, 422,
     "validation_error", "finite"),
    ("POST", "/stations/CP-1/commands/RemoteStartTransaction",
     {"content": b'{"idTag": "A", "connectorId": NaN}', "headers": JSON}, 422,
     "validation_error", None),
    ("POST", "/stations/CP-1/commands/DataTransfer", {"json": {"vendorId": "V", "data": "\x00"}},
     422, "validation_error", "NUL"),
    ("POST", "/stations/CP-1/commands/Re-set", {"json": {}}, 422, "validation_error", "name"),
    ("POST", "/stations/CP-1/commands/BootNotification", {"json": {}}, 404, "unknown_command",
     None),
    ("DELETE", "/stations", {}, 405, "method_not_allowed", "DELETE"),
    ("GET", "/nowhere", {}, 404, "not_found", "/api/v1/nowhere"),
]  # fmt: skip


async def test_bad_requests_get_the_error_envelope_never_a_500(env: Env):
    await env.ok("POST", "/api/v1/stations", json={"id": "CP-1"})
    await env.ok("POST", "/api/v1/tokens", json={"idTag": "T1"})
    for method, path, kwargs, status, code, text in BAD_REQUESTS:
        error = await env.fail(method, "/api/v1" + path, status, code, **kwargs)
        if text is not None:
            assert text in error["message"], (path, error)
        if code == "validation_error" and "details" in error:
            assert all(set(d) == {"loc", "message"} for d in error["details"])
    # nothing above was created or changed
    assert (await env.ok("GET", "/api/v1/stations"))["total"] == 1
    assert (await env.ok("GET", "/api/v1/tokens"))["total"] == 1
    assert (await env.ok("GET", "/api/v1/stations/CP-1"))["registrationStatus"] == "Accepted"


async def test_validation_details_name_each_field(env: Env):
    error = await env.fail("POST", "/api/v1/stations", 422, "validation_error",
                           json={"id": "", "password": "x", "colour": 1})  # fmt: skip
    assert sorted(d["loc"] for d in error["details"]) == ["colour", "id", "password"]
    assert error["message"].startswith("body: ") and "(and 2 more)" in error["message"]


# --- stations ----------------------------------------------------------------------------------


@BOTH
async def test_station_crud(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        created = await env.ok(
            "POST",
            "/api/v1/stations",
            json={"id": "CP-1", "password": PASSWORD, "vendor": "ChargeKit", "model": "Sim-2"},
        )
        assert created["id"] == "CP-1" and created["hasPassword"] is True
        assert created["connected"] is False and created["lastSeen"] is None
        assert "password" not in json.dumps(created).replace("hasPassword", "")
        assert TIME_RE.match(created["createdAt"]) and created["registrationStatus"] == "Accepted"
        stored = await env.store.stations.get("CP-1")
        assert stored.password_hash and verify_password(PASSWORD, stored.password_hash)
        await env.fail("POST", "/api/v1/stations", 409, "conflict", json={"id": "CP-1"})

        await env.store.connectors.upsert_status("CP-1", 1, status="Available", at=T0)
        detail = await env.ok("GET", "/api/v1/stations/CP-1", "read-only")
        assert detail["connection"] is None and detail["vendor"] == "ChargeKit"
        assert detail["connectors"] == [
            {"connectorId": 1, "status": "Available", "errorCode": "NoError", "info": None,
             "vendorId": None, "vendorErrorCode": None, "updatedAt": "2026-11-23T12:00:00Z"}
        ]  # fmt: skip
        assert await env.ok("GET", "/api/v1/stations/CP-1/connectors") == detail["connectors"]

        changed = await env.ok(
            "PATCH",
            "/api/v1/stations/CP-1",
            json={"registrationStatus": "Pending", "password": None, "model": "Sim-3"},
        )
        assert (changed["registrationStatus"], changed["hasPassword"], changed["model"]) == (
            "Pending",
            False,
            "Sim-3",
        )
        assert changed["vendor"] == "ChargeKit"  # not given: unchanged
        assert (await env.ok("PATCH", "/api/v1/stations/CP-1", json={}))["model"] == "Sim-3"
        await env.ok("PATCH", "/api/v1/stations/CP-1", json={"password": "fedcba9876543210"})
        stored = await env.store.stations.get("CP-1")
        assert stored.password_hash and verify_password("fedcba9876543210", stored.password_hash)

        await env.store.transactions.start("CP-1", 1, id_tag="T", started_at=T0, meter_start=0)
        await env.fail("DELETE", "/api/v1/stations/CP-1", 409, "conflict")
        await env.ok("POST", "/api/v1/stations", json={"id": "CP-2"})
        assert await env.ok("DELETE", "/api/v1/stations/CP-2") is None
        for method in ("GET", "PATCH", "DELETE"):
            kwargs = {"json": {}} if method == "PATCH" else {}
            await env.fail(method, "/api/v1/stations/CP-2", 404, "not_found", **kwargs)
        await env.fail("GET", "/api/v1/stations/CP-2/connectors", 404, "not_found")


@BOTH
async def test_pagination_totals(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        for n in range(7):
            status = "Pending" if n % 3 == 0 else "Accepted"
            await env.ok("POST", "/api/v1/stations", json={"id": f"CP-{n}",
                                                             "registrationStatus": status})  # fmt: skip
        pages = [await env.ok("GET", f"/api/v1/stations?offset={o}&limit=3") for o in (0, 3, 6, 9)]
        assert [p["total"] for p in pages] == [7, 7, 7, 7]
        assert [len(p["items"]) for p in pages] == [3, 3, 1, 0]
        assert [p["offset"] for p in pages] == [0, 3, 6, 9] and pages[0]["limit"] == 3
        ids = [i["id"] for p in pages for i in p["items"]]
        assert ids == sorted(ids) and len(set(ids)) == 7
        pending = await env.ok("GET", "/api/v1/stations?registrationStatus=Pending&limit=2")
        assert pending["total"] == 3 and len(pending["items"]) == 2
        default = await env.ok("GET", "/api/v1/stations")
        assert (default["offset"], default["limit"], default["total"]) == (0, 50, 7)


# --- tokens ------------------------------------------------------------------------------------


@BOTH
async def test_tokens_crud_and_import(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        token = await env.ok(
            "POST",
            "/api/v1/tokens",
            "operator",
            json={"idTag": "04A1B2C3", "expiresAt": "2027-01-01T01:00:00+01:00",
                  "parentIdTag": "FLEET"},
        )  # fmt: skip
        assert token["expiresAt"] == "2027-01-01T00:00:00Z" and token["status"] == "Accepted"
        await env.fail("POST", "/api/v1/tokens", 409, "conflict", "operator",
                       json={"idTag": "04a1b2c3"})  # fmt: skip
        got = await env.ok("GET", "/api/v1/tokens/04a1b2c3", "read-only")
        assert got["idTag"] == "04A1B2C3" and got["parentIdTag"] == "FLEET"
        changed = await env.ok("PATCH", "/api/v1/tokens/04A1B2C3", "operator",
                               json={"status": "Blocked", "expiresAt": None})  # fmt: skip
        assert (changed["status"], changed["expiresAt"], changed["parentIdTag"]) == (
            "Blocked",
            None,
            "FLEET",
        )
        odd = await env.ok("POST", "/api/v1/tokens", json={"idTag": "a/b %"})
        assert odd["idTag"] == "a/b %"
        assert (await env.ok("GET", "/api/v1/tokens/a%2Fb%20%25"))["idTag"] == "a/b %"

        imported = await env.ok(
            "POST",
            "/api/v1/tokens/import",
            "operator",
            json={"tokens": [{"idTag": "04a1b2c3", "status": "Accepted"}]
                  + [{"idTag": f"BULK{n:03d}"} for n in range(250)]},
        )  # fmt: skip
        assert imported == {"created": 250, "updated": 1}
        assert (await env.ok("GET", "/api/v1/tokens/04A1B2C3"))["status"] == "Accepted"
        listed = await env.ok("GET", "/api/v1/tokens?limit=100&offset=200")
        assert listed["total"] == 252 and len(listed["items"]) == 52
        blocked = await env.ok("GET", "/api/v1/tokens?status=Blocked")
        assert blocked["total"] == 0

        # one bad row: nothing of the import is stored
        error = await env.fail("POST", "/api/v1/tokens/import", 422, "validation_error",
                               json={"tokens": [{"idTag": "NEW1"}, {"idTag": "X" * 21}]})  # fmt: skip
        assert error["details"][0]["loc"] == "tokens[1].idTag"
        await env.fail("GET", "/api/v1/tokens/NEW1", 404, "not_found")

        assert await env.ok("DELETE", "/api/v1/tokens/bulk000", "operator") is None
        await env.fail("DELETE", "/api/v1/tokens/BULK000", 404, "not_found", "operator")
        await env.fail("PATCH", "/api/v1/tokens/BULK000", 404, "not_found", json={})


# --- transactions ------------------------------------------------------------------------------


@BOTH
async def test_transactions_filters_and_samples(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        for sid in ("CP-1", "CP-2"):
            await env.store.stations.create(sid)
        ids = []
        for n in range(5):
            tx, _ = await env.store.transactions.start(
                "CP-1" if n < 3 else "CP-2",
                1,
                id_tag="Tag-A" if n % 2 == 0 else "TAG-B",
                started_at=T0 + timedelta(hours=n),
                meter_start=1000 * n,
            )
            ids.append(tx.id)
        samples = [MeterSample(T0 + timedelta(minutes=m), 100.0 * m) for m in (1, 2)]
        await env.store.transactions.add_samples(ids[0], samples)
        await env.store.transactions.stop(ids[0], stopped_at=T0 + timedelta(minutes=30),
                                          meter_stop=7400, reason="Local")  # fmt: skip
        await env.store.transactions.stop(ids[3], stopped_at=T0 + timedelta(hours=4),
                                          meter_stop=3500)  # fmt: skip

        async def listed(query: str) -> tuple[int, list[int]]:
            page = await env.ok("GET", "/api/v1/transactions" + query, "read-only")
            return page["total"], [t["id"] for t in page["items"]]

        assert await listed("") == (5, ids[::-1])
        assert await listed("?stationId=CP-1") == (3, ids[2::-1])
        assert await listed("?idTag=tag-a") == (3, [ids[4], ids[2], ids[0]])
        assert await listed("?status=closed") == (2, [ids[3], ids[0]])
        assert await listed("?status=open&stationId=CP-2") == (1, [ids[4]])
        window = "?from=2026-11-23T13:00:00Z&to=2026-11-23T16:00:00%2B01:00"
        assert await listed(window) == (2, [ids[2], ids[1]])
        assert await listed("?limit=2&offset=1") == (5, [ids[3], ids[2]])
        assert await listed("?connectorId=2") == (0, [])

        detail = await env.ok("GET", f"/api/v1/transactions/{ids[0]}")
        assert detail["status"] == "closed" and detail["energyWh"] == 7400
        assert detail["stopReason"] == "Local" and detail["idTag"] == "Tag-A"
        assert detail["samples"] == [
            {"timestamp": "2026-11-23T12:01:00Z", "value": 100.0,
             "measurand": "Energy.Active.Import.Register", "unit": "Wh", "phase": None,
             "location": "Outlet", "context": "Sample.Periodic"},
            {"timestamp": "2026-11-23T12:02:00Z", "value": 200.0,
             "measurand": "Energy.Active.Import.Register", "unit": "Wh", "phase": None,
             "location": "Outlet", "context": "Sample.Periodic"},
        ]  # fmt: skip
        open_tx = await env.ok("GET", f"/api/v1/transactions/{ids[4]}")
        assert (open_tx["status"], open_tx["energyWh"], open_tx["samples"]) == ("open", None, [])
        page = await env.ok("GET", "/api/v1/transactions?limit=1")
        assert "samples" not in page["items"][0]
        await env.fail("GET", "/api/v1/transactions/999999", 404, "not_found")


# --- commands over a real socket ---------------------------------------------------------------


class Station(ChargePoint):
    """The `ocpp` library's charge point as the station (schema validation on)."""

    def __init__(self, station_id: str, connection: Any) -> None:
        super().__init__(station_id, connection, response_timeout=5)
        self.remote_starts: list[dict[str, Any]] = []

    @on("RemoteStartTransaction")
    async def on_remote_start(self, id_tag: str, **kwargs: Any) -> Any:
        self.remote_starts.append({"id_tag": id_tag, **kwargs})
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("ChangeAvailability")
    async def on_change_availability(self, connector_id: int, type: str) -> Any:
        await asyncio.sleep(0.6)  # slower than the command's timeout below
        return call_result.ChangeAvailability(status="Scheduled")

    @on("Reset")
    async def on_reset(self, type: str) -> Any:
        return call_result.Reset(status="Rejected")

    # UnlockConnector has no handler: the library answers CALLERROR NotImplemented.


@contextlib.asynccontextmanager
async def served(app: Starlette, lifespan: str = "off") -> AsyncIterator[str]:
    """`app` under uvicorn on a free port; yields host:port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan=lifespan, log_level="critical",
                            timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), "uvicorn did not start"
        await asyncio.sleep(0.005)
    try:
        yield f"127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def station(address: str, station_id: str = "CP-1") -> AsyncIterator[Station]:
    token = base64.b64encode(f"{station_id}:{PASSWORD}".encode()).decode()
    ws = await connect(f"ws://{address}/ocpp/{station_id}", subprotocols=["ocpp1.6"],
                       additional_headers={"Authorization": f"Basic {token}"}, open_timeout=5)  # fmt: skip
    cp = Station(station_id, ws)
    task = asyncio.create_task(cp.start())
    try:
        yield cp
    finally:
        task.cancel()
        await ws.close()


async def wait_for(condition: Any, timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


def metric_samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_commands_round_trip_and_are_audited(env: Env):
    await env.ok("POST", "/api/v1/stations", json={"id": "CP-1", "password": PASSWORD})
    await env.ok("POST", "/api/v1/stations", json={"id": "CP-2", "password": PASSWORD})
    before = metric_samples((await env.client.get("/metrics")).text)
    async with served(env.app) as address, station(address) as cp:
        await wait_for(lambda: "CP-1" in env.ocpp.registry)
        await cp.call(call.BootNotification(charge_point_vendor="ChargeKit",
                                            charge_point_model="Sim-2"))  # fmt: skip
        await cp.call(call.Heartbeat())
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            auth = {"Authorization": f"Bearer {env.keys['operator']}"}
            url = "/api/v1/stations/CP-1/commands/"
            response = await http.post(url + "RemoteStartTransaction", headers=auth,
                                       json={"connectorId": 1, "idTag": "04A1B2C3"})  # fmt: skip
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert data["stationId"] == "CP-1" and data["command"] == "RemoteStartTransaction"
            assert data["response"] == {"status": "Accepted"} and data["auditId"] >= 1
            assert cp.remote_starts == [{"id_tag": "04A1B2C3", "connector_id": 1}]

            reset = await http.post(url + "Reset", headers=auth, json={"type": "Soft"})
            assert reset.json()["data"]["response"] == {"status": "Rejected"}  # still a success

            def failed(response: httpx.Response, status: int, code: str) -> None:
                assert response.status_code == status, response.text
                assert response.json()["error"]["code"] == code

            failed(await http.post(url + "UnlockConnector", headers=auth,
                                   json={"connectorId": 1}), 502, "command_rejected")  # fmt: skip
            failed(await http.post(url + "ChangeAvailability?timeout=0.2", headers=auth,
                                   json={"connectorId": 1, "type": "Inoperative"}),
                   504, "command_timeout")  # fmt: skip
            await asyncio.sleep(0.5)  # the late answer arrives and is dropped
            clear = await http.post(url + "ClearCache", headers=auth)  # no body: {}
            failed(clear, 502, "command_rejected")
            failed(await http.post("/api/v1/stations/CP-2/commands/ClearCache", headers=auth,
                                   json={}), 409, "station_not_connected")  # fmt: skip
            failed(await http.post("/api/v1/stations/CP-9/commands/ClearCache", headers=auth,
                                   json={}), 404, "not_found")  # fmt: skip
            failed(await http.post(url + "Reset", headers=auth, json={"type": "Later"}),
                   422, "invalid_payload")  # fmt: skip
            failed(await http.post(url + "Heartbeat", headers=auth, json={}),
                   404, "unknown_command")  # fmt: skip
            ro = {"Authorization": f"Bearer {env.keys['read-only']}"}
            failed(await http.post(url + "Reset", headers=ro, json={"type": "Soft"}),
                   403, "forbidden")  # fmt: skip

            detail = (await http.get("/api/v1/stations/CP-1", headers=ro)).json()["data"]
            assert detail["connected"] is True and detail["vendor"] == "ChargeKit"
            assert detail["connection"]["heartbeatInterval"] == 300
            assert detail["connection"]["registration"] == "Accepted"
            assert TIME_RE.match(detail["lastSeen"])
            metrics_text = (await http.get("/metrics")).text

    audit = await env.ok("GET", "/api/v1/audit", "read-only")
    commands = [(e["command"], e["stationId"], e["result"]["success"]) for e in audit["items"]]
    assert commands == [
        ("Heartbeat", "CP-1", False),
        ("Reset", "CP-1", False),
        ("ClearCache", "CP-9", False),
        ("ClearCache", "CP-2", False),
        ("ClearCache", "CP-1", False),
        ("ChangeAvailability", "CP-1", False),
        ("UnlockConnector", "CP-1", False),
        ("Reset", "CP-1", True),
        ("RemoteStartTransaction", "CP-1", True),
    ]
    assert audit["total"] == 9  # the read-only key's attempt was refused before the audit
    operator_id = (await env.ok("GET", "/api/v1/whoami", "operator"))["keyId"]
    assert {e["keyId"] for e in audit["items"]} == {operator_id}
    first = audit["items"][-1]
    assert first["id"] == data["auditId"] and TIME_RE.match(first["at"])
    assert first["payload"] == {"connectorId": 1, "idTag": "04A1B2C3"}
    assert first["result"] == {"success": True, "response": {"status": "Accepted"}}
    timeout_entry = audit["items"][5]["result"]
    assert timeout_entry["error"]["code"] == "command_timeout"
    assert audit["items"][4]["payload"] == {}
    assert audit["items"][6]["result"]["error"]["message"].startswith("UnlockConnector to CP-1")
    filtered = await env.ok("GET", "/api/v1/audit?stationId=CP-1&command=Reset")
    assert filtered["total"] == 2
    assert (await env.ok("GET", f"/api/v1/audit?keyId={operator_id}&limit=1"))["total"] == 9
    assert (await env.ok("GET", "/api/v1/audit?from=2000-01-01T00:00:00Z&to=2001-01-01T00:00:00Z"))[
        "total"
    ] == 0

    after = metric_samples(metrics_text)

    def delta(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert after[("chargekit_connected_stations", ())] == 1.0
    assert delta("chargekit_ocpp_messages_total", action="BootNotification") == 1
    assert delta("chargekit_ocpp_messages_total", action="Heartbeat") == 1
    assert delta("chargekit_ocpp_handler_seconds_count", action="Heartbeat") == 1
    assert delta("chargekit_commands_total", command="RemoteStartTransaction", outcome="ok") == 1
    assert delta("chargekit_commands_total", command="ChangeAvailability",
                 outcome="command_timeout") == 1  # fmt: skip
    assert delta("chargekit_api_errors_total", code="station_not_connected") == 1


async def test_ocpp_errors_are_counted(env: Env):
    await env.ok("POST", "/api/v1/stations", json={"id": "CP-1", "password": PASSWORD})
    before = metric_samples((await env.client.get("/metrics")).text)
    async with served(env.app) as address:
        token = base64.b64encode(f"CP-1:{PASSWORD}".encode()).decode()
        async with connect(f"ws://{address}/ocpp/CP-1", subprotocols=["ocpp1.6"],
                           additional_headers={"Authorization": f"Basic {token}"}) as ws:  # fmt: skip
            await ws.send('[2,"1","Authorize",{"idTag":"' + "A" * 21 + '"}]')  # gate refuses
            assert json.loads(await ws.recv())[2] == "TypeConstraintViolation"
            await ws.send('[2,"2","Heartbeat",{}]')
            assert json.loads(await ws.recv())[0] == 3
    after = metric_samples((await env.client.get("/metrics")).text)
    key = (
        "chargekit_ocpp_errors_total",
        (("action", "unknown"), ("code", "TypeConstraintViolation")),
    )
    assert after[key] - before.get(key, 0.0) == 1
    assert after[("chargekit_connected_stations", ())] == 0.0


# --- health, metrics, OpenAPI, docs ------------------------------------------------------------


@BOTH
async def test_health(backend: str, tmp_path: Any):
    async with database(backend, tmp_path) as url, environment(url) as env:
        response = await env.client.get("/health")  # no key needed
        assert response.status_code == 200
        assert response.json() == {
            "success": True,
            "data": {
                "status": "ok",
                "database": {"status": "ok", "detail": env.store.backend},
                "broker": {"status": "not configured", "detail": None},
                "connectedStations": 0,
            },
        }
        await env.store.close()
        response = await env.client.get("/health")
        assert response.status_code == 503
        body = response.json()
        assert body["success"] is False and body["error"]["code"] == "unavailable"
        assert body["error"]["message"].startswith("database: unavailable")
        assert body["data"]["database"]["status"] == "unavailable"


async def test_store_given_as_a_function_and_not_open_yet(tmp_path: Any):
    domain = StoreDomain()  # the app opens the store in its lifespan and binds it
    ocpp = OcppServer(domain)
    routes = build_api(
        store=lambda: domain.store, ocpp=ocpp, settings=Settings(admin_key=ADMIN_KEY)
    )
    app = Starlette(routes=routes)
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
        assert (await c.get("/health")).status_code == 503
        response = await c.get("/api/v1/stations", headers=auth)
        assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"
        store = await open_store(f"sqlite:///{tmp_path}/late.db")
        domain.bind(store)
        try:
            assert (await c.get("/health")).status_code == 200
            assert (await c.get("/api/v1/stations", headers=auth)).json()["data"]["total"] == 0
        finally:
            await store.close()


async def test_metrics_format(env: Env):
    response = await env.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    names = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "chargekit_connected_stations",
        "chargekit_ocpp_messages",
        "chargekit_ocpp_handler_seconds",
        "chargekit_ocpp_errors",
        "chargekit_commands",
        "chargekit_api_errors",
        "process_resident_memory_bytes",
    } <= names


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


async def test_openapi_document(env: Env):
    response = await env.client.get("/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert doc["openapi"] == "3.1.0" and doc["info"]["title"] and doc["info"]["version"]

    expected = set()
    for op in OPERATIONS:
        path = "/api/v1" + re.sub(r"\{(\w+)(:\w+)?\}", r"{\1}", op.path)
        if op.path == COMMAND_PATH:
            expected |= {(op.method.lower(), path.replace("{name}", c)) for c in COMMANDS}
        else:
            expected.add((op.method.lower(), path))
    expected |= {("get", p) for p in ("/health", "/metrics", "/openapi.json", "/docs")}
    present = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert present == expected

    operation_ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, item in doc["paths"].items():
        for method, op in item.items():
            assert op["responses"], (method, path)
            in_path = set(re.findall(r"\{(\w+)\}", path))
            declared = {p["name"] for p in op.get("parameters", ()) if p["in"] == "path"}
            assert in_path == declared, (method, path)
            if "x-chargekit-role" in op:
                assert op["security"] == [{"bearerAuth": []}]
                assert {"401", "403"} <= set(op["responses"])

    for ref in _refs(doc):  # every reference resolves
        assert _resolve(doc, ref) is not None
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema)
        assert name.isidentifier()

    # generated from the models: a station body names its fields as the API does
    create = doc["components"]["schemas"]["StationCreate"]
    assert create["required"] == ["id"] and create["additionalProperties"] is False
    assert "registrationStatus" in create["properties"]
    # the command paths carry the OCPP schemas
    remote = doc["paths"]["/api/v1/stations/{stationId}/commands/RemoteStartTransaction"]["post"]
    body = remote["requestBody"]["content"]["application/json"]["schema"]
    assert _resolve(doc, body["$ref"])["required"] == ["idTag"]
    # an answer validates against its schema (envelope included)
    listed = await env.ok("GET", "/api/v1/stations")
    schema = doc["paths"]["/api/v1/stations"]["get"]["responses"]["200"]["content"][
        "application/json"]["schema"]  # fmt: skip
    validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
    validator.validate({"success": True, "data": listed})
    error = await env.fail("GET", "/api/v1/stations/CP-404", 404, "not_found")
    error_schema = doc["components"]["responses"]["Error404"]["content"]["application/json"]
    jsonschema.Draft202012Validator({**error_schema["schema"], "components": doc["components"]}
                                    ).validate({"success": False, "error": error})  # fmt: skip


async def test_docs_page(env: Env):
    response = await env.client.get("/docs")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert "/api/v1/stations/{stationId}/commands/RemoteStartTransaction" in page
    assert "/api/v1/tokens/import" in page and "StationCreate" in page
    assert "<script" not in page and "http://" not in page and "https://" not in page


async def test_in_create_app_with_a_generated_admin_key(tmp_path: Any, capsys: Any):
    """The one-line hooks as the lead adds them: build_api's routes in create_app (here
    appended afterwards) and announce_admin_key on startup; the app opens the store."""
    settings = Settings(db_url=f"sqlite:///{tmp_path}/app.db")
    app = create_app(settings, on_startup=[announce_admin_key])
    app.router.routes.extend(
        build_api(store=lambda: app.state.store, ocpp=app.state.ocpp, settings=settings)
    )
    async with served(app, lifespan="on") as address:
        printed = capsys.readouterr().err
        key = re.search(r"^    (ck_\S+)$", printed, re.MULTILINE).group(1)  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=f"http://{address}") as http:
            assert (await http.get("/health")).json()["data"]["database"]["detail"] == "sqlite"
            me = await http.get("/api/v1/whoami", headers={"Authorization": f"Bearer {key}"})
            assert me.json()["data"]["role"] == "admin"
    # the next start finds the key stored and prints nothing
    app2 = create_app(settings, on_startup=[announce_admin_key])
    async with served(app2, lifespan="on"):
        assert "ck_" not in capsys.readouterr().err


def test_audit_log_keeps_no_authorization_key():
    from chargekit.central.api.commands import REDACTED, redact

    secret = {"key": "AuthorizationKey", "value": "0011223344556677"}
    assert redact("ChangeConfiguration", secret) == {"key": "AuthorizationKey", "value": REDACTED}
    plain = {"key": "HeartbeatInterval", "value": "60"}
    assert redact("ChangeConfiguration", plain) == plain
    assert redact("Reset", {"type": "Soft"}) == {"type": "Soft"}
