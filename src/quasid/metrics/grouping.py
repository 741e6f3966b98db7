"""Grouping arithmetic: count equal-key pairs without ever enumerating pairs.

Every pair count in ``quasid.metrics`` reduces to "how many unordered pairs of
rows agree on these label columns": combine the columns into one int64 key per
row, sort (``np.unique``) and sum ``C(n, 2)`` over the groups. That is
O(N log N) time and O(N) memory, so it scales to catalogs of 10M items where an
O(N^2) pair loop would not.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_INT64_MAX = int(np.iinfo(np.int64).max)


def densify(key: np.ndarray) -> tuple[np.ndarray, int]:
    """Relabel ``key`` to ``0..n_groups-1`` (same equalities); returns (labels, n_groups)."""
    uniq, inverse = np.unique(key, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64, copy=False), len(uniq)


def combine_keys(columns: Sequence[np.ndarray], radices: Sequence[int]) -> np.ndarray:
    """One int64 key per row, equal exactly when every column is equal.

    Column ``c`` must hold values in ``0..radices[c]-1``. Columns are packed
    mixed-radix into one int64 while the product of radices fits; when the next
    column would overflow, the key built so far is densified to ``0..G-1``
    (G <= N) and packing continues, so this never needs ``np.unique(axis=0)``
    on a 2-D array and never overflows.
    """
    if len(columns) == 0:
        raise ValueError("combine_keys needs at least one column")
    key = np.asarray(columns[0], dtype=np.int64).copy()
    bound = int(radices[0])
    for col, radix in zip(columns[1:], radices[1:], strict=True):
        col = np.asarray(col, dtype=np.int64)
        radix = int(radix)
        if bound * radix > _INT64_MAX:
            key, bound = densify(key)
            if bound * radix > _INT64_MAX:
                col, radix = densify(col)
        key *= radix
        key += col
        bound *= radix
    return key


def pair_count(key: np.ndarray) -> tuple[int, int]:
    """(number of distinct keys, number of unordered row pairs with equal keys)."""
    if key.size == 0:
        return 0, 0
    _, counts = np.unique(key, return_counts=True)
    counts = counts.astype(np.int64)
    return len(counts), int((counts * (counts - 1) // 2).sum())


def group_sizes(key: np.ndarray) -> np.ndarray:
    """Per row, how many rows share its key (itself included)."""
    if key.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    return counts.astype(np.int64)[inverse.reshape(-1)]


def factorize(values: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """Integer labels for arbitrary hashable values, ``0..2N-1``.

    Rows where ``exclude`` is True get a label of their own (never equal to any
    other row's), so an "equal label" relation treats them as singletons: used
    for empty content keys and empty group keys, which must not make two items
    look alike. Strings and numbers are hashed by pyarrow (no Python loop: 10M
    keys in about a second); other values fall back to a dict.
    """
    n = len(values)
    try:
        encoded = pc.dictionary_encode(pa.array(values), null_encoding="encode")
        labels = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError):
        table: dict[object, int] = {}
        labels = np.empty(n, dtype=np.int64)
        for i, value in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
            labels[i] = table.setdefault(value, len(table))
    if exclude is not None:
        idx = np.flatnonzero(exclude)
        labels[idx] = n + idx
    return labels
