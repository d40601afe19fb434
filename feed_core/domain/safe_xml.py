"""XML from others (upstream feeds), read without the parts of XML that attack the reader.

A document is refused (``UnsafeXml``) when it declares a DTD (``<!DOCTYPE``: internal entities can expand
a few bytes into gigabytes, external ones read files or URLs), declares or references an entity other than
the five predefined ones, nests deeper than ``MAX_XML_DEPTH`` or holds more than ``max_elements`` elements.
Expat reports a DOCTYPE in whatever encoding the document is written, so the check cannot be dodged by
re-encoding it. The result is an ``xml.etree.ElementTree.Element`` tree with ``{namespace}local`` tags
and the text of each element (tails are not kept: the feeds read here hold no mixed content).

Pure: no I/O.
"""

from __future__ import annotations

import xml.parsers.expat
from xml.etree.ElementTree import Element

MAX_XML_DEPTH = 64
MAX_XML_ELEMENTS = 500_000


class UnsafeXml(ValueError):
    """Not XML this service reads; the message completes "the document ..."."""


def _name(raw: str) -> str:
    """Expat's ``namespace}local`` (with ``}`` as the separator) as ElementTree's ``{namespace}local``."""
    return "{" + raw if "}" in raw else raw


def parse_xml(data: bytes, *, max_elements: int = MAX_XML_ELEMENTS) -> Element:
    """The root element of ``data``; ``UnsafeXml`` says what is wrong."""
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[tuple[Element, list[str]]] = []
    root: list[Element] = []
    count = 0

    def refuse(why: str) -> None:
        raise UnsafeXml(why)

    def start(tag: str, attrs: dict[str, str]) -> None:
        nonlocal count
        count += 1
        if count > max_elements:
            refuse(f"holds more than {max_elements} elements")
        if len(stack) >= MAX_XML_DEPTH:
            refuse(f"nests deeper than {MAX_XML_DEPTH} elements")
        element = Element(_name(tag), {_name(k): v for k, v in attrs.items()})
        if stack:
            stack[-1][0].append(element)
        else:
            root.append(element)
        stack.append((element, []))

    def end(tag: str) -> None:
        del tag
        element, text = stack.pop()
        element.text = "".join(text) if text else None

    def data_(text: str) -> None:
        if stack:
            stack[-1][1].append(text)

    def doctype(*args: object) -> None:
        del args
        refuse("declares a DTD (<!DOCTYPE>), which is not accepted")

    def entity(*args: object) -> None:
        del args
        refuse("declares an entity, which is not accepted")

    def external(*args: object) -> int:
        del args
        refuse("references an external entity, which is not accepted")
        return 0

    def skipped(name: str, is_parameter: bool) -> None:
        del is_parameter
        refuse(f"references the undeclared entity {name[:40]!r}")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data_
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    parser.SkippedEntityHandler = skipped
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UnsafeXml(
            f"is not well-formed XML ({xml.parsers.expat.ErrorString(exc.code)}, line {exc.lineno})"
        ) from None
    if not root:
        raise UnsafeXml("has no root element")
    return root[0]
