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


def field_texts(
    catalog: Catalog, fields: tuple[str, ...] = DEFAULT_FIELDS, max_chars: int = 1000
) -> dict[str, list[str]]:
    """Per content field, one ``field: value`` string per item (``""`` where the item lacks it).

    Fields come in ``fields`` order, then any other text field of the catalog; attribute
    names (brand + category path in the S3-Rec sets) are the last field, ``attributes``.
    """
    extra = [f for f in catalog.text_fields if f not in fields]
    order = [f for f in fields if f in catalog.text_fields] + extra
    out: dict[str, list[str]] = {}
    for name in order:
        values = (clean_text(v, max_chars) for v in catalog.text_fields[name])
        out[name] = [f"{name}: {v}" if v else "" for v in values]
    if catalog.attributes is not None and catalog.attribute_names:
        known = catalog.attribute_names
        out["attributes"] = []
        for attrs in catalog.attributes:
            names = [known[a] for a in attrs if a in known]
            out["attributes"].append("attributes: " + ", ".join(names) if names else "")
    return out


def item_texts(
    catalog: Catalog, fields: tuple[str, ...] = DEFAULT_FIELDS, max_chars: int = 1000
) -> list[str]:
    """One content string per item: the :func:`field_texts` parts joined by ``; ``.

    Items with nothing known get ``""`` (flagged as missing content downstream).
    """
    per_field = list(field_texts(catalog, fields, max_chars).values())
    return (
        ["; ".join(p for p in parts if p)[: max_chars * 2] for parts in zip(*per_field, strict=True)]
        if per_field
        else [""] * catalog.n_items
    )


def attach_texts(catalog: Catalog, fields: tuple[str, ...] = DEFAULT_FIELDS) -> Catalog:
    """Fill ``catalog.texts`` from its text fields / attribute names (in place); returns it."""
    if catalog.text_fields or catalog.attribute_names:
        catalog.texts = item_texts(catalog, fields)
    return catalog
