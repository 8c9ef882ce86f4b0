"""`chargekit keys`: API keys of the central's REST API, straight in its database.

    chargekit keys create --role operator --name "billing export"   # prints the key, once
    chargekit keys list [--all]
    chargekit keys revoke 3f9a0c1d2e4b

The database is the central's (--db, else CHARGEKIT_DB_URL / the TOML file / the default).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

ROLES = ("admin", "operator", "read-only")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create, list and revoke API keys of the central's REST API",
        description="Manage the REST API's keys in the central's database. Roles: read-only "
        "(GET), operator (also commands and tokens), admin (everything).",
    )
    parser.add_argument("--db", help="database URL (default: the central's settings)")
    parser.add_argument("--config", help="central settings TOML file (or CHARGEKIT_CONFIG)")
    actions = parser.add_subparsers(title="actions", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key and print it (shown only once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", help="what the key is for")
    create.set_defaults(func=run, action="create")

    listing = actions.add_parser("list", help="list keys (not the keys themselves)")
    listing.add_argument("--all", action="store_true", help="include revoked keys")
    listing.set_defaults(func=run, action="list")

    revoke = actions.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    revoke.set_defaults(func=run, action="revoke")


async def _run(args: argparse.Namespace) -> int:
    from chargekit.central.api.auth import create_key
    from chargekit.central.settings import Settings
    from chargekit.central.store import StoreError, open_store

    settings = Settings.load(args.config, db_url=args.db)
    store = await open_store(settings.db_url)
    try:
        if args.action == "create":
            key, record = await create_key(store, role=args.role, name=args.name)
            print(f"created {record.role} key {record.id}; it is shown only now:", file=sys.stderr)
            print(key)
        elif args.action == "list":
            keys, total = await store.api_keys.list(include_revoked=args.all, limit=1000)
            for k in keys:
                state = "active" if k.active else f"revoked {k.revoked_at:%Y-%m-%d %H:%M}Z"
                print(
                    f"{k.id}  {k.role:<9}  {k.created_at:%Y-%m-%d %H:%M}Z  {state}  {k.name or ''}"
                )
            if total > len(keys):
                print(f"... and {total - len(keys)} more", file=sys.stderr)
        else:
            record = await store.api_keys.revoke(args.key_id)
            print(f"revoked {record.role} key {record.id}", file=sys.stderr)
    except StoreError as exc:
        print(f"chargekit keys: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    return 0


def run(args: argparse.Namespace) -> int:
    from chargekit.central.settings import SettingsError
    from chargekit.central.store import StoreError

    try:
        return asyncio.run(_run(args))
    except (SettingsError, StoreError) as exc:  # bad settings, unreachable database
        print(f"chargekit keys: {exc}", file=sys.stderr)
        return 1
