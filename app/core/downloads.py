"""What a download is, how its progress is reported, and the rules for retrying and disk space.

Pure logic shared by the transfer (services), the CLI progress bar and the GUI: the services fill
these in, the views only read them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from app.core.profile import GIB, MIB

DownloadState = Literal["queued", "running", "paused", "verifying", "done", "failed", "cancelled"]
TERMINAL_STATES: frozenset[str] = frozenset({"done", "failed", "cancelled"})

# Free space left over after the download: a full disk breaks the OS and every app, not just ours.
# The recommendation uses the same rule, so a model it calls "fits on disk" also passes this check.
DISK_MARGIN_MIN, DISK_MARGIN_SHARE = 2 * GIB, 0.05


@dataclass(frozen=True)
class RemoteFile:
    """One file on the hub, pinned to a commit, with what the server says it must hash to."""

    repo_id: str
    filename: str
    commit: str
    url: str                 # resolve URL pinned to the commit (never "main": the content must not move)
    size: int
    etag: str                # the LFS sha256 for LFS files, the git blob sha1 otherwise
    sha256: str | None       # known for LFS files (X-Linked-Etag / lfs.sha256)
    git_sha1: str | None = None  # known for small non-LFS files (their etag is the git blob id)
    location: str | None = None  # where the bytes are (a CDN URL for LFS files); may expire

    @property
    def label(self) -> str:
        return self.filename.rsplit("/", 1)[-1]

    @property
    def source_ref(self) -> str:
        return f"{self.repo_id}/{self.filename}@{self.commit}"


@dataclass(frozen=True)
class DownloadProgress:
    """One progress event; the CLI bar and the GUI both consume exactly this."""

    job_id: int
    label: str
    state: DownloadState
    bytes_done: int
    total_bytes: int
    rate_bps: float | None = None
    eta_s: float | None = None
    files_done: int = 0
    files_total: int = 1
    message: str | None = None   # why it failed / was restarted, in plain language

    @property
    def fraction(self) -> float:
        return min(1.0, self.bytes_done / self.total_bytes) if self.total_bytes > 0 else 0.0


@dataclass
class RateMeter:
    """Transfer rate as an exponential moving average over ~`window_s`, and the ETA from it.

    An average over the whole download would hide a connection that just slowed down; a raw
    per-chunk figure jumps around too much to read.
    """

    window_s: float = 5.0
    _last_t: float | None = None
    _last_bytes: int = 0
    rate_bps: float | None = None

    def update(self, now: float, bytes_done: int) -> float | None:
        if self._last_t is None or bytes_done < self._last_bytes:  # first sample or restarted from zero
            self._last_t, self._last_bytes = now, bytes_done
            return self.rate_bps
        dt = now - self._last_t
        if dt < 0.2:  # too short to measure; keep the last figure
            return self.rate_bps
        sample = (bytes_done - self._last_bytes) / dt
        weight = min(1.0, dt / self.window_s)
        self.rate_bps = sample if self.rate_bps is None else self.rate_bps + weight * (sample - self.rate_bps)
        self._last_t, self._last_bytes = now, bytes_done
        return self.rate_bps

    def eta(self, remaining_bytes: int) -> float | None:
        if self.rate_bps is None or self.rate_bps <= 0:
            return None
        return remaining_bytes / self.rate_bps


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, honouring Retry-After; the count resets whenever bytes arrive."""

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    jitter: float = 0.25
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, attempt: int, *, retry_after_s: float | None = None) -> float:
        """Seconds to wait before attempt number `attempt` (1 = the first retry)."""
        if retry_after_s is not None:
            return min(max(0.0, retry_after_s), self.max_delay_s)
        base = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        return base * (1 + self.jitter * (2 * self.rng.random() - 1))

    def gives_up(self, attempts_without_progress: int) -> bool:
        return attempts_without_progress >= self.max_attempts


RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def disk_margin(total_bytes: int) -> int:
    return max(DISK_MARGIN_MIN, int(total_bytes * DISK_MARGIN_SHARE))


def disk_needed(download_bytes: int) -> int:
    """Free space a download of this size needs before it starts."""
    return download_bytes + disk_margin(download_bytes)


def disk_shortfall(*, free_bytes: int, remaining_bytes: int, total_bytes: int) -> int:
    """How many bytes must be freed before starting (0 = enough space)."""
    return max(0, remaining_bytes + disk_margin(total_bytes) - free_bytes)


def human_bytes(n: float) -> str:
    for unit, size in (("GB", GIB), ("MB", MIB), ("KB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def human_duration(seconds: float) -> str:
    s = round(seconds)
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class DownloadPaused(Exception):
    """The user paused; the partial file and its sidecar are kept for a later resume. Not an error."""
