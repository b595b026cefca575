"""`lantern bench`: measure a model on this machine, against raw llama-cpp-python, and remember the speed."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.core.downloads import human_bytes
from app.core.errors import BackendUnavailable, LanternError
from app.core.i18n import _

TARGET_RATIO = 0.97       # Lantern's streaming path vs raw llama-cpp-python generation speed
TARGET_FOLLOWUP = 1.2     # time to first token at the last turn vs the first


def register(sub: Any, *, models_sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="measure a model's speed and memory here (and compare with raw llama-cpp-python)",
        description="Load a GGUF model with the settings Lantern plans for this machine and measure load time, "
                    "prompt processing and generation speed, time to first token on a cold first turn and on "
                    "follow-up turns (KV-cache reuse), and peak memory; then the same through raw "
                    "llama-cpp-python with identical settings, and print the ratios. The measured generation "
                    "speed of an installed model is stored and replaces the estimate in `lantern models recommend`.")
    bench.add_argument("--model", metavar="ID|PATH",
                       help="an installed model id (or the start of one, if unique) or a .gguf path (default: "
                            "the most recently installed usable GGUF model)")
    bench.add_argument("--ctx", type=int, metavar="N", help="context length to load with (default: the setting, 4096)")
    bench.add_argument("--turns", type=int, default=8, metavar="N", help="conversation turns (default: 8)")
    bench.add_argument("--tokens", type=int, default=64, metavar="N", help="tokens generated per turn (default: 64)")
    bench.add_argument("--no-raw", action="store_true", help="skip the raw llama-cpp-python comparison")
    bench.add_argument("--no-store", action="store_true", help="do not store the measured speed")
    bench.add_argument("--json", action="store_true", help="print the results as JSON")
    add_profile_arg(bench)


def _target(args: argparse.Namespace, registry: Any, catalog: Any) -> tuple[Path, str, Any]:
    from app.core.installed import resolve_model_ref
    from app.services.knowledge.models import is_embedding_model

    if args.model and (args.model.endswith(".gguf") or Path(args.model).is_file()):
        path = Path(args.model).expanduser()
        return path, path.stem, None
    # The chat models: an embedding model (the starter kit installs one) does not generate.
    models = [m for m in registry.list(usable_only=True) if m.format == "gguf" and not is_embedding_model(m, catalog)]
    if args.model:
        installed = resolve_model_ref(args.model, registry.list())
    elif models:
        installed = max(models, key=lambda m: m.added_at)
    else:
        raise LanternError(_("No model is installed to benchmark."),
                           hint=_("Install one (`lantern models install-starter`), or pass --model PATH."))
    if not installed.usable:
        raise LanternError(_("{id} is marked '{status}' and cannot be loaded.").format(
            id=installed.id, status=installed.status),
            hint=_("Run `lantern models verify {id}`, or download it again.").format(id=installed.id))
    if installed.format != "gguf":
        raise BackendUnavailable(_("{id} is an MLX model; `lantern bench` measures GGUF models through "
                                   "llama.cpp.").format(id=installed.id), hint=_("Benchmark a GGUF model."))
    return Path(installed.path), installed.id, installed


def cmd_bench(args: argparse.Namespace) -> int:
    from app.core.load_plan import plan_load
    from app.services.inference.bench import run_bench
    from app.services.inference.loading import gguf_facts

    if args.ctx is not None and not 512 <= args.ctx <= 1_048_576:
        raise LanternError(_("--ctx {n} is out of range.").format(n=args.ctx),
                           hint=_("Use a context length between 512 and 1048576."))
    if args.turns < 2 or args.tokens < 2:
        raise LanternError(_("--turns and --tokens must be at least 2."),
                           hint=_("The defaults are 8 turns of 64 tokens."))
    with open_services(args) as services:
        settings, registry = services.settings, services.registry
        path, model_id, installed = _target(args, registry, services.catalog)
        model, variant, weights = gguf_facts(path, model_id=model_id)
        plan = plan_load(services.profile(), model, variant, table=services.performance_table,
                         context_length=args.ctx or settings.context_length, n_threads=settings.n_threads,
                         gpu_layers=settings.gpu_layers, weights_bytes=weights)
        say = (lambda _: None) if args.json else (lambda m: print(f"  {m}…", file=sys.stderr, flush=True))
        report = run_bench(path, model_id=model_id, plan=plan, turns=args.turns, max_tokens=args.tokens,
                           raw=not args.no_raw, progress=say)
        stored = None
        if installed is not None and not args.no_store and report.lantern.generation_tps > 0:
            registry.set_measured_speed(installed.id, report.lantern.generation_tps)
            stored = installed.id
    if args.json:
        print(json.dumps({**report.to_dict(), "stored_for": stored}, indent=2))
    else:
        print("\n".join(bench_table(report)))
        if stored:
            print(f"\nStored {report.lantern.generation_tps:.1f} tok/s as the measured speed of {stored}; "
                  "`lantern models recommend` now uses it.")
    return 0


def bench_table(report: Any) -> list[str]:
    plan, lantern, raw = report.plan, report.lantern, report.raw
    lines = [f"Model: {report.model} ({report.path})",
             f"Plan: {plan.device}, {plan.gpu_layers}/{plan.total_layers} GPU layers, {plan.n_threads} threads, "
             f"context {plan.context_length:,}, flash attention {'on' if plan.flash_attn else 'off'}, "
             f"KV {plan.kv_type}, mmap {'on' if plan.use_mmap else 'off'}",
             f"Conversation: {report.turns} turns, up to {report.max_tokens} tokens each, greedy", ""]
    rows: list[tuple[str, str, str, str]] = [("", "Lantern", "raw llama-cpp-python", "ratio")]

    def row(label: str, fmt: str, a: float, b: float | None, ratio: bool = True) -> None:
        r = f"{a / b:.2f}×" if ratio and b else ""
        rows.append((label, fmt.format(a), fmt.format(b) if b is not None else "-", r))

    other = raw or None
    row("Load time (s)", "{:.2f}", lantern.load_s, other.load_s if other else None, ratio=False)
    row(f"Prompt processing ({lantern.prompt_tokens} tok), tok/s", "{:,.0f}", lantern.prompt_tps,
        other.prompt_tps if other else None)
    row("Generation, tok/s", "{:.1f}", lantern.generation_tps, other.generation_tps if other else None)
    row("Time to first token, turn 1 (s)", "{:.3f}", lantern.ttft_s[0], other.ttft_s[0] if other else None,
        ratio=False)
    row(f"Time to first token, turn {report.turns} (s)", "{:.3f}", lantern.ttft_s[-1],
        other.ttft_s[-1] if other else None, ratio=False)
    row(f"Turn {report.turns} / turn 1 first-token time", "{:.2f}×", lantern.followup_ttft_ratio,
        other.followup_ttft_ratio if other else None, ratio=False)
    rows.append(("Peak RSS", human_bytes(lantern.peak_rss_bytes), human_bytes(other.peak_rss_bytes) if other else "-",
                 ""))
    rows.append(("RSS after unload (before load: " + human_bytes(report.rss_before_bytes) + ")",
                 human_bytes(lantern.rss_after_unload_bytes),
                 human_bytes(other.rss_after_unload_bytes) if other else "-", ""))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += ["  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)).rstrip()
              for r in rows]
    lines.append("")
    if report.generation_ratio is not None:
        ok = report.generation_ratio >= TARGET_RATIO
        lines.append(f"Generation speed vs raw: {report.generation_ratio:.3f}× "
                     f"({'meets' if ok else 'BELOW'} the {TARGET_RATIO}× target)")
        lines.append(f"Same output as raw llama-cpp-python: {'yes' if report.same_output else 'NO'}")
    ok = lantern.followup_ttft_ratio <= TARGET_FOLLOWUP
    lines.append(f"Follow-up first-token time: {lantern.followup_ttft_ratio:.2f}× turn 1 "
                 f"({'meets' if ok else 'ABOVE'} the {TARGET_FOLLOWUP}× target)")
    return lines


HANDLERS = {"bench": cmd_bench}
