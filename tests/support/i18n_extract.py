"""List the translatable strings in app/: the literal first argument of `_()`, `N_()` (core and
services) and `tr()` / `QCoreApplication.translate(context, text)` (Qt).

    python -m tests.support.i18n_extract            # every marked string, one per line
    python -m tests.support.i18n_extract --missing  # those resources/i18n/vi.json lacks, as JSON to fill in

tests/test_i18n_catalog.py uses the same walk to check the catalog.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "app"
CATALOG_DIR = ROOT / "resources" / "i18n"
MARKERS = frozenset({"_", "N_", "gettext", "tr"})


@dataclass(frozen=True)
class Marked:
    path: Path
    line: int
    marker: str
    text: str | None  # None: not a literal
    problem: str = ""  # why a non-literal argument is wrong ("" for a variable, which is allowed)

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _marker(call: ast.Call) -> tuple[str, ast.expr] | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
    if name in MARKERS and call.args and not (name == "_" and isinstance(func, ast.Attribute)):
        return name, call.args[0]
    if name == "translate" and isinstance(func, ast.Attribute) and len(call.args) >= 2:
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in ("QCoreApplication", "QApplication"):
            return "translate", call.args[1]
    return None


def _literals(marker: str, arg: ast.expr, path: Path) -> Iterator[Marked]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        yield Marked(path, arg.lineno, marker, arg.value)
    elif isinstance(arg, ast.IfExp):  # tr("a") if x else tr("b") is better, but `_("a" if x else "b")` is fine too
        yield from _literals(marker, arg.body, path)
        yield from _literals(marker, arg.orelse, path)
    elif isinstance(arg, ast.JoinedStr):
        yield Marked(path, arg.lineno, marker, None, "an f-string: write _(\"... {name} ...\").format(name=...)")
    elif isinstance(arg, (ast.BinOp, ast.Call)):
        yield Marked(path, arg.lineno, marker, None, "a computed string: translate whole sentences, then format")
    else:  # a variable: its value must be a literal marked elsewhere (N_() for module-level tables)
        yield Marked(path, arg.lineno, marker, None)


def scan_file(path: Path) -> list[Marked]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Marked] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            hit = _marker(node)
            if hit is not None:
                found.extend(_literals(*hit, path))
    return found


def scan(root: Path = APP) -> list[Marked]:
    return [m for path in sorted(root.rglob("*.py")) for m in scan_file(path)]


def marked_texts(root: Path = APP) -> dict[str, list[str]]:
    """Every literal marked string -> where it is marked."""
    out: dict[str, list[str]] = {}
    for m in scan(root):
        if m.text is not None:
            out.setdefault(m.text, []).append(m.where)
    return out


def dynamic_texts() -> set[str]:
    """Texts the UI passes to tr() through a variable no marker names: the settings' field descriptions."""
    from app.core.settings import LanternSettings

    return {f.description for f in LanternSettings.model_fields.values() if f.description}


def load_catalog(code: str) -> dict[str, str]:
    return json.loads((CATALOG_DIR / f"{code}.json").read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--missing", action="store_true", help="only strings the catalog lacks, as JSON")
    parser.add_argument("--stale", action="store_true", help="catalog entries no code marks any more")
    parser.add_argument("--language", default="vi")
    args = parser.parse_args(argv)
    texts: dict[str, list[str]] = marked_texts()
    for text in sorted(dynamic_texts()):
        texts.setdefault(text, ["app/core/settings.py (field description)"])
    if args.missing or args.stale:
        catalog = load_catalog(args.language)
        if args.stale:
            for text in sorted(set(catalog) - set(texts)):
                print(text)
            return 0
        missing = {t: "" for t in texts if t not in catalog}
        json.dump(missing, sys.stdout, ensure_ascii=False, indent=1)
        print()
        return 0
    for text, where in texts.items():
        print(f"{where[0]}\t{text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
