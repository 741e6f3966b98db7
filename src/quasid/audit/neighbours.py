"""Hamming neighbours of a SID: the items one code away, level by level.

A harmful collision group is crowded when its neighbourhood is too: items at Hamming distance 1
share all but one level with it, so a recommender decoding the SID confuses them next. Only the
SIDs a report lists are asked about, so for each level l the codes are keyed on every other level
(one packed int64 per item, no sort of the catalog) and matched against the few asked-for keys
by binary search; the matching items are then sorted out per SID.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quasid.metrics.grouping import combine_keys


def hamming_neighbours(
    codes: np.ndarray, radices: Sequence[int], rows: Sequence[int], limit: int = 5
) -> list[list[dict[str, object]]]:
    """For each of ``rows``, per level: how many items differ from its SID there only, and up to ``limit``."""
    rows = np.asarray(rows, dtype=np.int64)
    n_levels = codes.shape[1]
    out: list[list[dict[str, object]]] = [[] for _ in rows]
    for level in range(n_levels):
        others = [lv for lv in range(n_levels) if lv != level]
        if others:
            key = combine_keys([codes[:, lv] for lv in others], [int(radices[lv]) for lv in others])
        else:
            key = np.zeros(len(codes), dtype=np.int64)
        wanted = np.unique(key[rows])
        pos = np.clip(np.searchsorted(wanted, key), 0, len(wanted) - 1)
        hits = np.flatnonzero(wanted[pos] == key)  # items sharing every other level with an asked-for SID
        hit_keys, hit_codes = key[hits], codes[hits, level]
        for q, row in enumerate(rows):
            mine = hits[(hit_keys == key[row]) & (hit_codes != codes[row, level])]
            out[q].append({"level": level, "items": len(mine), "rows": mine[:limit].tolist()})
    return out
