"""Markdown to the HTML subset QTextBrowser renders: lessons in the reader, answers in the chat.

Why not markdown-it's stock HTML: Qt's rich text ignores stylesheets and classes, so code colours and
backgrounds are inline styles (Pygments with ``noclasses``) and a code block is a one-cell table,
the only Qt block that takes padding and a background together. Course files are untrusted, so raw
HTML is shown as text, never passed through, and images become links to their source (nothing is
loaded). Headings carry ``<a name>`` anchors taken from app.core.markdown_sections, so a citation
"lesson#anchor" from the index lands on exactly the heading it was cut from.

No widgets here: plain functions over strings, fast enough to re-render a streaming answer on
every flush (a few ms for 2 KB).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from app.core.markdown_sections import _parser as _section_parser
from app.core.markdown_sections import split_sections
from app.core.tutor import _CITATION  # the marker grammar the tutor checks answers against


@dataclass(frozen=True)
class _Theme:
    pygments_style: str
    code_bg: str  # fenced blocks
    code_fg: str  # code text Pygments leaves uncoloured
    code_border: str
    inline_bg: str  # `code spans`
    muted: str  # blockquotes
    table_border: str


LIGHT = _Theme("default", "#f6f8fa", "#1f2328", "#d0d7de", "#eff1f3", "#57606a", "#d0d7de")
DARK = _Theme("github-dark", "#161b22", "#e6edf3", "#30363d", "#2d333b", "#9198a1", "#3d444d")
MONO = "'Menlo', 'Consolas', 'DejaVu Sans Mono', monospace"


def render_markdown(text: str, *, dark: bool = False, anchors: bool = True) -> str:
    """A lesson's (or any) Markdown as QTextBrowser HTML; with ``anchors`` each top-level heading
    gets ``<a name>`` with the anchor app.core.markdown_sections gives its section."""
    env: dict[str, Any] = {"theme": DARK if dark else LIGHT}
    if anchors:
        env["anchors"] = heading_anchors(text)
    return _markdown().render(text, env)


def render_answer(text: str, valid: set[int], *, dark: bool = False) -> str:
    """A tutor answer as HTML, with its citation markers ``[n]`` linked as ``cite:n`` where n is in
    ``valid``. Markers in code and inside links stay text; so do numbers no passage had. Unfinished
    Markdown (an open ``` fence mid-stream) renders as if the document ended there."""
    env: dict[str, Any] = {"theme": DARK if dark else LIGHT, "cite": frozenset(valid)}
    return _markdown().render(text, env)


def heading_anchors(text: str) -> dict[int, str]:
    """{source line of a top-level heading: its section anchor}.

    The anchors come from split_sections itself (slug rules, "-1" de-duplication, "section" for an
    empty heading), matched to headings by their line in the section parser's own parse, so the two
    cannot disagree about which heading is which even where enabled extensions (tables) differ."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [t.map[0] for t in _section_parser().parse(text)
             if t.type == "heading_open" and t.level == 0 and t.map]
    named = [s.anchor for s in split_sections("", text) if s.level > 0]
    return dict(zip(lines, named, strict=False))


# -- the renderer -----------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    # "commonmark" keeps html on at parse time so blocks split exactly as in markdown_sections;
    # the html tokens are then escaped by the render rules below.
    md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
    rules = {
        "heading_open": _heading_open, "fence": _fence, "code_block": _code_block, "code_inline": _code_inline,
        "html_block": _html_block, "html_inline": _html_inline, "image": _image, "text": _text,
        "link_open": _link_open, "link_close": _link_close, "table_open": _table_open,
        "th_open": _cell_open, "td_open": _cell_open, "blockquote_open": _blockquote_open,
    }
    for name, rule in rules.items():
        md.add_render_rule(name, rule)
    return md


Tokens = Sequence[Token]


def _heading_open(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    anchor = env.get("anchors", {}).get(token.map[0]) if token.map and token.level == 0 else None
    name = f'<a name="{html.escape(anchor)}"></a>' if anchor else ""
    return f"<{token.tag}>{name}"


def _fence(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    language = token.info.strip().split(maxsplit=1)[0].lower() if token.info.strip() else ""
    return _code_table(token.content, language, env["theme"])


def _code_block(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    return _code_table(tokens[idx].content, "", env["theme"])


def _code_table(code: str, language: str, theme: _Theme) -> str:
    code = code.rstrip("\n")
    body = _highlight(code, language, theme.pygments_style) if language else html.escape(code, quote=False)
    return (f'<table width="100%" cellspacing="0" cellpadding="8" style="border: 1px solid {theme.code_border};'
            f' margin-top: 4px; margin-bottom: 8px;"><tr><td bgcolor="{theme.code_bg}" style="color: {theme.code_fg};">'
            f'<pre style="font-family: {MONO}; margin: 0;">{body}</pre></td></tr></table>\n')


@lru_cache(maxsize=64)
def _highlight(code: str, language: str, style: str) -> str:
    """Inline-styled spans for one block, or the escaped text for a language Pygments does not know
    (no guessing: a wrong guess colours prose as code). Cached: a streaming answer re-renders its
    finished blocks on every flush."""
    from pygments import highlight
    from pygments.util import ClassNotFound

    try:
        lexer = _lexer(language)
    except ClassNotFound:
        return html.escape(code, quote=False)
    return highlight(code, lexer, _formatter(style)).rstrip("\n")


@lru_cache(maxsize=32)
def _lexer(language: str) -> Any:
    from pygments.lexers import get_lexer_by_name

    return get_lexer_by_name(language, stripnl=False)


@lru_cache(maxsize=2)
def _formatter(style: str) -> Any:
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(noclasses=True, nowrap=True, style=style)


def _code_inline(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    theme = env["theme"]
    return (f'<code style="font-family: {MONO}; background-color: {theme.inline_bg};">'
            f"{html.escape(tokens[idx].content, quote=False)}</code>")


def _html_block(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    return f"<p style=\"white-space: pre-wrap;\">{html.escape(tokens[idx].content.rstrip(), quote=False)}</p>\n"


def _html_inline(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    return html.escape(tokens[idx].content, quote=False)


def _image(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    """An image is a link to its source with the alt text: QTextBrowser would load local files."""
    token = tokens[idx]
    alt = html.escape(self.renderInlineAsText(token.children or [], options, env) or "image", quote=False)
    src = html.escape(str(token.attrGet("src") or ""))
    if env.get("link_depth"):
        return f"[{alt}]"
    return f'<a href="{src}">[{alt}]</a>' if src else f"[{alt}]"


def _link_open(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    env["link_depth"] = env.get("link_depth", 0) + 1
    return f'<a href="{html.escape(str(tokens[idx].attrGet("href") or ""))}">'


def _link_close(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    env["link_depth"] = max(0, env.get("link_depth", 0) - 1)
    return "</a>"


def _text(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    content = tokens[idx].content
    valid = env.get("cite")
    if valid is None or env.get("link_depth") or "[" not in content:
        return html.escape(content, quote=False)
    out: list[str] = []
    pos = 0
    for match in _CITATION.finditer(content):
        out.append(html.escape(content[pos:match.start()], quote=False))
        out.append(_cite_group(match.group(0), match.group(1), valid))
        pos = match.end()
    out.append(html.escape(content[pos:], quote=False))
    return "".join(out)


def _cite_group(marker: str, group: str, valid: frozenset[int]) -> str:
    """"[1]" -> one link; "[1, 7]" -> "[" + a link per valid number + "]"; no valid number: the text."""
    numbers = [int(n) for n in group.split(",")]
    if not any(n in valid for n in numbers):
        return html.escape(marker, quote=False)
    if len(numbers) == 1:
        return f'<a href="cite:{numbers[0]}">[{numbers[0]}]</a>'
    parts = [f'<a href="cite:{n}">{n}</a>' if n in valid else str(n) for n in numbers]
    return "[" + ", ".join(parts) + "]"


def _table_open(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    theme = env["theme"]
    return (f'<table border="1" cellspacing="0" cellpadding="4" style="border-color: {theme.table_border};'
            f' border-style: solid; margin-top: 4px; margin-bottom: 8px;">\n')


def _cell_open(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    token = tokens[idx]
    style = str(token.attrGet("style") or "")  # "text-align:right" from the delimiter row
    align = style.partition(":")[2].strip() if style.startswith("text-align") else ""
    return f'<{token.tag} align="{align}">' if align in ("left", "right", "center") else f"<{token.tag}>"


def _blockquote_open(self: Any, tokens: Tokens, idx: int, options: Any, env: dict[str, Any]) -> str:
    return f'<blockquote style="color: {env["theme"].muted};">\n'
