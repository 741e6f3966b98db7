"""Conflict-aware last-level resolution: qualified collisions left after training split in the last token.

HMR separates qualified conflicts in the encoder space, but an encoder cannot
move two near-identical inputs far apart without distorting the geometry every
other item relies on (product variants that differ in one word of their text
are the typical case: cos(x_i, x_j) >= 0.98, which the mask rightly keeps out
of the repulsion). Such items belong under the same prefix; they only need
different *last* tokens. This step gives them that, after training:

- items sharing a full SID are split into benign components: items linked,
  directly or through others, by a benign rule (same content, same catalog
  group, both missing content) stay together, as QUASID.md section 1 asks;
- in each SID with two or more components, the component nearest its codeword
  keeps the code; every other component moves, as a whole, to a last-level
  codeword no item with the same prefix uses yet, matched greedily: the
  closest (component, free code) pair by mean squared residual distance goes
  first (deterministic, ties broken by order).

Prefixes never change, so the hierarchy the recommenders read stays intact,
and the new code is the semantically next-best one rather than an arbitrary
disambiguation index. Collisions remain only between benign components, or
where all K codes under a prefix are taken (then the disambiguation token
separates them as before).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


@dataclass
class Resolution:
    """The resolved codes and what moved.

    ``codes``: ``[N, L]`` with only the last column changed; ``moved``: rows
    whose last token changed; ``stats``: ``n_conflicted_sids`` (SIDs holding
    two or more benign components), ``n_moved_items``, ``n_unresolved``
    (components that found no free code under their prefix).
    """

    codes: np.ndarray
    moved: np.ndarray
    stats: dict[str, int] = field(default_factory=dict)


def benign_components(codes: np.ndarray, rules: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per item, a label shared exactly by the items of its SID it is benign-linked to (transitively).

    ``rules`` maps a rule name to per-item labels (equal label = linked; give
    excluded items unique labels), as ``quasid.metrics.collisions.benign_rules``
    returns them.
    """
    n = len(codes)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, sid = np.unique(codes, axis=0, return_inverse=True)
    sid = sid.reshape(-1).astype(np.int64)
    rows, cols = [np.arange(n)], [np.arange(n)]
    n_nodes = n
    for labels in rules.values():
        # one node per (SID, label): items reach each other only through nodes of their own SID
        pair = np.stack([sid, np.asarray(labels, np.int64)], axis=1)
        _, node = np.unique(pair, axis=0, return_inverse=True)
        rows.append(np.arange(n))
        cols.append(n_nodes + node.reshape(-1))
        n_nodes += int(node.max()) + 1
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(len(r), dtype=np.int8), (r, c)), shape=(n_nodes, n_nodes))
    _, component = connected_components(graph, directed=False)
    return component[:n].astype(np.int64)


def resolve_last_level(
    codes: np.ndarray,
    residuals: np.ndarray,
    codebook: np.ndarray,
    components: np.ndarray,
) -> Resolution:
    """Move all but one benign component of each colliding SID to a free last-level code.

    Args:
        codes: ``[N, L]`` SIDs as the tokenizer assigned them.
        residuals: ``[N, d]`` what the last level quantizes (r^(L-1)).
        codebook: ``[K, d]`` the last level's codewords.
        components: ``[N]`` benign component labels (``benign_components``).
    """
    codes = np.asarray(codes, dtype=np.int64)
    out = codes.copy()
    n = len(codes)
    stats = {"n_conflicted_sids": 0, "n_moved_items": 0, "n_unresolved": 0}
    if n == 0:
        return Resolution(out, np.zeros(0, dtype=np.int64), stats)
    residuals = np.asarray(residuals, dtype=np.float64)
    codebook = np.asarray(codebook, dtype=np.float64)
    _, sid = np.unique(codes, axis=0, return_inverse=True)
    sid = sid.reshape(-1)
    # SIDs whose items fall into more than one benign component
    pairs = np.unique(np.stack([sid, components], axis=1), axis=0)
    n_comp = np.bincount(pairs[:, 0], minlength=int(sid.max()) + 1)
    conflicted = np.flatnonzero(n_comp >= 2)
    stats["n_conflicted_sids"] = len(conflicted)
    if not len(conflicted):
        return Resolution(out, np.zeros(0, dtype=np.int64), stats)

    _, prefix = np.unique(codes[:, :-1], axis=0, return_inverse=True)
    prefix = prefix.reshape(-1)
    # last codes taken under each prefix, gathered only for the prefixes of conflicted SIDs
    by_prefix = np.argsort(prefix, kind="stable")
    sorted_prefix = prefix[by_prefix]
    used: dict[int, set[int]] = {}
    cb_sq = (codebook**2).sum(-1)

    order = np.argsort(sid, kind="stable")
    starts = np.searchsorted(sid[order], conflicted)
    ends = np.searchsorted(sid[order], conflicted, side="right")
    for lo, hi in zip(starts.tolist(), ends.tolist(), strict=True):
        members = order[lo:hi]
        p = int(prefix[members[0]])
        if p not in used:
            lo_p, hi_p = np.searchsorted(sorted_prefix, [p, p + 1])
            used[p] = set(codes[by_prefix[lo_p:hi_p], -1].tolist())
        comps, comp_of = np.unique(components[members], return_inverse=True)
        # mean squared distance of each component's residuals to every codeword: [C, K]
        r = residuals[members]
        dist = (r**2).sum(-1)[:, None] - 2.0 * r @ codebook.T + cb_sq[None, :]
        comp_dist = np.stack([dist[comp_of == k].mean(axis=0) for k in range(len(comps))])
        current = int(codes[members[0], -1])
        keep = int(np.argmin(comp_dist[:, current]))
        waiting = [k for k in range(len(comps)) if k != keep]
        while waiting:
            # greedy matching: the (component, free code) pair closest of all goes first
            cost = comp_dist[waiting].copy()
            cost[:, list(used[p])] = np.inf
            flat = int(np.argmin(cost))
            row, best = divmod(flat, cost.shape[1])
            if not np.isfinite(cost[row, best]):
                stats["n_unresolved"] += len(waiting)
                break
            k = waiting.pop(row)
            used[p].add(best)
            out[members[comp_of == k], -1] = best
    moved = np.flatnonzero(out[:, -1] != codes[:, -1])
    stats["n_moved_items"] = len(moved)
    return Resolution(out, moved, stats)
