from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.core.stop_text import StopTextStream


def run(pieces: list[bytes], stop: tuple[str, ...] = ()) -> tuple[str, bool]:
    stream = StopTextStream(stop)
    out = []
    for piece in pieces:
        released = stream.feed(piece)
        out.append(released.text)
        if released.stopped:
            return "".join(out), True
    end = stream.flush()
    return "".join(out) + end.text, end.stopped


def test_multibyte_character_split_across_tokens_is_not_garbled():
    text = "Học máy là gì? 学习"
    data = text.encode()
    pieces = [data[i:i + 1] for i in range(len(data))]  # one byte per token: every character split
    assert run(pieces) == (text, False)


def test_stop_sequence_split_over_tokens_is_cut_and_never_shown():
    stream = StopTextStream(("\nUser:",))
    shown = [stream.feed(b"Paris is the capital.").text, stream.feed(b"\nUs").text]
    assert shown == ["Paris is the capital.", ""]   # "\nUs" could still become the stop: held back
    released = stream.feed(b"er: next")
    assert released.stopped and released.text == ""
    assert "".join(shown) == "Paris is the capital."


def test_held_text_is_released_when_it_cannot_become_a_stop():
    stream = StopTextStream(("</answer>",))
    assert stream.feed(b"a </").text == "a "
    assert stream.feed(b"b").text == "</b"


def test_partial_stop_at_the_end_of_the_stream_is_plain_text():
    assert run([b"value <", b"/ans"], ("</answer>",)) == ("value </ans", False)


def test_earliest_of_several_stops_wins():
    assert run([b"one END two STOP"], ("STOP", "END")) == ("one ", True)


def test_invalid_utf8_is_replaced_not_raised():
    text, _ = run([b"ok \xff\xfe done"])
    assert text.startswith("ok ") and text.endswith(" done") and "\ufffd" in text


@given(st.text(max_size=60), st.lists(st.integers(min_value=1, max_value=7), max_size=30),
       st.sampled_from([(), ("##",), ("\nUser:", "STOP"), ("é!",)]))
def test_any_chunking_gives_the_same_text_as_whole(text, cuts, stop):
    data = text.encode()
    pieces, i = [], 0
    for n in cuts:
        pieces.append(data[i:i + n])
        i += n
    pieces.append(data[i:])
    whole = run([data], stop)
    assert run(pieces, stop) == whole
    expected = text
    hits = [text.find(s) for s in stop if s in text]
    if hits:
        expected = text[:min(hits)]
    assert whole == (expected, bool(hits))
