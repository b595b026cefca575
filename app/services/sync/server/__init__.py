"""The sync server (issue 18; the `[server]` extra, never in the desktop bundle): `lantern-sync-server`.

FastAPI over SQLAlchemy 2, on embedded SQLite for a single machine or PostgreSQL (psycopg 3) for
several stateless API processes behind a load balancer: nothing that matters lives in a process
(rate limits are rows too). It speaks app/services/sync/protocol.py; docs/sync.md says how to run it.

    app.py        the app factory `create_app(db_url, ...)`, error handlers, health check
    middleware.py request ids and access logs, the protocol header, the request-size limit
    routes.py     accounts, sessions, devices, records
    auth.py       Argon2id passwords, opaque bearer tokens (stored as sha256), expiry, revocation
    ratelimit.py  login/register limits counted in the database
    store.py      push (one transaction under the account's row lock) and pull
    errors.py     the one error shape (protocol.ErrorBody), readable validation messages
    db.py         engines (SQLite pragmas, BEGIN IMMEDIATE), transactions, the dead-connection retry
    models.py     the ORM tables; migrations/ holds the frozen Alembic steps, migrate.py runs them
    logs.py       one JSON object per log line, never a secret
    cli.py        the command (serve, migrate)

Its import contract (pyproject.toml): no UI, inference or course-search code.
"""
