"""A pydantic ``ValidationError`` as one short message a client can act on: each bad field by its JSON
path, and what was expected. Never the rejected values: some of them are secrets (credentials).
"""

from __future__ import annotations

from pydantic import ValidationError

#: The most errors one message lists; the rest are counted.
MAX_ERRORS = 5
#: The longest text one error contributes.
MAX_ERROR_TEXT = 200
#: Labels pydantic puts in an error's location for the member of a union (not JSON keys), besides
#: the ones that contain ``[`` (``function-after[...]``, ``tagged-union[...]``, ``literal['a']``) or
#: start upper-case (model class names, and the tags of the upstream-source and credentials unions,
#: ``CustomSource``, ``TokenCredentials``...): the plain types of a smart union such as ``int | str``.
#: JSON keys are camelCase, so none of them starts upper-case or is one of these.
_MEMBER_LABELS = frozenset({"str", "int", "float", "bool", "none"})
#: Messages that name a Python class instead of saying what JSON was expected.
_PLAIN_MESSAGES = {"model_type": "Input should be an object", "model_attributes_type": "Input should be an object"}
_PREFIXES = ("Value error, ", "Assertion failed, ")


def json_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    """``('upstreamSources', 0, 'public', 'location')`` as ``upstreamSources[0].location`` (union labels skipped)."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif not _is_member_label(part):
            path += f".{part}" if path else part
    return path


def _is_member_label(part: str) -> bool:
    return "[" in part or part[:1].isupper() or part in _MEMBER_LABELS


def describe_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """``upstreamSources[0].location: Input should be a valid string; name: Field required``: the first
    ``MAX_ERRORS`` errors, each bounded; ``prefix`` names what was validated (the root path)."""
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts: list[str] = []
    for error in errors[:MAX_ERRORS]:
        message = _PLAIN_MESSAGES.get(error["type"], error["msg"])
        for start in _PREFIXES:
            message = message.removeprefix(start)
        path = json_path(tuple(error["loc"]), prefix) or "the request body"
        text = f"{path}: {message}"
        parts.append(text if len(text) <= MAX_ERROR_TEXT else text[: MAX_ERROR_TEXT - 3] + "...")
    if len(errors) > MAX_ERRORS:
        parts.append(f"and {len(errors) - MAX_ERRORS} more")
    return "; ".join(dict.fromkeys(parts))
