"""Train, score, save and load the router's needs-cloud classifier (app.core.routing.RouterModel).

A class-weighted logistic regression over [question embedding, rule features], fitted with a few
Newton steps in numpy. Not scikit-learn: this is one small fit of ~250 rows by ~400 columns, run by
`lantern router train` only, and a 30 MB dependency (plus SciPy) for it would ship in every bundle.
Only the eval set's tuning split is used to fit and to choose the threshold (by stratified
cross-validation, to reach the target recall of needs_cloud with the fewest false positives); the
held-out split is only scored (`score_router`).

The embedding enters as one learned direction, not 384 free weights: with 28 positives a full fit
over every dimension overfits (5-fold CV on the tuning split: 34 false positives at 93 % recall, worse
than the rules alone at 18), while the difference of the class means (a prototype direction, as in
nearest-centroid classifiers) scored on each question gave 15. Its weight times that direction is
still a plain linear model over [embedding, features], which is what RouterModel stores.

Two models ship in resources/router/: one over the embedding of the embedder they were trained with
(chosen when the learner's embedder has that fingerprint) and a rules-only one for any other embedder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from app.core.evaluation.eval_set import EvalQuery
from app.core.i18n import _
from app.core.routing import FEATURE_NAMES, RouteInput, RouterModel, RouterModelInvalid, decide, question_features
from app.services.resources import resource_path

RULES_ONLY_FILE = "rules-only.json"
L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)  # tried by cross-validation on the tuning split when l2 is not given
TARGET_RECALL = 0.9
FOLDS = 5
_NEWTON_STEPS = 25

Embed = Callable[[list[str]], list[list[float]]]


def router_dir() -> Path:
    return resource_path("router")


def model_file_name(embedder_fingerprint: str | None) -> str:
    """One file per embedder (named by a hash of its fingerprint), and one rules-only file."""
    if embedder_fingerprint is None:
        return RULES_ONLY_FILE
    return f"embedding-{hashlib.sha256(embedder_fingerprint.encode()).hexdigest()[:16]}.json"


@dataclass(frozen=True)
class RouterScores:
    """How the routing decision (rules + classifier) matches the needs_cloud labels."""

    questions: int
    needs_cloud: int
    sent_to_cloud: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.sent_to_cloud if self.sent_to_cloud else 0.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.needs_cloud if self.needs_cloud else 0.0

    @property
    def cloud_share(self) -> float:
        return self.sent_to_cloud / self.questions if self.questions else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"questions": self.questions, "needs_cloud": self.needs_cloud, "sent_to_cloud": self.sent_to_cloud,
                "true_positives": self.true_positives, "precision": round(self.precision, 4),
                "recall": round(self.recall, 4), "cloud_share": round(self.cloud_share, 4)}


def _scores(labels: Sequence[bool], routed: Sequence[bool]) -> RouterScores:
    return RouterScores(questions=len(labels), needs_cloud=sum(labels), sent_to_cloud=sum(routed),
                        true_positives=sum(a and b for a, b in zip(labels, routed, strict=True)))


def _covered(query: EvalQuery) -> bool:
    return query.type != "off_course"  # the course search finds nothing for these in the app


def _matrix(queries: Sequence[EvalQuery]) -> Any:
    """The rule features of each question, in FEATURE_NAMES order."""
    import numpy as np

    return np.array([[question_features(q.question)[n] for n in FEATURE_NAMES] for q in queries], dtype=float)


def _fit(x: Any, y: Any, l2: float) -> tuple[Any, float]:
    """Class-weighted, L2-penalised logistic regression on standardised columns; the scaling is folded
    back into the returned raw-scale weights and bias."""
    import numpy as np

    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std[std < 1e-9] = 1.0
    z = np.hstack([(x - mean) / std, np.ones((len(x), 1))])
    positives = max(1, int(y.sum()))
    negatives = max(1, len(y) - positives)
    weight = np.where(y > 0, len(y) / (2 * positives), len(y) / (2 * negatives))
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    beta = np.zeros(z.shape[1])
    for _step in range(_NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (weight * (p - y)) + penalty * beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        delta = np.linalg.solve(hessian, gradient)
        beta -= delta
        if float(np.abs(delta).max()) < 1e-7:
            break
    w = beta[:-1] / std
    return w, float(beta[-1] - (beta[:-1] * mean / std).sum())


def _fit_model(emb: Any | None, rules: Any, y: Any, l2: float) -> tuple[Any, float]:
    """Raw-scale weights over [embedding dims..., rule features...] (see the module docstring)."""
    import numpy as np

    if emb is None:
        return _fit(rules, y, l2)
    direction = emb[y > 0].mean(axis=0) - emb[y <= 0].mean(axis=0)
    w, b = _fit(np.hstack([(emb @ direction)[:, None], rules]), y, l2)
    return np.concatenate([w[0] * direction, w[1:]]), b


def _folds(labels: Sequence[bool], k: int, seed: int) -> list[int]:
    """Stratified fold number per row: each class shuffled, then dealt round-robin."""
    import numpy as np

    rng = np.random.default_rng(seed)
    fold = [0] * len(labels)
    for cls in (True, False):
        rows = [i for i, label in enumerate(labels) if label == cls]
        for n, i in enumerate(rng.permutation(rows)):
            fold[int(i)] = n % k
    return fold


def _choose_threshold(probabilities: Sequence[float], rule: Sequence[bool], covered: Sequence[bool],
                      labels: Sequence[bool], target_recall: float) -> float:
    """The highest threshold whose decisions (rules, or covered and p >= t) reach the target recall:
    the fewest false positives, since raising the threshold only removes questions from the cloud."""
    needed = sum(labels)
    for t in sorted(set(probabilities), reverse=True):
        hits = sum(lab and (r or (c and p >= t))
                   for p, r, c, lab in zip(probabilities, rule, covered, labels, strict=True))
        if needed and hits / needed >= target_recall:
            return min(max(t, 1e-6), 1 - 1e-6)
    return 1e-6


def _cross_validate(emb: Any | None, rules: Any, y: Any, rule: list[bool], covered: list[bool], labels: list[bool],
                    *, l2: float, folds: int, seed: int, target_recall: float) -> tuple[float, RouterScores]:
    import numpy as np

    x = rules if emb is None else np.hstack([emb, rules])
    fold = np.array(_folds(labels, folds, seed))
    oof = np.zeros(len(y))
    for k in range(folds):
        test = fold == k
        w, b = _fit_model(None if emb is None else emb[~test], rules[~test], y[~test], l2)
        oof[test] = 1.0 / (1.0 + np.exp(-(x[test] @ w + b)))
    probabilities = [float(p) for p in oof]
    threshold = _choose_threshold(probabilities, rule, covered, labels, target_recall)
    routed = [r or (c and p >= threshold) for p, r, c in zip(probabilities, rule, covered, strict=True)]
    return threshold, _scores(labels, routed)


def train_router(queries: Sequence[EvalQuery], embed: Embed | None, *, embedder_fingerprint: str | None,
                 l2: float | None = None, folds: int = FOLDS, target_recall: float = TARGET_RECALL,
                 seed: int = 0) -> RouterModel:
    """Fit on the tuning split of `queries` (other rows are ignored). `embedder_fingerprint` None: a
    rules-only model and `embed` is not called. `l2` None: chosen from L2_GRID by cross-validation."""
    import numpy as np

    tuning = [q for q in queries if q.split == "tuning"]
    labels = [q.needs_cloud for q in tuning]
    if sum(labels) < folds or len(labels) - sum(labels) < folds:
        raise ValueError(f"need at least {folds} tuning questions of each class, got {sum(labels)} needing the cloud "
                         f"of {len(labels)}")
    if embedder_fingerprint is not None and embed is None:
        raise ValueError("an embedding model needs `embed`")
    embeddings = embed([q.question for q in tuning]) if embedder_fingerprint is not None and embed else None
    emb = None if embeddings is None else np.asarray(embeddings, dtype=float)
    rules_x = _matrix(tuning)
    y = np.array(labels, dtype=float)
    rule = [decide(RouteInput(q.question, covered=_covered(q)), None).needs_cloud for q in tuning]
    covered = [_covered(q) for q in tuning]
    trials = []
    for penalty in ((l2,) if l2 is not None else L2_GRID):
        threshold, cv = _cross_validate(emb, rules_x, y, rule, covered, labels, l2=penalty, folds=folds, seed=seed,
                                        target_recall=target_recall)
        trials.append((cv.sent_to_cloud - cv.true_positives, -cv.recall, -penalty, penalty, threshold, cv))
    _fp, _recall, _neg, penalty, threshold, cv = min(trials, key=lambda t: t[:3])
    w, b = _fit_model(emb, rules_x, y, penalty)
    dim = 0 if embeddings is None else len(embeddings[0])
    metadata = {"trained_on": {"split": "tuning", "questions": len(tuning), "needs_cloud": int(sum(labels))},
                "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "l2": penalty,
                "target_recall": target_recall, "cv": {"folds": folds, "seed": seed, **cv.to_dict()},
                "l2_grid_false_positives": {str(t[3]): t[0] for t in trials}}
    return RouterModel(feature_names=FEATURE_NAMES, embedding_dim=dim, weights=tuple(float(v) for v in w), bias=b,
                       threshold=threshold, embedder_fingerprint=embedder_fingerprint, metadata=metadata)


def score_router(model: RouterModel | None, queries: Sequence[EvalQuery],
                 embeddings: Sequence[Sequence[float]] | None = None) -> RouterScores:
    """decide() against the needs_cloud labels (embeddings: one per query, when the model uses them)."""
    routed = []
    for i, q in enumerate(queries):
        vector = tuple(embeddings[i]) if embeddings is not None else None
        routed.append(decide(RouteInput(q.question, embedding=vector, covered=_covered(q)), model).needs_cloud)
    return _scores([q.needs_cloud for q in queries], routed)


def save_router_model(model: RouterModel, directory: Path) -> Path:
    """Write atomically (temp file + rename): a crash never leaves half a weights file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / model_file_name(model.embedder_fingerprint)
    fd, tmp = tempfile.mkstemp(prefix=".router-", suffix=".json", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(model.to_dict(), fh, indent=1)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; these files ship and are read by every user
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_router_model(path: Path) -> RouterModel:
    """One weights file; anything unreadable or stale is a RouterModelInvalid naming the file."""
    hint = _("Run `lantern router train` to rebuild it, or reinstall Lantern to restore resources/router/.")
    try:
        model = RouterModel.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise RouterModelInvalid(_("The router weights file {path} is damaged: {why}.").format(path=path, why=exc),
                                 hint=hint, debug_context={"path": str(path)}) from exc
    if model.feature_names != FEATURE_NAMES:
        raise RouterModelInvalid(_("The router weights file {path} was made for other question features.").format(
                                 path=path), hint=hint,
                                 debug_context={"path": str(path), "features": list(model.feature_names)})
    return model


def load_router_model(embedder_fingerprint: str | None, *, threshold_override: float | None,
                      directory: Path | None = None) -> RouterModel | None:
    """The shipped model for this embedder, else the rules-only one; None when neither file exists
    (decide() then uses its rules alone). `threshold_override`: the calibrated `router_threshold`."""
    directory = directory or router_dir()
    model = None
    for name in (model_file_name(embedder_fingerprint) if embedder_fingerprint else None, RULES_ONLY_FILE):
        if name is not None and (directory / name).is_file():
            model = read_router_model(directory / name)
            break
    if model is not None and threshold_override is not None:
        model = replace(model, threshold=threshold_override)
    return model
