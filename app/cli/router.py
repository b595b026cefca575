"""`lantern router train|explain|calibrate`: the router's needs-cloud classifier, one decision explained,
and its threshold calibrated to a wanted on-device share."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from app.cli import open_services
from app.core.errors import LanternError
from app.core.i18n import _


def register(sub: Any, *, models_sub: Any) -> None:
    router = sub.add_parser("router", help="the local/cloud router: train its classifier, explain, calibrate")
    rsub = router.add_subparsers(dest="sub_command", metavar="SUBCOMMAND", required=True)
    train = rsub.add_parser(
        "train", help="train the needs-cloud classifier on the eval set's tuning split",
        description="Embed the eval set (resources/eval/tutor_queries.jsonl) with the installed embedding model, "
                    "train the classifier over embeddings and rule features and the rules-only one on the tuning "
                    "split (threshold by 5-fold cross-validation for 90 % recall of needs_cloud), and write both "
                    "to resources/router/. The held-out split is only reported.")
    train.add_argument("--out", type=Path, metavar="DIR", help="write the models here (default: resources/router/)")
    train.add_argument("--json", action="store_true", help="print the numbers as JSON")

    explain = rsub.add_parser("explain", help="how the router decides one question, and how long it takes")
    explain.add_argument("question", metavar="QUESTION")
    explain.add_argument("--previous", action="append", default=[], metavar="Q",
                         help="an earlier question of the session (repeat, oldest first): the hint ladder")
    explain.add_argument("--not-covered", action="store_true", help="as if the course did not cover it")
    explain.add_argument("--not-studied", action="store_true", help="as if its lesson were not studied yet")
    explain.add_argument("--json", action="store_true", help="print the decision as JSON")

    cal = rsub.add_parser(
        "calibrate", help="choose the threshold that keeps a wanted share of questions on the device",
        description="Take the classifier's cloud probabilities of the answers in the ledger and of the eval set's "
                    "tuning questions, and choose the threshold at the quantile that keeps TARGET of questions "
                    "on-device after the observed fall-back rate. Prints the expected local share, fall-back rate "
                    "and cloud cost per 1,000 questions; --apply saves it as the `router_threshold` setting.")
    cal.add_argument("--target-local-share", type=float, default=0.8, metavar="TARGET",
                     help="share of questions to answer on-device, 0-1 (0.8)")
    cal.add_argument("--apply", action="store_true", help="save the threshold in the settings file")
    cal.add_argument("--json", action="store_true", help="print the result as JSON")


def _embedder(services: Any) -> tuple[Callable[[list[str]], list[list[float]]], str]:
    embedder, identity = services.embedder()
    return (lambda texts: embedder.embed(texts)), identity.fingerprint


def _vectors(model: Any, services: Any, texts: Sequence[str]) -> list[tuple[float, ...]] | None:
    """The texts' embeddings when `model` needs them (with the installed embedder), else None."""
    if model is None or not model.uses_embedding:
        return None
    embed, _fingerprint = _embedder(services)
    return [tuple(v) for v in embed(list(texts))]


def cmd_train(args: argparse.Namespace) -> int:
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.routing.classifier import router_dir, save_router_model, score_router, train_router

    queries = load_eval_set()
    with open_services(args) as services:
        embed, fingerprint = _embedder(services)
        vectors = embed([q.question for q in queries])
    by_question = {q.question: v for q, v in zip(queries, vectors, strict=True)}

    def cached(texts: list[str]) -> list[list[float]]:
        return [by_question[t] for t in texts]

    out = args.out or router_dir()
    report: dict[str, Any] = {"embedder_fingerprint": fingerprint, "models": {}}
    held = [q for q in queries if q.split == "held_out"]
    tuning = [q for q in queries if q.split == "tuning"]
    for name, fp in (("embedding", fingerprint), ("rules_only", None)):
        model = train_router(queries, cached if fp else None, embedder_fingerprint=fp)
        path = save_router_model(model, out)
        held_vectors = cached([q.question for q in held]) if fp else None
        tuning_vectors = cached([q.question for q in tuning]) if fp else None
        report["models"][name] = {
            "file": str(path), "threshold": model.threshold, "l2": model.metadata["l2"],
            "cv_tuning": model.metadata["cv"],
            "fit_tuning": score_router(model, tuning, tuning_vectors).to_dict(),
            "held_out": score_router(model, held, held_vectors).to_dict()}
    report["rules_alone_held_out"] = score_router(None, held).to_dict()
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(_("Trained on the tuning split ({n} questions, {k} need the cloud); the held-out split is only "
            "reported.").format(n=len(tuning), k=sum(q.needs_cloud for q in tuning)))
    for name, entry in report["models"].items():
        print(f"\n{name}: {entry['file']}  (threshold {entry['threshold']:.3f}, l2 {entry['l2']:g})")
        for label, scores in (("tuning, 5-fold CV", entry["cv_tuning"]), ("held-out", entry["held_out"])):
            print("  " + _("{label}: precision {p:.2f}, recall {r:.2f} of needs_cloud, {share:.0%} sent to the "
                           "cloud ({sent} of {n})").format(label=label, p=scores["precision"], r=scores["recall"],
                                                          share=scores["cloud_share"], sent=scores["sent_to_cloud"],
                                                          n=scores["questions"]))
    rules = report["rules_alone_held_out"]
    print("\n" + _("Rules alone, held-out: precision {p:.2f}, recall {r:.2f}.").format(p=rules["precision"],
                                                                                     r=rules["recall"]))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from app.core.routing import RouteInput, decide

    with open_services(args) as services:
        model = services.router_model()
        started = time.perf_counter()
        vectors = _vectors(model, services, [args.question])
        embed_ms = (time.perf_counter() - started) * 1000 if vectors else None
    inp = RouteInput(question=args.question, previous=tuple(args.previous), embedding=vectors[0] if vectors else None,
                     covered=not args.not_covered, studied=False if args.not_studied else None)
    started = time.perf_counter()
    decision = decide(inp, model)
    decide_ms = (time.perf_counter() - started) * 1000
    data = {"needs_cloud": decision.needs_cloud, "role": decision.role, "reason": decision.reason,
            "reason_code": decision.reason_code, "probability": decision.probability, "kind": decision.kind,
            "features": dict(decision.features), "decision_ms": decide_ms, "embed_ms": embed_ms,
            "threshold": model.threshold if model is not None else None,
            "model": None if model is None else ("embedding" if model.uses_embedding else "rules_only")}
    if args.json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    where = _("cloud") if decision.needs_cloud else _("on-device")
    print(_("Route: {where} · role {role} · kind {kind}").format(where=where, role=decision.role, kind=decision.kind))
    print(_("Reason: {reason} [{code}]").format(reason=decision.reason, code=decision.reason_code))
    if decision.probability is not None and model is not None:
        print(_("Classifier: p={p:.3f} (threshold {t:.3f})").format(p=decision.probability, t=model.threshold))
    print(_("Features: {features}").format(features=", ".join(f"{k}={v:g}" for k, v in decision.features.items())))
    print(_("Decided in {ms:.3f} ms").format(ms=decide_ms))
    return 0


def _ledger_entries(services: Any) -> list[Any]:
    import importlib

    # Imported by name: the ledger store is being written alongside this command; until it lands,
    # calibrate on the eval set alone.
    try:
        ledger = importlib.import_module("app.services.storage.ledger")
    except ImportError:
        return []
    return list(ledger.LedgerStore(services.paths.database_file).entries(since=None, source="app"))


def cmd_calibrate(args: argparse.Namespace) -> int:
    from app.core.routing import RouteInput, decide
    from app.services.evaluation.eval_set import load_eval_set
    from app.services.routing.calibration import Sample, calibrate, ledger_samples
    from app.services.settings_store import load_settings, save_settings

    if not 0 < args.target_local_share <= 1:
        raise LanternError(_("--target-local-share {v} is out of range.").format(v=args.target_local_share),
                           hint=_("Give a share between 0 and 1, such as 0.8 for 80 % on-device."))
    with open_services(args) as services:
        model = services.router_model()
        if model is None:
            raise LanternError(_("There is no router classifier to calibrate."),
                               hint=_("Run `lantern router train`, or reinstall Lantern to restore resources/router/."))
        entries = _ledger_entries(services)
        questions = [q for q in load_eval_set() if q.split == "tuning" and q.type != "off_course"]
        vectors = _vectors(model, services, [q.question for q in questions])
        config_file = services.paths.config_file
    samples = ledger_samples(entries)
    for i, q in enumerate(questions):
        d = decide(RouteInput(q.question, embedding=vectors[i] if vectors else None), model)
        if d.probability is not None:
            samples.append(Sample(d.probability, forced_cloud=d.reason_code.startswith("rule:")))
    result = calibrate(samples, target_local_share=args.target_local_share, entries=entries)
    data = {**result.to_dict(), "previous_threshold": model.threshold, "applied": False}
    if args.apply:
        settings = load_settings(config_file)
        save_settings(settings.model_copy(update={"router_threshold": result.threshold}), config_file)
        data["applied"] = True
        data["settings_file"] = str(config_file)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    print(_("Calibrated on {n} questions ({ledger} from your answers, the rest from the eval set's tuning "
            "split).").format(n=result.questions, ledger=result.from_ledger))
    print(_("Threshold: {t:.3f} (was {old:.3f})").format(t=result.threshold, old=model.threshold))
    print(_("Expected on-device share: {share:.0%} (target {target:.0%}; {kept:.0%} kept local, fall-back rate "
            "{fb:.0%} over {obs} answers)").format(share=result.expected_local_share, target=args.target_local_share,
                                                   kept=result.kept_local_share, fb=result.fallback_rate,
                                                   obs=result.fallback_observed))
    cost = result.cloud_cost_per_1000_usd
    if cost is None:
        print(_("Cloud cost per 1,000 questions: unknown (no priced answers in the ledger yet)."))
    else:
        print(_("Cloud cost per 1,000 questions: ${cost:.4f} (from your answers' average tokens and the reference "
                "cloud price).").format(cost=cost))
    if args.apply:
        print(_("Saved router_threshold = {t:.4f} in {path}.").format(t=result.threshold, path=config_file))
    else:
        print(_("Nothing changed; add --apply to save this threshold."))
    return 0


HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "router train": cmd_train, "router explain": cmd_explain, "router calibrate": cmd_calibrate}
