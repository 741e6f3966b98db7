"""Hamming neighbours of a SID: the items one code away, level by level.

A harmful collision group is crowded when its neighbourhood is too: items at Hamming distance 1
share all but one level with it, so a recommender decoding the SID confuses them next. For each
level l the codes are keyed on every other level and sorted once; the neighbours of a SID at
level l are then the rows of its key with another code at l (one binary search).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quasid.metrics.grouping import combine_keys


class HammingNeighbours:
    """Look-ups of the items at Hamming distance 1 from a given item's SID, per level."""

    def __init__(self, codes: np.ndarray, radices: Sequence[int]) -> None:
        self.codes = codes
        n_levels = codes.shape[1]
        self._sorted: list[tuple[np.ndarray, np.ndarray]] = []
        for level in range(n_levels):
            others = [lv for lv in range(n_levels) if lv != level]
            if not others:
                key = np.zeros(len(codes), dtype=np.int64)
            else:
                key = combine_keys([codes[:, lv] for lv in others], [int(radices[lv]) for lv in others])
            perm = np.argsort(key, kind="stable")
            self._sorted.append((key[perm], perm))
        self._inverse: list[np.ndarray | None] = [None] * n_levels

    def of(self, row: int, limit: int = 5) -> list[dict[str, object]]:
        """Per level: how many items differ from ``row``'s SID there only, and up to ``limit`` of them."""
        out = []
        own = self.codes[row]
        for level, (keys, perm) in enumerate(self._sorted):
            pos = self._position(level, row)
            lo, hi = np.searchsorted(keys, keys[pos], "left"), np.searchsorted(keys, keys[pos], "right")
            rows = perm[lo:hi]
            rows = rows[self.codes[rows, level] != own[level]]
            out.append({"level": level, "items": len(rows), "rows": np.sort(rows)[:limit].tolist()})
        return out

    def _position(self, level: int, row: int) -> int:
        """Where ``row`` stands in level ``level``'s sorted order (the inverse permutation, made once)."""
        inverse = self._inverse[level]
        if inverse is None:
            perm = self._sorted[level][1]
            inverse = np.empty_like(perm)
            inverse[perm] = np.arange(len(perm))
            self._inverse[level] = inverse
        return int(inverse[row])
