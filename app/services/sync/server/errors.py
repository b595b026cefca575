"""Every error the server answers has protocol.ErrorBody's shape: {"error": {"code", "message", "hint"}}.

Clients branch on `code` (protocol.E_*); `message` is for people and says what to do, never what
went wrong inside (no exception text, no SQL). ValidationError messages are made readable here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.responses import Response

from app.services.sync import protocol

# Pattern failures whose default message ("String should match pattern '^...$'") helps nobody.
_FIELD_MESSAGES = {
    "user": "a user name is 3-64 characters: lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
    "hlc": "hlc must be a hybrid-clock timestamp (16 digits, '-', 4 hex digits, '-', the device's node id)",
}
MAX_LISTED_ERRORS = 5


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, hint: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.headers = dict(headers or {})


def error_json(code: str, message: str, hint: str | None = None) -> bytes:
    body = protocol.ErrorBody(error=protocol.ErrorDetail(code=code, message=message, hint=hint))
    return body.model_dump_json().encode()


def error_response(status: int, code: str, message: str, *, hint: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Response:
    return Response(error_json(code, message, hint), status_code=status, headers=dict(headers or {}),
                     media_type="application/json")


def api_error_response(err: ApiError) -> Response:
    return error_response(err.status, err.code, err.message, hint=err.hint, headers=err.headers)


def _where(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("body", "query", "path", "header"):
            out += f".{part}" if out else str(part)
    return out


def _one(error: Mapping[str, Any]) -> str:
    loc = tuple(error.get("loc", ()))
    where = _where(loc)
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid"))
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "string_pattern_mismatch" and loc and str(loc[-1]) in _FIELD_MESSAGES:
        return _FIELD_MESSAGES[str(loc[-1])]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required"
    message = message.removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def readable(errors: Sequence[Mapping[str, Any]]) -> str:
    """"records[0].id: id must be a UUID; ..." for the first few errors."""
    parts = [_one(e) for e in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_LISTED_ERRORS} more")
    return "; ".join(dict.fromkeys(parts)) or "the request is not valid"


def invalid(err: ValidationError | Sequence[Mapping[str, Any]], *, hint: str | None = None) -> ApiError:
    errors = err.errors(include_url=False) if isinstance(err, ValidationError) else err
    return ApiError(422, protocol.E_INVALID, readable(list(errors)), hint=hint)


def json_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
