"""The item catalog: what a tokenizer learns Semantic IDs from.

Items are addressed two ways: by their external ``item_ids`` (strings, as the
source files spell them) and by row index ``0..n_items-1``, which every array
here and every model uses. Interactions store row indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quasid.errors import DataError


@dataclass
class Catalog:
    """Items with optional content.

    Attributes:
        item_ids: external ids, one per item, unique (stored as ``str``).
        texts: content text per item (``""`` where unknown), or None; built from
            ``text_fields`` and attribute names by ``quasid.data.text``.
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
        ``missing`` instead. Keys look like ``"t:<text>"`` or ``"a:3,17,40"``.
        """
        keys = pa.repeat(_large(""), self.n_items)
        if self.attributes is not None:
            sets, has_attrs = _attribute_sets(self.attributes, self.n_items)
            joined = pc.binary_join_element_wise(_large("a:"), pc.binary_join(sets, _large(",")), _large(""))
            keys = pc.if_else(pa.array(has_attrs), joined, keys)
        if self.texts is not None:
            texts, has_text = _texts(self.texts)
            keys = pc.if_else(
                pa.array(has_text), pc.binary_join_element_wise(_large("t:"), texts, _large("")), keys
            )
        return np.asarray(keys.to_numpy(zero_copy_only=False), dtype=object)

    def content_labels(self) -> np.ndarray:
        """``content_keys`` as int64 labels, equal exactly when the keys are equal; ``-1`` for no content.

        Computed column-wise in pyarrow (dictionary encoding of the texts and of the
        sorted attribute sets), with no Python object per item: the collision audit
        of a 10M-item catalog uses this.
        """
        labels = np.full(self.n_items, -1, dtype=np.int64)
        if self.attributes is not None:  # offset by n: never equal to a text label
            sets, has_attrs = _attribute_sets(self.attributes, self.n_items)
            labels[has_attrs] = self.n_items + _codes(pc.binary_join(sets, _large(",")))[has_attrs]
        if self.texts is not None:
            texts, has_text = _texts(self.texts)
            labels[has_text] = _codes(texts)[has_text]
        return labels

    def missing_mask(self, content_labels: np.ndarray | None = None) -> np.ndarray:
        """Items with no usable content: explicit ``missing`` flags, else empty content or zero vectors.

        ``content_labels``: this catalog's ``content_labels()``, when the caller already has them.
        """
        if self.missing is not None:
            return self.missing.copy()
        if self.texts is None and self.attributes is None:
            mask = np.zeros(self.n_items, dtype=bool)
        else:
            mask = (self.content_labels() if content_labels is None else content_labels) < 0
        if self.embeddings is not None:
            for lo in range(0, self.n_items, _ROW_BLOCK):  # blocks: no [N, D] temporary
                mask[lo : lo + _ROW_BLOCK] |= ~self.embeddings[lo : lo + _ROW_BLOCK].any(axis=1)
        return mask


_ROW_BLOCK = 65536


def _texts(texts: Sequence[object]) -> tuple[pa.Array, np.ndarray]:
    """Texts as a pyarrow string array, and where they are non-empty."""
    try:
        arr = pa.array(texts, pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
        arr = pa.array([None if t is None else str(t) for t in texts], pa.large_string())
    has_text = pc.fill_null(pc.greater(pc.binary_length(arr), 0), False)
    return arr, has_text.to_numpy(zero_copy_only=False)


def _attribute_sets(attributes: list[list[int]], n: int) -> tuple[pa.Array, np.ndarray]:
    """Each item's distinct attribute ids, sorted, as string lists (sorted in NumPy over the flattened
    ids, not per item); and which items have any."""
    try:
        lists = pa.array(attributes, pa.large_list(pa.int64()))
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):  # non-integer ids: sort per item
        rows = [sorted({str(a) for a in attrs}) if attrs else [] for attrs in attributes]
        sets = pa.array(rows, pa.large_list(pa.large_string()))
        return sets, pc.list_value_length(sets).to_numpy() > 0
    flat = pc.list_flatten(lists).to_numpy()
    parent = pc.list_parent_indices(lists).to_numpy()
    order = np.lexsort((flat, parent))
    flat, parent = flat[order], parent[order]
    first = np.ones(len(flat), dtype=bool)
    first[1:] = (flat[1:] != flat[:-1]) | (parent[1:] != parent[:-1])
    counts = np.bincount(parent[first], minlength=n)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]), pa.int64())
    sets = pa.LargeListArray.from_arrays(offsets, pa.array(flat[first]).cast(pa.large_string()))
    return sets, counts > 0


def _codes(values: pa.Array) -> np.ndarray:
    """Dictionary codes of ``values``: equal exactly where the values are equal."""
    return pc.fill_null(pc.dictionary_encode(values).indices, -1).to_numpy().astype(np.int64)


def _large(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


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
