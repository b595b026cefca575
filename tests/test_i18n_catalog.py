"""The one translation catalog (resources/i18n/vi.json) against what app/ marks for translation.

Fails when a marked string (`_()`, `N_()`, `tr()`, `QCoreApplication.translate`) has no Vietnamese entry,
when an entry's str.format placeholders differ from its source's, when a marker is given an f-string or
a computed string, or when a module that imports `_` also uses `_` as a variable. Entries no code marks
any more only warn: they are harmless, and the list helps tidy the catalog.
`python -m tests.support.i18n_extract --missing` prints what to add.
"""

from __future__ import annotations

import ast
import string
import warnings
from collections import Counter

import pytest

from tests.support.i18n_extract import APP, ROOT, dynamic_texts, load_catalog, marked_texts, scan

LANGUAGES = ("vi",)
_dynamic_texts = dynamic_texts


def _fields(text: str) -> Counter[str]:
    """The str.format replacement fields of `text`, e.g. {"{name}", "{size:,}"} (escaped {{ }} excluded)."""
    out: Counter[str] = Counter()
    for _literal, name, spec, conversion in string.Formatter().parse(text):
        if name is not None:
            out["{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"] += 1
    return out


@pytest.fixture(scope="module")
def marked() -> dict[str, list[str]]:
    return marked_texts()


@pytest.mark.parametrize("code", LANGUAGES)
def test_every_marked_string_has_a_translation(code, marked):
    catalog = load_catalog(code)
    needed = set(marked) | _dynamic_texts()
    missing = sorted(needed - {k for k, v in catalog.items() if isinstance(v, str) and v.strip()})
    where = [f"{marked.get(text, ['settings field description'])[0]}: {text!r}" for text in missing]
    assert not missing, (f"{len(missing)} strings have no {code} translation; run "
                         f"`python -m tests.support.i18n_extract --missing` and add them to "
                         f"resources/i18n/{code}.json:\n" + "\n".join(where))


@pytest.mark.parametrize("code", LANGUAGES)
def test_translations_keep_the_placeholders(code):
    wrong = []
    for source, text in load_catalog(code).items():
        try:
            same = _fields(source) == _fields(text)
        except ValueError as exc:  # an unmatched { or } in either
            wrong.append(f"{source!r}: {exc}")
            continue
        if not same:
            wrong.append(f"{source!r} has {sorted(_fields(source))}, the translation {sorted(_fields(text))}")
    assert not wrong, "\n".join(wrong)


def test_markers_get_literals_not_built_strings():
    bad = [f"{m.where}: {m.marker}() is given {m.problem}" for m in scan() if m.problem]
    assert not bad, "\n".join(bad)


def test_modules_that_import_the_marker_do_not_rebind_it():
    bad = []
    for path in sorted(APP.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_marker = any(isinstance(n, ast.ImportFrom) and n.module == "app.core.i18n"
                             and any(a.name == "_" and a.asname is None for a in n.names) for n in ast.walk(tree))
        if not imports_marker:
            continue
        in_comprehension = {id(t) for n in ast.walk(tree) if isinstance(n, ast.comprehension)
                            for t in ast.walk(n.target)}
        for n in ast.walk(tree):
            if (isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)
                    and id(n) not in in_comprehension):
                bad.append(f"{path.relative_to(ROOT)}:{n.lineno}: `_` is the translation marker here; name it `_x`")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("code", LANGUAGES)
def test_stale_entries_are_reported(code, marked):
    stale = sorted(set(load_catalog(code)) - set(marked) - _dynamic_texts())
    if stale:
        warnings.warn(f"{len(stale)} {code} catalog entries are no longer marked in app/ (edited or removed "
                      f"strings?): " + "; ".join(repr(s) for s in stale[:20]), stacklevel=1)
