"""Buffered sequential reads over `read_at(offset, size)`, for parsing GGUF headers.

A remote source (HTTP Range requests) pays per request, so the cursor reads big blocks (1 MiB,
doubling to 8 MiB) and serves small reads from its buffer: a header of a few MB costs a few
requests. It never reads past the known file size or the header cap, and reports running out of
bytes as an incomplete file; every failure is a ModelFileInvalid naming the file.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from app.core.errors import ModelFileInvalid
from app.core.i18n import N_, _

ReadAt = Callable[[int, int], bytes]  # (offset, size) -> bytes; fewer bytes only at end of file

MIB = 1 << 20
MAX_HEADER_BYTES = 256 * MIB  # real headers are a few MB (a tokenizer of 250k tokens is ~10 MB)

DOWNLOAD_AGAIN = N_("The download or copy was cut short: download or copy the file again.")
DAMAGED_HINT = N_("Download or copy the file again; if it still fails, the file itself is broken: "
                  "choose another download of this model.")


def invalid(source: str, message: str, hint: str, **context: Any) -> ModelFileInvalid:
    return ModelFileInvalid(message, hint=hint, debug_context={"source": source, **context})


def damaged(source: str, detail: str, **context: Any) -> ModelFileInvalid:
    return invalid(source, _("'{source}' is damaged: {detail}.").format(
                             source=source, detail=detail), _(DAMAGED_HINT), **context)


class Cursor:
    """Sequential reads over read_at through a buffer filled in blocks that grow to max_block."""

    def __init__(self, read_at: ReadAt, *, file_size: int | None, source: str,
                 block: int = MIB, max_block: int = 8 * MIB) -> None:
        self.read_at, self.file_size, self.source = read_at, file_size, source
        self.block, self.max_block = block, max_block
        self.buf = b""
        self.buf_start = 0
        self.pos = 0
        self.where = "its header"
        self.eof: int | None = None  # where read_at said the file ends

    def _limit(self, end: int) -> int | None:
        """Where reading must stop (the known end of the file), after checking `end` against it."""
        if end > MAX_HEADER_BYTES:
            raise damaged(self.source, _("its header would be larger than {max_header_bytes} MiB (while reading "
                                         "{where})").format(
                                         max_header_bytes=MAX_HEADER_BYTES // MIB, where=self.where), offset=self.pos)
        limit = self.file_size if self.eof is None else self.eof
        if limit is not None and end > limit:
            raise self._truncated(limit)
        return limit

    def _fill(self, n: int) -> None:
        limit = self._limit(self.pos + n)
        keep = self.buf[self.pos - self.buf_start:] if self.pos - self.buf_start < len(self.buf) else b""
        start = self.buf_start + len(self.buf) if keep else self.pos
        size = max(n - len(keep), self.block)
        if limit is not None:
            size = min(size, limit - start)
        data = self.read_at(start, size)[:size] if size > 0 else b""
        self.block = min(self.block * 2, self.max_block)
        if len(data) < size:
            self.eof = start + len(data)
        self.buf, self.buf_start = keep + data, self.pos
        if len(self.buf) < n:
            raise self._truncated(self.buf_start + len(self.buf))

    def _truncated(self, size: int) -> ModelFileInvalid:
        return invalid(self.source, _("'{source}' is incomplete: the file ends at byte {size:,}, inside "
                                      "{where}.").format(source=self.source, size=size, where=self.where),
                       _(DOWNLOAD_AGAIN), offset=self.pos, file_size=size)

    def take(self, n: int) -> bytes:
        rel = self.pos - self.buf_start
        if rel + n > len(self.buf):
            self._fill(n)
            rel = 0
        self.pos += n
        return self.buf[rel:rel + n]

    def unpack(self, fmt: str, size: int) -> Any:
        rel = self.pos - self.buf_start
        if rel + size > len(self.buf):
            self._fill(size)
            rel = 0
        self.pos += size
        return struct.unpack_from(fmt, self.buf, rel)[0]

    def u32(self) -> int:
        return int(self.unpack("<I", 4))

    def u64(self) -> int:
        return int(self.unpack("<Q", 8))

    def skip(self, n: int) -> None:
        """Move past n bytes without reading them (with the size unknown, the next read finds the end)."""
        self._limit(self.pos + n)
        self.pos += n

    def room(self) -> int:
        """Bytes the rest of the header may still take. Only the header cap counts: a length that
        runs past the end of the file is more often a cut-short download, reported as incomplete."""
        return max(0, MAX_HEADER_BYTES - self.pos)
