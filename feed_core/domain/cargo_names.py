"""Crate names: what a name may be, when two names clash, and where a crate's index file lives.

A name is ASCII: a letter first, then letters, digits, ``-`` and ``_``, at most ``MAX_NAME`` characters
(the public registry's rule; cargo itself is laxer). Two names clash when they are equal once lower-cased
with ``_`` read as ``-`` (``Foo_bar`` and ``foo-bar`` are one crate to users), so a feed holds only one
spelling. The index file of a crate is at a path made from its lower-cased name (``1/a``, ``2/ab``,
``3/a/abc``, ``ab/cd/abcd``).

Pure: no I/O.
"""

from __future__ import annotations

import re

MAX_NAME = 64

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*", re.ASCII)


class CrateNameError(ValueError):
    """Not a crate name this feed accepts; the message says what is wrong with it."""


def validate_crate_name(name: str) -> str:
    """The name unchanged when it is valid, else ``CrateNameError``."""
    if not name:
        raise CrateNameError("the crate name is empty")
    shown = repr(name[:80]) + ("..." if len(name) > 80 else "")
    if len(name) > MAX_NAME:
        raise CrateNameError(f"the crate name {shown} is {len(name)} characters long; at most {MAX_NAME} are allowed")
    if _NAME.fullmatch(name):
        return name
    if not name.isascii():
        raise CrateNameError(f"the crate name {shown} is not ASCII; only letters, digits, '-' and '_' are allowed")
    if not name[0].isalpha():
        raise CrateNameError(f"the crate name {shown} must start with an ASCII letter")
    raise CrateNameError(f"the crate name {shown} may contain only ASCII letters, digits, '-' and '_'")


def canonical_name(name: str) -> str:
    """The form two names share when they clash: lower-case, ``_`` read as ``-``."""
    return name.lower().replace("_", "-")


def index_path(name: str) -> str:
    """Where the crate's index file lives below the index root (lower-cased, no leading ``/``)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def name_from_index_path(path: str) -> str:
    """The crate name an index path asks for; ``CrateNameError`` when it is not exactly that name's path.

    Only the lower-case path is one (cargo always asks for that), so each crate has one index URL.
    """
    name = path.rsplit("/", 1)[-1]
    validate_crate_name(name)
    if index_path(name) != path:
        shown = repr(path[:120])
        raise CrateNameError(
            f"{shown} is not the index path of a crate: the path of {name!r} is {index_path(name)!r} "
            "(1/{name}, 2/{name}, 3/{first letter}/{name} or {letters 1-2}/{letters 3-4}/{name}, lower-case)"
        )
    return name
