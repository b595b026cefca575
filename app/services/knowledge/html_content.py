"""The content of one saved web page as Markdown: the main region, without the site around it.

A documentation page is mostly chrome: a navigation bar, a sidebar with the whole table of contents
and a search box, "previous/next" links, a footer, permalink pilcrows on every heading. Imported as
is, that text is chunked and embedded with the content and crowds out the real passages. So the page
is parsed with BeautifulSoup (stdlib html.parser, no lxml), its main region is found by the rules
below (the markers Sphinx, MkDocs, Read the Docs, Material and most hand-made pages use), the chrome
inside it is removed, and what is left becomes Markdown with markdownify, headings (h1–h6) and code
blocks (<pre>) kept, because sections and chunks are built from Markdown headings.

The page's <title>, its links (for the table of contents) and the hints that it is a generated page
(search, index, 404) are returned too; site-wide decisions (the title suffix, lesson order) are made
by the caller over all pages (app/services/knowledge/site_cleanup.py).
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bs4 import BeautifulSoup, Tag

# Where the content is, most specific first; the first that holds text wins, else <body>.
MAIN_SELECTORS = (
    "[role=main]",  # Sphinx (alabaster, classic, pydata, RTD), MkDocs' own themes
    "article.md-content__inner",  # Material for MkDocs
    "main article",
    "main",
    "[itemprop=articleBody]",
    "article",
    "div.body",
    "#main-content", "#content", "#main",
    "div.content", "div.document",
)
# Never content, wherever they are.
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "nav", "aside", "form", "button", "input",
              "select", "textarea", "iframe", "search", "dialog", "link", "meta")
_DROP_SELECTORS = (
    "[role=navigation]", "[role=search]", "[role=contentinfo]", "[role=banner]", "[role=dialog]",
    "[aria-hidden=true]", "[hidden]",
    "a.headerlink", "a.anchor", "a.anchorjs-link", "a.permalink", "a.header-anchor",  # ¶ / # / 🔗 permalinks
    "div.toctree-wrapper", "div.contents.topic", "div.sphinxsidebar", "div.related", "div.footer",
    "div.rst-footer-buttons", "div.prev-next-area", "div.md-source-file",
    ".modal", ".sr-only", ".visually-hidden", ".skip-link",
)
# Chrome named by its class or id: "md-sidebar--primary", "bs-sidebar", "breadcrumbs", "page-toc", ...
_CHROME_NAME = re.compile(
    r"(?:^|[\s_-])(?:sidebar|sphinxsidebar|navbar|navigation|breadcrumbs?|toc|menu|pagination|footer|"
    r"site-header|skip)(?:$|[\s_-])", re.IGNORECASE)
_PERMALINK_TEXT = frozenset({"¶", "#", "§", "🔗", "⚓", "link"})
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")


@dataclass(frozen=True)
class HtmlPage:
    title: str  # the <title>, squashed; "" when the page has none
    markdown: str  # the main content as Markdown; "" when there is none
    h1: str  # the first h1 of the main content
    main_links: tuple[str, ...]  # hrefs inside the main region, in document order
    page_links: tuple[str, ...]  # hrefs anywhere on the page (navigation bars and sidebars too)
    generated_links: tuple[str, ...]  # <link rel="index|search"> and <form action>: generated pages, not content
    noindex: bool  # <meta name="robots" content="noindex">: a search or error page


def decode_html(data: bytes) -> str | None:
    """The page's text: UTF-8, else its declared <meta charset>; None when neither decodes it."""
    with contextlib.suppress(UnicodeDecodeError):
        return data.decode("utf-8-sig")
    declared = re.search(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_.:-]+)""", data[:4096], re.IGNORECASE)
    if declared is None:
        return None
    try:
        return data.decode(declared.group(1).decode("ascii"))
    except (LookupError, UnicodeDecodeError):
        return None


def extract_page(text: str) -> HtmlPage:
    from bs4 import BeautifulSoup  # only imports that convert a web page pay for loading it

    soup = BeautifulSoup(text, "html.parser")
    title = squash(soup.title.get_text()) if soup.title else ""
    robots = soup.find("meta", attrs={"name": re.compile("^robots$", re.IGNORECASE)})
    noindex = robots is not None and "noindex" in str(robots.get("content") or "").lower()
    generated = tuple(href for link in soup.find_all("link") if (href := _href(link))
                      and {"index", "search"} & {str(r).lower() for r in _attr_list(link, "rel")})
    generated += tuple(action.strip() for form in soup.find_all("form")  # a search box's results page
                       if isinstance(action := form.get("action"), str) and action.strip())
    page_links = tuple(href for a in soup.find_all("a") if (href := _href(a)))
    main = _main_region(soup)
    main_links = tuple(href for a in main.find_all("a") if (href := _href(a)))  # a toctree is chrome, but ordered
    _strip_chrome(main)
    first_h1 = main.find("h1")
    h1 = squash(first_h1.get_text()) if first_h1 is not None else ""
    return HtmlPage(title, _to_markdown(main), h1, main_links, page_links, generated, noindex)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _attr_list(tag: Tag, name: str) -> list[str]:
    value = tag.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else str(value).split()


def _href(tag: Tag) -> str:
    value = tag.get("href")
    return value.strip() if isinstance(value, str) else ""


def _main_region(soup: BeautifulSoup) -> Tag:
    for tag in soup.find_all(_DROP_TAGS):  # a <nav> or script never counts as the main region's text
        tag.decompose()
    for selector in MAIN_SELECTORS:
        for found in soup.select(selector):
            if squash(found.get_text()):
                return found
    return soup.body or soup


def _strip_chrome(main: Tag) -> None:
    for selector in _DROP_SELECTORS:
        for tag in main.select(selector):
            tag.decompose()
    for tag in main.find_all(["header", "footer"]):  # a header that holds the page's heading stays
        if tag.name == "footer" or not tag.find(_HEADINGS):
            tag.decompose()
    for tag in main.find_all(True):
        if tag.decomposed or tag.name in ("pre", "code", *_HEADINGS):
            continue
        names = " ".join(_attr_list(tag, "class") + _attr_list(tag, "id"))
        if names and _CHROME_NAME.search(names) and not tag.find(_HEADINGS[:1]):
            tag.decompose()
    for a in main.find_all("a"):  # a permalink a theme marks with no class: a "#…" link whose text is a symbol
        if _href(a).startswith("#") and squash(a.get_text()) in _PERMALINK_TEXT:
            a.decompose()


def _code_language(pre: Tag) -> str:
    code = pre.find("code")
    for tag in (code, pre, *pre.parents) if code is not None else (pre, *pre.parents):
        if tag is None or getattr(tag, "name", None) in ("body", "html", "[document]"):
            break
        for name in _attr_list(tag, "class"):
            found = re.match(r"^(?:language|lang|highlight|sourceCode)-([A-Za-z0-9_+#.-]+)$", name)
            if found and found.group(1).lower() not in ("default", "none", "text", "plain"):
                return found.group(1).lower()
    return ""


def _to_markdown(main: Tag) -> str:
    from markdownify import MarkdownConverter

    class _Converter(MarkdownConverter):
        def convert_pre(self, el: Tag, text: str, parent_tags: Any) -> str:
            code = el.get_text().strip("\n")
            if not code.strip():
                return ""
            fence = "````" if "```" in code else "```"
            return f"\n\n{fence}{_code_language(el)}\n{code}\n{fence}\n\n"

        def convert_a(self, el: Tag, text: str, parent_tags: Any) -> str:
            return text  # links point into the site, which is not part of the course

        def convert_img(self, el: Tag, text: str, parent_tags: Any) -> str:
            return ""

    converter = _Converter(heading_style="ATX", bullets="-", escape_underscores=False, escape_misc=False,
                           code_language_callback=None)
    markdown = converter.convert_soup(main)
    markdown = re.sub(r"[ \t]+\n", "\n", markdown)
    markdown = re.sub(r"^(#{1,6} .*?)[ \t¶§🔗]*$", r"\1", markdown, flags=re.MULTILINE)  # a pilcrow left in a heading
    return re.sub(r"\n{3,}", "\n\n", markdown).strip()
