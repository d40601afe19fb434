"""Readmes are hostile input: rendered from Markdown with raw HTML off, then sanitized to an allow-list."""

from __future__ import annotations

import re

import pytest

from feed_core.ui.readme import MAX_README_CHARS, readme_of, render_markdown, sanitize

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "![x](javascript:alert(1))",
    "<div>\n<script>alert(1)</script>\n</div>",
    "<style>body{display:none}</style>",
    "<iframe src=https://example.invalid></iframe>",
    "<svg onload=alert(1)>",
    '<a href="https://ok.invalid" onclick="alert(1)">x</a>',
    '[x](https://ok.invalid "title" onmouseover=alert(1))',
    "<!-- <script>alert(1)</script> -->",
    "```\n<script>alert(1)</script>\n```",
    "`<img src=x onerror=alert(1)>`",
    "<details open ontoggle=alert(1)>",
    "[link][ref]\n\n[ref]: javascript:alert(1)",
    "<form action=https://evil.invalid><button>x</button></form>",
    '<base href="https://evil.invalid/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.invalid">',
]


def harmless(html: str) -> None:
    """Only allowed tags, no event handler, no ``src``, links to http(s), mailto or the page only (text that merely
    looks like markup is escaped: its ``<`` is ``&lt;``, so it is no tag)."""
    tags = re.findall(r"<([a-zA-Z0-9]+)([^>]*)>", html)
    assert {t for t, _ in tags} <= {"a", "p", "h3", "code", "pre", "ul", "li", "em", "strong", "br"}, tags
    for _, attributes in tags:
        assert not re.search(r"\son\w+\s*=", attributes) and "src=" not in attributes, attributes
        for href in re.findall(r'href="([^"]*)"', attributes):
            assert href.startswith(("https://", "http://", "mailto:", "#")), href


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_harmless(text: str) -> None:
    harmless(render_markdown(text).html)


@pytest.mark.parametrize("text", HOSTILE)
def test_the_sanitizer_alone_removes_what_a_renderer_might_let_through(text: str) -> None:
    harmless(sanitize(text))


def test_markdown_renders_with_safe_links_and_shifted_headings() -> None:
    html = render_markdown(
        "# Title\n\n## Part\n\n[site](https://example.invalid/a) [mail](mailto:a@example.invalid) "
        "[here](#usage) [rel](/local/_artifacts/signout)\n\n| a | b |\n|---|---|\n| 1 | ~~2~~ |\n\n"
        "![badge](https://example.invalid/b.svg)\n"
    ).html
    assert "<h3>Title</h3>" in html and "<h4>Part</h4>" in html
    assert '<a href="https://example.invalid/a" rel="nofollow noopener noreferrer">site</a>' in html
    assert 'href="mailto:a@example.invalid"' in html and 'href="#usage"' in html
    assert "/local/_artifacts" not in html  # relative links would point into this site
    assert "<table>" in html and "<s>2</s>" in html
    assert '<a href="https://example.invalid/b.svg" rel="nofollow noopener noreferrer">badge</a>' in html
    assert "<img" not in html


def test_raw_html_shows_as_text() -> None:
    html = render_markdown('<div class="x">hello</div>\n\n<b>bold</b> text').html
    assert '&lt;div class="x"&gt;hello&lt;/div&gt;' in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_huge_readmes_are_cut() -> None:
    shown = render_markdown("word " * (MAX_README_CHARS // 4))
    assert shown.truncated and len(shown.html) < MAX_README_CHARS * 2
    deep = render_markdown(">" * 50_000 + " x")  # deep nesting stays bounded
    assert deep.html


def test_content_types() -> None:
    assert readme_of("").empty
    assert readme_of("# x", "text/markdown; charset=UTF-8").html == "<h3>x</h3>\n"
    plain = readme_of("<script>x</script>", "text/x-rst")
    assert plain.text == "<script>x</script>" and not plain.html  # printed escaped by the template
    assert readme_of("# x", "text/plain").text == "# x"
