"""Load on the sync server: N devices in accounts of D push K events each while pulling each other's.

    python benchmarks/sync_load.py [--devices 50] [--events 1000] [--per-account 5] [--page 100]
        [--pull-limit 500] [--think-ms 0] [--db URL] [--workers 1] [--timeout-s 600] [--json]

Starts its own server (`python -m app.services.sync.server`, through tests/support/sync_server.py)
on 127.0.0.1 only: on a temporary SQLite file, or on `--db postgresql+psycopg://...` (the database
must exist; accounts get fresh random names, so reruns do not collide). Cheap Argon2 hashing
(`--argon2-profile test`): account creation is not what this measures.

Each device is a thread with its own httpx client. It pushes its K events in pages of --page,
pulling after every push (a real client syncs both ways each round), then pulls until it holds
every record of its account. With --think-ms 0 (the default) devices sync flat out, back to back:
a saturation test, where latency is mostly waiting in line; --think-ms T pauses 0.5-1.5 T between
rounds, as devices that sync every so often do. Then every device's pulls are checked: each record
of the account seen exactly once, and seqs 1..n with no gap. Prints events/s (all events pushed /
wall time from the first push until the last device caught up) and request latency p50/p95/max per
request type, as the devices saw it (with the queueing in this process's threads, which share the
machine and one GIL) and as the server's access log timed it (from the request arriving to its
answer). --json prints one object. Exits 1 if anything was lost or duplicated, or on a timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.core.sync.hlc import HybridClock
from app.core.sync.ids import uuid7
from app.services.sync import protocol
from app.services.sync.server.db import backend_name
from tests.support.sync_server import SyncServerProcess

MAX_DEVICES = 500
MAX_EVENTS = 100_000
HEADERS = {protocol.PROTOCOL_HEADER: str(protocol.PROTOCOL_VERSION)}
PASSWORD = "benchmark password"
CATCH_UP_POLL_S = 0.1  # a device that has pushed everything polls this often for the rest
KINDS = ("lesson.opened", "lesson.done", "tutor.turn", "quiz.attempt", "hint.request", "review.log")


@dataclass
class Device:
    index: int
    account: int
    token: str = ""
    device_id: str = ""
    pushed: list[str] = field(default_factory=list)
    seen: Counter[str] = field(default_factory=Counter)
    seqs: list[int] = field(default_factory=list)
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"push": [], "pull": []})
    error: str | None = None


class Stop(Exception):
    pass


def _events(clock: HybridClock, n: int, device: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        data = {"q": f"question {i} from device {device}", "route": "local"} if kind == "tutor.turn" else {"n": i}
        out.append({"id": uuid7(), "type": "event", "kind": kind, "hlc": str(clock.tick()),
                    "body": {"course_id": "python-from-zero", "lesson_id": f"lesson-{i % 40}", "data": data}})
    return out


def _timed(device: Device, kind: str, send: Any) -> httpx.Response:
    started = time.perf_counter()
    response = send()
    device.latencies[kind].append((time.perf_counter() - started) * 1000)
    if response.status_code != 200:
        raise RuntimeError(f"{kind} answered {response.status_code}: {response.text[:300]}")
    return response


def run_device(url: str, device: Device, events: int, page: int, pull_limit: int, expected_total: int,
               deadline: float, start: threading.Barrier, think_s: float) -> None:
    clock = HybridClock(secrets.token_hex(8))
    records = _events(clock, events, device.index)
    device.pushed = [r["id"] for r in records]
    cursor = 0
    headers = {**HEADERS, "Authorization": f"Bearer {device.token}"}
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            start.wait(60)
            if think_s:
                time.sleep(think_s * random.random())  # and do not all start in the same millisecond

            def pull() -> bool:
                nonlocal cursor
                r = _timed(device, "pull", lambda: client.get("/v1/records", params={"after": cursor,
                                                                                    "limit": pull_limit}))
                body = json.loads(r.content)
                for rec in body["records"]:
                    device.seen[rec["id"]] += 1
                    device.seqs.append(rec["seq"])
                cursor = body["cursor"]
                return bool(body["more"])

            for at in range(0, len(records), page):
                if time.monotonic() > deadline:
                    raise Stop("timed out while pushing")
                chunk = {"records": records[at:at + page]}
                _timed(device, "push", lambda chunk=chunk: client.post("/v1/records", json=chunk))
                while pull():
                    pass
                if think_s:
                    time.sleep(think_s * (0.5 + random.random()))  # devices out of step, as in life
            while sum(device.seen.values()) < expected_total:
                if time.monotonic() > deadline:
                    raise Stop("timed out while catching up")
                if not pull():
                    time.sleep(CATCH_UP_POLL_S)  # the others are still pushing
    except Exception as err:
        device.error = f"{type(err).__name__}: {err}"


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": model, "python": platform.python_version(), "system": platform.system()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=int, default=50)
    p.add_argument("--events", type=int, default=1000, help="events each device pushes")
    p.add_argument("--per-account", type=int, default=5, help="devices per account")
    p.add_argument("--page", type=int, default=100, help="records per push")
    p.add_argument("--pull-limit", type=int, default=protocol.DEFAULT_PULL_LIMIT)
    p.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    p.add_argument("--workers", type=int, default=1, help="server processes")
    p.add_argument("--think-ms", type=float, default=0,
                   help="pause (0.5-1.5x this, at random) between a device's push+pull rounds; 0 = flat out")
    p.add_argument("--timeout-s", type=float, default=600)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if not 1 <= args.devices <= MAX_DEVICES or not 1 <= args.events <= MAX_EVENTS:
        p.error(f"--devices must be 1..{MAX_DEVICES} and --events 1..{MAX_EVENTS}")
    if not 1 <= args.page <= protocol.MAX_PUSH_RECORDS or not 1 <= args.pull_limit <= protocol.MAX_PULL_LIMIT:
        p.error(f"--page must be 1..{protocol.MAX_PUSH_RECORDS} and --pull-limit 1..{protocol.MAX_PULL_LIMIT}")
    if args.per_account < 1 or args.workers < 1 or args.timeout_s <= 0:
        p.error("--per-account and --workers must be at least 1, --timeout-s positive")

    devices = [Device(i, i // args.per_account) for i in range(args.devices)]
    accounts = sorted({d.account for d in devices})
    run = secrets.token_hex(3)
    with SyncServerProcess(args.db, workers=args.workers, startup_timeout_s=60) as server:
        with httpx.Client(base_url=server.url, headers=HEADERS, timeout=60) as http:
            for account in accounts:
                user = f"bench-{run}-{account}"
                r = http.post("/v1/accounts", json={"user": user, "password": PASSWORD, "device_name": "d0"})
                r.raise_for_status()
                members = [d for d in devices if d.account == account]
                session = r.json()
                members[0].token, members[0].device_id = session["token"], session["device_id"]
                for d in members[1:]:
                    r = http.post("/v1/sessions", json={"user": user, "password": PASSWORD,
                                                        "device_name": f"d{d.index}"})
                    r.raise_for_status()
                    d.token, d.device_id = r.json()["token"], r.json()["device_id"]
        size = Counter(d.account for d in devices)
        barrier = threading.Barrier(len(devices) + 1)
        deadline = time.monotonic() + args.timeout_s
        threads = [threading.Thread(target=run_device, args=(server.url, d, args.events, args.page, args.pull_limit,
                                                             size[d.account] * args.events, deadline, barrier,
                                                             args.think_ms / 1000),
                                    daemon=True) for d in devices]
        for t in threads:
            t.start()
        barrier.wait(60)
        started = time.perf_counter()
        for t in threads:
            t.join(max(0.0, deadline - time.monotonic()) + 5)
        wall = time.perf_counter() - started
        lines = server.log_lines()
        server_errors = [line for line in lines if line.get("level") == "ERROR"]
        client_cpu = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)  # the server and its workers, now reaped

    lost = duplicated = gaps = 0
    for d in devices:
        expected = {rid for other in devices if other.account == d.account for rid in other.pushed}
        lost += len(expected - set(d.seen))
        duplicated += sum(n - 1 for n in d.seen.values() if n > 1)
        gaps += int(d.seqs != list(range(1, len(d.seqs) + 1)))
    errors = [f"device {d.index}: {d.error}" for d in devices if d.error]
    every = [ms for d in devices for kind in d.latencies for ms in d.latencies[kind]]
    by_type = {}
    for kind in ("push", "pull"):
        values = [ms for d in devices for ms in d.latencies[kind]]
        by_type[kind] = {"count": len(values), "p50_ms": round(percentile(values, 0.5), 2),
                         "p95_ms": round(percentile(values, 0.95), 2), "max_ms": round(max(values, default=0), 2),
                         "mean_ms": round(statistics.fmean(values), 2) if values else 0.0}
    # The server's own view (its access log's duration_ms): no queueing in this process's threads.
    records_lines = [line for line in lines if line.get("event") == "request" and line.get("path") == "/v1/records"]
    for kind, method in (("push", "POST"), ("pull", "GET")):
        values = [float(line["duration_ms"]) for line in records_lines if line.get("method") == method]
        by_type[kind]["server_p50_ms"] = round(percentile(values, 0.5), 2)
        by_type[kind]["server_p95_ms"] = round(percentile(values, 0.95), 2)
    served = [float(line["duration_ms"]) for line in records_lines]
    total = args.devices * args.events
    result = {
        "devices": args.devices, "events": args.events, "events_total": total, "per_account": args.per_account,
        "accounts": len(accounts), "page": args.page, "pull_limit": args.pull_limit,
        "db": backend_name(server.db_url), "workers": args.workers, "wall_s": round(wall, 2),
        "events_per_s": round(total / wall, 1) if wall else 0.0, "requests": len(every),
        "p50_ms": round(percentile(every, 0.5), 2), "p95_ms": round(percentile(every, 0.95), 2),
        "max_ms": round(max(every, default=0), 2), "by_type": by_type,
        "server_p50_ms": round(percentile(served, 0.5), 2), "server_p95_ms": round(percentile(served, 0.95), 2),
        "think_ms": args.think_ms,
        "lost": lost, "duplicated": duplicated, "devices_with_seq_gaps": gaps,
        "errors": errors[:10], "server_errors": len(server_errors), "machine": machine(),
        # CPU seconds over the whole run (set-up included): this process (the devices) and the server's.
        "client_cpu_s": round(client_cpu.ru_utime + client_cpu.ru_stime, 2),
        "server_cpu_s": round(server_cpu.ru_utime + server_cpu.ru_stime, 2),
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.devices} devices in {len(accounts)} accounts x {args.events} events, pages of {args.page}"
              f"{f', think {args.think_ms:g} ms' if args.think_ms else ''}, "
              f"{result['db']} with {args.workers} worker(s): {wall:.1f} s, {result['events_per_s']:,.0f} events/s, "
              f"{len(every)} requests")
        for kind, row in by_type.items():
            print(f"  {kind:5} n={row['count']:5}  p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
                  f"max {row['max_ms']:7.1f} ms   (server: p50 {row['server_p50_ms']:.1f}, p95 "
                  f"{row['server_p95_ms']:.1f} ms)")
        print(f"  all   p50 {result['p50_ms']:.1f} ms  p95 {result['p95_ms']:.1f} ms  max {result['max_ms']:.1f} ms"
              f"   (server: p50 {result['server_p50_ms']:.1f}, p95 {result['server_p95_ms']:.1f} ms)")
        print(f"  lost {lost}, duplicated {duplicated}, devices with seq gaps {gaps}, server errors "
              f"{len(server_errors)}; CPU s: devices {result['client_cpu_s']}, server {result['server_cpu_s']}")
        for line in errors[:10]:
            print(f"  error: {line}")
    return 1 if lost or duplicated or gaps or errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
