"""The item catalog: what a tokenizer learns Semantic IDs from.

Items are addressed two ways: by their external ``item_ids`` (strings, as the
source files spell them) and by row index ``0..n_items-1``, which every array
here and every model uses. Interactions store row indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from quasid.errors import DataError


@dataclass
class Catalog:
    """Items with optional content.

    Attributes:
        item_ids: external ids, one per item, unique (stored as ``str``).
        texts: content text per item (``""`` where unknown), or None; built from
            ``text_fields`` and attribute names by ``quasid.features.text``.
        text_fields: raw text columns (title, brand, description, categories, ...),
            each one string per item, as the source files give them.
        attributes: attribute ids per item (brand, categories, tags), or None.
        attribute_names: attribute id -> readable name, where known.
        group_keys: catalog grouping key per item (product family / SPU); items
            with the same non-empty key are benign collisions. None if absent.
        embeddings: content embedding matrix ``[n_items, dim]`` float32, or None.
        missing: True where the item has no usable content (benign collisions).
        name: dataset name for reports.
    """

    item_ids: np.ndarray
    texts: list[str] | None = None
    text_fields: dict[str, list[str]] = field(default_factory=dict)
    attributes: list[list[int]] | None = None
    attribute_names: dict[int, str] = field(default_factory=dict)
    group_keys: np.ndarray | None = None
    embeddings: np.ndarray | None = None
    missing: np.ndarray | None = None
    name: str = "catalog"

    def __post_init__(self) -> None:
        self.item_ids = np.asarray([str(i) for i in self.item_ids], dtype=object)
        n = len(self.item_ids)
        if n == 0:
            raise DataError(f"catalog '{self.name}' is empty: it needs at least one item")
        uniq, counts = np.unique(self.item_ids.astype(str), return_counts=True)
        if len(uniq) != n:
            dup = uniq[counts > 1][:5].tolist()
            raise DataError(
                f"catalog '{self.name}' has duplicate item ids {dup}: every item id must be unique"
            )
        for fname in ("texts", "attributes", "group_keys", "missing"):
            value = getattr(self, fname)
            if value is not None and len(value) != n:
                raise DataError(
                    f"catalog '{self.name}' field '{fname}' has {len(value)} entries "
                    f"but there are {n} items: give one entry per item"
                )
        for fname, values in self.text_fields.items():
            if len(values) != n:
                raise DataError(
                    f"catalog '{self.name}' text field '{fname}' has {len(values)} entries "
                    f"but there are {n} items"
                )
        if self.group_keys is not None:
            keys = ["" if g is None else str(g) for g in self.group_keys]
            self.group_keys = np.asarray(keys, dtype=object)
        if self.missing is not None:
            self.missing = np.asarray(self.missing, dtype=bool)
        if self.embeddings is not None:
            self.embeddings = validate_embeddings(
                self.embeddings, n_items=n, source=f"catalog '{self.name}'", item_ids=self.item_ids
            )
        self._index: dict[str, int] | None = None

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return self.n_items

    def index_of(self, item_ids: Sequence[object]) -> np.ndarray:
        """Row indices of external ids; raises ``DataError`` naming unknown ids."""
        if self._index is None:
            self._index = {str(k): i for i, k in enumerate(self.item_ids)}
        out = np.empty(len(item_ids), dtype=np.int64)
        unknown: list[str] = []
        for pos, item in enumerate(item_ids):
            idx = self._index.get(str(item))
            if idx is None:
                unknown.append(str(item))
                out[pos] = -1
            else:
                out[pos] = idx
        if unknown:
            raise DataError(
                f"{len(unknown)} item id(s) are not in catalog '{self.name}', e.g. {unknown[:5]}: "
                "add them to the catalog or drop those rows"
            )
        return out

    def with_embeddings(self, embeddings: np.ndarray) -> Catalog:
        """A copy of this catalog carrying ``embeddings`` (validated)."""
        return replace(self, embeddings=embeddings)

    def require_embeddings(self) -> np.ndarray:
        if self.embeddings is None:
            raise DataError(
                f"catalog '{self.name}' has no embeddings: run `quasid embed` or "
                "quasid.features.embed_catalog() first"
            )
        return self.embeddings

    def content_keys(self) -> np.ndarray:
        """One hashable content key per item: text if known, else the sorted attribute set.

        Two items with the same key have identical content, so a content-only
        tokenizer cannot tell them apart (a benign collision). Items with no
        content get a unique empty-content key ``""`` and are reported through
        ``missing`` instead.
        """
        keys = np.empty(self.n_items, dtype=object)
        for i in range(self.n_items):
            text = self.texts[i] if self.texts is not None else ""
            if text:
                keys[i] = "t:" + text
            elif self.attributes is not None and self.attributes[i]:
                keys[i] = "a:" + ",".join(str(a) for a in sorted(set(self.attributes[i])))
            else:
                keys[i] = ""
        return keys

    def missing_mask(self) -> np.ndarray:
        """Items with no usable content: explicit ``missing`` flags, else empty content or zero vectors."""
        if self.missing is not None:
            return self.missing.copy()
        mask = self.content_keys() == ""
        if self.texts is None and self.attributes is None:
            mask[:] = False
        if self.embeddings is not None:
            mask |= ~np.any(self.embeddings != 0, axis=1)
        return mask


def validate_embeddings(
    emb: np.ndarray,
    n_items: int | None = None,
    source: str = "embeddings",
    item_ids: Sequence[object] | None = None,
) -> np.ndarray:
    """Check an embedding matrix: 2-D, finite, one row per item. Returns float32 C-contiguous.

    ``source`` (a file or catalog) and ``item_ids`` (row -> id) make the messages name the culprit.
    """
    arr = np.asarray(emb)
    if arr.ndim != 2:
        raise DataError(f"{source}: embeddings must be a 2-D [n_items, dim] matrix, got shape {arr.shape}")
    if n_items is not None and arr.shape[0] != n_items:
        raise DataError(
            f"{source}: embeddings have {arr.shape[0]} rows but there are {n_items} items: "
            "give exactly one embedding row per item"
        )
    if arr.shape[1] == 0:
        raise DataError(f"{source}: embeddings have dimension 0")
    if not np.issubdtype(arr.dtype, np.number):
        raise DataError(f"{source}: embeddings must be numeric, got dtype {arr.dtype}")
    arr = np.ascontiguousarray(arr, dtype=np.float32)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        ids = f", item ids {[str(item_ids[r]) for r in rows]}" if item_ids is not None else ""
        raise DataError(
            f"{source}: {int(bad.sum())} embedding row(s) contain NaN or inf (rows {rows}{ids}): "
            "fix the feature pipeline or replace them with zeros to mark the items as missing"
        )
    return arr
