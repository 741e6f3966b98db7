"""Exact Hamming-distance distribution of SIDs over all item pairs, without pairs.

For every subset S of levels, A(S) = number of unordered pairs that agree on
every level in S (and maybe on an extra label) is a grouping count
(``grouping.pair_count``). Pairs agreeing on *exactly* S follow by Möbius
inversion over supersets: E(S) = sum_{T ⊇ S} (-1)^{|T|-|S|} A(T). A pair that
agrees on exactly S has Hamming distance L - |S|. Cost: 2^L sorts of N keys,
O(2^L N log N) time, O(N) memory, exact integers throughout.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from quasid.metrics.grouping import combine_keys, group_sizes, pair_count

#: Above this many levels the 2^L subset sweep is too slow; callers skip it.
MAX_HAMMING_LEVELS = 16


def subset_agreement(
    codes: np.ndarray,
    radices: Sequence[int],
    label: np.ndarray | None = None,
    label_radix: int = 0,
) -> tuple[list[int], list[int]]:
    """For each level subset (bitmask, bit l = level l): (distinct keys, agreeing pairs).

    With ``label``, pairs must also share the label (e.g. a content key); rows
    whose label is unique are dropped first, since they cannot form such pairs.
    """
    L = codes.shape[1]
    if label is not None:
        keep = group_sizes(label) >= 2
        codes, label = codes[keep], label[keep]
    n_groups = [0] * (1 << L)
    pairs = [0] * (1 << L)
    m_rows = codes.shape[0]
    for mask in range(1 << L):
        levels = [lvl for lvl in range(L) if mask >> lvl & 1]
        cols: list[np.ndarray] = [codes[:, lvl] for lvl in levels]
        rads: list[int] = [int(radices[lvl]) for lvl in levels]
        if label is not None:
            cols.insert(0, label)
            rads.insert(0, label_radix)
        if not cols:
            n_groups[mask], pairs[mask] = min(m_rows, 1), m_rows * (m_rows - 1) // 2
            continue
        n_groups[mask], pairs[mask] = pair_count(combine_keys(cols, rads))
    return n_groups, pairs


def exact_from_at_least(at_least: Sequence[int], n_levels: int) -> list[int]:
    """Möbius inversion over supersets: pairs agreeing on >= S -> on exactly S."""
    exact = [int(v) for v in at_least]
    for bit in range(n_levels):
        step = 1 << bit
        for mask in range(1 << n_levels):
            if not mask & step:
                exact[mask] -= exact[mask | step]
    return exact


def distance_histogram(at_least: Sequence[int], n_levels: int) -> list[int]:
    """Pairs at Hamming distance h = 0..L from the agreement counts of every subset."""
    exact = exact_from_at_least(at_least, n_levels)
    hist = [0] * (n_levels + 1)
    for mask, count in enumerate(exact):
        hist[n_levels - mask.bit_count()] += count
    return hist


def histogram_report(hist: Sequence[int]) -> dict[str, object]:
    """JSON-ready form of a Hamming histogram: pairs and fraction per distance."""
    total = int(sum(hist))
    return {
        "h": list(range(len(hist))),
        "pairs": [int(v) for v in hist],
        "fraction": [float(v) / total if total else 0.0 for v in hist],
        "total_pairs": total,
    }
