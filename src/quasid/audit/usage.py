"""How the code space is used: prefix fan-out and where the popular items sit (popularity allocation).

Per-level utilisation and entropy come from ``quasid.metrics.sid_metrics``. What this adds:

- fan-out: for each prefix of depth d, how many distinct codes follow it at level d + 1. A
  tree whose prefixes mostly have one child wastes the deeper levels; one whose prefixes are
  full crowds its items.
- popularity allocation: how many codes per level and prefixes per depth the most popular
  10 % of items (by training events) occupy, against a random 10 % of the catalog. Popular
  items packed into few prefixes share their decoding path with each other, which is where
  a generative recommender spends most of its probability mass.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quasid.metrics.grouping import combine_keys, densify

#: Share of the catalog that counts as the popular head.
HEAD_SHARE = 0.10
#: Random subsets the head is compared with (their mean).
RANDOM_DRAWS = 5


def prefix_keys(codes: np.ndarray, radices: Sequence[int]) -> list[np.ndarray]:
    """Dense prefix labels per depth 1..L (equal iff the first d codes are equal)."""
    out = []
    for depth in range(1, codes.shape[1] + 1):
        key = combine_keys([codes[:, lv] for lv in range(depth)], [int(r) for r in radices[:depth]])
        out.append(densify(key)[0])
    return out


def fan_out(prefixes: list[np.ndarray]) -> list[dict[str, Any]]:
    """Per depth d < L: distinct children per prefix (mean, median, max, share of single-child prefixes)."""
    out = []
    for depth in range(1, len(prefixes)):
        parent, child = prefixes[depth - 1], prefixes[depth]
        _, first = np.unique(child, return_index=True)
        children = np.bincount(parent[first], minlength=int(parent.max()) + 1)
        children = children[children > 0]
        out.append(
            {
                "depth": depth,
                "prefixes": len(children),
                "mean_children": float(children.mean()),
                "median_children": float(np.median(children)),
                "max_children": int(children.max()),
                "single_child_share": float(np.mean(children == 1)),
            }
        )
    return out


def popularity_allocation(
    prefixes: list[np.ndarray], codes: np.ndarray, counts: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Codes per level and prefixes per depth held by the top-10 % items, against random 10 % subsets."""
    n = len(counts)
    k = max(1, round(HEAD_SHARE * n))
    head = np.lexsort((np.arange(n), -counts))[:k]
    rng = np.random.default_rng(seed)
    draws = [rng.choice(n, k, replace=False) for _ in range(RANDOM_DRAWS)]

    def occupied(rows: np.ndarray) -> tuple[list[int], list[int]]:
        per_level = [len(np.unique(codes[rows, lv])) for lv in range(codes.shape[1])]
        per_depth = [len(np.unique(p[rows])) for p in prefixes]
        return per_level, per_depth

    head_codes, head_prefixes = occupied(head)
    random = [occupied(rows) for rows in draws]
    total = float(counts.sum())
    return {
        "head_items": k,
        "head_event_share": float(counts[head].sum() / total) if total else 0.0,
        "head_codes": head_codes,
        "random_codes": [float(np.mean([r[0][lv] for r in random])) for lv in range(codes.shape[1])],
        "head_prefixes": head_prefixes,
        "random_prefixes": [float(np.mean([r[1][d] for r in random])) for d in range(len(prefixes))],
        "head_prefix_ratio": [
            h / float(np.mean([r[1][d] for r in random])) for d, h in enumerate(head_prefixes)
        ],
    }
