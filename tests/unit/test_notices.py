"""Notice header values: one line of printable ASCII, bounded, whatever names went into them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from feed_core.protocols.notices import MAX_NOTICE, header_value


def test_plain_text_is_kept() -> None:
    text = "1 version of left-pad (1.3.0) is available from upstream npmjs but not saved in feed web"
    assert header_value(text) == text


def test_line_breaks_control_characters_and_other_scripts_are_replaced() -> None:
    assert header_value("a\r\nb\tc  d\u2028e") == "a b c d e"
    assert header_value("bad\x1b[31mred\x00 café ✓") == "bad?[31mred? caf? ?"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    assert header_value("x" * 1000) == "x" * (MAX_NOTICE - 3) + "..."
    assert header_value("y" * MAX_NOTICE) == "y" * MAX_NOTICE
    assert header_value("z" * 50, limit=10) == "z" * 7 + "..."


@given(st.text())
def test_any_text_becomes_a_safe_header_value(text: str) -> None:
    value = header_value(text)
    assert len(value) <= MAX_NOTICE and value.isascii() and value.isprintable()
    assert value == value.strip()
    value.encode("latin-1")  # what an HTTP header value must encode to
