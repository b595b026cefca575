"""UUIDv7 record ids (RFC 9562): time-ordered, made on the device, unique without asking a server.

Written here because the standard library gets `uuid.uuid7` only in Python 3.14; the layout is the
RFC's: 48-bit Unix milliseconds, version 7, 12 random bits, variant, 62 random bits.
"""

from __future__ import annotations

import os
import time
import uuid


def uuid7(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    if not 0 <= ms < 1 << 48:
        raise ValueError(f"timestamp {ms} ms is outside UUIDv7's range")
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return str(uuid.UUID(int=value))


def is_uuid(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except (ValueError, TypeError, AttributeError):
        return False
