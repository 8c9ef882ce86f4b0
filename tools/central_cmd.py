"""`chargekit central`: the central system (OCPP 1.6J server over the store) on uvicorn.

    chargekit central                                   # 127.0.0.1:9000, sqlite:///chargekit.db
    chargekit central --port 9100 --db postgresql://postgres@127.0.0.1/chargekit --auto-register
    chargekit central --config chargekit.toml           # any setting; flags override it

Settings come from defaults < TOML file (--config or CHARGEKIT_CONFIG) < CHARGEKIT_* environment
< flags (central/settings.py). TLS (security profile 2): CHARGEKIT_SSL_CERTFILE and
CHARGEKIT_SSL_KEYFILE. Ctrl-C (or SIGTERM) closes the stations' connections and the store and
exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when the command runs: `chargekit --help` stays quick
    import uvicorn

    from chargekit.central.settings import Settings
    from chargekit.central.store import Store

log = logging.getLogger("chargekit.central")

PROG = "chargekit central"
# uvicorn's websockets-sansio logs this after every refused handshake although the station
# got our HTTP answer (Kludex/uvicorn#3138; docs/decisions/0005-ocpp-server.md).
_HANDSHAKE_NOISE = "ASGI callable returned without completing handshake."


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "central",
        help="run the central system (OCPP server and store)",
        description="Run the ChargeKit central system: the OCPP 1.6J endpoint "
        "ws://HOST:PORT/ocpp/{station_id} over the store (SQLite or PostgreSQL). Unset flags "
        "fall back to the --config file, then CHARGEKIT_* variables, then the defaults.",
    )
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 9000; 0 picks a free one)")
    parser.add_argument(
        "--db",
        dest="db_url",
        metavar="URL",
        help="sqlite:///chargekit.db (default, in the current directory) or "
        "postgresql://user@host:port/database",
    )
    parser.add_argument(
        "--auto-register",
        action="store_true",
        default=None,
        help="register unknown stations on their first connection, keeping the password sent",
    )
    parser.add_argument("--config", metavar="FILE", help="TOML settings file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from chargekit.central.settings import Settings, SettingsError

    try:
        settings = Settings.load(
            args.config,
            host=args.host,
            port=args.port,
            db_url=args.db_url,
            auto_register=args.auto_register,
        )
    except SettingsError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    level = "DEBUG" if settings.log_level == "trace" else settings.log_level.upper()
    if settings.log_level == "trace":
        logging.getLogger("chargekit.central.ocpp.wire").setLevel(logging.DEBUG)
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    logging.getLogger("uvicorn.error").addFilter(
        lambda record: record.getMessage() != _HANDSHAKE_NOISE
    )
    try:
        return asyncio.run(serve(settings))
    except KeyboardInterrupt:  # a second Ctrl-C during shutdown
        return 130


async def serve(settings: Settings) -> int:
    """Open the store, serve until a signal, close everything; the exit status."""
    import uvicorn

    from chargekit.central.app import create_app, redact_url
    from chargekit.central.store import InvalidValue, StoreError, open_store

    try:
        store = await open_store(settings.db_url)
    except InvalidValue as exc:  # a malformed URL: a bad argument, as argparse's exit status
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except StoreError as exc:
        print(
            f"{PROG}: cannot open the store {redact_url(settings.db_url)}: {exc}", file=sys.stderr
        )
        return 1
    try:
        app = create_app(settings, store=store)
        config = uvicorn.Config(
            app, lifespan="on", timeout_graceful_shutdown=5, **settings.uvicorn_options()
        )
        server = _make_server(config)
        announcer = asyncio.create_task(_announce(server, settings, store))
        try:
            await server.serve()
        finally:
            announcer.cancel()
        return 0 if server.started else 1
    finally:
        await store.close()


async def _announce(server: uvicorn.Server, settings: Settings, store: Store) -> None:
    """Log where stations connect once the sockets are bound (also for --port 0)."""
    from chargekit.central.app import redact_url

    while not server.started:
        await asyncio.sleep(0.02)
    scheme = "wss" if settings.tls else "ws"
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            host = f"[{host}]" if ":" in host else host
            log.info("OCPP 1.6J: %s://%s:%d/ocpp/{station_id}", scheme, host, port)
    log.info(
        "store: %s (%s); unknown stations %s",
        redact_url(store.url),
        store.backend,
        "are registered" if settings.auto_register else "are refused",
    )


def _make_server(config: uvicorn.Config) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's Server, except that a signal only stops it.

        uvicorn (>= 0.29) re-raises SIGINT/SIGTERM once it has shut down, which turns Ctrl-C
        into a KeyboardInterrupt and SIGTERM into death by signal before the store is closed.
        Here the loop's signal handlers set should_exit (a second Ctrl-C forces the exit) and
        `serve` returns normally. Should uvicorn rename capture_signals, its own handling
        applies again.
        """

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            loop = asyncio.get_running_loop()
            installed = []
            for sig in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self.handle_exit, sig, None)
                    installed.append(sig)
            try:
                yield
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)

    return Server(config)
