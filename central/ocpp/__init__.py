"""The CSMS's OCPP 1.6J server on the `ocpp` library (docs/decisions/0005-ocpp-server.md).

Usage (app.py wires it into the Starlette app):

    server = OcppServer(MemoryDomain(), auto_register=True)
    routes = server.routes()  # WebSocket /ocpp/{station_id}
    answer = await server.send_command("CP-1", "Reset", {"type": "Soft"})
"""

from .commands import COMMANDS, send_command
from .connection import ConnectionInfo, StationConnection
from .errors import (
    CommandError,
    CommandRejected,
    CommandTimeout,
    InvalidPayload,
    InvalidResponse,
    StationNotConnected,
    UnknownCommand,
)
from .handlers import CentralChargePoint
from .memory import MemoryDomain
from .ports import (
    BootInfo,
    BootResult,
    CsmsDomain,
    DataTransferResult,
    IdTagInfo,
    MeterValue,
    SampledValue,
    StartResult,
)
from .registry import ConnectionRegistry
from .server import OcppServer

__all__ = [
    "COMMANDS",
    "BootInfo",
    "BootResult",
    "CentralChargePoint",
    "CommandError",
    "CommandRejected",
    "CommandTimeout",
    "ConnectionInfo",
    "ConnectionRegistry",
    "CsmsDomain",
    "DataTransferResult",
    "IdTagInfo",
    "InvalidPayload",
    "InvalidResponse",
    "MemoryDomain",
    "MeterValue",
    "OcppServer",
    "SampledValue",
    "StartResult",
    "StationConnection",
    "StationNotConnected",
    "UnknownCommand",
    "send_command",
]
