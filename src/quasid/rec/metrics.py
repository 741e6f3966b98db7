"""Full-ranking metrics for next-item recommendation: Recall@K and NDCG@K.

Each test event has one target item. Its *rank* is 0-based: the number of
catalog items placed before it. With one relevant item, Recall@K is the hit
rate ``[rank < K]`` and NDCG@K is ``1 / log2(rank + 2)`` when ``rank < K``
(the ideal DCG is 1), else 0. Figures are means over events.

Ties. A score tie between the target and other items is broken uniformly at
random, and the metrics are the *exact expectation* over that tie-break: with
``h`` items scored strictly higher and ``t`` other items scored equal, the
target's rank is uniform on ``h .. h + t``, so

    Recall@K = |{r in h..h+t : r < K}| / (t + 1)
    NDCG@K   = sum_{r in h..h+t, r < K} 1 / log2(r + 2) / (t + 1)

Why this convention rather than one number like ``h + t / 2``: the mid-rank is
optimistic at the K boundary (target and its one twin at ranks K-1, K count
as a full hit, though the expected hit is 1/2), and a single twin is exactly
what an SID collision produces, so the bias would hide the collisions this
project measures. The optimistic ``rank = h`` (what ``(scores > target).sum()``
gives) is worse: a model that scores everything equal gets perfect figures.
Under the expectation it gets what a random ranker gets (Recall@K = K / N),
and with ``t = 0`` every formula reduces to the textbook one.

Ranks without ties (e.g. a position in a beam-search list, TIGER) are plain
arrays; a target the model never ranks can be given ``rank = inf`` (or any
value >= K) and counts as a miss.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

#: How ``rank_of_targets`` counts the items above and tied with each target (same figures).
RANK_COUNTS = ("sign", "compare")


@dataclass(frozen=True)
class Ranks:
    """Per-event ranks with their ties: ``higher[i]`` items scored above the target, ``ties[i]`` equal."""

    higher: np.ndarray  # [B] float64 (int-valued, or inf for "not ranked")
    ties: np.ndarray  # [B] int64, other items tied with the target

    @property
    def expected(self) -> np.ndarray:
        """The expected 0-based rank ``higher + ties / 2`` (for display; metrics use the exact formulas)."""
        return self.higher + self.ties / 2.0

    def __len__(self) -> int:
        return len(self.higher)

    @staticmethod
    def cat(parts: Iterable[Ranks | Tensor | np.ndarray | Sequence[float]]) -> Ranks:
        """Concatenate per-batch ranks (mixing plain rank arrays and ``Ranks`` is allowed)."""
        rs = [as_ranks(p) for p in parts]
        if not rs:
            return Ranks(np.zeros(0, np.float64), np.zeros(0, np.int64))
        return Ranks(np.concatenate([r.higher for r in rs]), np.concatenate([r.ties for r in rs]))


RankLike = Ranks | Tensor | np.ndarray | Sequence[float]
"""A ``Ranks`` or a plain array of 0-based ranks (no ties)."""


def as_ranks(ranks: RankLike) -> Ranks:
    """Normalise a plain rank array (no ties) or a ``Ranks`` to ``Ranks`` of NumPy arrays."""
    if isinstance(ranks, Ranks):
        higher, ties = _to_numpy(ranks.higher), _to_numpy(ranks.ties)
    else:
        higher = _to_numpy(ranks)
        ties = np.zeros(higher.shape, dtype=np.int64)
    higher = higher.astype(np.float64).reshape(-1)
    ties = ties.astype(np.int64).reshape(-1)
    if higher.shape != ties.shape:
        raise ValueError(f"ranks: {higher.shape[0]} ranks but {ties.shape[0]} tie counts")
    if np.isnan(higher).any() or (higher < 0).any() or (ties < 0).any():
        raise ValueError("ranks must be >= 0 (not NaN) and tie counts >= 0")
    return Ranks(higher, ties)


def _to_numpy(x: Tensor | np.ndarray | Sequence[float]) -> np.ndarray:
    if isinstance(x, Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _with_ties(ranks: RankLike, ties: np.ndarray | Tensor | None) -> Ranks:
    if ties is None:
        return as_ranks(ranks)
    if isinstance(ranks, Ranks):
        raise ValueError("give ties either inside Ranks or as the ties argument, not both")
    return as_ranks(Ranks(_to_numpy(ranks), _to_numpy(ties)))


def _check_k(k: int) -> None:
    if int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")


def _per_event_recall(r: Ranks, k: int) -> np.ndarray:
    """``P(rank < k)`` per event under a uniform tie-break."""
    hits = np.clip(k - r.higher, 0, r.ties + 1)  # how many of the t+1 equally likely ranks are < k
    return hits / (r.ties + 1)


def _per_event_ndcg(r: Ranks, k: int) -> np.ndarray:
    """Expected ``1/log2(rank+2) * [rank < k]`` per event under a uniform tie-break."""
    # cum[j] = sum_{r < j} 1/log2(r+2), j = 0..k; the sum over r in [lo, hi) is cum[hi] - cum[lo]
    cum = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
    lo = np.minimum(r.higher, k).astype(np.int64)
    hi = np.minimum(r.higher + r.ties + 1, k).astype(np.int64)
    return (cum[hi] - cum[lo]) / (r.ties + 1)


def recall_at_k(ranks: RankLike, k: int, ties: np.ndarray | Tensor | None = None) -> float:
    """Mean Recall@K (hit rate: one target per event) of 0-based ranks; ``ties`` per event if any."""
    _check_k(k)
    r = _with_ties(ranks, ties)
    return float(_per_event_recall(r, k).mean()) if len(r) else float("nan")


def ndcg_at_k(ranks: RankLike, k: int, ties: np.ndarray | Tensor | None = None) -> float:
    """Mean NDCG@K of 0-based ranks (``1/log2(rank+2)`` if ``rank < K``); ``ties`` per event if any."""
    _check_k(k)
    r = _with_ties(ranks, ties)
    return float(_per_event_ndcg(r, k).mean()) if len(r) else float("nan")


def per_event_metrics(ranks: RankLike, ks: Sequence[int] = (5, 10)) -> dict[str, np.ndarray]:
    """Per-event expected Recall@K / NDCG@K ``[B]`` arrays (for paired tests between models)."""
    r = as_ranks(ranks)
    out: dict[str, np.ndarray] = {}
    for k in ks:
        _check_k(k)
        out[f"recall@{k}"] = _per_event_recall(r, k)
        out[f"ndcg@{k}"] = _per_event_ndcg(r, k)
    return out


def ranking_metrics(ranks: RankLike, ks: Sequence[int] = (5, 10)) -> dict[str, float]:
    """``{"recall@5", "ndcg@5", "recall@10", "ndcg@10"}`` (one pair per K) from per-event ranks."""
    r = as_ranks(ranks)
    out: dict[str, float] = {}
    for k in ks:
        out[f"recall@{k}"] = recall_at_k(r, k)
        out[f"ndcg@{k}"] = ndcg_at_k(r, k)
    return out


def rank_of_targets(
    scores: Tensor,
    targets: Tensor,
    exclude: Tensor | None = None,
    weights: Tensor | None = None,
    overwrite: bool = False,
    count: str = "sign",
) -> Ranks:
    """Rank of each target among all candidates of its row, with the ties the metrics need.

    ``scores`` ``[B, N]``: higher is better; ``targets`` ``[B]`` column indices;
    ``exclude`` ``[N]`` or ``[B, N]`` bool, True for items that are not
    candidates (padding, items the protocol removes). The target itself is
    never excluded. ``weights`` ``[N]`` (non-negative integers): how many
    candidates each column stands for, when items that share a score are
    scored once (SASRec on SIDs scores each distinct SID once); the target's
    column then holds the target and its ``weight - 1`` tied items. NaN scores
    raise: a NaN target would compare false with everything and silently get rank 0.
    ``count``: ``"sign"`` (default) counts from ``sign(scores - target)`` in place (``overwrite=True``
    lets it use ``scores`` as its work space: give a temporary); ``"compare"`` builds the two
    comparison masks and counts them (the path ``exclude`` always takes). Both are exact and agree.
    """
    if count not in RANK_COUNTS:
        raise ValueError(f"count={count!r}: use one of {list(RANK_COUNTS)}")
    if scores.ndim != 2:
        raise ValueError(f"scores must be [B, N], got shape {tuple(scores.shape)}")
    targets = targets.reshape(-1).to(device=scores.device, dtype=torch.long)
    if targets.shape[0] != scores.shape[0]:
        raise ValueError(f"{scores.shape[0]} score rows but {targets.shape[0]} targets")
    if len(targets) and (targets.min() < 0 or targets.max() >= scores.shape[1]):
        raise ValueError(f"targets must index the {scores.shape[1]} score columns")
    if weights is not None and weights.shape != (scores.shape[1],):
        raise ValueError(
            f"weights must be [{scores.shape[1]}] (one per score column), got {tuple(weights.shape)}"
        )
    if torch.isnan(scores.amax(dim=1)).any():  # amax propagates NaN: one reduction, not a [B, N] mask
        raise ValueError("scores contain NaN: the model diverged or a padding row leaked in")
    target_scores = scores.gather(1, targets[:, None])  # [B, 1]
    total = scores.shape[1] if weights is None else float(weights.sum())
    if count == "sign" and exclude is None and total < 2**24:
        return _ranks_by_sign(scores if overwrite else scores.clone(), target_scores, weights, total)
    higher = scores > target_scores  # [B, N]
    equal = scores == target_scores  # [B, N], includes the target itself
    if exclude is not None:
        keep = ~exclude.to(device=scores.device, dtype=torch.bool).expand_as(scores)
        higher = higher & keep
        equal = equal & keep
        equal = equal.scatter(1, targets[:, None], True)  # the target counts as itself even if excluded
    n_higher, n_equal = _weighted_count(higher, weights), _weighted_count(equal, weights)
    n_ties = n_equal - 1  # [B], minus the target
    return Ranks(n_higher.cpu().numpy().astype(np.float64), n_ties.cpu().numpy().astype(np.int64))


def _ranks_by_sign(work: Tensor, target_scores: Tensor, weights: Tensor | None, total: float) -> Ranks:
    """Higher and tied counts from ``sign(scores - target)`` and two matrix-vector products, in place.

    With ``s = sign(score - target)`` per column and column weights ``w``, ``sum w s`` is
    higher - lower and ``sum w |s|`` is higher + lower, so both counts come from one work tensor
    and no [B, N] mask is allocated: several times faster than comparing twice and counting. Exact:
    ``a - b`` is 0 only when ``a == b`` (gradual underflow), and integer sums stay exact in float32
    below 2**24. An infinite target's ``inf - inf`` is NaN: such a pair is equal, so NaN -> 0.
    """
    work.sub_(target_scores)
    if bool(torch.isinf(target_scores).any()):
        work.nan_to_num_(nan=0.0)
    work.sign_()
    w = (
        torch.ones(work.shape[1], dtype=work.dtype, device=work.device)
        if weights is None
        else weights.to(device=work.device, dtype=work.dtype)
    )
    signed = work @ w  # higher - lower
    unequal = work.abs_() @ w  # higher + lower
    n_higher = ((signed + unequal) / 2).round().long()
    n_ties = (total - unequal).round().long() - 1  # equal columns' weight, minus the target itself
    return Ranks(n_higher.cpu().numpy().astype(np.float64), n_ties.cpu().numpy().astype(np.int64))


def _weighted_count(mask: Tensor, weights: Tensor | None) -> Tensor:
    """``[B]`` int64: ``sum_j mask[b, j] * weights[j]`` (weights None: all 1), exact.

    Counted as bytes (a bool mask viewed as uint8, summed in int32, cheaper on CPUs than a float
    cast and a matrix-vector product) as if every weight were 1; the few columns whose weight
    differs (colliding SIDs) are corrected apart."""
    counts = mask.view(torch.uint8).sum(dim=1, dtype=torch.int32).long()
    if weights is None:
        return counts
    other = torch.nonzero(weights != 1).reshape(-1)
    if len(other):
        counts += (mask[:, other].long() * (weights[other].long() - 1)).sum(dim=1)
    return counts
