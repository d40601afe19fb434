"""JSON that the service reads from others (request bodies, upstream documents) and large JSON it writes.

Reading refuses what the code behind could not handle safely: nesting deeper than ``MAX_JSON_DEPTH``,
number literals longer than ``MAX_JSON_NUMBER_LENGTH`` (Python's own limit is 4300 digits and raises
late), ``NaN``/``Infinity``, text that is not UTF-8, and escaped lone UTF-16 surrogates (no character:
they could not be stored or sent back).

Both directions work in slices: the two outer levels of objects and arrays are walked here, and each
value below them is decoded (or encoded) by one call of the C codec. A Python thread yields the
interpreter between slices, so a 150 MB document handled in a worker thread never stalls the event
loop for long (one C call over the whole document holds it for seconds).

Pure: no I/O.
"""

from __future__ import annotations

import codecs
import itertools
import json
import math
import re
from typing import Any

#: Deeper JSON is refused: Python's parser recurses, and no manifest, document or API body nests this deep.
MAX_JSON_DEPTH = 64
#: Longest number literal accepted (Python's own integer limit is 4300 digits, and can be turned off).
MAX_JSON_NUMBER_LENGTH = 1000
#: How many outer levels are walked in Python rather than decoded in one C call.
_SLICED_LEVELS = 2
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SLICE_BYTES = 1024 * 1024
#: Bodies up to this size are decoded by one call of the C codec (the outer levels are not walked in Python).
_WHOLE_BYTES = 64 * 1024
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_DEPTH_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes


class UnsafeJson(ValueError):
    """Not JSON this service reads; the message completes "the body ..." (e.g. "is not valid JSON: ...")."""


def json_depth(body: bytes) -> int:
    """How deep the brackets outside strings nest, at C speed whatever the size.

    Escaped backslashes and quotes go first, so the remaining quotes delimit the strings; what lies
    between strings is reduced to its brackets, and their running +1/-1 sum is the depth.
    """
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside_strings = b"".join(unescaped.split(b'"')[::2])
    steps = memoryview(outside_strings.translate(None, _NOT_BRACKETS).translate(_DEPTH_STEPS)).cast("b")
    return max(itertools.accumulate(steps), default=0)


class _BadNumber(ValueError):
    pass


def _json_int(text: str) -> int:
    if len(text) > MAX_JSON_NUMBER_LENGTH:
        raise _BadNumber(f"a number has more than {MAX_JSON_NUMBER_LENGTH} digits")
    return int(text)


def _json_float(text: str) -> float:
    if len(text) > MAX_JSON_NUMBER_LENGTH:
        raise _BadNumber(f"a number has more than {MAX_JSON_NUMBER_LENGTH} digits")
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"{text[:40]} is not a finite number this feed can store")
    return value


def _json_constant(name: str) -> Any:
    raise _BadNumber(f"{name} is not a finite number; JSON has no NaN or Infinity")


_DECODER = json.JSONDecoder(parse_int=_json_int, parse_float=_json_float, parse_constant=_json_constant)


def loads_bounded(body: bytes) -> Any:
    """Parse UTF-8 JSON within the limits above; ``UnsafeJson`` says what is wrong."""
    text, escapes_surrogate = _decode(body)
    try:
        if len(body) <= _WHOLE_BYTES:  # one C call: a small body holds the interpreter for a moment only
            value = _DECODER.decode(text)
            if text.count("[") + text.count("{") > MAX_JSON_DEPTH and json_depth(body) > MAX_JSON_DEPTH:
                raise RecursionError
        else:
            value, end = _value(text, _skip(text, 0), 0)
            if _skip(text, end) != len(text):
                raise json.JSONDecodeError("Extra data", text, _skip(text, end))
    except RecursionError:
        raise UnsafeJson(f"is nested more than {MAX_JSON_DEPTH} levels deep") from None
    except (json.JSONDecodeError, _BadNumber) as exc:
        raise UnsafeJson(f"is not valid JSON: {exc}") from None
    if escapes_surrogate:  # rare: only then pay for a full check
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise UnsafeJson(
                "is not valid JSON: it escapes a lone UTF-16 surrogate (\\ud800-\\udfff), "
                "which is no character and could not be stored or sent back"
            ) from None
    return value


def _decode(body: bytes) -> tuple[str, bool]:
    """The text, decoded a slice at a time, and whether it might escape a lone surrogate."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces = []
    suspect = False
    try:
        for start in range(0, len(body), _SLICE_BYTES):
            pieces.append(decoder.decode(body[start : start + _SLICE_BYTES]))
            # 5 bytes of overlap: an escape split between two slices is still seen
            suspect = suspect or bool(_SURROGATE_ESCAPE.search(body, max(start - 5, 0), start + _SLICE_BYTES))
        pieces.append(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        raise UnsafeJson(f"is not UTF-8 JSON: {exc}") from None
    return "".join(pieces), suspect


def _skip(text: str, at: int) -> int:
    match = _WHITESPACE.match(text, at)
    return match.end() if match else at


def _value(text: str, at: int, level: int) -> tuple[Any, int]:
    """The value starting at ``at`` (no whitespace before it) and where it ends."""
    opener = text[at : at + 1]
    if level < _SLICED_LEVELS and opener in ("{", "["):
        return _container(text, at, level)
    value, end = _DECODER.raw_decode(text, at)  # deeper than the recursion limit: RecursionError
    if opener in ("{", "["):
        piece, room = text[at:end], MAX_JSON_DEPTH - level
        if piece.count("[") + piece.count("{") > room and json_depth(piece.encode()) > room:
            raise RecursionError
    return value, end


def _container(text: str, at: int, level: int) -> tuple[Any, int]:
    closer = "}" if text[at] == "{" else "]"
    is_object = closer == "}"
    out_dict: dict[str, Any] = {}
    out_list: list[Any] = []
    at = _skip(text, at + 1)
    if text[at : at + 1] == closer:
        return (out_dict if is_object else out_list), at + 1
    while True:
        if is_object:
            if text[at : at + 1] != '"':
                raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, at)
            key, at = _DECODER.raw_decode(text, at)
            at = _skip(text, at)
            if text[at : at + 1] != ":":
                raise json.JSONDecodeError("Expecting ':' delimiter", text, at)
            item, at = _value(text, _skip(text, at + 1), level + 1)
            out_dict[key] = item
        else:
            item, at = _value(text, at, level + 1)
            out_list.append(item)
        at = _skip(text, at)
        mark = text[at : at + 1]
        if mark == closer:
            return (out_dict if is_object else out_list), at + 1
        if mark != ",":
            raise json.JSONDecodeError(f"Expecting ',' delimiter or {closer!r}", text, at)
        at = _skip(text, at + 1)


def dumps_sliced(value: Any) -> bytes:
    """Compact UTF-8 JSON, written in slices (see the module docstring); same text as one ``json.dumps``."""
    parts: list[bytes] = []
    _write(value, 0, parts)
    return b"".join(parts)


def _write(value: Any, level: int, parts: list[bytes]) -> None:
    plain = isinstance(value, dict) and not all(isinstance(k, str) for k in value)
    if level >= _SLICED_LEVELS or not isinstance(value, dict | list) or not value or plain:
        parts.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
        return
    if isinstance(value, dict):
        parts.append(b"{")
        for i, (key, item) in enumerate(value.items()):
            parts.append(("," if i else "").encode() + json.dumps(key, ensure_ascii=False).encode() + b":")
            _write(item, level + 1, parts)
        parts.append(b"}")
        return
    parts.append(b"[")
    for i, item in enumerate(value):
        if i:
            parts.append(b",")
        _write(item, level + 1, parts)
    parts.append(b"]")
