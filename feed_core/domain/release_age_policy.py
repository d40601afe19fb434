"""A minimum release age as a feed administrator configures it: the hours (a feed's, or one source's) and the
packages exempt from it. Pure: no I/O. ``feed_core.domain.release_age`` applies it."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from feed_core.domain.errors import BadRequestError

MAX_RELEASE_AGE_HOURS = 24 * 365 * 10
MAX_EXEMPTIONS = 200
MAX_PATTERN = 214
EXEMPTION_PATTERN = re.compile(r"^[A-Za-z0-9@/._:~*+-]+$")
_HOURS = f"must be a number of hours from 0 to {MAX_RELEASE_AGE_HOURS}, or null"


def _hours(value: Any) -> float:
    # Compared, not converted: a huge int cannot become a float, and NaN fails every comparison.
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_RELEASE_AGE_HOURS:
        raise PydanticCustomError("release_age", _HOURS)
    return float(value)


#: Hours a version must have been public before an upstream offers it (``null``: no delay), for pydantic models.
ReleaseAgeHours = Annotated[float, Field(ge=0, le=MAX_RELEASE_AGE_HOURS), BeforeValidator(_hours)]


def validate_release_age(value: Any, what: str) -> float | None:
    """:data:`ReleaseAgeHours` for a raw JSON value; ``None``: no delay."""
    if value is None:
        return None
    try:
        return _hours(value)
    except PydanticCustomError:
        raise BadRequestError(f"{what}: {_HOURS}") from None


def validate_exemptions(value: Any, what: str = "minimumReleaseAgeExemptions") -> list[str]:
    """Package names or simple ``*`` globs (``@myorg/*``), at most ``MAX_EXEMPTIONS``; duplicates dropped."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadRequestError(f"{what} must be a list of package names or patterns like @myorg/*")
    if len(value) > MAX_EXEMPTIONS:
        raise BadRequestError(f"{what} may hold at most {MAX_EXEMPTIONS} entries")
    out: list[str] = []
    seen: set[str] = set()
    for i, pattern in enumerate(value):
        if not isinstance(pattern, str) or len(pattern) > MAX_PATTERN or not EXEMPTION_PATTERN.match(pattern):
            raise BadRequestError(
                f"{what}[{i}] must be a package name or a pattern with '*' (letters, digits and @ / . _ - ~ : +, "
                f"at most {MAX_PATTERN} characters)"
            )
        if not pattern.strip("*"):
            raise BadRequestError(f"{what}[{i}] would exempt every package: set minimumReleaseAgeHours to null instead")
        if pattern.lower() not in seen:
            seen.add(pattern.lower())
            out.append(pattern)
    return out
