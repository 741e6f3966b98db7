"""Hamming distance between Semantic IDs: how overly similar two code compositions are.

h_ij counts the levels at which items i and j received different tokens; h = 0
is a full collision, a small h an "overly similar composition". Hamming-guided
Margin Repulsion works on the candidate pairs h_ij <= tau, weighted by their
severity s_ij = (L - h_ij) / L.

Candidate pairs are found without the B x B matrix when they are sparse (the
usual case once codebooks are spread): a pair is within distance tau exactly
when it agrees on some set of L - tau levels, so grouping the batch by the
tokens at each such level set (one sort each) lists every candidate pair in
O(C(L, tau) B log B + P) work. When codes are dense with collisions (early
training, a collapsed codebook) the dense O(B^2 L) sweep is cheaper and is used
instead.
"""

from __future__ import annotations

from itertools import combinations

import torch
from torch import Tensor

from quasid.errors import ConfigError

#: The sparse pair listing is used while it yields fewer than B^2 / DENSE_PAIR_FRACTION
#: (pair, level set) entries; beyond that one dense B x B sweep is cheaper (measured on CPU).
DENSE_PAIR_FRACTION = 32
#: Batches this small are always swept densely: the b x b pass costs less than the sorts.
DENSE_MAX_BATCH = 256

_KEY_LIMIT = 1 << 62


def pairwise_hamming(codes: Tensor, dtype: torch.dtype = torch.long) -> Tensor:
    """All-pairs Hamming distance of a batch of SIDs.

    codes: ``[b, L]`` integer tokens. Returns ``[b, b]`` in ``dtype``. Memory is a
    single ``b x b`` accumulator (uint8 while counting), one level at a time.
    """
    if codes.ndim != 2:
        raise ValueError(f"codes must be [batch, levels], got shape {tuple(codes.shape)}")
    codes = codes.detach()
    b, n_levels = codes.shape
    acc_dtype = torch.uint8 if n_levels < 256 else torch.int32
    h = torch.zeros(b, b, dtype=acc_dtype, device=codes.device)  # [b, b]
    for level in range(n_levels):
        col = codes[:, level]
        differs = col[:, None] != col[None, :]  # [b, b] bool
        h += differs.view(torch.uint8) if acc_dtype == torch.uint8 else differs.to(acc_dtype)
    return h.to(dtype)


def severity(h: Tensor, n_levels: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """Collision severity s = (L - h) / L: 1 for a full collision, 0 for fully distinct SIDs."""
    if n_levels < 1:
        raise ConfigError(f"n_levels must be >= 1, got {n_levels}")
    return (n_levels - h).to(dtype) / n_levels


def candidate_pairs(codes: Tensor, tau: int) -> tuple[Tensor, Tensor, Tensor]:
    """Unordered pairs of batch rows whose SIDs are within Hamming distance ``tau``.

    codes: ``[b, L]``. Returns ``(i, j, h)``, each ``[P]`` long, with ``i < j``,
    ``h_ij <= tau``, in row-major order (sorted by ``i`` then ``j``). Picks the
    sparse (grouping) or dense (``b x b``) listing, whichever is cheaper.
    """
    if codes.ndim != 2:
        raise ValueError(f"codes must be [batch, levels], got shape {tuple(codes.shape)}")
    codes = codes.detach()
    b, n_levels = codes.shape
    if tau < 0:
        raise ConfigError(f"tau must be >= 0, got {tau}")
    device = codes.device
    if b < 2:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.clone(), empty.clone()
    if tau >= n_levels or b <= DENSE_MAX_BATCH:
        return _dense_candidates(codes, tau)

    level_sets = list(combinations(range(n_levels), n_levels - tau))
    groupings = [_group(codes[:, list(levels)]) for levels in level_sets]
    n_listed = sum(n_pairs for _, _, n_pairs in groupings)
    if n_listed * DENSE_PAIR_FRACTION > b * b:
        return _dense_candidates(codes, tau)

    found_i: list[Tensor] = []
    found_j: list[Tensor] = []
    found_h: list[Tensor] = []
    for levels, (perm, sizes, n_pairs) in zip(level_sets, groupings, strict=True):
        if n_pairs == 0:
            continue
        i, j = _pairs_within_groups(perm, sizes, n_pairs)
        agree = codes[i] == codes[j]  # [p, L]
        if len(level_sets) > 1:
            # a pair agreeing on several level sets is listed once: under its first L - tau agreeing levels
            first = agree & (agree.cumsum(dim=-1) <= n_levels - tau)
            own = torch.zeros(n_levels, dtype=torch.bool, device=device)
            own[list(levels)] = True
            keep = (first == own).all(dim=-1)
            i, j, agree = i[keep], j[keep], agree[keep]
        found_i.append(i)
        found_j.append(j)
        found_h.append(n_levels - agree.sum(dim=-1))
    if not found_i:
        empty = torch.zeros(0, dtype=torch.long, device=device)
        return empty, empty.clone(), empty.clone()
    i, j, h = torch.cat(found_i), torch.cat(found_j), torch.cat(found_h)
    order = torch.argsort(i * b + j)
    return i[order], j[order], h[order]


def _dense_candidates(codes: Tensor, tau: int) -> tuple[Tensor, Tensor, Tensor]:
    """Candidate pairs from the full ``b x b`` Hamming matrix (upper triangle)."""
    h = pairwise_hamming(codes, dtype=torch.uint8)  # [b, b]
    within = torch.triu(h <= tau, diagonal=1)
    i, j = within.nonzero(as_tuple=True)
    return i, j, h[i, j].long()


def _group(cols: Tensor) -> tuple[Tensor, Tensor, int]:
    """Sort rows by their tokens at some levels: (permutation, group sizes, pairs inside groups)."""
    key = _row_key(cols)
    sorted_key, perm = torch.sort(key, stable=True)
    _, sizes = torch.unique_consecutive(sorted_key, return_counts=True)
    n_pairs = int((sizes * (sizes - 1) // 2).sum())
    return perm, sizes, n_pairs


def _row_key(cols: Tensor) -> Tensor:
    """One int64 per row, equal exactly when the rows' tokens are equal."""
    b = cols.shape[0]
    base = int(cols.max()) + 1 if cols.numel() else 1
    key = cols[:, 0].long()
    bound = base
    for k in range(1, cols.shape[1]):
        if bound * base >= _KEY_LIMIT:  # re-number the distinct keys 0..b-1 before they overflow
            key = torch.unique(key, return_inverse=True)[1]
            bound = b
        key = key * base + cols[:, k].long()
        bound *= base
    return key


def _pairs_within_groups(perm: Tensor, sizes: Tensor, n_pairs: int) -> tuple[Tensor, Tensor]:
    """Every unordered pair of rows inside each group, as (i, j) with i < j (vectorised)."""
    device = perm.device
    b = perm.shape[0]
    pos = torch.arange(b, device=device)  # position in sorted order
    group_end = torch.repeat_interleave(torch.cumsum(sizes, 0), sizes)  # [b]
    n_after = group_end - pos - 1  # partners later in the same group
    first = torch.repeat_interleave(pos, n_after)  # [p]
    block_start = torch.repeat_interleave(torch.cumsum(n_after, 0) - n_after, n_after)
    second = first + 1 + torch.arange(n_pairs, device=device) - block_start
    a, c = perm[first], perm[second]
    return torch.minimum(a, c), torch.maximum(a, c)
