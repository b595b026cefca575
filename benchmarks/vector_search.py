"""Measure Lantern's on-device vector search (hnswlib, cosine space) on synthetic embeddings and check it
against the targets: over 100,000 vectors, single-query p50 < 2 ms and recall@10 >= 0.98 at the chosen ef.

    python benchmarks/vector_search.py [--n 100000] [--dim 384] [--queries 1000] [--M 16] [--ef-construction 200]
        [--ef 64] [--sweep 16,32,64,96,128,200] [--threads N] [--seed 0] [--data clustered|uniform] [--json]

Builds an index with add_items on --threads threads (build rate, vectors/s), saves it to a temp dir (file
size) and loads it into a fresh Index (load time; the file was just written, so the page cache is warm).
On the loaded index, with set_num_threads(1) and set_ef(ef) for each ef of the sweep plus the chosen one,
times knn_query(q[None, :], k=10) one held-out query at a time after a short warm-up (p50/p90/p99/mean),
and scores recall@10 against exact top-10 from numpy brute force (dot products of normalised vectors).
Defaults for M, ef_construction and ef come from app/services/knowledge/vector_index.py.

The data is synthetic. "clustered" imitates sentence-embedding geometry (all-MiniLM-L6-v2 is 384-d): a
Gaussian mixture of n/100 centres on the unit sphere, each point centre + isotropic noise at a per-cluster
spread, L2-normalised, so that nearest-neighbour cosines fall around 0.5-0.9. "uniform" is normalised
random normal vectors, the hardest case for any graph index. Queries are fresh draws, not in the index.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hnswlib
import numpy as np

from app.services.knowledge.vector_index import HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH, HNSW_M

K = 10
P50_TARGET_MS = 2.0
RECALL_TARGET = 0.98
CLUSTER_SIZE = 100  # mean points per cluster: n / 100 centres
SPREAD_RANGE = (0.6, 1.0)  # noise norm relative to the unit centre; same-cluster cosine ~ 1 / (1 + spread**2)
GEN_CHUNK = 50_000
EXACT_CHUNK = 256


def normalise(x: np.ndarray) -> np.ndarray:
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def make_data(kind: str, n: int, queries: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (data, queries, description), both float32 and L2-normalised; queries are independent draws."""
    rng = np.random.default_rng(seed)
    total = n + queries
    out = np.empty((total, dim), dtype=np.float32)
    if kind == "uniform":
        for start in range(0, total, GEN_CHUNK):
            stop = min(start + GEN_CHUNK, total)
            out[start:stop] = normalise(rng.standard_normal((stop - start, dim), dtype=np.float32))
        return out[:n], out[n:], "uniform: normalised random normal vectors (no structure; hardest case)"
    n_clusters = max(1, n // CLUSTER_SIZE)
    centres = normalise(rng.standard_normal((n_clusters, dim), dtype=np.float32))
    spread = rng.uniform(*SPREAD_RANGE, size=n_clusters).astype(np.float32)
    noise_scale = np.float32(1.0 / math.sqrt(dim))  # N(0, I/dim) noise has norm ~1, times the cluster's spread
    for start in range(0, total, GEN_CHUNK):
        stop = min(start + GEN_CHUNK, total)
        labels = rng.integers(n_clusters, size=stop - start)
        noise = rng.standard_normal((stop - start, dim), dtype=np.float32) * noise_scale
        out[start:stop] = normalise(centres[labels] + spread[labels, None] * noise)
    desc = (f"clustered: Gaussian mixture, {n_clusters} centres on the unit sphere, "
            f"spread {SPREAD_RANGE[0]}-{SPREAD_RANGE[1]} per cluster, L2-normalised")
    return out[:n], out[n:], desc


def exact_top_k(data: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k ids and cosines (best first) by chunked matrix products and argpartition."""
    ids = np.empty((len(queries), k), dtype=np.int64)
    sims = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), EXACT_CHUNK):
        block = queries[start:start + EXACT_CHUNK] @ data.T
        top = np.argpartition(-block, k - 1, axis=1)[:, :k]
        top_sims = np.take_along_axis(block, top, axis=1)
        order = np.argsort(-top_sims, axis=1)
        ids[start:start + len(block)] = np.take_along_axis(top, order, axis=1)
        sims[start:start + len(block)] = np.take_along_axis(top_sims, order, axis=1)
    return ids, sims


def recall_at_k(approx: np.ndarray, exact: np.ndarray) -> float:
    k = exact.shape[1]
    hits = sum(len(set(a.tolist()) & set(e.tolist())) for a, e in zip(approx, exact, strict=True))
    return hits / (k * len(exact))


def time_queries(index: hnswlib.Index, queries: np.ndarray, ef: int, warmup: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-query latency in ns and the returned labels, one query per knn_query call."""
    index.set_ef(ef)
    for q in queries[:warmup]:
        index.knn_query(q[None, :], k=K)
    latencies = np.empty(len(queries), dtype=np.int64)
    labels = np.empty((len(queries), K), dtype=np.int64)
    for i, q in enumerate(queries):
        one = q[None, :]
        start = time.perf_counter_ns()
        found, _ = index.knn_query(one, k=K)
        latencies[i] = time.perf_counter_ns() - start
        labels[i] = found[0]
    return latencies, labels


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def parse_sweep(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": {"platform": platform.platform(), "cpu": cpu_model(), "logical_cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "versions": {"hnswlib": importlib.metadata.version("hnswlib"), "numpy": np.__version__},
        "load_average_before": load_average(),
        "params": {"n": args.n, "dim": args.dim, "queries": args.queries, "M": args.M,
                   "ef_construction": args.ef_construction, "ef": args.ef, "sweep": args.sweep,
                   "build_threads": args.threads, "search_threads": 1, "k": K, "seed": args.seed},
    }
    start = time.perf_counter()
    data, queries, desc = make_data(args.data, args.n, args.queries, args.dim, args.seed)
    result["data"] = {"kind": args.data, "synthetic": True, "description": desc,
                      "generate_s": round(time.perf_counter() - start, 3)}

    start = time.perf_counter()
    exact_ids, exact_sims = exact_top_k(data, queries, K)
    result["exact"] = {"seconds": round(time.perf_counter() - start, 3),
                       "top1_cosine_median": round(float(np.median(exact_sims[:, 0])), 3),
                       "top10_cosine_median": round(float(np.median(exact_sims[:, K - 1])), 3),
                       "top10_cosine_p5_p95": [round(float(np.percentile(exact_sims[:, K - 1], p)), 3)
                                               for p in (5, 95)]}

    index = hnswlib.Index(space="cosine", dim=args.dim)
    index.init_index(max_elements=args.n, ef_construction=args.ef_construction, M=args.M,
                     allow_replace_deleted=True)
    start = time.perf_counter()
    index.add_items(data, np.arange(args.n), num_threads=args.threads)
    build_s = time.perf_counter() - start
    result["build"] = {"seconds": round(build_s, 3), "vectors_per_s": round(args.n / build_s, 1)}

    with tempfile.TemporaryDirectory(prefix="lantern-vector-bench-") as tmp:
        path = Path(tmp) / "index.bin"
        index.save_index(str(path))
        size = path.stat().st_size
        del index
        loaded = hnswlib.Index(space="cosine", dim=args.dim)
        start = time.perf_counter()
        loaded.load_index(str(path), max_elements=args.n, allow_replace_deleted=True)
        load_s = time.perf_counter() - start
    result["index_file"] = {"bytes": size, "bytes_per_vector": round(size / args.n, 1),
                            "load_s": round(load_s, 4)}

    loaded.set_num_threads(1)
    warmup = min(100, len(queries))
    rows = []
    for ef in sorted({*args.sweep, args.ef}):
        latencies, labels = time_queries(loaded, queries, ef, warmup)
        ms = latencies / 1e6
        rows.append({"ef": ef, "p50_ms": round(float(np.percentile(ms, 50)), 4),
                     "p90_ms": round(float(np.percentile(ms, 90)), 4),
                     "p99_ms": round(float(np.percentile(ms, 99)), 4),
                     "mean_ms": round(float(ms.mean()), 4),
                     "recall_at_10": round(recall_at_k(labels, exact_ids), 4)})
    result["sweep"] = rows

    chosen = next(row for row in rows if row["ef"] == args.ef)
    latency_ok = chosen["p50_ms"] < P50_TARGET_MS
    recall_ok = chosen["recall_at_10"] >= RECALL_TARGET
    result["verdict"] = {"ef": args.ef, "p50_ms": chosen["p50_ms"], "recall_at_10": chosen["recall_at_10"],
                         "p50_pass": latency_ok, "recall_pass": recall_ok, "pass": latency_ok and recall_ok}
    result["load_average_after"] = load_average()
    return result


def print_report(r: dict[str, Any]) -> None:
    p, m, d, e = r["params"], r["machine"], r["data"], r["exact"]
    print(f"command: {r['command']}")
    print(f"machine: {m['platform']}, {m['cpu']}, {m['logical_cpus']} logical CPUs, Python {m['python']}")
    print(f"versions: hnswlib {r['versions']['hnswlib']}, numpy {r['versions']['numpy']}")
    print(f"load average (1/5/15 min): before {r['load_average_before']}, after {r['load_average_after']}")
    print(f"data: SYNTHETIC {d['description']}; n={p['n']:,} dim={p['dim']} float32, "
          f"{p['queries']:,} held-out queries, seed {p['seed']}")
    print(f"exact top-{K} by brute force: {e['seconds']:.2f} s; median cosine of 1st neighbour "
          f"{e['top1_cosine_median']:.3f}, of 10th {e['top10_cosine_median']:.3f} "
          f"(10th, p5-p95: {e['top10_cosine_p5_p95'][0]:.3f}-{e['top10_cosine_p5_p95'][1]:.3f})")
    b, f = r["build"], r["index_file"]
    print(f"index: M={p['M']} ef_construction={p['ef_construction']}, build on {p['build_threads']} threads "
          f"{b['seconds']:.2f} s = {b['vectors_per_s']:,.0f} vectors/s")
    print(f"file: {f['bytes']:,} bytes ({f['bytes_per_vector']:.0f} B/vector), load {f['load_s'] * 1000:.1f} ms")
    print(f"search: 1 thread, k={K}, one query per knn_query call")
    print(f"{'ef':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'recall@10':>10}")
    for row in r["sweep"]:
        mark = "  <- chosen" if row["ef"] == p["ef"] else ""
        print(f"{row['ef']:>5} {row['p50_ms']:>8.3f} {row['p90_ms']:>8.3f} {row['p99_ms']:>8.3f} "
              f"{row['mean_ms']:>8.3f} {row['recall_at_10']:>10.4f}{mark}")
    v = r["verdict"]
    print(f"verdict at ef={v['ef']}: p50 {v['p50_ms']:.3f} ms < {P50_TARGET_MS} ms "
          f"{'PASS' if v['p50_pass'] else 'FAIL'}; recall@10 {v['recall_at_10']:.4f} >= {RECALL_TARGET} "
          f"{'PASS' if v['recall_pass'] else 'FAIL'} -> {'PASS' if v['pass'] else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="vectors in the index")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--M", type=int, default=HNSW_M)
    parser.add_argument("--ef-construction", type=int, default=HNSW_EF_CONSTRUCTION)
    parser.add_argument("--ef", type=int, default=HNSW_EF_SEARCH, help="the ef the verdict is for")
    parser.add_argument("--sweep", type=parse_sweep, default=[16, 32, 64, 96, 128, 200],
                        help="comma-separated ef values to report as well")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="build threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", choices=["clustered", "uniform"], default="clustered")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the report")
    args = parser.parse_args()
    if min([args.ef, *args.sweep]) < K:
        parser.error(f"every ef must be >= k={K}")
    if args.queries < 1 or args.n < K:
        parser.error(f"need --queries >= 1 and --n >= {K}")
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)


if __name__ == "__main__":
    main()
