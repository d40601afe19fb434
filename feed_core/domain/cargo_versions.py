"""Crate versions: strict Semantic Versioning 2.0, and the order and uniqueness rules cargo uses.

A version is ``MAJOR.MINOR.PATCH`` with an optional ``-prerelease`` and ``+build`` (ASCII only, no leading
zeros in numbers, no empty identifiers, at most ``MAX_VERSION`` characters). Build metadata does not
count for uniqueness or precedence: a registry holds ``1.0.7`` or ``1.0.7+x``, never both.

:mod:`feed_core.domain.semver` (npm's) is not used for the check: its pattern reads Unicode digits as
digits and lets a trailing newline through, both of which cargo refuses.

Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import Any

MAX_VERSION = 128

_NUM = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_ID = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+({_BUILD_ID}(?:\.{_BUILD_ID})*))?",
    re.ASCII,
)
_CORE = re.compile(r"[0-9]+(?:\.[0-9]+){0,2}", re.ASCII)


class CrateVersionError(ValueError):
    """Not a crate version; the message says what is wrong with it."""


def validate_crate_version(text: str) -> str:
    """The version unchanged when it is strict SemVer 2.0 within ``MAX_VERSION`` characters."""
    shown = repr(text[:80]) + ("..." if len(text) > 80 else "")
    if len(text) > MAX_VERSION:
        raise CrateVersionError(
            f"the version {shown} is {len(text)} characters long; at most {MAX_VERSION} are allowed"
        )
    if _VERSION.fullmatch(text):
        return text
    core = re.split(r"[-+]", text, maxsplit=1)[0]
    if _CORE.fullmatch(core) and core.count(".") < 2:
        why = "it needs all three parts MAJOR.MINOR.PATCH"
    elif _CORE.fullmatch(core) and any(len(p) > 1 and p.startswith("0") for p in core.split(".")):
        why = "numbers may not have leading zeros"
    else:
        why = "use MAJOR.MINOR.PATCH with an optional -prerelease and +build, ASCII only (e.g. 1.2.3 or 2.0.0-beta.1)"
    raise CrateVersionError(f"the version {shown} is not a semantic version: {why}")


def without_build(version: str) -> str:
    """The version without its build metadata: the key under which a registry holds one version."""
    return version.split("+", 1)[0]


def version_key(version: str) -> Any:
    """A sort key in SemVer precedence; build metadata is ignored, then breaks ties by text.

    Versions that are not valid sort before every valid one, by text (they should never be stored).
    """
    m = _VERSION.fullmatch(version)
    if m is None:
        return (0, (), version)
    major, minor, patch, pre, _build = m.groups()
    pre_key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split(".")) if pre else ()
    # A release sorts after its prereleases; numeric identifiers before alphanumeric ones.
    return (1, (int(major), int(minor), int(patch), 0 if pre else 1, pre_key), version)
