"""Behaviour alignment: do the code prefixes follow what users do?

Co-occurring pairs are consecutive items of a user's training sequence (the next-item
transitions a sequential recommender learns). At each depth d the audit measures the share
of those pairs whose SIDs share their first d codes, against two baselines computed exactly
from the prefix groups (no sampling): uniform random item pairs, and random pairs drawn with
the transitions' own item popularity (so a tokenizer is not credited for merely crowding
popular items together). Where the catalog has a category path, the same share for the
category prefix is a control: what a plain category-prefix "tokenizer" would score.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from quasid.data.catalog import Catalog
from quasid.metrics.grouping import densify, pair_count

#: The text field that holds a category path, and what separates its levels.
CATEGORY_FIELD = "categories"
_CATEGORY_SPLIT = re.compile(r"\s*(?:,|>|\|)\s*")


def transitions(users: np.ndarray, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive (item, next item) pairs per user, events in time order; repeats of one item left out."""
    same_user = users[1:] == users[:-1]
    a, b = items[:-1][same_user], items[1:][same_user]
    keep = a != b
    return a[keep], b[keep]


def sequences_to_events(sequences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(user, item) event arrays from per-user item sequences."""
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    users = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    items = np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences]) if len(sequences) else users
    return users, items


def shared_prefix_share(labels: list[np.ndarray], a: np.ndarray, b: np.ndarray) -> dict[str, list[float]]:
    """Per depth: share of pairs (a, b) with equal labels, and the uniform and popularity baselines."""
    n = len(labels[0])
    weights = np.bincount(np.concatenate([a, b]), minlength=n).astype(np.float64)
    w_total, w_self = weights.sum(), float((weights**2).sum())
    observed, uniform, popularity = [], [], []
    for lab in labels:
        observed.append(float(np.mean(lab[a] == lab[b])) if len(a) else 0.0)
        uniform.append(pair_count(lab)[1] / (n * (n - 1) / 2) if n > 1 else 0.0)
        per_group = np.bincount(lab, weights=weights)
        denom = w_total**2 - w_self
        popularity.append(float(((per_group**2).sum() - w_self) / denom) if denom > 0 else 0.0)
    return {"shared": observed, "random_pairs": uniform, "popularity_pairs": popularity}


def category_labels(catalog: Catalog, depths: int) -> list[np.ndarray] | None:
    """Dense category-prefix labels per depth 1..``depths`` from a ``categories`` text field, if any.

    Items without categories get labels of their own (they share no prefix with anyone).
    """
    values = catalog.text_fields.get(CATEGORY_FIELD)
    if values is None or not any(values):
        return None
    paths = [[p for p in _CATEGORY_SPLIT.split(str(v or "")) if p] for v in values]
    out = []
    for depth in range(1, depths + 1):
        keys = np.asarray(["\x1f".join(p[:depth]) if p else "" for p in paths], dtype=object)
        labels = densify(keys.astype(str))[0]
        empty = np.flatnonzero(keys == "")
        labels[empty] = labels.max() + 1 + np.arange(len(empty))
        out.append(labels)
    return out


def behaviour_alignment(
    prefixes: list[np.ndarray], a: np.ndarray, b: np.ndarray, catalog: Catalog | None
) -> dict[str, Any]:
    """Shared-prefix shares of co-occurring pairs per depth, with baselines and the category control."""
    out: dict[str, Any] = {"pairs": len(a), "depth": list(range(1, len(prefixes) + 1))}
    out.update(shared_prefix_share(prefixes, a, b))
    shared, popular = out["shared"], out["popularity_pairs"]
    out["lift"] = [s / p if p > 0 else None for s, p in zip(shared, popular, strict=True)]
    categories = category_labels(catalog, len(prefixes)) if catalog is not None else None
    out["category_control"] = None if categories is None else shared_prefix_share(categories, a, b)
    return out
