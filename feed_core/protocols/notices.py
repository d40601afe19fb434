"""Messages for clients that print a server's notice header (npm's ``npm-notice``)."""

from __future__ import annotations

#: Longest notice sent: npm prints it on one line of the user's terminal.
MAX_NOTICE = 400


def header_value(text: str, limit: int = MAX_NOTICE) -> str:
    """``text`` as one line of printable ASCII of at most ``limit`` characters, safe as a header value and on a
    terminal: runs of whitespace become one space, any other character outside printable ASCII (control
    characters, escape sequences, non-ASCII letters of package or source names) becomes ``?``."""
    flat = " ".join(text.split())
    safe = "".join(c if " " <= c <= "~" else "?" for c in flat)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."
