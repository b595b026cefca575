"""The route decision: rules in English and Vietnamese (with and without diacritics), roles, reasons,
the hint ladder, off-course questions, and the classifier's arithmetic on a hand-built model."""

from __future__ import annotations

import json
import math

import pytest

from app.core.routing import (
    FEATURE_NAMES,
    RouteInput,
    RouterModel,
    decide,
    fold,
    hint_level,
    question_features,
    question_kind,
)


def route(question: str, model: RouterModel | None = None, **kw) -> object:
    return decide(RouteInput(question, **kw), model)


def rules_model(weights: dict[str, float], *, bias: float = 0.0, threshold: float = 0.5) -> RouterModel:
    return RouterModel(feature_names=FEATURE_NAMES, embedding_dim=0,
                       weights=tuple(weights.get(n, 0.0) for n in FEATURE_NAMES), bias=bias, threshold=threshold,
                       embedder_fingerprint=None)


def test_fold_strips_vietnamese_marks_and_d_stroke():
    assert fold("Thiết kế KIẾN TRÚC, đường") == "thiet ke kien truc, duong"


@pytest.mark.parametrize(("question", "code"), [
    ("Compare lists and tuples for me", "rule:compare"),
    ("What is the difference between a list and a tuple?", "rule:compare"),
    ("dict vs list vs set, when do I use which?", "rule:compare"),
    ("So sánh list và tuple giúp mình", "rule:compare"),
    ("so sanh list va tuple giup minh", "rule:compare"),
    ("Can you explain in detail how for loops work?", "rule:detail"),
    ("explain recursion in depth", "rule:detail"),
    ("Giải thích chi tiết vòng lặp while", "rule:detail"),
    ("giai thich chi tiet vong lap while", "rule:detail"),
    ("analyse the trade-offs of global variables", "rule:detail"),
    ("Phân tích ưu nhược điểm của hàm lambda", "rule:detail"),
    ("phan tich uu nhuoc diem cua ham lambda", "rule:detail"),
    ("How should I design the architecture of my quiz app?", "rule:design"),
    ("Mình muốn viết chương trình danh bạ, nên thiết kế thế nào?", "rule:design"),
    ("minh muon viet chuong trinh danh ba, nen thiet ke the nao?", "rule:design"),
    ("Kiến trúc của một chương trình lớn ra sao?", "rule:design"),
])
def test_strong_rules_send_to_the_cloud_with_their_reason(question, code):
    decision = route(question)
    assert decision.needs_cloud is True
    assert decision.reason_code == code
    assert decision.reason and decision.probability is None  # no model: rules only


@pytest.mark.parametrize("question", ["what is a list?", "break vs continue", "print numbers 1 to 5 with a for loop",
                                      "elif là gì?", "Vì sao 0.1 + 0.2 lại ra 0.30000000000000004?"])
def test_ordinary_questions_stay_on_device_without_a_model(question):
    decision = route(question)
    assert decision.needs_cloud is False and decision.reason


def test_roles_code_simple_default():
    assert route("write a function that reverses a string").role == "code"
    assert route("Viết hàm tính tổng các số chẵn").role == "code"
    assert route("viet ham tinh tong cac so chan").role == "code"
    simple = route("what is a dictionary?")
    assert simple.role == "simple" and simple.reason_code == "simple"
    assert route("elif la gi?").role == "simple"
    assert route("what is the difference between a list and a tuple?").role == "default"  # heavy phrase: not simple
    assert route("why does my loop never stop when the counter goes past ten?").role == "default"


def test_a_question_the_course_does_not_cover_is_not_sent_to_the_cloud():
    model = rules_model({}, bias=10.0)  # rates everything as needing the cloud
    decision = route("compare async frameworks in detail", model, covered=False)
    assert decision.needs_cloud is False
    assert decision.reason_code == "off_course" and "does not cover" in decision.reason
    assert decision.probability is not None and decision.probability > 0.99  # still computed, for the ledger


def test_the_third_hint_in_a_row_goes_to_the_cloud():
    asked = ["my loop prints nothing, hint?", "still stuck, another hint please"]
    assert hint_level("one more hint?", asked) == 3
    assert hint_level("one more hint?", asked[1:]) == 2
    assert hint_level("what is a list?", asked) == 0
    assert route("one more hint?", previous=tuple(asked[1:])).needs_cloud is False
    third = route("one more hint?", previous=tuple(asked))
    assert third.needs_cloud and third.reason_code == "rule:hint_level" and third.kind == "hint"
    interrupted = ("hint?", "what is a list?", "another hint?")
    assert route("one more hint?", previous=interrupted).reason_code != "rule:hint_level"
    assert hint_level("gợi ý giúp mình với", ("gợi ý?", "cho mình gợi ý")) == 3


def test_an_unstudied_lesson_goes_to_the_cloud_but_unknown_does_not():
    assert route("what does range do?", studied=False).reason_code == "rule:not_studied"
    assert route("what does range do?", studied=None).needs_cloud is False
    assert route("what does range do?", studied=True).needs_cloud is False


def test_a_long_many_part_question_goes_to_the_cloud():
    question = " ".join(["word"] * 70) + "?"
    assert route(question).reason_code == "rule:long"
    code_heavy = "why does this fail?\n```python\n" + "x = 1\n" * 100 + "```"
    assert question_features(code_heavy)["words"] < 10  # code is not counted as words
    assert question_features(code_heavy)["has_code"] == 1.0


def test_features_are_the_named_few():
    features = question_features("just tell me the answer: fix my code `print(x)`")
    assert tuple(features) == FEATURE_NAMES and len(FEATURE_NAMES) <= 15
    assert features["direct_answer"] == 1.0 and features["has_code"] == 1.0 and features["code_intent"] == 1.0
    assert question_features("don't tell me the answer, just a hint")["direct_answer"] == 0.0
    assert question_features("shell vs script")["versus"] == 1.0
    assert question_features("print và return khác nhau chỗ nào?")["versus"] == 1.0


@pytest.mark.parametrize(("question", "kind"), [
    ("what's floor division", "define"), ("elif là gì?", "define"), ("why is import * bad", "explain"),
    ("remove duplicates from a list", "code"), ("kiểm tra số chẵn hay lẻ", "code"), ("quiz me on files", "quiz"),
    ("đố mình về vòng lặp", "quiz"), ("summarise 'Sets'", "summarise"), ("Tóm tắt phần vòng lặp", "summarise"),
    ("sort() vs sorted()", "compare"), ("plan the quiz questions", "design"), ("average([]) crashes. hint?", "hint"),
])
def test_question_kind(question, kind):
    assert question_kind(question) == kind


def test_classifier_probability_is_the_logistic_of_the_weighted_sum():
    model = RouterModel(feature_names=FEATURE_NAMES, embedding_dim=2,
                        weights=(0.5, -1.0, *[0.0] * (len(FEATURE_NAMES) - 2), 2.0, 0.0), bias=-0.25,
                        threshold=0.5, embedder_fingerprint="test:2")
    features = question_features("a hint please")
    z = -0.25 + 0.5 * 0.4 + -1.0 * 0.1 + 2.0 * features["hint_level"]
    assert model.probability((0.4, 0.1), features) == pytest.approx(1 / (1 + math.exp(-z)))
    assert rules_model({}, bias=-800.0).probability(None, features) == pytest.approx(0.0)  # no overflow
    assert rules_model({}, bias=800.0).probability(None, features) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="2-dim embedding"):
        model.probability(None, features)
    with pytest.raises(ValueError, match="2-dim embedding"):
        model.probability((1.0, 2.0, 3.0), features)


def test_the_classifier_decides_what_the_rules_leave_and_the_threshold_overrides():
    model = rules_model({"how_to": 3.0}, bias=-1.0, threshold=0.5)  # p(how_to) = 0.88, p(else) = 0.27
    hard = route("how do I read a file line by line", model)
    assert hard.needs_cloud and hard.reason_code == "classifier" and "0.88" in hard.reason
    assert decide(RouteInput("how do I read a file line by line"), model, threshold=0.9).needs_cloud is False
    easy = route("why is my output empty", model)
    assert easy.needs_cloud is False and easy.probability == pytest.approx(1 / (1 + math.exp(1.0)))


def test_an_embedding_model_without_a_vector_falls_back_to_the_rules():
    model = RouterModel(feature_names=FEATURE_NAMES, embedding_dim=1, weights=(9.0, *[0.0] * len(FEATURE_NAMES)),
                        bias=0.0, threshold=0.5, embedder_fingerprint="x")
    assert route("why is my output empty", model).probability is None
    assert route("why is my output empty", model, embedding=(1.0,)).needs_cloud is True


def test_to_dict_from_dict_round_trip_and_validation():
    model = RouterModel(feature_names=FEATURE_NAMES, embedding_dim=2, weights=tuple(range(2 + len(FEATURE_NAMES))),
                        bias=0.5, threshold=0.3, embedder_fingerprint="abc", metadata={"cv": {"recall": 0.9}})
    again = RouterModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again == model
    data = model.to_dict()
    with pytest.raises(ValueError, match="weights"):
        RouterModel.from_dict({**data, "weights": data["weights"][:-1]})
    with pytest.raises(ValueError, match="threshold"):
        RouterModel.from_dict({**data, "threshold": 1.5})
    with pytest.raises(ValueError, match="fingerprint"):
        RouterModel.from_dict({**data, "embedder_fingerprint": None})
    with pytest.raises(ValueError, match="format"):
        RouterModel.from_dict({**data, "format": 99})


def test_every_decision_has_a_reason_and_a_kind_in_vietnamese_too():
    from app.core import i18n

    i18n.set_catalog("vi", {"a short definition: the on-device model answers": "định nghĩa ngắn"})
    assert route("elif là gì?").reason == "định nghĩa ngắn"
    for question in ("Tại sao list lại thay đổi?", "so sánh for và while", "viết hàm đảo chuỗi"):
        decision = route(question)
        assert decision.reason and decision.reason_code and decision.kind
