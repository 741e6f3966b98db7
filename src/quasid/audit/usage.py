"""How the code space is used: prefix fan-out and where the popular items sit (popularity allocation).

Per-level utilisation and entropy come from ``quasid.metrics.sid_metrics``. What this adds:

- fan-out: for each prefix of depth d, how many distinct codes follow it at level d + 1. A
  tree whose prefixes mostly have one child wastes the deeper levels; one whose prefixes are
  full crowds its items.
- popularity allocation: how many codes per level and prefixes per depth the most popular
  10 % of items (by training events) occupy, against a random 10 % of the catalog. Popular
  items packed into few prefixes share their decoding path with each other, which is where
  a generative recommender spends most of its probability mass.
- cold reach: for items no training event mentions (cold start), how many sit on a code or a
  prefix that no warm item uses. Under a full-softmax loss such a token is only ever a negative
  in training, so a cold item placed on it is pushed down before anyone asks for it.
- cold neighbour agreement: how many cold items share their prefix with their nearest warm item
  in content. A recommender that sums token vectors can only carry a cold item towards the warm
  items whose tokens it shares, so a table whose codes follow content there serves cold items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quasid.metrics.grouping import combine_keys, densify

#: Share of the catalog that counts as the popular head.
HEAD_SHARE = 0.10
#: Random subsets the head is compared with (their mean).
RANDOM_DRAWS = 5


#: Prefix labels stay packed (code path as one mixed-radix number, no sort) while they fit under
#: this bound or 4 N, so bincount can count them; wider prefixes are relabelled 0..G-1 (a sort).
PACKED_BOUND = 1 << 24


@dataclass
class Prefixes:
    """Per depth 1..L, one label per item (equal iff the first d codes are equal), each below ``bounds[d-1]``.

    ``packed[d-1]``: the label is the code path itself, ``label_d = label_{d-1} * K_d + code_d``, so a
    prefix's parent is ``label // K_d`` without any look-up.
    """

    labels: list[np.ndarray]
    bounds: list[int]
    packed: list[bool]
    radices: list[int]


def prefix_keys(codes: np.ndarray, radices: Sequence[int]) -> Prefixes:
    """Prefix labels per depth: packed while small, else dense."""
    n = len(codes)
    limit = max(PACKED_BOUND, 4 * n)
    labels, bounds, packed = [], [], []
    key, bound, is_packed = np.zeros(n, dtype=np.int64), 1, True
    for depth in range(codes.shape[1]):
        k = int(radices[depth])
        if bound * k <= limit:
            key = key * k + codes[:, depth]
            bound *= k
        else:
            key = combine_keys([key, codes[:, depth]], [bound, k])
            key, bound = densify(key)
            is_packed = False
        labels.append(key)
        bounds.append(bound)
        packed.append(is_packed)
    return Prefixes(labels, bounds, packed, [int(r) for r in radices])


def fan_out(prefixes: Prefixes) -> list[dict[str, Any]]:
    """Per depth d < L: distinct children per prefix (mean, median, max, share of single-child prefixes)."""
    out = []
    labels = prefixes.labels
    for depth in range(1, len(labels)):
        parent, child = labels[depth - 1], labels[depth]
        if prefixes.packed[depth]:  # children present, and their parents by arithmetic: no sort
            present = np.flatnonzero(np.bincount(child, minlength=prefixes.bounds[depth]))
            children = np.bincount(present // prefixes.radices[depth], minlength=prefixes.bounds[depth - 1])
        else:
            _, first = np.unique(child, return_index=True)
            children = np.bincount(parent[first], minlength=prefixes.bounds[depth - 1])
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
    prefixes: Prefixes, codes: np.ndarray, counts: np.ndarray, seed: int = 0
) -> dict[str, Any]:
    """Codes per level and prefixes per depth held by the top-10 % items, against random 10 % subsets."""
    n = len(counts)
    k = max(1, round(HEAD_SHARE * n))
    head = np.lexsort((np.arange(n), -counts))[:k]
    rng = np.random.default_rng(seed)
    draws = [rng.choice(n, k, replace=False) for _ in range(RANDOM_DRAWS)]

    def occupied(rows: np.ndarray) -> tuple[list[int], list[int]]:
        per_level = [len(np.unique(codes[rows, lv])) for lv in range(codes.shape[1])]
        per_depth = [len(np.unique(p[rows])) for p in prefixes.labels]
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
        "random_prefixes": [float(np.mean([r[1][d] for r in random])) for d in range(len(prefixes.labels))],
        "head_prefix_ratio": [
            h / float(np.mean([r[1][d] for r in random])) for d, h in enumerate(head_prefixes)
        ],
    }


def _cold_mask(n: int, cold_items: np.ndarray, caller: str) -> np.ndarray:
    """Boolean mask of the ``cold_items`` rows among ``n``; ValueError unless both kinds are present."""
    is_cold = np.zeros(n, dtype=bool)
    is_cold[np.asarray(cold_items, dtype=np.int64)] = True
    if not is_cold.any() or is_cold.all():
        raise ValueError(f"{caller} needs both cold and warm items")
    return is_cold


def cold_reach(prefixes: Prefixes, codes: np.ndarray, cold_items: np.ndarray) -> dict[str, Any]:
    """Shares of the cold items whose code at each level, and whose prefix at each depth, no warm item has.

    ``cold_items``: row indices of the items withheld from training. Depth d's share counts the
    cold items whose first d codes match no warm item's (depth L: the whole SID is new).
    """
    is_cold = _cold_mask(len(codes), cold_items, "cold_reach")

    def unseen(labels: np.ndarray) -> float:
        return float(np.mean(~np.isin(labels[is_cold], labels[~is_cold])))

    return {
        "cold_items": int(is_cold.sum()),
        "unseen_code": [unseen(codes[:, level]) for level in range(codes.shape[1])],
        "unseen_prefix": [unseen(labels) for labels in prefixes.labels],
    }


def cold_neighbour_agreement(
    prefixes: Prefixes, embeddings: np.ndarray, cold_items: np.ndarray
) -> list[float]:
    """Per depth 1..L, the share of cold items whose prefix equals their nearest warm item's.

    The nearest warm item is the one of highest cosine similarity between ``embeddings`` rows
    (the content vectors the tokenizers read): an exact L2 search on the unit-normalised rows.
    """
    from quasid.quantize.kmeans import nearest  # faiss: loaded only by the callers that search

    n = len(embeddings)
    is_cold = _cold_mask(n, cold_items, "cold_neighbour_agreement")
    if len(prefixes.labels[0]) != n:
        raise ValueError(f"prefixes cover {len(prefixes.labels[0])} items but embeddings have {n} rows")
    x = np.asarray(embeddings, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cold, warm = np.flatnonzero(is_cold), np.flatnonzero(~is_cold)
    nearest_warm = warm[nearest(x[cold], x[warm])]
    return [float(np.mean(labels[cold] == labels[nearest_warm])) for labels in prefixes.labels]
