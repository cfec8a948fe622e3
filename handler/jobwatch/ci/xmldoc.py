"""Hardened XML reading and plain XML writing for CI's API.

CI never sends a DOCTYPE, so any document with one is refused before and after parsing: no entity is expanded
(XXE, "billion laughs"), no DTD or network resource is loaded, and bodies over a size cap are refused unread.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from lxml import etree

from ..errors import MalformedXMLError, UnsafeXMLError

MAX_XML_BYTES = 4 * 1024 * 1024  # a 100-job list page is ~200 KB; 4 MiB leaves room, refuses floods
# "<!DOCTYPE" or "<!ENTITY" in ASCII-compatible encodings, and in UTF-16 (either byte order).
_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)|<\x00!\x00|\x00<\x00!", re.IGNORECASE)

XMLValue = str | dict[str, Any] | list[Any]


_local = threading.local()  # an lxml parser is not to be shared between threads; one each, made once


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = _new_parser()
    return parser


def _new_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse(data: bytes, *, max_bytes: int = MAX_XML_BYTES) -> etree._Element:
    """Parse an XML document safely; raise ``UnsafeXMLError`` or ``MalformedXMLError``."""
    if len(data) > max_bytes:
        raise UnsafeXMLError(f"XML body of {len(data)} bytes is over the {max_bytes}-byte limit")
    # The plain searches first: they are many times quicker than the pattern, which only a "<!" can match.
    if (b"<!" in data or b"\x00!" in data) and _DECLARATION.search(data):
        raise UnsafeXMLError("XML with a DOCTYPE or ENTITY declaration is refused")
    if not data.strip():
        raise MalformedXMLError("empty XML body")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise MalformedXMLError(f"XML is not well-formed: {exc.msg}") from exc
    except ValueError as exc:  # e.g. an encoding declaration lxml cannot honour
        raise MalformedXMLError(f"XML could not be read: {exc}") from exc
    docinfo: Any = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXMLError("XML with a DOCTYPE is refused")
    if next(root.iter(etree.Entity), None) is not None:  # an entity reference left unexpanded
        raise UnsafeXMLError("XML with entity references is refused")
    return root


def to_value(element: etree._Element) -> XMLValue:
    """An element as plain data: text for a leaf, a dict for children; repeated names become lists."""
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        name = etree.QName(child).localname
        value = to_value(child)
        if name in out:
            existing = out[name]
            if isinstance(existing, list):
                existing.append(value)
            else:
                out[name] = [existing, value]
        else:
            out[name] = value
    return out


def child_text(element: etree._Element, name: str) -> str | None:
    """The stripped text of the first child called ``name``; None when absent."""
    child = element.find(name)
    if child is None:
        return None
    return (child.text or "").strip()


def to_text(element: etree._Element) -> str:
    """An element serialised back to text, exactly as received (for the stored ``raw``)."""
    return etree.tostring(element, encoding="unicode", with_tail=False)


def build(root: str, body: Mapping[str, Any]) -> bytes:
    """Serialise plain data to an XML document; lists repeat the element, None leaves it out."""
    element = etree.Element(root)
    fill(element, body)
    return etree.tostring(element, xml_declaration=True, encoding="UTF-8")


def fill(element: etree._Element, value: object) -> None:
    """Add plain data under ``element`` (see ``build``)."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            items: Sequence[object] = item if isinstance(item, list | tuple) else [item]
            for one in items:
                if one is None:
                    continue
                child = etree.SubElement(element, str(name))
                fill(child, one)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    else:
        element.text = str(value)
