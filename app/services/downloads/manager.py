"""Queue of downloads with a concurrency limit, pause/resume/cancel, and progress events.

Plain Python (threads, no Qt): the CLI prints the events as a progress bar, the GUI forwards them to
its widgets through a queued signal. A job is one file (a GGUF) or several (an MLX snapshot, moved
into place as one folder only when every file is verified).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path

from app.core.downloads import TERMINAL_STATES, DownloadPaused, DownloadProgress, DownloadState, RateMeter, RemoteFile
from app.core.errors import LanternError, OfflineModeEnabled, OperationCancelled
from app.services.downloads.transfer import FileTransfer, TransferControl

log = logging.getLogger(__name__)

Listener = Callable[[DownloadProgress], None]


@dataclass(frozen=True)
class DownloadRequest:
    """What to fetch and where it goes. With `final_dir`, the files land in a staging folder first and
    the folder is renamed to `final_dir` only when all of them are verified."""

    label: str
    files: tuple[tuple[RemoteFile, Path], ...]
    final_dir: Path | None = None

    @property
    def total_bytes(self) -> int:
        return sum(r.size for r, _ in self.files)

    @property
    def result_path(self) -> Path:
        return self.final_dir if self.final_dir is not None else self.files[0][1]


class DownloadJob:
    _ids = count(1)

    def __init__(self, request: DownloadRequest, manager: DownloadManager) -> None:
        self.id = next(self._ids)
        self.request = request
        self.control = TransferControl()
        self.error: BaseException | None = None
        self._manager = manager
        self._cond = threading.Condition()
        self._files_done = 0
        self.progress = DownloadProgress(self.id, request.label, "queued", 0, request.total_bytes,
                                         files_total=len(request.files))

    @property
    def state(self) -> DownloadState:
        return self.progress.state

    def pause(self) -> None:
        with self._cond:
            if self.state == "queued":
                self._set(replace(self.progress, state="paused"))
        self.control.pause()

    def resume(self) -> None:
        with self._cond:
            if self.state == "running":  # a pause asked for but not reached yet: take it back
                self.control.clear()
                return
            if self.state != "paused":
                return
            self.control.clear()
            self._set(replace(self.progress, state="queued", message=None))
        self._manager._schedule(self)

    def cancel(self) -> None:
        with self._cond:
            if self.state in TERMINAL_STATES:
                return
            if self.state in ("queued", "paused"):
                self._discard()
                self._set(replace(self.progress, state="cancelled"))
        self.control.cancel()

    def wait(self, timeout: float | None = None) -> DownloadProgress:
        """Block until the job is done, failed, cancelled or paused; returns the last progress."""
        with self._cond:
            self._cond.wait_for(lambda: self.state in TERMINAL_STATES or self.state == "paused", timeout)
            return self.progress

    def result(self, timeout: float | None = None) -> Path:
        """The downloaded path, or the job's error raised here."""
        progress = self.wait(timeout)
        if progress.state == "done":
            return self.request.result_path
        if progress.state == "failed" and self.error is not None:
            raise self.error
        if progress.state == "cancelled":
            raise OperationCancelled()
        raise DownloadPaused()

    # -- worker side ------------------------------------------------------------------------------

    def _set(self, progress: DownloadProgress, *, force: bool = True) -> None:
        with self._cond:
            self.progress = progress
            self._cond.notify_all()
        self._manager._emit(progress, force=force)

    def _discard(self) -> None:
        for remote, _ in self.request.files:
            self._manager.transfer.discard(remote)
        staging = self._manager.staging_dir(self.request)
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)

    def _run(self) -> None:
        with self._cond:
            if self.state != "queued":  # paused or cancelled while waiting in the queue
                return
            self._set(replace(self.progress, state="running"))
        meter = RateMeter()
        try:
            self._drop_stale_staging()
            done_before = 0
            for i, (remote, dest) in enumerate(self.request.files):
                target = self._manager.staged_dest(self.request, dest)
                if target.exists() and target.stat().st_size == remote.size and i < self._files_done:
                    done_before += remote.size
                    continue
                self._run_file(remote, target, done_before, meter)
                done_before += remote.size
                self._files_done = i + 1
            self._finish_snapshot()
            self._set(replace(self.progress, state="done", bytes_done=self.request.total_bytes, eta_s=0.0,
                              files_done=len(self.request.files), message=None))
        except DownloadPaused:
            self._set(replace(self.progress, state="paused", rate_bps=None, eta_s=None))
        except OfflineModeEnabled as exc:  # offline mode turned on under a running job: it waits, resumable
            self._set(replace(self.progress, state="paused", rate_bps=None, eta_s=None, message=exc.user_message))
        except OperationCancelled:
            self._discard()
            self._set(replace(self.progress, state="cancelled", rate_bps=None, eta_s=None))
        except BaseException as exc:  # reported to the caller through .error; the worker thread must survive
            self.error = exc
            message = exc.user_message if isinstance(exc, LanternError) else f"Unexpected error: {exc!r}"
            if not isinstance(exc, LanternError):
                log.exception("download %s failed", self.request.label)
            self._set(replace(self.progress, state="failed", rate_bps=None, eta_s=None, message=message))

    def _run_file(self, remote: RemoteFile, target: Path, done_before: int, meter: RateMeter) -> None:
        clock = self._manager.clock

        def on_progress(done: int, message: str | None) -> None:
            total_done = done_before + done
            rate = meter.update(clock(), total_done)
            eta = meter.eta(self.request.total_bytes - total_done)
            self._set(replace(self.progress, bytes_done=total_done, rate_bps=rate, eta_s=eta,
                              files_done=self._files_done, message=message),
                      force=message is not None)

        self._manager.transfer.run(remote, target, control=self.control, on_progress=on_progress)

    def _finish_snapshot(self) -> None:
        staging, final = self._manager.staging_dir(self.request), self.request.final_dir
        if staging is None or final is None:
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        old = final.with_name(final.name + ".old")
        if final.exists():  # swap, so a crash here never leaves no model at all
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
        os.replace(staging, final)
        shutil.rmtree(old, ignore_errors=True)

    def _drop_stale_staging(self) -> None:
        """Files of an earlier, different snapshot in the staging folder must not end up in this one."""
        staging = self._manager.staging_dir(self.request)
        if staging is None or not staging.exists():
            return
        wanted = {self._manager.staged_dest(self.request, dest) for _, dest in self.request.files}
        for path in sorted(staging.rglob("*"), reverse=True):
            if path.is_file() and path not in wanted:
                path.unlink()


class DownloadManager:
    def __init__(self, transfer: FileTransfer, *, max_parallel: int = 2, clock: Callable[[], float] = time.monotonic,
                 min_event_interval_s: float = 0.1) -> None:
        self.transfer = transfer
        self.clock = clock
        self.min_event_interval_s = min_event_interval_s
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="lantern-download")
        self._listeners: list[Listener] = []
        self._jobs: list[DownloadJob] = []
        self._lock = threading.Lock()
        self._last_event: dict[int, float] = {}

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)
        return unsubscribe

    def submit(self, request: DownloadRequest) -> DownloadJob:
        job = DownloadJob(request, self)
        with self._lock:
            self._jobs.append(job)
        self._emit(job.progress, force=True)
        self._schedule(job)
        return job

    def jobs(self) -> list[DownloadJob]:
        with self._lock:
            return list(self._jobs)

    def shutdown(self, *, timeout: float = 10.0) -> None:
        """On quit: pause everything (partials are kept), wait for workers a bounded time."""
        for job in self.jobs():
            if job.state not in TERMINAL_STATES:
                job.pause()
        deadline = time.monotonic() + timeout
        for job in self.jobs():
            job.wait(max(0.0, deadline - time.monotonic()))
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.transfer.client.close()

    # -- internals --------------------------------------------------------------------------------

    def _schedule(self, job: DownloadJob) -> None:
        self._pool.submit(job._run)

    def staging_dir(self, request: DownloadRequest) -> Path | None:
        if request.final_dir is None:
            return None
        return self.transfer.partial_dir / f"{request.final_dir.name}.snapshot"

    def staged_dest(self, request: DownloadRequest, dest: Path) -> Path:
        staging = self.staging_dir(request)
        if staging is None or request.final_dir is None:
            return dest
        return staging / dest.relative_to(request.final_dir)

    def _emit(self, progress: DownloadProgress, *, force: bool) -> None:
        now = self.clock()
        with self._lock:
            last = self._last_event.get(progress.job_id)
            if not force and last is not None and now - last < self.min_event_interval_s:
                return
            self._last_event[progress.job_id] = now
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(progress)
            except Exception:  # a broken view must not break the download
                log.exception("download progress listener failed")
