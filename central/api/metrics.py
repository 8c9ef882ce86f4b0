"""Prometheus metrics of the central (prometheus-client), served at /metrics.

- ``chargekit_connected_stations``: live OCPP connections, read from the registry per scrape;
- ``chargekit_ocpp_messages_total{action}``: CALLs received from stations;
- ``chargekit_ocpp_handler_seconds{action}``: time from a CALL entering the `ocpp` library to
  its answer being sent (schema validation, the handler, the domain, the store);
- ``chargekit_ocpp_errors_total{action,code}``: CALLERRORs the central sent (``action``
  ``unknown`` for frames our gate refused before any handler saw them) and handler crashes
  (``code`` ``exception``);
- ``chargekit_commands_total{command,outcome}``: commands sent through the API (outcome
  ``ok`` or the error kind);
- ``chargekit_api_errors_total{code}``: error answers of the REST API;
- process and Python GC metrics.

The OCPP counters need each connection instrumented once, in central/ocpp (the one-line hook):

    from chargekit.central.api.metrics import instrument   # in StationConnection.__init__,
    instrument(self)                                       # after self.charge_point = ...

Metric objects are process-wide (counters add up across apps in one process, as a scraper
expects); `registry_for(ocpp_registry)` builds the per-app collection /metrics renders.
This module imports prometheus_client and the standard library only, so central/ocpp may
import it without importing the API.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Histogram,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

__all__ = [
    "API_ERRORS",
    "COMMANDS",
    "CONTENT_TYPE_LATEST",
    "HANDLER_SECONDS",
    "MESSAGES",
    "OCPP_ERRORS",
    "instrument",
    "registry_for",
    "render",
]

MESSAGES = Counter(
    "chargekit_ocpp_messages",
    "OCPP CALLs received from stations, by action",
    ["action"],
    registry=None,
)
HANDLER_SECONDS = Histogram(
    "chargekit_ocpp_handler_seconds",
    "Seconds from a station's CALL entering the OCPP library to the answer being sent",
    ["action"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=None,
)
OCPP_ERRORS = Counter(
    "chargekit_ocpp_errors",
    "CALLERRORs sent to stations and crashed handlers, by action and error code",
    ["action", "code"],
    registry=None,
)
COMMANDS = Counter(
    "chargekit_commands",
    "Commands sent to stations through the REST API, by command and outcome",
    ["command", "outcome"],
    registry=None,
)
API_ERRORS = Counter(
    "chargekit_api_errors",
    "Error answers of the REST API, by error code",
    ["code"],
    registry=None,
)
_SHARED = (MESSAGES, HANDLER_SECONDS, OCPP_ERRORS, COMMANDS, API_ERRORS)

# [2,"<id>","<Action>",... : the action of a CALL without parsing the whole frame again
# (frames reaching the library have passed our strict gate already).
_CALL = re.compile(r'\s*\[\s*2\s*,\s*"(?:[^"\\]|\\.)*"\s*,\s*"([A-Za-z0-9]+)"')
_ERROR = re.compile(r'\s*\[\s*4\s*,\s*"(?:[^"\\]|\\.)*"\s*,\s*"([A-Za-z0-9]+)"')


class _Registry(Protocol):
    def __len__(self) -> int: ...


class _Connection(Protocol):
    charge_point: Any

    async def send(self, text: str) -> None: ...


class ConnectedStations(Collector):
    """``chargekit_connected_stations`` from the connection registry, at scrape time."""

    def __init__(self, registry: _Registry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "chargekit_connected_stations",
            "Stations with a live OCPP connection to this process",
            value=len(self.registry),
        )


def registry_for(ocpp_registry: _Registry) -> CollectorRegistry:
    """What one app's /metrics shows: the shared metrics, its connected stations, the process."""
    registry = CollectorRegistry(auto_describe=True)
    for metric in _SHARED:
        registry.register(metric)
    registry.register(ConnectedStations(ocpp_registry))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        registry.register(collector)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text format (CONTENT_TYPE_LATEST)."""
    return generate_latest(registry)


def instrument(conn: _Connection) -> None:
    """Count and time the CALLs of one station connection (idempotent).

    Wraps the connection's `charge_point.route_message` (the `ocpp` library's dispatch of a
    received frame) and `send` (every frame the central writes, to see CALLERRORs).
    """
    cp = conn.charge_point
    if getattr(cp, "_chargekit_metrics", False):
        return
    cp._chargekit_metrics = True
    route = cp.route_message
    send = conn.send
    current: list[str] = []  # the action being handled; the receive loop handles one at a time

    async def route_message(raw: str) -> Any:
        match = _CALL.match(raw)
        if match is None:  # a CALLRESULT/CALLERROR answering one of our commands
            return await route(raw)
        action = match.group(1)
        MESSAGES.labels(action).inc()
        current.append(action)
        started = time.perf_counter()
        try:
            return await route(raw)
        except Exception:
            OCPP_ERRORS.labels(action, "exception").inc()
            raise
        finally:
            HANDLER_SECONDS.labels(action).observe(time.perf_counter() - started)
            current.pop()

    async def send_frame(text: str) -> None:
        error = _ERROR.match(text)
        if error is not None:
            OCPP_ERRORS.labels(current[-1] if current else "unknown", error.group(1)).inc()
        await send(text)

    cp.route_message = route_message
    conn.send = send_frame  # type: ignore[method-assign]
