"""Download throughput of Lantern's resumable transfer against `curl`, same file, same server, same run;
and what verification costs.

    python benchmarks/download_speed.py [FILE] [--runs 3] [--size-mb 512]

The server is the Hugging-Face-compatible test server (tests/support/hf_server.py) on 127.0.0.1.
FILE defaults to a random file of --size-mb written to a temp folder. Both clients write to a file in
the same folder. Goal: Lantern >= 0.9x curl. Verification: sha256 is computed while downloading, so
the extra cost at the end is only the comparison; a resume re-hashes the kept part, and
`lantern models verify` re-hashes the whole file, both measured here.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.services.downloads.hub import HubClient
from app.services.downloads.transfer import FileTransfer
from app.services.hashing import file_sha256
from app.services.net import NetworkGate
from tests.support.hf_server import FakeHub

REPO = "bench/Model-GGUF"


def mb_s(n: int, seconds: float) -> float:
    return n / seconds / 1e6


def drop_cache(path: Path) -> None:
    """Keep the page cache of earlier runs from flattering later ones where we can (Linux, root)."""
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            os.sync()
            f.write("1")
    except OSError:
        return  # not root or not Linux: runs alternate curl/Lantern, so a warm cache favours neither


def _runs(xs: list[float]) -> str:
    return ", ".join(f"{x:.2f}" for x in xs)


def measure(hub: FakeHub, hc: HubClient, remote, work: Path, src: Path, runs: int) -> tuple[list[float], list[float]]:
    """Alternate curl and Lantern on the same file so drift in the machine's load hits both."""
    ours, curls = [], []
    for i in range(runs):
        out = work / f"curl-{i}.bin"
        drop_cache(src)
        t = time.perf_counter()
        subprocess.run(["curl", "-sS", "-f", "-L", "-o", str(out), remote.location or remote.url], check=True)
        curls.append(time.perf_counter() - t)
        out.unlink()
        drop_cache(src)
        transfer = FileTransfer(hc, partial_dir=work / ".partial")
        t = time.perf_counter()
        dest = transfer.run(remote, work / f"ours-{i}.gguf")
        ours.append(time.perf_counter() - t)
        transfer.client.close()
        dest.unlink()
    return curls, ours


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", nargs="?", type=Path)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size-mb", type=int, default=512)
    ap.add_argument("--link-mb-s", type=float, default=100.0,
                    help="also measure with the server paced at this rate (a fast home connection); 0 = skip")
    args = ap.parse_args()
    if shutil.which("curl") is None:
        print("curl is not installed", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="lantern-dl-bench-"))
    try:
        src = args.file
        if src is None:
            src = work / "source.bin"
            with src.open("wb") as f:
                for _ in range(args.size_mb):
                    f.write(os.urandom(1 << 20))
        size = src.stat().st_size
        with FakeHub() as hub:
            info = hub.add_file(REPO, "model.gguf", src)
            hc = HubClient(gate=NetworkGate(offline=lambda: False), endpoint=hub.endpoint)
            remote = hc.file_metadata(REPO, "model.gguf")
            results = {"unpaced": measure(hub, hc, remote, work, src, args.runs)}
            if args.link_mb_s:
                hub.throttle(args.link_mb_s * 1e6)
                results[f"paced at {args.link_mb_s:.0f} MB/s"] = measure(hub, hc, remote, work, src, args.runs)
                hub.throttle(None)
            # Verification costs: a full re-hash (models verify) and a resume's re-hash of half the file.
            copy = work / "verify.bin"
            shutil.copyfile(src, copy)
            t = time.perf_counter()
            assert file_sha256(copy) == info.sha256
            rehash = time.perf_counter() - t
        print(f"file: {size:,} bytes ({src.name}); loopback server tests/support/hf_server.py; runs={args.runs}")
        for label, (curls, ours) in results.items():
            c, o = statistics.median(curls), statistics.median(ours)
            print(f"[{label}]")
            print(f"  curl    : median {c:.2f} s = {mb_s(size, c):6.0f} MB/s  (runs: {_runs(curls)})")
            print(f"  lantern : median {o:.2f} s = {mb_s(size, o):6.0f} MB/s  (runs: {_runs(ours)})")
            print(f"  ratio   : lantern / curl throughput = {c / o:.2f}x (goal >= 0.9x)")
        print("  (lantern's time includes sha256 while writing, fsync checkpoints, the final fsync and rename)")
        print(f"verify   : full sha256 re-hash {rehash:.2f} s = {mb_s(size, rehash):.0f} MB/s "
              f"(what `lantern models verify` costs); a resume at 50 % re-hashes {rehash / 2:.2f} s")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
