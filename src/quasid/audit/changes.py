"""Comparison of two SID tables of one catalog: which items moved, and at which level first.

A re-fit or an incremental assignment should move few items, and move them deep (a changed
last code keeps the decoding path; a changed first code sends the item elsewhere in the tree).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quasid.errors import DataError

#: Moved items listed by id (the counts cover all of them).
MAX_LISTED = 5000


def compare_codes(
    item_ids: np.ndarray, codes: np.ndarray, other_ids: np.ndarray, other_codes: np.ndarray
) -> dict[str, Any]:
    """Items of both tables whose semantic SID differs, with the first level that differs.

    The first ``MAX_LISTED`` moved items (by first changed level, then id) are listed by id.
    """
    if codes.shape[1] != other_codes.shape[1]:
        raise DataError(
            f"--against table has {other_codes.shape[1]} semantic levels, the audited table "
            f"{codes.shape[1]}: compare tables of the same shape"
        )
    ids, other = np.asarray(item_ids).astype(str), np.asarray(other_ids).astype(str)
    common, rows, other_rows = np.intersect1d(ids, other, assume_unique=True, return_indices=True)
    differs = codes[rows] != other_codes[other_rows]
    changed = differs.any(axis=1)
    first = np.argmax(differs, axis=1)
    n_levels = codes.shape[1]
    moved = np.flatnonzero(changed)
    order = moved[np.lexsort((common[moved], first[moved]))]
    return {
        "common_items": len(common),
        "only_here": len(ids) - len(common),
        "only_there": len(other) - len(common),
        "changed_items": int(changed.sum()),
        "changed_share": float(changed.mean()) if len(common) else 0.0,
        "first_changed_level": [int(np.count_nonzero(first[changed] == lv)) for lv in range(n_levels)],
        "changed": [
            {
                "item_id": str(common[i]),
                "level": int(first[i]),
                "sid": codes[rows[i]].tolist(),
                "against": other_codes[other_rows[i]].tolist(),
            }
            for i in order[:MAX_LISTED]
        ],
    }
