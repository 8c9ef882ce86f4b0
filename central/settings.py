"""The central system's settings: one frozen object from defaults, a TOML file, CHARGEKIT_*
environment variables and explicit overrides (command-line flags), in that order.

    settings = Settings.load("chargekit.toml", auto_register=True)
    settings = Settings.load(env={"CHARGEKIT_PORT": "9100"})

The TOML file holds the fields below as top-level keys (`port = 9100`); its path is the
`path` argument or CHARGEKIT_CONFIG. Environment variables are CHARGEKIT_ plus the field name
in capitals (CHARGEKIT_DB_URL, CHARGEKIT_ADMIN_KEY). Every fault raises SettingsError naming
the source and the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

ENV_PREFIX = "CHARGEKIT_"
CONFIG_ENV = "CHARGEKIT_CONFIG"
DB_SCHEMES = ("sqlite://", "postgresql://", "postgres://")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """A setting that cannot be used; the message names where it came from."""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 9000  # 0 picks a free port (tests)
    db_url: str = "sqlite:///chargekit.db"
    auto_register: bool = False  # accept unknown stations and register them
    # stations stored without a password connect without credentials (security profile 0)
    allow_passwordless: bool = False
    heartbeat_interval: int = 300  # seconds, told to stations in BootNotification
    offline_after: float = 3.0  # silent for this many heartbeat intervals = offline; 0 = never
    command_timeout: float = 30.0  # seconds to wait for a station's answer to a command
    admin_key: str | None = None  # the REST admin API key; generated on first start if unset
    ssl_certfile: str | None = None  # TLS (security profile 2): server certificate chain
    ssl_keyfile: str | None = None
    log_level: str = "info"

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f.name, getattr(self, f.name), f.type)
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port: {self.port} is not a TCP port (0-65535)")
        if not self.host:
            raise SettingsError("host: must not be empty")
        if not self.db_url.startswith(DB_SCHEMES):
            raise SettingsError(
                f"db_url: {self.db_url!r} must start with one of {', '.join(DB_SCHEMES)}"
            )
        if self.heartbeat_interval < 1:
            raise SettingsError("heartbeat_interval: must be at least 1 second")
        if self.offline_after < 0:
            raise SettingsError("offline_after: must be >= 0 (0 never marks stations offline)")
        if 0 < self.offline_after < 1:
            # less than one interval would take every punctual station for dead
            raise SettingsError("offline_after: must be 0 or at least 1 heartbeat interval")
        if self.command_timeout <= 0:
            raise SettingsError("command_timeout: must be positive")
        if self.admin_key is not None and len(self.admin_key) < 16:
            raise SettingsError("admin_key: must be at least 16 characters")
        if (self.ssl_certfile is None) != (self.ssl_keyfile is None):
            raise SettingsError("ssl_certfile and ssl_keyfile: give both or neither")
        for name in ("ssl_certfile", "ssl_keyfile"):
            path = getattr(self, name)
            if path is not None and not Path(path).is_file():
                raise SettingsError(f"{name}: no such file {path!r}")
        if self.log_level not in LOG_LEVELS:
            raise SettingsError(f"log_level: {self.log_level!r} is not one of {LOG_LEVELS}")

    # --- loading -----------------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Defaults < TOML file (path or CHARGEKIT_CONFIG) < environment < overrides.

        Overrides whose value is None are ignored, so unset command-line flags can be passed.
        """
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        path = path if path is not None else env.get(CONFIG_ENV) or None
        if path is not None:
            values.update(read_toml(path))
        values.update(read_env(env))
        for name, value in overrides.items():
            if name not in _FIELD_TYPES:
                raise SettingsError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def tls(self) -> bool:
        return self.ssl_certfile is not None

    def uvicorn_options(self) -> dict[str, Any]:
        """Keyword arguments for uvicorn.run / uvicorn.Config (host, port, TLS, log level)."""
        options: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "log_level": self.log_level,
        }
        if self.tls:
            options["ssl_certfile"] = self.ssl_certfile
            options["ssl_keyfile"] = self.ssl_keyfile
        return options


_FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in fields(Settings)}


def _check_type(name: str, value: Any, kind: str) -> None:
    optional = kind.endswith("| None")
    if value is None:
        if optional:
            return
        raise SettingsError(f"{name}: must be set")
    base = kind.removesuffix(" | None")
    ok = {
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value),
    }[base]
    if not ok:
        raise SettingsError(f"{name}: must be {_ARTICLE[base]}, got {value!r}")


_ARTICLE = {
    "str": "a string",
    "bool": "true or false",
    "int": "an integer",
    "float": "a finite number",
}


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a TOML file, keys checked against the fields."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    for name, value in data.items():
        if name not in _FIELD_TYPES:
            raise SettingsError(f"{path}: unknown setting {name!r}")
        try:
            _check_type(name, value, _FIELD_TYPES[name])
        except SettingsError as exc:
            raise SettingsError(f"{path}: {exc}") from None
    return data


def read_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings among CHARGEKIT_* variables, converted to the fields' types.

    Other CHARGEKIT_* variables (CHARGEKIT_CONFIG, those of other tools) are ignored.
    """
    values: dict[str, Any] = {}
    for name, kind in _FIELD_TYPES.items():
        key = ENV_PREFIX + name.upper()
        if key not in env:
            continue
        raw = env[key].strip()
        base = kind.removesuffix(" | None")
        try:
            if raw == "" and kind.endswith("| None"):
                values[name] = None
            elif base == "bool":
                if raw.lower() not in _TRUE + _FALSE:
                    raise ValueError
                values[name] = raw.lower() in _TRUE
            elif base == "int":
                values[name] = int(raw)
            elif base == "float":
                values[name] = float(raw)
            else:
                values[name] = raw
        except ValueError:
            raise SettingsError(f"{key}: must be {_ARTICLE[base]}, got {raw!r}") from None
    return values
