"""Structured logs: one JSON object per line on stderr, for journald, Docker or a log shipper.

    {"time": "2025-01-01T12:00:00.123Z", "level": "INFO", "event": "request", "method": "POST",
     "path": "/v1/records", "status": 200, "duration_ms": 4.1, "user_id": 7, "request_id": "..."}

What is never logged: passwords, tokens, Authorization headers, request or response bodies, query
strings, and attempted user names (people type passwords into the user field). Fields come only
from `extra={"fields": {...}}` on a call, so nothing reaches a line by accident; SQL parameters are
hidden from database errors (db.py).
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("lantern.sync")
# Set by middleware.RequestLog for the request being served; handlers on the thread pool inherit it.
request_id: ContextVar[str | None] = ContextVar("lantern_sync_request_id", default=None)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        line: dict[str, Any] = {
            "time": at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z",
            "level": record.levelname,
            "event": record.getMessage(),
        }
        if not record.name.startswith("lantern.sync"):
            line["logger"] = record.name
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({k: v for k, v in fields.items() if k not in ("time", "level", "event")})
        if "request_id" not in line and (current := request_id.get()) is not None:
            line["request_id"] = current
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def event(name: str, *, level: int = logging.INFO, exc_info: bool = False, **fields: Any) -> None:
    """Log one structured event: `event("device_revoked", user_id=3, device_id=...)`."""
    log.log(level, name, extra={"fields": fields}, exc_info=exc_info)


def log_config(level: str = "INFO") -> dict[str, Any]:
    """A logging.config.dictConfig for the server and uvicorn: every worker process applies it."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True, "level": level},
            "uvicorn.error": {"handlers": [], "propagate": True, "level": level},
            # The middleware writes the access log (with request id, user id and timing); uvicorn's
            # own would repeat it with the query string.
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
            "alembic": {"handlers": [], "propagate": True, "level": "WARNING"},  # cli.py logs "migrated"
        },
    }
