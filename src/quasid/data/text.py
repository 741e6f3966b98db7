"""Item content text: what the sentence encoder reads, and what reports quote of an item.

The text is built from whatever the catalog has, in a fixed field order so the
same item always gives the same string (and the same embedding-cache key). It lives with
the catalog, below ``quasid.features``, because the readers fill ``Catalog.texts`` with it.
"""

from __future__ import annotations

import ast
import re

from quasid.data.catalog import Catalog

DEFAULT_FIELDS: tuple[str, ...] = ("title", "brand", "categories", "description")
_WS = re.compile(r"\s+")


def clean_text(value: object, max_chars: int = 1000) -> str:
    """Normalise a raw field: unpack stringified lists (Amazon 2018 style), collapse spaces, cut."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        text = " ".join(clean_text(v, max_chars) for v in value)
    else:
        text = str(value)
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            if isinstance(parsed, (list, tuple)):
                text = " ".join(str(v) for v in parsed)
    text = _WS.sub(" ", text).strip()
    return text[:max_chars]


def item_texts(
    catalog: Catalog, fields: tuple[str, ...] = DEFAULT_FIELDS, max_chars: int = 1000
) -> list[str]:
    """One content string per item: ``field: value`` parts joined by ``; ``.

    Attribute names (brand + category path in the S3-Rec sets) are appended as
    ``attributes: a, b, c`` when the catalog knows them. Items with nothing
    known get ``""`` (flagged as missing content downstream).
    """
    out: list[str] = []
    extra = [f for f in catalog.text_fields if f not in fields]
    order = [f for f in fields if f in catalog.text_fields] + extra
    for i in range(catalog.n_items):
        parts = []
        for name in order:
            value = clean_text(catalog.text_fields[name][i], max_chars)
            if value:
                parts.append(f"{name}: {value}")
        if catalog.attributes is not None and catalog.attribute_names:
            names = [
                catalog.attribute_names[a] for a in catalog.attributes[i] if a in catalog.attribute_names
            ]
            if names:
                parts.append("attributes: " + ", ".join(names))
        out.append("; ".join(parts)[: max_chars * 2])
    return out


def attach_texts(catalog: Catalog, fields: tuple[str, ...] = DEFAULT_FIELDS) -> Catalog:
    """Fill ``catalog.texts`` from its text fields / attribute names (in place); returns it."""
    if catalog.text_fields or catalog.attribute_names:
        catalog.texts = item_texts(catalog, fields)
    return catalog
