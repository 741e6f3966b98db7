"""Intrinsic quality of a Semantic ID assignment (QUASID.md section 7).

``sid_metrics`` measures a code matrix ``[N, L]`` on its own terms: how many
items collide, whether those collisions are benign (the catalog says the items
are alike) or harmful, how evenly each codebook is used, how many distinct
prefixes each depth has, and the exact Hamming-distance distribution over all
item pairs. Everything is counted by grouping (sorting packed int64 keys), so a
1M-item catalog takes seconds and 10M items fit in a few GB; no pair of items
is ever enumerated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral
from typing import Any

import numpy as np

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError
from quasid.metrics.collisions import benign_rules, collision_breakdown, content_summary
from quasid.metrics.grouping import combine_keys, pair_count
from quasid.metrics.hamming import (
    MAX_HAMMING_LEVELS,
    distance_histogram,
    histogram_report,
    subset_agreement,
)

#: Per-level code counts use ``np.bincount`` up to this codebook size, ``np.unique`` above.
_BINCOUNT_LIMIT = 1 << 24


def sid_metrics(
    codes: np.ndarray,
    codebook_size: int | Sequence[int],
    catalog: Catalog | None = None,
    semantic_levels: int | None = None,
) -> dict[str, Any]:
    """Intrinsic metrics of SIDs ``codes[i] = (c_i^1 .. c_i^L)`` as a JSON-ready dict.

    Args:
        codes: integer matrix ``[N, L]``, ``0 <= codes[:, l] < codebook_size[l]``.
        codebook_size: K for every level, or one K per level (all L columns).
        catalog: when given (length N), collisions are split into benign and
            harmful and a content-distinct Hamming distribution is added;
            otherwise those keys are ``None``.
        semantic_levels: collisions and Hamming distances use only the first
            this-many columns, so a trailing disambiguation token (which makes
            every SID unique by construction) does not hide real collisions.
            Per-level and prefix figures still cover all L columns.

    Raises:
        DataError: malformed codes (not 2-D integers, negative, >= K) or a
            catalog of the wrong length.
        ConfigError: bad ``codebook_size`` or ``semantic_levels``.
    """
    arr, sizes = _validate(codes, codebook_size)
    n, n_levels = arr.shape
    sem = _semantic_levels(semantic_levels, n_levels)
    if catalog is not None and catalog.n_items != n:
        raise DataError(
            f"catalog '{catalog.name}' has {catalog.n_items} items but codes have {n} rows: "
            "give one SID row per catalog item, in catalog order"
        )
    sem_codes, sem_sizes = arr[:, :sem], sizes[:sem]
    out: dict[str, Any] = {
        "n_items": n,
        "n_levels": n_levels,
        "semantic_levels": sem,
        "codebook_size": sizes,
    }
    sid_key = combine_keys([sem_codes[:, lvl] for lvl in range(sem)], sem_sizes)
    sid_sizes = _sid_groups(sid_key, out)
    out.update(_per_level(arr, sizes))

    rules, missing = benign_rules(catalog) if catalog is not None else (None, None)
    hamming_ok = sem <= MAX_HAMMING_LEVELS
    prefix_groups: dict[int, int] = {}
    out["hamming_distribution"] = None
    out["hamming_distribution_content_distinct"] = None
    if hamming_ok:
        groups, agree = subset_agreement(sem_codes, sem_sizes)
        prefix_groups = {d: groups[(1 << d) - 1] for d in range(1, sem + 1)}
        out["hamming_distribution"] = histogram_report(distance_histogram(agree, sem))
        if rules is not None:
            _, same = subset_agreement(sem_codes, sem_sizes, rules["content"], 2 * n)
            distinct = [a - s for a, s in zip(agree, same, strict=True)]
            out["hamming_distribution_content_distinct"] = histogram_report(distance_histogram(distinct, sem))
    prefixes = [
        prefix_groups[d] if d in prefix_groups else _distinct_prefixes(arr, sizes, d)
        for d in range(1, n_levels + 1)
    ]
    out["distinct_prefixes"] = prefixes
    out["prefix_diversity"] = [p / n for p in prefixes]
    out["composition_diversity"] = out["n_unique_sids"] / n

    catalog_keys = (
        "benign_pairs",
        "harmful_pairs",
        "benign_pairs_by_rule",
        "harmful_colliding_items",
        "harmful_collision_rate",
        "benign_collision_rate",
        "content_duplicate_rate",
        "content_duplicate_items",
        "missing_rate",
    )
    out.update(dict.fromkeys(catalog_keys))
    if rules is not None and missing is not None:
        out.update(collision_breakdown(sid_key, sid_sizes, rules))
        out.update(content_summary(rules, missing))
    return out


def _validate(codes: np.ndarray, codebook_size: int | Sequence[int]) -> tuple[np.ndarray, list[int]]:
    """Check codes and codebook sizes; returns int64 codes and one K per level."""
    arr = np.asarray(codes)
    if arr.ndim != 2:
        raise DataError(f"codes must be a 2-D [n_items, n_levels] integer matrix, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"codes must have at least one item and one level, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise DataError(f"codes must be integers, got dtype {arr.dtype}: cast SIDs to an integer type")
    n_levels = arr.shape[1]
    if isinstance(codebook_size, Integral) and not isinstance(codebook_size, bool):
        sizes = [int(codebook_size)] * n_levels
    elif isinstance(codebook_size, Sequence | np.ndarray) and not isinstance(codebook_size, str):
        sizes = list(codebook_size)
        if len(sizes) != n_levels:
            raise ConfigError(
                f"codebook_size has {len(sizes)} entries but codes have {n_levels} levels: "
                "give one codebook size per level (disambiguation column included) or a single int"
            )
    else:
        raise ConfigError(f"codebook_size must be an int or a sequence of ints, got {codebook_size!r}")
    for lvl, k in enumerate(sizes):
        if not isinstance(k, Integral) or isinstance(k, bool) or int(k) < 1:
            raise ConfigError(f"codebook_size for level {lvl} must be a positive integer, got {k!r}")
    sizes = [int(k) for k in sizes]
    for lvl, k in enumerate(sizes):
        col = arr[:, lvl]
        low, high = int(col.min()), int(col.max())
        if low < 0:
            item = int(np.argmin(col))
            raise DataError(f"codes level {lvl} has negative code {low} (item {item}): codes must be >= 0")
        if high >= k:
            item = int(np.argmax(col))
            raise DataError(
                f"codes level {lvl} has code {high} (item {item}) but its codebook size is {k}: "
                "codes must be < codebook_size for their level"
            )
    return arr.astype(np.int64, copy=False), sizes


def _semantic_levels(semantic_levels: int | None, n_levels: int) -> int:
    if semantic_levels is None:
        return n_levels
    if isinstance(semantic_levels, bool) or not isinstance(semantic_levels, Integral):
        raise ConfigError(f"semantic_levels must be an int, got {semantic_levels!r}")
    if not 1 <= int(semantic_levels) <= n_levels:
        raise ConfigError(
            f"semantic_levels must be between 1 and the number of levels ({n_levels}), got {semantic_levels}"
        )
    return int(semantic_levels)


def _distinct_prefixes(arr: np.ndarray, sizes: list[int], depth: int) -> int:
    """Distinct code paths of the first ``depth`` levels."""
    return pair_count(combine_keys([arr[:, lvl] for lvl in range(depth)], sizes[:depth]))[0]


def _sid_groups(sid_key: np.ndarray, out: dict[str, Any]) -> np.ndarray:
    """Full-SID collision figures into ``out``; returns each item's SID group size."""
    n = len(sid_key)
    _, inverse, counts = np.unique(sid_key, return_inverse=True, return_counts=True)
    counts = counts.astype(np.int64)
    per_item = counts[inverse.reshape(-1)]
    hist_sizes, hist_counts = np.unique(counts, return_counts=True)
    colliding_items = int(np.count_nonzero(per_item >= 2))
    out.update(
        {
            "collision_rate": colliding_items / n,
            "colliding_items": colliding_items,
            "n_unique_sids": len(counts),
            "n_colliding_sids": int(np.count_nonzero(counts >= 2)),
            "max_items_per_sid": int(counts.max()),
            "items_per_sid_hist": {str(int(s)): int(c) for s, c in zip(hist_sizes, hist_counts, strict=True)},
            "colliding_pairs": int((counts * (counts - 1) // 2).sum()),
        }
    )
    return per_item


def _per_level(arr: np.ndarray, sizes: list[int]) -> dict[str, list[Any]]:
    """Codebook usage per level: codes used, utilisation, normalised entropy, perplexity.

    Entropy is divided by log K so 1.0 means every code equally used; with
    K = 1 the only code is trivially used evenly, so entropy is 1.0.
    """
    n = arr.shape[0]
    used, util, ent, perp = [], [], [], []
    for lvl, k in enumerate(sizes):
        col = arr[:, lvl]
        if k <= _BINCOUNT_LIMIT:
            counts = np.bincount(col, minlength=k)
            counts = counts[counts > 0]
        else:
            counts = np.unique(col, return_counts=True)[1]
        p = counts / n
        h = float(-(p * np.log(p)).sum()) + 0.0  # + 0.0 turns -0.0 into 0.0
        used.append(len(counts))
        util.append(len(counts) / k)
        ent.append(h / math.log(k) if k > 1 else 1.0)
        perp.append(math.exp(h))
    return {"codes_used": used, "utilisation": util, "entropy": ent, "perplexity": perp}
