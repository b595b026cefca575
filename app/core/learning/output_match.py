"""When two program outputs count as the same for grading "what does this print?".

A learner types the output by hand and the reference comes from a real run, so invisible differences
must not decide the grade: Windows line ends, spaces at the end of a line, and blank lines after the
last printed line. Everything else (case, inner spaces, leading blank lines, order) still counts,
because it is part of what the code prints.
"""

from __future__ import annotations


def normalise_output(text: str) -> str:
    """`text` with \\r\\n and a lone \\r as \\n, trailing whitespace and trailing blank lines removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    stripped = [line.rstrip() for line in lines]
    while stripped and not stripped[-1]:
        stripped.pop()
    return "\n".join(stripped)


def same_output(a: str, b: str) -> bool:
    """Whether `a` and `b` are the same output once normalised (see normalise_output)."""
    return normalise_output(a) == normalise_output(b)
