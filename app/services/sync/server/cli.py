"""`lantern-sync-server`: serve (the default) or migrate.

    lantern-sync-server [--db URL | --data-dir DIR] [--host 127.0.0.1] [--port 8765] [--workers N]
                        [--no-migrate] [--token-days 180] [--log-level INFO] ...
    lantern-sync-server migrate [--db URL | --data-dir DIR]

With no --db the database is $LANTERN_SYNC_DB, else `sync.db` in the data folder (platformdirs'
user data dir for "lantern-sync-server", or --data-dir). Serving runs `upgrade head` first unless --no-migrate, and
then refuses to start on a schema that is not current. uvicorn runs the app; with --workers N it
starts N processes, each building the app from the settings this command puts in its environment
(LANTERN_SYNC_SERVER_SETTINGS), so the workers share nothing but the database.

`--argon2-profile test` (or LANTERN_SYNC_TEST_FAST_HASH=1) makes password hashing cheap for test
suites and benchmarks that register many accounts. Never use it for real accounts.
"""

from __future__ import annotations

import argparse
import json
import logging
import logging.config
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

SETTINGS_ENV = "LANTERN_SYNC_SERVER_SETTINGS"
DB_ENV = "LANTERN_SYNC_DB"
FAST_HASH_ENV = "LANTERN_SYNC_TEST_FAST_HASH"
DEFAULT_PORT = 8765


def default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("lantern-sync-server", appauthor=False))


def database_url(args: argparse.Namespace) -> str:
    if args.db:
        return str(args.db)
    folder = Path(args.data_dir) if args.data_dir else default_data_dir()
    return f"sqlite:///{(folder / 'sync.db').resolve()}"


def _prepare_sqlite(url: str) -> None:
    from sqlalchemy import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _database_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="URL", default=os.environ.get(DB_ENV) or None,
                        help=f"sqlite:///path/sync.db or postgresql+psycopg://user@host/db (default: ${DB_ENV}, "
                        "else sync.db in the data folder); the environment keeps a password out of `ps`")
    parser.add_argument("--data-dir", metavar="DIR", help="folder for the default SQLite database")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def serve_parser() -> argparse.ArgumentParser:
    from app.services.sync.server.app import DEFAULT_TOKEN_DAYS
    from app.services.sync.server.ratelimit import RateLimits

    limits = RateLimits()
    p = argparse.ArgumentParser(prog="lantern-sync-server", description="Lantern's progress-sync server. "
                                "`lantern-sync-server migrate --db URL` only migrates the database.")
    _database_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: put a TLS proxy "
                   "in front; docs/sync.md)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--workers", type=int, default=1, help="API processes (uvicorn --workers)")
    p.add_argument("--no-migrate", action="store_true", help="do not upgrade the schema at start")
    p.add_argument("--token-days", type=int, default=DEFAULT_TOKEN_DAYS, help="days a sign-in lasts")
    p.add_argument("--pool-size", type=int, default=10, help="database connections per worker (plus as many again "
                   "in bursts)")
    p.add_argument("--forwarded-allow-ips", default=None, help="proxies whose X-Forwarded-For is trusted "
                   "(uvicorn's option; default 127.0.0.1)")
    p.add_argument("--login-limit-account", type=int, default=limits.login_per_account,
                   help="failed sign-ins per account name per 10 minutes")
    p.add_argument("--login-limit-address", type=int, default=limits.login_per_address,
                   help="failed sign-ins per client address per 10 minutes")
    p.add_argument("--register-limit", type=int, default=limits.register_per_address,
                   help="new accounts per client address per hour")
    p.add_argument("--argon2-profile", choices=["default", "test"],
                   default="test" if os.environ.get(FAST_HASH_ENV) == "1" else "default",
                   help="'test' = cheap password hashing, for test suites only")
    return p


def migrate_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lantern-sync-server migrate", description="Upgrade the database schema.")
    _database_args(p)
    p.add_argument("--revision", default="head")
    return p


def _settings(args: argparse.Namespace, url: str) -> dict[str, Any]:
    from app.services.sync.server.ratelimit import RateLimits

    limits = RateLimits(login_per_account=args.login_limit_account, login_per_address=args.login_limit_address,
                        register_per_address=args.register_limit)
    return {"db_url": url, "token_days": args.token_days, "argon2_profile": args.argon2_profile,
            "pool_size": args.pool_size, "rate_limits": asdict(limits)}


def app_from_env() -> FastAPI:
    """uvicorn's factory (in every worker): the app from the settings `serve` left in the environment."""
    from app.services.sync.server import auth
    from app.services.sync.server.app import create_app
    from app.services.sync.server.ratelimit import RateLimits

    settings = json.loads(os.environ[SETTINGS_ENV])
    hasher = auth.cheap_test_hasher() if settings["argon2_profile"] == "test" else None
    return create_app(settings["db_url"], token_days=int(settings["token_days"]), password_hasher=hasher,
                      rate_limits=RateLimits(**settings["rate_limits"]), pool_size=int(settings["pool_size"]))


def _configure_logging(level: str) -> None:
    from app.services.sync.server.logs import log_config

    logging.config.dictConfig(log_config(level))


def migrate_main(argv: Sequence[str]) -> int:
    from app.services.sync.server import migrate
    from app.services.sync.server.db import safe_url
    from app.services.sync.server.logs import event

    args = migrate_parser().parse_args(argv)
    _configure_logging(args.log_level)
    url = database_url(args)
    _prepare_sqlite(url)
    before, after = migrate.upgrade(url, args.revision)
    event("migrated", db=safe_url(url), from_revision=before, revision=after)
    return 0


def serve_main(argv: Sequence[str]) -> int:
    import uvicorn

    from app.services.sync.server import migrate
    from app.services.sync.server.db import backend_name, safe_url
    from app.services.sync.server.logs import event, log_config

    args = serve_parser().parse_args(argv)
    if args.workers < 1 or args.token_days < 1 or args.pool_size < 1:
        print("lantern-sync-server: --workers, --token-days and --pool-size must be at least 1", file=sys.stderr)
        return 2
    _configure_logging(args.log_level)
    url = database_url(args)
    _prepare_sqlite(url)
    if not args.no_migrate:
        before, after = migrate.upgrade(url)
        if before != after:
            event("migrated", db=safe_url(url), from_revision=before, revision=after)
    elif not migrate.is_current(url):
        event("schema_not_current", level=logging.ERROR, db=safe_url(url),
              hint="run `lantern-sync-server migrate --db URL`, or start without --no-migrate")
        return 1
    if args.argon2_profile == "test":
        event("argon2_test_profile", level=logging.WARNING, hint="cheap password hashing: for tests only")
    os.environ[SETTINGS_ENV] = json.dumps(_settings(args, url))
    event("starting", db=safe_url(url), backend=backend_name(url), host=args.host, port=args.port,
          workers=args.workers)
    options: dict[str, Any] = {"forwarded_allow_ips": args.forwarded_allow_ips} if args.forwarded_allow_ips else {}
    uvicorn.run("app.services.sync.server.cli:app_from_env", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_config=log_config(args.log_level), access_log=False,
                server_header=False, proxy_headers=True, timeout_graceful_shutdown=10, **options)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "migrate":
        return migrate_main(argv[1:])
    if argv and argv[0] == "serve":
        argv = argv[1:]
    return serve_main(argv)
