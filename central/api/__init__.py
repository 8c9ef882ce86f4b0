"""The operator REST API (docs/decisions/0006-rest-api.md).

    from chargekit.central.api import build_api, ensure_admin_key

    # in create_app: the routes, and a startup hook printing a generated admin key once
    *build_api(store=lambda: app.state.store, ocpp=ocpp, settings=settings),
    on_startup=(announce_admin_key,)       # or: key = await ensure_admin_key(store, settings)

Submodules load lazily, so central/ocpp can import `chargekit.central.api.metrics` (the
OCPP metrics hook) without importing the API and its dependencies.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import announce_admin_key, create_key, ensure_admin_key
    from .routes import OPERATIONS, build_api

_LAZY = {
    "build_api": ".routes",
    "OPERATIONS": ".routes",
    "ensure_admin_key": ".auth",
    "announce_admin_key": ".auth",
    "create_key": ".auth",
}

__all__ = ["OPERATIONS", "announce_admin_key", "build_api", "create_key", "ensure_admin_key"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name], __name__), name)
