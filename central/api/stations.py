"""Stations and their connectors: /api/v1/stations.

Reading needs read-only; creating, changing and deleting a station needs admin (a station's
password admits a charger to the network). Passwords are hashed with scrypt
(central/domain/passwords.py) off the event loop; answers say only ``hasPassword``.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from chargekit.central.domain.passwords import hash_password
from chargekit.central.store import Station as StoredStation

from . import schemas as s
from .errors import ApiError
from .operations import Api, Input, Operation

_NOT_NULL = ("registration_status",)


def station_out(api: Api, station: StoredStation) -> s.Station:
    """The answer for a stored station, with `connected` and the freshest `lastSeen`."""
    fields = asdict(station)
    del fields["password_hash"]
    conn = api.ocpp.registry.get(station.id)
    last_seen = station.last_seen
    if conn is not None:
        live = conn.info().last_seen
        last_seen = live if last_seen is None or live > last_seen else last_seen
    return s.Station(
        **{**fields, "last_seen": last_seen},
        has_password=station.password_hash is not None,
        connected=conn is not None,
    )


async def _password_hash(password: str | None) -> str | None:
    # ~50 ms of CPU: never on the event loop.
    return None if password is None else await asyncio.to_thread(hash_password, password)


async def list_stations(api: Api, inp: Input) -> s.StationPage:
    q: s.StationQuery = inp.query
    items, total = await api.store.stations.list(
        registration_status=q.registration_status, offset=q.offset, limit=q.limit
    )
    return s.StationPage(
        items=[station_out(api, st) for st in items], total=total, offset=q.offset, limit=q.limit
    )


async def create_station(api: Api, inp: Input) -> s.Station:
    body: s.StationCreate = inp.body
    station = await api.store.stations.create(
        body.id,
        registration_status=body.registration_status,
        password_hash=await _password_hash(body.password),
        vendor=body.vendor,
        model=body.model,
        serial_number=body.serial_number,
        firmware_version=body.firmware_version,
    )
    return station_out(api, station)


async def get_station(api: Api, inp: Input) -> s.StationDetail:
    station_id = inp.path.station_id
    station = await api.store.stations.get(station_id)
    connectors = await api.store.connectors.list(station_id)
    conn = api.ocpp.registry.get(station_id)
    return s.StationDetail(
        **station_out(api, station).model_dump(),
        connectors=[s.Connector(**asdict(c)) for c in connectors],
        connection=None if conn is None else s.Connection(**asdict(conn.info())),
    )


async def update_station(api: Api, inp: Input) -> s.Station:
    body: s.StationUpdate = inp.body
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if value is None and name in _NOT_NULL:
            alias = s.StationUpdate.model_fields[name].alias
            raise ApiError(422, "validation_error", f"body: {alias}: may not be null")
        changes[name] = value
    if "password" in changes:
        changes["password_hash"] = await _password_hash(changes.pop("password"))
    station = await api.store.stations.update(inp.path.station_id, **changes)
    return station_out(api, station)


async def delete_station(api: Api, inp: Input) -> None:
    station_id = inp.path.station_id
    await api.store.stations.delete(station_id)
    conn = api.ocpp.registry.get(station_id)
    if conn is not None:  # its credentials are gone: so is its session
        await conn.close(1000, "station deleted")


async def list_connectors(api: Api, inp: Input) -> list[s.Connector]:
    connectors = await api.store.connectors.list(inp.path.station_id)
    return [s.Connector(**asdict(c)) for c in connectors]


OPERATIONS = [
    Operation(
        "GET",
        "/stations",
        list_stations,
        "read-only",
        "List stations",
        "stations",
        "listStations",
        query=s.StationQuery,
        response=s.StationPage,
        description="By id. `connected` and `lastSeen` include live connections.",
    ),
    Operation(
        "POST",
        "/stations",
        create_station,
        "admin",
        "Register a station",
        "stations",
        "createStation",
        body=s.StationCreate,
        response=s.Station,
        status=201,
        errors=(409,),
    ),
    Operation(
        "GET",
        "/stations/{stationId}",
        get_station,
        "read-only",
        "Get a station with its connectors and live connection",
        "stations",
        "getStation",
        path_model=s.StationPath,
        response=s.StationDetail,
        errors=(404,),
    ),
    Operation(
        "PATCH",
        "/stations/{stationId}",
        update_station,
        "admin",
        "Change a station",
        "stations",
        "updateStation",
        path_model=s.StationPath,
        body=s.StationUpdate,
        response=s.Station,
        errors=(404,),
        description="Only the fields given change. A new password applies from the "
        "station's next connection.",
    ),
    Operation(
        "DELETE",
        "/stations/{stationId}",
        delete_station,
        "admin",
        "Delete a station",
        "stations",
        "deleteStation",
        path_model=s.StationPath,
        errors=(404, 409),
        description="Refused (409) while it has transactions: set it Rejected instead. "
        "A live connection is closed.",
    ),
    Operation(
        "GET",
        "/stations/{stationId}/connectors",
        list_connectors,
        "read-only",
        "The station's connectors and their last status",
        "stations",
        "listConnectors",
        path_model=s.StationPath,
        response=list[s.Connector],
        errors=(404,),
    ),
]
