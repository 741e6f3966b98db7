"""Conflict-Aware Valid Pair Masking (CAVPM): keep only the collisions worth repelling.

Not every low-Hamming pair is a conflict. Two items whose content is (nearly)
identical, that the catalog itself groups, that both lack features, or that
users treat as interchangeable *should* share a code path; repelling them only
adds noise to the encoder. A candidate pair is masked out (M_ij = 0) as soon as
one of these rules fires; what is left are the qualified conflicts.

Everything a rule needs is precomputed once per catalog in a ``MaskContext``
(normalised content vectors, content-key ids, group ids, missing flags and a
sparse co-occurrence table), so masking a batch costs a few gathers and one
binary search per candidate pair, never an N x N matrix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from quasid.data.catalog import Catalog
from quasid.data.interactions import Interactions
from quasid.errors import ConfigError, DataError
from quasid.qualify.cooccurrence import CollaborativePositives, find_keys

#: The switchable rules, in the order they are reported.
RULES = ("near_duplicate", "same_content", "same_group", "missing", "co_interaction", "collab_positive")
#: The rules of our reading (QUASID.md); ``collab_positive`` is the public re-implementation's.
DEFAULT_RULES = RULES[:5]

#: Principal directions of the content on which the near-duplicate test rejects most pairs.
NEAR_DUP_HEAD_DIMS = 32

#: Float slack on the near-duplicate threshold, so identical vectors pass theta_dup = 1.
COSINE_TOLERANCE = 1e-6

#: Pair dot products are gathered row by row while P * DENSE_COSINE_FRACTION <= b^2, else
#: read off the Gram matrix, block by block (BLAS makes it cheaper past ~1-2 % of all pairs).
DENSE_COSINE_FRACTION = 64
#: Pairs gathered at once when no gradient is kept (bounds the [chunk, d] temporaries).
_GATHER_CHUNK = 1 << 14
#: Gram-matrix entries computed at once on the dense path (rows per block = this // b).
_GRAM_BLOCK = 1 << 20

#: Most (pair) entries the co-occurrence build holds at once before reducing them.
_CO_CHUNK = 1 << 22


@dataclass(frozen=True)
class MaskConfig:
    """Which benign-collision rules mask a candidate pair, and their thresholds.

    Attributes:
        near_duplicate: mask pairs whose content embeddings have cosine >= ``theta_dup``
            (up to a float slack of 1e-6, so identical vectors pass ``theta_dup=1``).
        theta_dup: near-duplicate threshold on the content cosine, in [-1, 1].
        same_content: mask pairs with identical content text / attribute set.
        same_group: mask pairs sharing a non-empty catalog group key (family / SPU).
        missing: mask pairs where both items have missing content.
        co_interaction: mask pairs that co-occur in at least ``k_co`` user histories.
        k_co: co-occurrence count (number of users) at which a pair counts as interchangeable.
        collab_positive: mask collaborative positives, pairs with windowed-co-occurrence PPMI > 0
            (``cooccurrence``; the public re-implementation's CVPM); needs a context built with
            ``collab_window``. Off by default.
    """

    near_duplicate: bool = True
    theta_dup: float = 0.98
    same_content: bool = True
    same_group: bool = True
    missing: bool = True
    co_interaction: bool = True
    k_co: int = 2
    collab_positive: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.type in ("bool", bool) and not isinstance(getattr(self, f.name), bool):
                raise ConfigError(f"MaskConfig.{f.name} must be True or False, got {getattr(self, f.name)!r}")
        theta = self.theta_dup
        if isinstance(theta, bool) or not isinstance(theta, int | float) or not -1.0 <= theta <= 1.0:
            raise ConfigError(f"MaskConfig.theta_dup must be a cosine in [-1, 1], got {theta!r}")
        if isinstance(self.k_co, bool) or not isinstance(self.k_co, int) or self.k_co < 1:
            raise ConfigError(
                f"MaskConfig.k_co must be an integer >= 1 (users sharing the pair), got {self.k_co!r}"
            )


@dataclass
class MaskContext:
    """Per-catalog facts the valid pair mask looks up; build with ``MaskContext.from_catalog``.

    Attributes:
        n_items: catalog size N.
        content: ``[N, D]`` L2-normalised content embeddings (zero rows stay zero), or None.
        content_head: ``[N, k]`` the same vectors projected on their k leading principal
            directions (k = ``NEAR_DUP_HEAD_DIMS``), where the near-duplicate test rejects
            most pairs before touching all D dimensions; None without content.
        content_ids: ``[N]`` long; items with identical content text / attribute set
            share an id, -1 where the item has no content.
        group_ids: ``[N]`` long catalog group id, -1 where the item has no group.
        missing: ``[N]`` bool, True where the item's content is missing.
        co_keys: ``[M]`` long, sorted pair keys ``a * N + b`` (a < b) of items that
            co-occur in at least one user history.
        co_counts: ``[M]`` long, number of users whose history holds both items.
        content_vec_ids: ``[N]`` long; items whose content vectors are bitwise equal share
            an id (-1 for zero rows), so the near-duplicate test settles such pairs
            (cos = 1) without reading the vectors; None without content.
        collab_keys: ``[Q]`` long, sorted pair keys ``a * N + b`` (a < b) of the collaborative
            positives (PPMI > 0 within ``collab_window``), or None when not built.
    """

    n_items: int
    content: Tensor | None
    content_head: Tensor | None
    content_ids: Tensor
    group_ids: Tensor
    missing: Tensor
    co_keys: Tensor
    co_counts: Tensor
    content_vec_ids: Tensor | None = None
    collab_keys: Tensor | None = None

    @classmethod
    def from_catalog(
        cls,
        catalog: Catalog,
        sequences: Interactions | Sequence[np.ndarray] | None = None,
        co_window: int | None = None,
        collab_window: int | None = None,
    ) -> MaskContext:
        """Precompute the mask's lookups for ``catalog`` (and user histories, if given).

        sequences: per-user item-index histories in time order (or an ``Interactions``).
        co_window: count two items as co-occurring only within this many positions of
            each other in a history (after dropping repeat visits); None = whole history.
        collab_window: build the ``collab_positive`` lookups, PPMI of co-occurrence within this
            many positions (``cooccurrence.ppmi``); None = not built.
        """
        n = catalog.n_items
        content = content_head = vec_ids = None
        if catalog.embeddings is not None:
            raw = np.ascontiguousarray(catalog.embeddings, dtype=np.float32)
            content = F.normalize(torch.from_numpy(raw), dim=-1)
            content_head = content @ principal_axes(content, NEAR_DUP_HEAD_DIMS)
            _, ids = np.unique(
                raw.view(np.dtype((np.void, raw.dtype.itemsize * raw.shape[1]))).ravel(), return_inverse=True
            )
            vec_ids = torch.from_numpy(np.where((raw != 0).any(axis=1), ids.reshape(-1), -1).astype(np.int64))
        keys = catalog.content_keys().astype(str)
        uniq, content_ids = np.unique(keys, return_inverse=True)
        content_ids = content_ids.astype(np.int64)
        empty = np.flatnonzero(uniq == "")
        if len(empty):
            content_ids[content_ids == empty[0]] = -1
        if catalog.group_keys is not None:
            gkeys = np.asarray(catalog.group_keys).astype(str)
            guniq, group_ids = np.unique(gkeys, return_inverse=True)
            group_ids = group_ids.astype(np.int64)
            gempty = np.flatnonzero(guniq == "")
            if len(gempty):
                group_ids[group_ids == gempty[0]] = -1
        else:
            group_ids = np.full(n, -1, dtype=np.int64)
        if isinstance(sequences, Interactions):
            if sequences.n_items != n:
                raise DataError(
                    f"interactions index {sequences.n_items} items but catalog '{catalog.name}' has {n}: "
                    "build both from the same dataset"
                )
            sequences = sequences.sequences()
        co_keys, co_counts = cooccurrence([] if sequences is None else sequences, n, window=co_window)
        collab_keys = None
        if collab_window is not None:
            collab_keys = CollaborativePositives.from_sequences(sequences or [], n, collab_window).keys
        return cls(
            n_items=n,
            content=content,
            content_head=content_head,
            content_ids=torch.from_numpy(content_ids),
            group_ids=torch.from_numpy(group_ids),
            missing=torch.from_numpy(np.asarray(catalog.missing_mask(), dtype=bool)),
            co_keys=torch.from_numpy(co_keys),
            co_counts=torch.from_numpy(co_counts),
            content_vec_ids=vec_ids,
            collab_keys=collab_keys,
        )

    @property
    def device(self) -> torch.device:
        return self.content_ids.device

    def to(self, device: torch.device | str) -> MaskContext:
        """A copy with every lookup on ``device`` (put it next to the latents for GPU training)."""
        return MaskContext(
            n_items=self.n_items,
            content=None if self.content is None else self.content.to(device),
            content_head=None if self.content_head is None else self.content_head.to(device),
            content_ids=self.content_ids.to(device),
            group_ids=self.group_ids.to(device),
            missing=self.missing.to(device),
            co_keys=self.co_keys.to(device),
            co_counts=self.co_counts.to(device),
            content_vec_ids=None if self.content_vec_ids is None else self.content_vec_ids.to(device),
            collab_keys=None if self.collab_keys is None else self.collab_keys.to(device),
        )

    def co_count(self, a: Tensor, b: Tensor) -> Tensor:
        """Number of users whose history holds both items, for item pairs ``(a[k], b[k])``."""
        query = torch.minimum(a, b) * self.n_items + torch.maximum(a, b)  # [p]
        if self.co_keys.numel() == 0:
            return torch.zeros_like(query)
        found, pos = find_keys(self.co_keys, query)
        return torch.where(found, self.co_counts[pos], torch.zeros_like(query))

    def collab_positive(self, a: Tensor, b: Tensor) -> Tensor:
        """Whether item pairs ``(a[k], b[k])`` are collaborative positives (all False when not built)."""
        if self.collab_keys is None:
            return torch.zeros(a.shape, dtype=torch.bool, device=a.device)
        return find_keys(self.collab_keys, torch.minimum(a, b) * self.n_items + torch.maximum(a, b))[0]


def principal_axes(unit: Tensor, k: int, max_rows: int = 20_000, n_iter: int = 4) -> Tensor:
    """``[D, min(k, D)]`` orthonormal directions close to the rows' top-k principal axes.

    Subspace iteration from a fixed seed, on at most ``max_rows`` evenly spaced rows:
    O(n D k) and deterministic. The directions only decide how many pairs the
    near-duplicate test settles early, never its answer, so approximate is enough.
    """
    d = unit.shape[1]
    if d <= k:
        return torch.eye(d, dtype=unit.dtype, device=unit.device)
    sample = unit[:: max(1, unit.shape[0] // max_rows)]
    centered = sample - sample.mean(dim=0, keepdim=True)  # [n, D]
    start = torch.randn(centered.shape[0], k, generator=torch.Generator().manual_seed(0))
    axes = torch.linalg.qr(centered.t() @ start.to(unit.device, unit.dtype)).Q  # [D, k]
    for _ in range(n_iter):
        axes = torch.linalg.qr(centered.t() @ (centered @ axes)).Q
    return axes


def cooccurrence(
    sequences: Sequence[np.ndarray], n_items: int, window: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sparse item-item co-occurrence: for each item pair, how many users' histories hold both.

    Repeat visits are dropped first (first visit kept), so each user adds at most
    one to a pair. With ``window``, only items at most ``window`` positions apart
    in that de-duplicated history count. Returns sorted pair keys ``a * n_items + b``
    (a < b) and their counts, both int64. Memory stays bounded by the number of
    distinct pairs plus a fixed chunk: no N x N matrix.
    """
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
        raise ConfigError(f"co_window must be a positive integer or None, got {window!r}")
    empty = np.zeros(0, dtype=np.int64)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if lengths.sum() == 0:
        return empty, empty.copy()
    items = np.concatenate([np.asarray(s, dtype=np.int64).ravel() for s in sequences])
    if items.min() < 0 or items.max() >= n_items:
        bad = items[(items < 0) | (items >= n_items)][:5].tolist()
        raise DataError(f"histories name item indices {bad} outside the catalog of {n_items} items")
    users = np.repeat(np.arange(len(sequences), dtype=np.int64), lengths)
    _, first_visit = np.unique(users * n_items + items, return_index=True)
    first_visit.sort()
    items, users = items[first_visit], users[first_visit]
    ends = np.cumsum(np.bincount(users, minlength=len(sequences)))[users]  # history end per event
    n_later = ends - np.arange(len(items)) - 1  # partners after each event in its history
    if window is not None:
        n_later = np.minimum(n_later, window)
    done = np.concatenate([[0], np.cumsum(n_later)])

    key_parts: list[np.ndarray] = []
    count_parts: list[np.ndarray] = []
    start = 0
    while start < len(items):
        stop = int(np.searchsorted(done, done[start] + _CO_CHUNK, side="right")) - 1
        stop = min(max(stop, start + 1), len(items))
        later = n_later[start:stop]
        m = int(later.sum())
        if m:
            first = np.repeat(np.arange(start, stop), later)
            second = first + 1 + np.arange(m) - np.repeat(np.cumsum(later) - later, later)
            a, b = items[first], items[second]
            keys, counts = np.unique(np.minimum(a, b) * n_items + np.maximum(a, b), return_counts=True)
            key_parts.append(keys)
            count_parts.append(counts.astype(np.int64))
        start = stop
    if not key_parts:
        return empty, empty.copy()
    if len(key_parts) == 1:
        return key_parts[0], count_parts[0]
    keys = np.concatenate(key_parts)
    counts = np.concatenate(count_parts)
    order = np.argsort(keys, kind="stable")
    keys, counts = keys[order], counts[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    return keys[starts], np.add.reduceat(counts, starts)


def pair_dot(vectors: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Dot products of listed row pairs: ``vectors [b, d]``, ``i, j [p]`` -> ``[p]``.

    Few pairs are gathered row by row (O(p d), in bounded chunks when no gradient
    is kept); many are read off the Gram matrix, which BLAS makes faster, computed
    one block of rows at a time so that neither p x d nor b x b is ever held.
    Differentiable either way.
    """
    b = vectors.shape[0]
    if i.numel() * DENSE_COSINE_FRACTION > b * b:
        return _gram_pairs(vectors, i, j)
    if vectors.requires_grad or i.numel() <= _GATHER_CHUNK:
        return (vectors[i] * vectors[j]).sum(dim=-1)
    out = vectors.new_empty(i.shape)
    for lo in range(0, i.numel(), _GATHER_CHUNK):
        hi = lo + _GATHER_CHUNK
        out[lo:hi] = (vectors[i[lo:hi]] * vectors[j[lo:hi]]).sum(dim=-1)
    return out


def _gram_pairs(vectors: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Entries (i, j) of vectors @ vectors.T, one block of rows (a few MB) at a time."""
    b = vectors.shape[0]
    inverse = None
    if i.numel() > 1 and bool((i[1:] < i[:-1]).any()):  # blocks need the pairs grouped by row
        order = torch.argsort(i, stable=True)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        i, j = i[order], j[order]
    rows = max(1, _GRAM_BLOCK // b)
    bounds = torch.searchsorted(i, torch.arange(0, b + rows, rows, device=i.device)).tolist()
    parts = [vectors.new_zeros(0)]
    for k, r0 in enumerate(range(0, b, rows)):
        lo, hi = bounds[k], bounds[k + 1]
        if lo < hi:
            block = vectors[r0 : r0 + rows] @ vectors.t()  # [rows, b]
            parts.append(block[i[lo:hi] - r0, j[lo:hi]])
    out = torch.cat(parts)
    return out if inverse is None else out[inverse]


def pair_cosine(vectors: Tensor, i: Tensor, j: Tensor) -> Tensor:
    """Cosine similarity of listed row pairs (zero rows have cosine 0 with everything)."""
    return pair_dot(F.normalize(vectors, dim=-1), i, j)


def _near_duplicates(context: MaskContext, item_index: Tensor, i: Tensor, j: Tensor, theta: float) -> Tensor:
    """cos(x_a, x_c) >= theta for the listed pairs, exactly, mostly settled in k dimensions.

    For unit vectors ||x - y||^2 = 2 - 2 cos, and its projection on any orthonormal
    directions (here the k leading principal ones) can only be shorter: a pair already
    farther apart than 2 - 2 theta there cannot reach the threshold. Only the rest pay
    for the full D-dimensional cosine. (Zero rows have cosine 0 and obey the same bound.)
    """
    assert context.content is not None and context.content_head is not None
    theta = theta - COSINE_TOLERANCE
    fired = torch.zeros(i.shape, dtype=torch.bool, device=item_index.device)
    if context.content_vec_ids is not None and theta <= 1.0:  # equal non-zero vectors: cos = 1
        vec = context.content_vec_ids[item_index]
        fired = (vec[i] == vec[j]) & (vec[i] >= 0)
        open_pairs = (~fired).nonzero(as_tuple=True)[0]
        i, j = i[open_pairs], j[open_pairs]
    else:
        open_pairs = None
    head = context.content_head[item_index]  # [b, k]
    head_sq = (head * head).sum(dim=-1)  # [b]
    head_dist = head_sq[i] + head_sq[j] - 2 * pair_dot(head, i, j)  # [p], <= ||x_a - x_c||^2
    maybe = (head_dist <= 2 - 2 * theta + 1e-5).nonzero(as_tuple=True)[0]
    maybe_out = open_pairs[maybe] if open_pairs is not None else maybe  # positions in the caller's pairs
    if maybe.numel() < item_index.numel():
        a, c = item_index[i[maybe]], item_index[j[maybe]]
        fired[maybe_out] = (context.content[a] * context.content[c]).sum(dim=-1) >= theta
    else:
        fired[maybe_out] = pair_dot(context.content[item_index], i[maybe], j[maybe]) >= theta
    return fired


def valid_pairs(
    item_index: Tensor,
    i: Tensor,
    j: Tensor,
    context: MaskContext | None = None,
    config: MaskConfig | None = None,
) -> tuple[Tensor, dict[str, int]]:
    """Which candidate pairs are qualified conflicts.

    item_index: ``[b]`` catalog row of each batch row; ``i, j``: ``[p]`` batch rows of
    the candidate pairs. Returns ``keep [p]`` bool (True = valid, repel it) and counts:
    ``candidates``, ``same_item`` (a batch holding one item twice; always masked),
    one entry per rule in ``RULES`` (candidates it fired on; 0 when switched off or
    when the context lacks its data) and ``valid``. A pair may fire several rules.
    Without a context only ``same_item`` masks.
    """
    config = config or MaskConfig()
    item_index = item_index.to(i.device)
    a, c = item_index[i], item_index[j]  # [p] catalog rows
    benign = a == c
    counts = {"candidates": int(i.numel()), "same_item": int(benign.sum())}
    for rule in RULES:
        counts[rule] = 0
    if context is not None and i.numel():
        dev = context.device
        a, c = a.to(dev), c.to(dev)
        fired_by: dict[str, Tensor] = {}
        if config.near_duplicate and context.content is not None:
            fired_by["near_duplicate"] = _near_duplicates(
                context, item_index.to(dev), i.to(dev), j.to(dev), config.theta_dup
            )
        if config.same_content:
            fired_by["same_content"] = (context.content_ids[a] == context.content_ids[c]) & (
                context.content_ids[a] >= 0
            )
        if config.same_group:
            fired_by["same_group"] = (context.group_ids[a] == context.group_ids[c]) & (
                context.group_ids[a] >= 0
            )
        if config.missing:
            fired_by["missing"] = context.missing[a] & context.missing[c]
        if config.co_interaction:
            fired_by["co_interaction"] = context.co_count(a, c) >= config.k_co
        if config.collab_positive:
            fired_by["collab_positive"] = context.collab_positive(a, c)
        for rule, fired in fired_by.items():
            counts[rule] = int(fired.sum())
            benign = benign | fired.to(benign.device)
    keep = ~benign
    counts["valid"] = int(keep.sum())
    return keep, counts


def valid_pair_mask(
    idx: Tensor,
    candidate: Tensor,
    context: MaskContext | None = None,
    config: MaskConfig | None = None,
) -> tuple[Tensor, dict[str, int]]:
    """The valid pair mask M as a matrix: ``idx [b]`` catalog rows, ``candidate [b, b]`` bool.

    The candidate relation is read as symmetric (``candidate | candidate.T``) and the
    diagonal is always masked. Returns the symmetric ``[b, b]`` bool mask and the
    counts of ``valid_pairs``, in unordered pairs.
    """
    if candidate.ndim != 2 or candidate.shape[0] != candidate.shape[1] or candidate.shape[0] != idx.shape[0]:
        raise ValueError(
            f"candidate must be [b, b] for idx of length {idx.shape[0]}, got shape {tuple(candidate.shape)}"
        )
    candidate = candidate.bool()
    i, j = torch.triu(candidate | candidate.t(), diagonal=1).nonzero(as_tuple=True)
    keep, counts = valid_pairs(idx, i, j, context, config)
    mask = torch.zeros_like(candidate)
    mask[i[keep], j[keep]] = True
    mask[j[keep], i[keep]] = True
    return mask, counts
