"""A package's readme as safe HTML: Markdown rendered by markdown-it-py with raw HTML off, then cleaned by nh3
against an allow-list (tags, attributes, and only http, https and mailto URLs), so nothing a publisher writes
can run script, load a frame or style the page. Plain-text descriptions are escaped, not rendered.

Readmes are hostile input and can be huge: the text is cut to ``MAX_README_CHARS`` before it is rendered.
Images become links (the page's Content-Security-Policy would block images from elsewhere anyway), and
headings move two levels down so that they nest under the page's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from html import escape

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

#: Characters of Markdown rendered at most; the rest is cut off, with a note.
MAX_README_CHARS = 200_000

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote", "ul", "ol", "li",
    "h3", "h4", "h5", "h6", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}, "code": {"class"}}
URL_SCHEMES = {"http", "https", "mailto"}
LINK_REL = "nofollow noopener noreferrer"


@dataclass(frozen=True)
class Readme:
    """What the readme tab shows: sanitized ``html`` (Markdown), or escaped ``text``; ``truncated`` when cut."""

    html: str = ""
    text: str = ""
    truncated: bool = False

    @property
    def empty(self) -> bool:
        return not self.html and not self.text


def _image(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    """An image as a link to it, its alt text for words: pages load no image from elsewhere."""
    del options, env, renderer
    token = tokens[idx]
    src = str(token.attrGet("src") or "")
    alt = "".join(child.content for child in token.children or []) or "image"
    return f'<a href="{escape(src)}">{escape(alt)}</a>'


def _heading_open(renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    del options, env, renderer
    return f"<h{_shifted(tokens[idx].tag)}>"


def _heading_close(
    renderer: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    del options, env, renderer
    return f"</h{_shifted(tokens[idx].tag)}>\n"


def _shifted(tag: str) -> int:
    """``h1`` is ``3``: the page has its own ``h1`` and ``h2`` above the readme."""
    return min(int(tag[1:]) + 2, 6)


@cache
def _markdown() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image)
    md.add_render_rule("heading_open", _heading_open)
    md.add_render_rule("heading_close", _heading_close)
    return md


def _url_allowed(value: str) -> bool:
    """Absolute http(s) and mailto links, and in-page anchors; relative URLs would point into this site."""
    lowered = value.strip().lower()
    return lowered.startswith(("http://", "https://", "mailto:", "#"))


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if attribute in ("href", "src") and not _url_allowed(value):
        return None
    if tag == "code" and attribute == "class" and not value.startswith("language-"):
        return None
    return value


def sanitize(html: str) -> str:
    """``html`` cut down to the allow-list: other tags dropped (script and style with their content), other
    attributes and URL schemes removed, links marked ``rel="nofollow noopener noreferrer"``."""
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=_attribute_filter,
        url_schemes=URL_SCHEMES,
        link_rel=LINK_REL,
        strip_comments=True,
    )


def _cut(text: str) -> tuple[str, bool]:
    if len(text) <= MAX_README_CHARS:
        return text, False
    return text[:MAX_README_CHARS], True


def render_markdown(text: str) -> Readme:
    """Markdown (raw HTML shown as text, never parsed) rendered, then sanitized."""
    source, truncated = _cut(text)
    return Readme(html=_rendered(source), truncated=truncated)


@lru_cache(maxsize=8)
def _rendered(source: str) -> str:
    """The last few readmes rendered are kept (each at most ``MAX_README_CHARS``): the same one is shown again
    and again, and a hostile one takes seconds to render."""
    return sanitize(_markdown().render(source))


def plain(text: str) -> Readme:
    """A plain-text description: escaped when the template prints it."""
    source, truncated = _cut(text)
    return Readme(text=source, truncated=truncated)


def readme_of(text: str, content_type: str = "text/markdown") -> Readme:
    """The readme for ``text`` declared as ``content_type`` (Markdown unless it says otherwise)."""
    if not text.strip():
        return Readme()
    kind = content_type.split(";")[0].strip().lower()
    if kind in ("text/markdown", "text/x-markdown", ""):
        return render_markdown(text)
    return plain(text)
