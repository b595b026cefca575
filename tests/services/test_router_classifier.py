"""The needs-cloud classifier: trained on real eval questions with the real all-MiniLM GGUF embedder,
the shipped weights in resources/router/, and damaged files."""

from __future__ import annotations

import hashlib
import json

import pytest

from app.core.routing import FEATURE_NAMES, RouteInput, RouterModelInvalid, decide
from app.services.evaluation.eval_set import load_eval_set
from app.services.routing.classifier import (
    RULES_ONLY_FILE,
    load_router_model,
    model_file_name,
    read_router_model,
    router_dir,
    save_router_model,
    score_router,
    train_router,
)

pytestmark = pytest.mark.slow

HARD = "dict vs list vs set: when should I use which, and why?"
EASY = "what is a variable?"


@pytest.fixture(scope="module")
def embedder(minilm_gguf):
    from app.services.inference.llama_embedder import load_llama_embedder

    model = load_llama_embedder(minilm_gguf, model_id="minilm")
    yield model
    model.close()


@pytest.fixture(scope="module")
def fingerprint(minilm_gguf):
    return hashlib.sha256(minilm_gguf.read_bytes()).hexdigest()  # what embedder_identity reports for it


def small_subset():
    """Every tuning question that needs the cloud, and the first 40 that do not."""
    tuning = [q for q in load_eval_set() if q.split == "tuning"]
    return [q for q in tuning if q.needs_cloud] + [q for q in tuning if not q.needs_cloud][:40]


def test_a_model_trained_on_real_embeddings_separates_hard_from_easy(embedder, tmp_path):
    queries = small_subset()
    model = train_router(queries, embedder.embed, embedder_fingerprint="minilm-test", l2=1.0)
    assert model.uses_embedding and model.embedding_dim == embedder.dimension
    assert model.metadata["trained_on"] == {"split": "tuning", "questions": len(queries),
                                            "needs_cloud": sum(q.needs_cloud for q in queries)}
    assert model.metadata["cv"]["recall"] >= 0.9  # the threshold was chosen for it
    hard, easy = embedder.embed([HARD, EASY])
    p_hard = model.probability(hard, dict(decide(RouteInput(HARD), None).features))
    p_easy = model.probability(easy, dict(decide(RouteInput(EASY), None).features))
    assert p_hard > model.threshold > p_easy
    # saved and read back: the same decisions
    path = save_router_model(model, tmp_path)
    assert path.name == model_file_name("minilm-test")
    again = load_router_model("minilm-test", threshold_override=None, directory=tmp_path)
    assert again == model
    assert load_router_model("minilm-test", threshold_override=0.9, directory=tmp_path).threshold == 0.9


def test_training_ignores_the_held_out_split():
    queries = load_eval_set()
    held = [q for q in queries if q.split == "held_out"]
    model = train_router(queries, None, embedder_fingerprint=None, l2=10.0)
    flipped = [q.model_copy(update={"needs_cloud": not q.needs_cloud}) for q in held]
    tuning = [q for q in queries if q.split == "tuning"]
    assert train_router(tuning + flipped, None, embedder_fingerprint=None, l2=10.0).weights == model.weights
    with pytest.raises(ValueError, match="each class"):
        train_router(held, None, embedder_fingerprint=None)


def test_the_shipped_models_load_with_the_current_features(embedder, fingerprint):
    assert (router_dir() / RULES_ONLY_FILE).is_file()
    shipped = load_router_model(fingerprint, threshold_override=None)
    assert shipped is not None and shipped.embedder_fingerprint == fingerprint
    assert shipped.feature_names == FEATURE_NAMES and shipped.embedding_dim == embedder.dimension
    assert shipped.metadata["trained_on"]["split"] == "tuning"
    other = load_router_model("another-embedder", threshold_override=None)
    assert other is not None and not other.uses_embedding and other.feature_names == FEATURE_NAMES
    hard, easy = embedder.embed([HARD, EASY])
    assert decide(RouteInput(HARD, embedding=tuple(hard)), shipped).needs_cloud
    assert not decide(RouteInput(EASY, embedding=tuple(easy)), shipped).needs_cloud


def test_the_shipped_rules_only_model_beats_the_rules_alone_on_held_out():
    held = [q for q in load_eval_set() if q.split == "held_out"]
    model = load_router_model(None, threshold_override=None)
    with_classifier, rules = score_router(model, held), score_router(None, held)
    assert with_classifier.recall > rules.recall
    assert with_classifier.recall >= 0.8 and with_classifier.precision >= 0.5


def test_a_damaged_or_stale_file_is_a_clear_error(tmp_path):
    (tmp_path / RULES_ONLY_FILE).write_text("{ not json", encoding="utf-8")
    with pytest.raises(RouterModelInvalid) as caught:
        load_router_model(None, threshold_override=None, directory=tmp_path)
    assert "damaged" in caught.value.user_message and "lantern router train" in caught.value.hint
    data = json.loads((router_dir() / RULES_ONLY_FILE).read_text(encoding="utf-8"))
    (tmp_path / RULES_ONLY_FILE).write_text(json.dumps({**data, "weights": data["weights"][:3]}), encoding="utf-8")
    with pytest.raises(RouterModelInvalid, match="damaged"):
        read_router_model(tmp_path / RULES_ONLY_FILE)
    renamed = {**data, "feature_names": ["old_feature", *data["feature_names"][1:]]}
    (tmp_path / RULES_ONLY_FILE).write_text(json.dumps(renamed), encoding="utf-8")
    with pytest.raises(RouterModelInvalid, match="other question features"):
        read_router_model(tmp_path / RULES_ONLY_FILE)
    assert load_router_model(None, threshold_override=None, directory=tmp_path / "empty") is None
