"""NuGet package ids, versions and dependency version ranges, as the NuGet client reads and orders them.

Versions
    ``major[.minor[.patch[.revision]]][-release.labels][+metadata]``: one to four numbers (int32, leading
    zeros allowed and dropped), SemVer 2 release labels (ASCII letters, digits and ``-``; numeric labels
    without leading zeros) and build metadata. ``1``, ``1.0``, ``1.0.0`` and ``1.0.0.0`` are the same
    version; labels compare case-insensitively; metadata never takes part in precedence or equality.

Ids
    1 to 100 characters: runs of ASCII letters, digits and ``_`` joined by single ``.`` or ``-``. This is
    the NuGet client's own id rule restricted to ASCII (the client allows any Unicode letter; ASCII keeps
    ids safe in URLs, storage keys and case-folding).

Ranges
    ``1.0`` (at least 1.0), ``[1.0]`` (exactly), ``[1.0,2.0)``, ``(,2.0]``, ``(1.0,)``, ``(, )`` and so on,
    refused where the client refuses them (``(,)``, ``(1.0]``, ``[2.0,1.0]``, ``[1.0,1.0)``). NuGet's nuspec
    reader also accepts *floating* ranges (``*``, ``1.*``, ``1.0.0-beta*``, ``[1.0.*, 2.0)``):
    they tell a client to prefer the newest match, which is client-side behaviour. They are accepted here
    by default (a package built with one must not be refused) and read as their lowest admitted version:
    ``1.*`` is ``[1.0.0, )``. ``parse_range(text, allow_floating=False)`` refuses them.

Pure: no I/O.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from feed_core.domain.errors import BadRequestError

__all__ = [
    "ID_MAX",
    "INT32_MAX",
    "VERSION_MAX",
    "NuGetVersion",
    "VersionRange",
    "lower_id",
    "parse_range",
    "parse_version",
    "validate_id",
]

#: Longest package id NuGet accepts.
ID_MAX = 100
#: Longest version string accepted (the public gallery's limit too).
VERSION_MAX = 64
#: Longest range string accepted: two versions, brackets, a comma and some spaces.
RANGE_MAX = 2 * VERSION_MAX + 16
INT32_MAX = 2**31 - 1
#: How much of a bad value an error message quotes.
_SHOWN = 80

_ID = re.compile(r"[A-Za-z0-9_]+(?:[.-][A-Za-z0-9_]+)*")
_LABEL = r"[0-9A-Za-z-]+"
_VERSION = re.compile(
    rf"(?P<numbers>[0-9]+(?:\.[0-9]+)*)(?:-(?P<release>{_LABEL}(?:\.{_LABEL})*))?(?:\+(?P<metadata>{_LABEL}(?:\.{_LABEL})*))?"
)
_VERSION_EXAMPLES = "for example 1.0.0, 1.2.3.4, 2.0.0-beta.1 or 1.0.0+build.5"


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class NuGetVersion:
    """A parsed NuGet version; equality, hashing and ordering follow NuGet's precedence rules."""

    major: int
    minor: int
    patch: int
    revision: int
    release: tuple[str, ...]
    metadata: str | None
    original: str

    @property
    def normalized(self) -> str:
        """NuGet's normalized form: three numbers (four if the revision is set), labels kept, metadata dropped."""
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.revision:
            text += f".{self.revision}"
        if self.release:
            text += "-" + ".".join(self.release)
        return text

    @property
    def full(self) -> str:
        """The normalized form with ``+metadata`` when the version has some (registrations show this)."""
        return self.normalized if self.metadata is None else f"{self.normalized}+{self.metadata}"

    @property
    def lower(self) -> str:
        """The normalized form in lower case, as it appears in URLs."""
        return self.normalized.lower()

    @property
    def is_prerelease(self) -> bool:
        return bool(self.release)

    @property
    def is_semver2(self) -> bool:
        """Only SemVer 2 clients understand it: a dotted release label or build metadata."""
        return len(self.release) > 1 or self.metadata is not None

    def _key(self) -> tuple[int, int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its prereleases; labels compare as the client compares them (see _label_key).
        labels = tuple(_label_key(label) for label in self.release)
        return (self.major, self.minor, self.patch, self.revision, 0 if self.release else 1, labels)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, NuGetVersion):
            return NotImplemented
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return self.full


_INT_LABEL = re.compile(r"-?[0-9]+")


def _label_key(label: str) -> tuple[int, int, str]:
    """The client compares a label as a number when it reads as an int32 (numbers sort first), else as text
    ignoring case. The lower-cased text stays in the key so that equal keys mean equal labels."""
    if _INT_LABEL.fullmatch(label) and -(2**31) <= (number := int(label)) <= INT32_MAX:
        return (0, number, label.lower())
    return (1, 0, label.lower())


def parse_version(text: str) -> NuGetVersion:
    """Parse a NuGet version, or raise BadRequestError naming it and saying what is wrong."""
    if not text:
        raise BadRequestError(f"the version is empty: give a NuGet version, {_VERSION_EXAMPLES}")
    if len(text) > VERSION_MAX:
        raise BadRequestError(f"invalid version {_shown(text)}: longer than {VERSION_MAX} characters")
    match = _VERSION.fullmatch(text)
    if match is None:
        raise BadRequestError(f"invalid version {_shown(text)}: {_version_problem(text)}")
    numbers = [int(part) for part in match["numbers"].split(".")]
    if len(numbers) > 4:
        raise BadRequestError(
            f"invalid version {_shown(text)}: it has {len(numbers)} numbers; NuGet versions have at most 4"
        )
    if any(number > INT32_MAX for number in numbers):
        raise BadRequestError(f"invalid version {_shown(text)}: a number is larger than {INT32_MAX}")
    release = tuple(match["release"].split(".")) if match["release"] else ()
    for label in release:
        if len(label) > 1 and label.isdigit() and label.startswith("0"):
            raise BadRequestError(
                f"invalid version {_shown(text)}: the numeric release label {label!r} has a leading zero"
            )
    major, minor, patch, revision = numbers + [0] * (4 - len(numbers))
    return NuGetVersion(major, minor, patch, revision, release=release, metadata=match["metadata"], original=text)


def _version_problem(text: str) -> str:
    if text != text.strip() or any(c.isspace() for c in text):
        return f"it contains whitespace; {_VERSION_EXAMPLES}"
    core = re.split(r"[-+]", text, maxsplit=1)[0]
    if not re.fullmatch(r"[0-9]+(?:\.[0-9]+)*", core):
        return f"it must start with numbers separated by dots, {_VERSION_EXAMPLES}"
    return (
        "release labels and metadata are dot-separated, non-empty runs of ASCII letters, digits and '-', "
        f"{_VERSION_EXAMPLES}"
    )


# --- ids -------------------------------------------------------------------------------------------


def validate_id(text: str) -> str:
    """Check a package id and return it unchanged."""
    if not text:
        raise BadRequestError("the package id is empty: give the id from the package's .nuspec")
    if len(text) > ID_MAX:
        raise BadRequestError(f"invalid package id {_shown(text)}: longer than {ID_MAX} characters")
    if not _ID.fullmatch(text):
        raise BadRequestError(
            f"invalid package id {_shown(text)}: use ASCII letters, digits and '_', joined by single '.' or '-' "
            "(not at the start or end, and never two in a row)"
        )
    return text


def lower_id(text: str) -> str:
    """The id in lower case: ids are case-insensitive, and URLs and keys use this form."""
    return text.lower()


# --- ranges ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionRange:
    """A dependency's version range. ``None`` bounds are open; ``floating`` keeps a floating spelling."""

    min: NuGetVersion | None
    min_inclusive: bool
    max: NuGetVersion | None
    max_inclusive: bool
    original: str
    floating: str | None = None

    def contains(self, version: NuGetVersion) -> bool:
        if self.min is not None and (version < self.min or (version == self.min and not self.min_inclusive)):
            return False
        return not (self.max is not None and (version > self.max or (version == self.max and not self.max_inclusive)))

    @property
    def normalized(self) -> str:
        """NuGet's normalized form, as registrations print it: ``[1.0.0, )``, ``[1.0.0, 1.0.0]``, ``(, 2.0.0)``,
        ``(, )`` for any version. A floating bound is printed as its lowest version (``1.*`` -> ``[1.0.0, )``)."""
        low = "[" if self.min is not None and self.min_inclusive else "("
        high = "]" if self.max is not None and self.max_inclusive else ")"
        lower = self.min.normalized if self.min is not None else ""
        upper = self.max.normalized if self.max is not None else ""
        return f"{low}{lower}, {upper}{high}"

    @property
    def is_semver2(self) -> bool:
        return any(bound is not None and bound.is_semver2 for bound in (self.min, self.max))

    @property
    def is_floating(self) -> bool:
        return self.floating is not None

    def __str__(self) -> str:
        return self.normalized


def parse_range(text: str, *, allow_floating: bool = True) -> VersionRange:
    """Parse a dependency version range (see the module docstring), or raise BadRequestError naming it."""
    if len(text) > RANGE_MAX:
        raise BadRequestError(f"invalid version range {_shown(text)}: longer than {RANGE_MAX} characters")
    value = text.strip()
    if not value:
        raise BadRequestError("the version range is empty: give a version such as 1.0 or a range such as [1.0,2.0)")
    if value[0] not in "[(":
        if value[-1] in "])" or "," in value:
            raise BadRequestError(_bad_range(text, "it has a closing bracket or a comma but no opening bracket"))
        floor, spelling = _range_bound(value, text, allow_floating)
        return VersionRange(floor, True, None, False, original=text, floating=spelling)
    if value[-1] not in "])":
        raise BadRequestError(_bad_range(text, "it opens with a bracket but does not close with ']' or ')'"))
    min_inclusive, max_inclusive = value[0] == "[", value[-1] == "]"
    parts = value[1:-1].split(",")
    if len(parts) > 2:
        raise BadRequestError(_bad_range(text, "it has more than one comma"))
    if len(parts) == 1:
        if not (min_inclusive and max_inclusive):
            raise BadRequestError(_bad_range(text, "a single version must be written [1.0], with square brackets"))
        exact = _exact_bound(parts[0].strip(), text)
        return VersionRange(exact, True, exact, True, original=text)
    if not parts[0] and not parts[1]:
        # As in the client: "(,)" is refused, but "(, )", the form NuGet prints for any version, is read.
        raise BadRequestError(_bad_range(text, "both bounds are empty; leave the version out to allow any"))
    low_text, high_text = parts[0].strip(), parts[1].strip()
    low: NuGetVersion | None = None
    floating: str | None = None
    if low_text:
        low, floating = _range_bound(low_text, text, allow_floating)
    high = _exact_bound(high_text, text) if high_text else None
    if low is not None and high is not None and low > high:
        raise BadRequestError(_bad_range(text, "its lower bound is above its upper bound"))
    if low is not None and low == high and min_inclusive != max_inclusive:
        raise BadRequestError(_bad_range(text, "its bounds are equal, so one bracket must not exclude them"))
    return VersionRange(
        low,
        min_inclusive and low is not None,
        high,
        max_inclusive and high is not None,
        original=text,
        floating=floating,
    )


def _bad_range(text: str, why: str) -> str:
    return f"invalid version range {_shown(text)}: {why} (write 1.0, [1.0], [1.0,2.0), (,2.0] or [1.0,))"


def _exact_bound(bound: str, text: str) -> NuGetVersion:
    if "*" in bound:
        raise BadRequestError(_bad_range(text, "only a lower bound may float ('*')"))
    return _bound_version(bound, text)


def _bound_version(bound: str, text: str) -> NuGetVersion:
    try:
        return parse_version(bound)
    except BadRequestError as exc:
        raise BadRequestError(f"invalid version range {_shown(text)}: {exc.message}") from None


def _range_bound(bound: str, text: str, allow_floating: bool) -> tuple[NuGetVersion, str | None]:
    """A lower bound, which may float: returns its lowest admitted version and the floating spelling."""
    if "*" not in bound:
        return _bound_version(bound, text), None
    if not allow_floating:
        raise BadRequestError(_bad_range(text, "floating versions ('*') are not accepted here"))
    return _float_floor(bound, text), bound


_FLOAT = re.compile(r"(?P<numbers>(?:[0-9]+\.){0,3}\*|[0-9]+(?:\.[0-9]+){0,3})(?:-(?P<prefix>[0-9A-Za-z.-]*)\*)?")


def _float_floor(bound: str, text: str) -> NuGetVersion:
    """The lowest version a floating bound admits: ``1.*`` -> 1.0.0, ``1.0.0-beta*`` -> 1.0.0-beta, ``*`` -> 0.0.0."""
    match = _FLOAT.fullmatch(bound)
    if match is None:
        raise BadRequestError(
            _bad_range(
                text, "a floating version puts '*' in place of a number (1.*) or after a release prefix (1.0-beta*)"
            )
        )
    core, prefix = match["numbers"].replace("*", "0"), match["prefix"]
    if prefix is None:
        return _bound_version(core, text)
    if not prefix or prefix.endswith("."):
        prefix += "0"
    return _bound_version(f"{core}-{prefix}", text)
