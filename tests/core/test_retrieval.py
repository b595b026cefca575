"""Retrieval policy: rank fusion, FTS5 queries, follow-up queries, fusion weights, coverage."""

from __future__ import annotations

import math
import re
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.retrieval import (
    RRF_K,
    CoveragePolicy,
    FusionWeights,
    RetrievalQuery,
    fts_match,
    fusion_weights,
    is_covered,
    is_follow_up,
    reciprocal_rank_fusion,
    retrieval_query,
    terms,
)

# --- reciprocal_rank_fusion -------------------------------------------------------------------


def test_rrf_hand_computed_with_k60():
    fused = dict(reciprocal_rank_fusion([["a", "b", "c"], ["a", "c"]], k=60))
    assert fused["a"] == pytest.approx(1 / 61 + 1 / 61)  # ranked 1 in both: 2/61
    assert fused["a"] == pytest.approx(2 / 61)
    assert fused["b"] == pytest.approx(1 / 62)  # only in the first list
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 62)


def test_rrf_order_and_default_k():
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "b", "a"], ["b"]])
    k = RRF_K
    expected = {
        "a": 1 / (k + 1) + 1 / (k + 3),
        "b": 1 / (k + 2) + 1 / (k + 2) + 1 / (k + 1),
        "c": 1 / (k + 3) + 1 / (k + 1),
    }
    assert [item for item, _ in fused] == ["b", "a", "c"]  # a and c tie; a seen first
    for item, score in fused:
        assert score == pytest.approx(expected[item])


def test_rrf_weights():
    fused = dict(reciprocal_rank_fusion([["v1", "x"], ["l1", "x"]], weights=[1.0, 0.3], k=10))
    assert fused["v1"] == pytest.approx(1.0 / 11)
    assert fused["l1"] == pytest.approx(0.3 / 11)
    assert fused["x"] == pytest.approx(1.0 / 12 + 0.3 / 12)
    order = [item for item, _ in reciprocal_rank_fusion([["v1", "x"], ["l1", "x"]], weights=[1.0, 0.3], k=10)]
    assert order == ["x", "v1", "l1"]  # 1.3/12 > 1/11 > 0.3/11: two middling ranks beat one top rank


def test_rrf_weight_flips_the_winner():
    rankings = [["vec"], ["lex"]]
    assert reciprocal_rank_fusion(rankings, weights=[1.0, 0.5])[0][0] == "vec"
    assert reciprocal_rank_fusion(rankings, weights=[0.5, 1.0])[0][0] == "lex"


def test_rrf_ties_keep_first_seen_order():
    assert [i for i, _ in reciprocal_rank_fusion([["b", "a"], ["a", "b"]])] == ["b", "a"]
    assert [i for i, _ in reciprocal_rank_fusion([["x"], ["y"], ["z"]])] == ["x", "y", "z"]
    assert [i for i, _ in reciprocal_rank_fusion([["z", "y", "x"]])] == ["z", "y", "x"]


def test_rrf_mismatched_weights_raise():
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0])
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 0.5])


def test_rrf_empty():
    assert reciprocal_rank_fusion([]) == []
    assert reciprocal_rank_fusion([[], []]) == []


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(),
    n_lists=st.integers(1, 4),
    k=st.integers(1, 100),
)
def test_rrf_item_first_everywhere_is_first_overall(data, n_lists, k):
    pool = [f"d{i}" for i in range(8)]
    rankings = []
    for _ in range(n_lists):
        rest = data.draw(st.lists(st.sampled_from(pool), unique=True, max_size=8))
        rankings.append(["top", *rest])
    weights = data.draw(st.lists(st.floats(0.01, 10), min_size=n_lists, max_size=n_lists))
    fused = reciprocal_rank_fusion(rankings, weights=weights, k=k)
    assert fused[0][0] == "top"
    assert fused[0][1] == pytest.approx(sum(w / (k + 1) for w in weights))
    assert all(score < fused[0][1] for _, score in fused[1:])
    # Every item of every list is fused exactly once, best first.
    assert sorted(i for i, _ in fused) == sorted({i for r in rankings for i in r})
    scores = [s for _, s in fused]
    assert scores == sorted(scores, reverse=True)


# --- terms / fts_match ------------------------------------------------------------------------


def test_terms_drop_stopwords_keep_python_keywords():
    assert terms("How do I use a for loop with the range function?") == ["use", "for", "loop", "with", "range",
                                                                          "function"]
    assert terms("What is the difference between while and if in Python?") == [
        "is", "difference", "between", "while", "and", "if", "in", "python"]
    for keyword in ("for", "while", "if", "in", "is", "with", "and", "or", "not", "as", "from"):
        assert terms(keyword) == [keyword]


def test_terms_lowercase_in_order_without_repeats():
    assert terms("Loop LOOP loop list List") == ["loop", "list"]
    assert terms("Vòng lặp FOR là gì?") == ["vòng", "lặp", "for", "là", "gì"]


def test_terms_of_empty_or_stopword_only_question():
    assert terms("") == []
    assert terms("   ?!  ") == []
    assert terms("what is it") == ["is"]
    assert terms("how do you do that") == []


def test_terms_contractions_leave_no_fragments():
    assert terms("I'm stuck, I've tried") == ["stuck", "tried"]


def test_fts_match_quotes_every_term():
    assert fts_match("for loop") == '"for" OR "loop"'
    assert fts_match("") == ""
    assert fts_match("the a of") == ""


QUOTED_OR = re.compile(r'^"[^"]+"( OR "[^"]+")*$')


@pytest.mark.parametrize("question", [
    'What does "break" do?',
    "loops AND lists NEAR dicts",
    "NOT -x OR y*",
    'NEAR("a" "b", 3) col:term ^start',
    "C++ vs C#?",
    '""" unbalanced " quote',
])
def test_fts_match_neutralises_fts5_syntax(question, fts_table):
    expression = fts_match(question)
    assert QUOTED_OR.match(expression), expression
    # Every term is a double-quoted string: no bare AND/OR/NEAR/NOT, *, -, ^ or ':' survives.
    inner = re.sub(r'"[^"]*"', "", expression)
    assert inner.replace(" OR ", "").strip() == ""
    fts_table.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


@pytest.fixture
def fts_table():
    con = sqlite3.connect(":memory:")
    con.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
    con.execute("INSERT INTO t(body) VALUES ('a for loop walks a sequence'), ('break stops a loop')")
    yield con
    con.close()


def test_fts_match_finds_rows(fts_table):
    rows = fts_table.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rowid",
                             (fts_match("How do I STOP a loop?"),)).fetchall()
    assert rows == [(1,), (2,)]  # "loop" in both, OR-ed with "stop"
    rows = fts_table.execute("SELECT rowid FROM t WHERE t MATCH ?", (fts_match("what's break?"),)).fetchall()
    assert rows == [(2,)]


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_fts_match_is_always_valid_fts5(question):
    expression = fts_match(question)
    if not terms(question):
        assert expression == ""
        return
    assert QUOTED_OR.match(expression)
    assert expression.count(" OR ") == len(terms(question)) - 1
    con = sqlite3.connect(":memory:")
    try:
        con.execute("CREATE VIRTUAL TABLE t USING fts5(body)")
        con.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()
    finally:
        con.close()


# --- follow-ups -------------------------------------------------------------------------------


@pytest.mark.parametrize("question", [
    "and how do I stop it?",
    "what about tuples?",
    "How about sets?",
    "But why?",
    "why?",
    "can you show an example of that?",
    "và còn vòng lặp while?",
])
def test_follow_ups(question):
    assert is_follow_up(question)


@pytest.mark.parametrize("question", [
    "How do I read a text file line by line in Python?",
    "What is the difference between a list and a tuple in Python?",
    "How do I convert a string to an integer with int()?",
])
def test_not_follow_ups(question):
    assert not is_follow_up(question)


def test_retrieval_query_without_history():
    query = retrieval_query("  How do I read a file?  ")
    assert query == RetrievalQuery("How do I read a file?", None, False)
    assert query.weighted() == [("How do I read a file?", 1.0)]
    assert retrieval_query("q", ["", "   "]).conversation is None


def test_retrieval_query_follow_up_weights_conversation_first():
    query = retrieval_query("and how do I stop it?", ["How does a while loop work?"])
    assert query.follow_up
    assert query.conversation is not None
    assert "How does a while loop work?" in query.conversation
    assert "and how do I stop it?" in query.conversation
    weighted = dict(query.weighted())
    assert weighted[query.conversation] == 1.0
    assert weighted[query.question] < 1.0
    assert query.weighted()[0][0] == query.conversation


def test_retrieval_query_new_topic_keeps_question_first():
    query = retrieval_query("How do I read a text file line by line in Python?", ["How does a while loop work?"])
    assert not query.follow_up
    weighted = query.weighted()
    assert weighted[0] == (query.question, 1.0)
    assert dict(weighted)[query.conversation] < 1.0


def test_retrieval_query_keeps_only_recent_previous_questions():
    previous = ["first question here", "second question here", "third question here"]
    query = retrieval_query("and then?", previous)
    assert query.conversation == "second question here third question here and then?"
    one = retrieval_query("and then?", previous, max_previous=1)
    assert one.conversation == "third question here and then?"


def test_retrieval_query_max_previous_zero_ignores_history():
    assert retrieval_query("and then?", ["a b c", "d e f"], max_previous=0).conversation is None


# --- fusion weights ---------------------------------------------------------------------------


def test_fusion_weights_by_language():
    default = FusionWeights()
    assert default.vector > default.lexical
    assert fusion_weights("en", ["en"]) == default
    assert fusion_weights("EN", ["en"]) == default
    assert fusion_weights("en", None) == default
    assert fusion_weights("vi", None) == default
    vi = fusion_weights("vi", ["en"])
    assert vi.lexical > vi.vector
    assert fusion_weights("vi", ["en", "vi"]) == default
    assert fusion_weights("pt-BR", ["pt"]) == default
    assert fusion_weights("pt-BR", ["en"]).lexical > fusion_weights("pt-BR", ["en"]).vector
    assert fusion_weights("en-US", ["EN"]) == default


# --- coverage ---------------------------------------------------------------------------------


def test_is_covered():
    threshold = CoveragePolicy().min_similarity
    assert not is_covered(None)
    assert not is_covered(threshold - 0.01)
    assert is_covered(threshold)
    assert is_covered(threshold + 0.01)
    assert is_covered(1.0)
    assert not is_covered(-1.0)
    strict = CoveragePolicy(min_similarity=0.8)
    assert not is_covered(0.5, strict)
    assert is_covered(0.85, strict)
    assert not is_covered(None, CoveragePolicy(min_similarity=-math.inf))
