"""Make matplotlib's SVG safe to inline in a page served with ``style-src 'self'``.

matplotlib writes ``style="fill: …"`` attributes, a ``<style>`` element and ``<metadata>``;
the CSP blocks inline styles, so the chart would lose its colours.  :func:`inline_svg` parses
the SVG, keeps only a whitelist of elements and attributes, turns style declarations into
presentation attributes, drops anything scriptable (``on*`` attributes, ``<script>``,
``<foreignObject>``, links that are not ``#fragment``s), and prefixes every ``id`` so several
charts can share a page without duplicate ids.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

SVG = "http://www.w3.org/2000/svg"
XLINK = "http://www.w3.org/1999/xlink"
ELEMENTS = {"svg", "g", "path", "defs", "use", "clipPath", "rect", "circle", "ellipse", "line",
            "polyline", "polygon", "text", "tspan", "title", "desc"}
ATTRIBUTES = {"id", "d", "x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "rx", "ry",
              "width", "height", "transform", "viewBox", "points", "clip-path", "href",
              "role", "aria-labelledby", "aria-label", "focusable", "version"}
PROPERTIES = {"fill", "fill-opacity", "stroke", "stroke-width", "stroke-opacity",
              "stroke-linecap", "stroke-linejoin", "stroke-dasharray", "stroke-dashoffset",
              "stroke-miterlimit", "opacity", "font-family", "font-size", "font-weight",
              "font-style", "text-anchor", "clip-rule", "fill-rule", "dominant-baseline"}
SAFE_VALUE = re.compile(r"^[#\w\s.,%()'\"-]*$")


def inline_svg(svg_text: str, prefix: str, *, title: str, description: str) -> str:
    """Sanitised ``<svg>`` element text with ``role="img"``, ``<title>`` and ``<desc>``."""
    root = ET.fromstring(svg_text.encode("utf-8"))
    _clean(root)
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    for el in root.iter():
        if el.get("id"):
            el.set("id", f"{prefix}-{el.get('id')}")
        href = el.get("href")
        if href is not None:
            if href.startswith("#") and href[1:] in ids:
                el.set("href", f"#{prefix}-{href[1:]}")
            else:
                del el.attrib["href"]
        clip = el.get("clip-path")
        if clip is not None:
            match = re.fullmatch(r"url\(#([\w.-]+)\)", clip)
            if match and match.group(1) in ids:
                el.set("clip-path", f"url(#{prefix}-{match.group(1)})")
            else:
                del el.attrib["clip-path"]
    for child in [c for c in root if _local(c.tag) in ("title", "desc")]:
        root.remove(child)
    desc = ET.Element(f"{{{SVG}}}desc", {"id": f"{prefix}-desc"})
    desc.text = description
    head = ET.Element(f"{{{SVG}}}title", {"id": f"{prefix}-title"})
    head.text = title
    root.insert(0, desc)
    root.insert(0, head)
    root.set("role", "img")
    root.set("aria-labelledby", f"{prefix}-title {prefix}-desc")
    for key in ("width", "height"):
        root.attrib.pop(key, None)  # scales with the page (CSS sets the width)
    ET.register_namespace("", SVG)
    return ET.tostring(root, encoding="unicode")


def _local(tag: str) -> str:
    """Tag name without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _clean(parent: ET.Element) -> None:
    """Drop unknown elements and attributes in place; styles become attributes."""
    for child in list(parent):
        if _local(child.tag) not in ELEMENTS:
            parent.remove(child)
            continue
        child.tag = f"{{{SVG}}}{_local(child.tag)}"
        _clean(child)
    attrs = dict(parent.attrib)
    parent.attrib.clear()
    style = attrs.pop("style", "")
    for raw, value in attrs.items():
        name = _local(raw) if raw.startswith("{") else raw
        if name in ATTRIBUTES or name in PROPERTIES:
            if name in PROPERTIES and not SAFE_VALUE.match(value):
                continue
            parent.set(name, value)
    for declaration in style.split(";"):
        name, _, value = (part.strip() for part in declaration.partition(":"))
        if name in PROPERTIES and value and SAFE_VALUE.match(value) and "url" not in value:
            parent.set(name, value)
