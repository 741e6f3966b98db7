"""Paired comparisons over test users: is a method's gain over the best baseline larger than chance?

Two methods of one bench are scored on the same test cases (same split, same seeds), so
their difference can be taken user by user. A cell keeps its test ranks compactly (only the
cases ranked inside the top K can score at K, see ``compact_ranks``); from those every
user's NDCG@10 is recovered exactly. The paired bootstrap resamples test users with
replacement and reads the 95 % interval of the mean per-user difference (averaged over the
seeds both methods have) and of the relative gain ``mean(a) / mean(b) - 1``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from quasid.rec.metrics import Ranks, per_event_metrics

#: Resamples of the bootstrap, drawn in chunks of this many (bounds memory to chunk x users).
N_BOOT = 2000
_CHUNK = 100


def compact_ranks(ranks: Ranks | None, k: int) -> dict[str, Any] | None:
    """The test cases whose target can land in the top ``k`` (``higher < k``), as plain lists.

    Every other case scores 0 at any cut-off <= k, so Recall@k / NDCG@k per case follow
    exactly; a cell of 22k test users keeps about a twentieth of them.
    """
    if ranks is None:
        return None
    rows = np.flatnonzero(ranks.higher < k)
    return {
        "k": int(k),
        "n": len(ranks),
        "rows": rows.tolist(),
        "higher": ranks.higher[rows].astype(np.int64).tolist(),
        "ties": ranks.ties[rows].astype(np.int64).tolist(),
    }


def per_user_ndcg(cell: dict[str, Any], k: int = 10) -> np.ndarray | None:
    """``[n_test]`` NDCG@k of every test case of a cell (None when it stored no per-user ranks)."""
    top = cell.get("test_top")
    if not top or top["k"] < k:
        return None
    out = np.zeros(int(top["n"]), dtype=np.float64)
    rows = np.asarray(top["rows"], dtype=np.int64)
    if len(rows):
        ranks = Ranks(np.asarray(top["higher"], np.float64), np.asarray(top["ties"], np.int64))
        out[rows] = per_event_metrics(ranks, (k,))[f"ndcg@{k}"]
    return out


def paired_bootstrap(
    a: np.ndarray, b: np.ndarray, n_boot: int = N_BOOT, seed: int = 0, level: float = 0.95
) -> dict[str, Any]:
    """Bootstrap over users of the paired difference ``a - b`` (both ``[n_users]``).

    Returns the observed mean difference and relative gain with their percentile
    intervals, and ``p_le_0``: the share of resamples whose mean difference is <= 0
    (a one-sided bootstrap p-value for "a beats b").
    """
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired figures must be two equal non-empty vectors, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    n = len(a)
    diffs, gains = [], []
    for start in range(0, n_boot, _CHUNK):
        pick = rng.integers(0, n, size=(min(_CHUNK, n_boot - start), n))
        ma, mb = a[pick].mean(axis=1), b[pick].mean(axis=1)
        diffs.append(ma - mb)
        gains.append(np.divide(ma, mb, out=np.full_like(ma, np.nan), where=mb > 0) - 1.0)
    diff, gain = np.concatenate(diffs), np.concatenate(gains)
    tail = (1.0 - level) / 2 * 100
    mean_b = float(b.mean())
    return {
        "n_users": n,
        "n_boot": n_boot,
        "mean_a": float(a.mean()),
        "mean_b": mean_b,
        "diff": float(a.mean() - mean_b),
        "diff_ci": [float(v) for v in np.percentile(diff, [tail, 100 - tail])],
        "gain": float(a.mean() / mean_b - 1.0) if mean_b > 0 else None,
        "gain_ci": [float(v) for v in np.nanpercentile(gain, [tail, 100 - tail])] if mean_b > 0 else None,
        "p_le_0": float((diff <= 0).mean()),
    }


def compare_cells(
    cells_a: list[dict[str, Any]], cells_b: list[dict[str, Any]], k: int = 10, seed: int = 0
) -> dict[str, Any] | None:
    """Paired bootstrap of method a against method b on the seeds both have per-user figures for.

    Each user's figure is the mean over those seeds, so seed noise and user noise are both in
    the interval only once. None when no seed pairs up.
    """
    by_seed_a = {c["seed"]: per_user_ndcg(c, k) for c in cells_a}
    by_seed_b = {c["seed"]: per_user_ndcg(c, k) for c in cells_b}
    seeds = sorted(
        s
        for s in by_seed_a.keys() & by_seed_b.keys()
        if by_seed_a[s] is not None and by_seed_b[s] is not None and len(by_seed_a[s]) == len(by_seed_b[s])
    )
    if not seeds:
        return None
    a = np.mean([by_seed_a[s] for s in seeds], axis=0)
    b = np.mean([by_seed_b[s] for s in seeds], axis=0)
    return {"seeds": seeds, "metric": f"ndcg@{k}", **paired_bootstrap(a, b, seed=seed)}
