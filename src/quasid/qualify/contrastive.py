"""Dual-tower contrastive objective: inject collaborative signal into tokenization.

Content alone cannot separate items whose content is identical, nor tell which
distinct items users treat alike. The dual tower aligns each item's tokenizer
latent (item tower) with an encoding of the histories that lead to it (user
tower: recent history latents, pooled, through a small MLP), by InfoNCE with
in-batch negatives. A batch that holds the same target twice would make each
copy the other's negative; those false negatives are masked out.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quasid.errors import ConfigError, DataError

POOLINGS = ("mean", "attention")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


class UserTower(nn.Module):
    """A user vector from the latents of their most recent history items.

    Args:
        dim: latent size d (input and output).
        pooling: ``"mean"`` (masked average) or ``"attention"`` (a learned query
            over the items; uniform, i.e. the mean, at initialisation).
        max_history: only the last ``max_history`` real items of each row are pooled.
        hidden: MLP width, default ``2 * dim``.
    """

    def __init__(
        self, dim: int, pooling: str = "mean", max_history: int = 20, hidden: int | None = None
    ) -> None:
        super().__init__()
        _check_positive_int("dim", dim)
        _check_positive_int("max_history", max_history)
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        hidden = 2 * dim if hidden is None else hidden
        _check_positive_int("hidden", hidden)
        self.dim = dim
        self.pooling = pooling
        self.max_history = max_history
        if pooling == "attention":
            self.key = nn.Linear(dim, dim)
            self.query = nn.Parameter(torch.zeros(dim))
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, history_latents: Tensor, history_mask: Tensor) -> Tensor:
        """history_latents ``[b, t, d]`` in time order (most recent last), history_mask ``[b, t]``
        True at real items -> ``[b, d]``. Rows with no real item pool to zero."""
        mask = history_mask.bool()
        recent_rank = mask.flip(-1).cumsum(dim=-1).flip(-1)  # [b, t] real items at or after each slot
        mask = mask & (recent_rank <= self.max_history)
        weight = mask.to(history_latents.dtype)  # [b, t]
        if self.pooling == "mean":
            weight = weight / weight.sum(dim=-1, keepdim=True).clamp(min=1.0)
        else:
            scores = self.key(history_latents) @ self.query / math.sqrt(self.dim)  # [b, t]
            scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
            weight = scores.softmax(dim=-1) * weight  # all-padding rows get zero weight
        pooled = torch.einsum("bt,btd->bd", weight, history_latents)
        return self.mlp(pooled)


class DualTowerContrastive(nn.Module):
    """InfoNCE between user-tower vectors and target item latents, in-batch negatives.

    Args:
        dim: latent size d.
        temperature: softmax temperature t on cosine similarities; > 0.
        pooling: user-tower pooling, ``"mean"`` or ``"attention"``.
        max_history: history items the user tower reads.
    """

    def __init__(
        self, dim: int, temperature: float = 0.07, pooling: str = "mean", max_history: int = 20
    ) -> None:
        super().__init__()
        if not float(temperature) > 0.0:
            raise ConfigError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.user_tower = UserTower(dim, pooling=pooling, max_history=max_history)

    def forward(
        self, history_latents: Tensor, history_mask: Tensor, target_latents: Tensor, target_items: Tensor
    ) -> Tensor:
        """history_latents ``[b, t, d]``, history_mask ``[b, t]``, target_latents ``[b, d]``,
        target_items ``[b]`` catalog rows -> scalar InfoNCE loss.

        Logit (b, b') = cos(user_b, target_b') / t; where target_items[b'] equals
        target_items[b] for b' != b the logit is -inf (a false negative). Rows with
        an empty history carry no signal and are left out of the mean.
        """
        b = target_latents.shape[0]
        if history_latents.shape[:2] != history_mask.shape or history_latents.shape[0] != b:
            raise ValueError(
                f"history_latents [b, t, d], history_mask [b, t] and target_latents [b, d] disagree: "
                f"{tuple(history_latents.shape)}, {tuple(history_mask.shape)}, {tuple(target_latents.shape)}"
            )
        users = F.normalize(self.user_tower(history_latents, history_mask), dim=-1)  # [b, d]
        targets = F.normalize(target_latents, dim=-1)  # [b, d]
        logits = users @ targets.t() / self.temperature  # [b, b]
        eye = torch.eye(b, dtype=torch.bool, device=logits.device)
        false_negative = (target_items[:, None] == target_items[None, :]) & ~eye
        logits = logits.masked_fill(false_negative, float("-inf"))
        rows = history_mask.bool().any(dim=-1)  # [b]
        if not bool(rows.any()):
            return logits.diagonal().sum() * 0.0
        labels = torch.arange(b, device=logits.device)
        return F.cross_entropy(logits[rows], labels[rows])


def sample_user_batches(
    sequences: Sequence[np.ndarray],
    batch_size: int,
    max_history: int,
    rng: np.random.Generator,
    n_batches: int | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Training examples for the dual tower: (history, target) at random (user, position).

    Every position with at least one earlier item in its user's sequence is a
    target; its history is the ``max_history`` items before it, left-padded with
    -1 (most recent last). With ``n_batches=None`` yields one pass over all
    targets in random order (the last batch may be smaller); otherwise
    ``n_batches`` batches drawn with replacement. Yields ``history [B, max_history]``
    and ``target [B]``, both int64.
    """
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("max_history", max_history)
    if n_batches is not None:
        _check_positive_int("n_batches", n_batches)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if not len(lengths) or lengths.max() < 2:
        raise DataError(
            "no user history has two or more items: the dual tower needs (history, next item) pairs"
        )
    flat = np.concatenate([np.asarray(s, dtype=np.int64).ravel() for s in sequences])
    starts = np.cumsum(lengths) - lengths
    history_start = np.repeat(starts, lengths)  # [E] first flat index of each event's user
    targets = np.flatnonzero(np.arange(len(flat)) > history_start)
    offsets = np.arange(-max_history, 0, dtype=np.int64)  # [T]

    def batch(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cols = chosen[:, None] + offsets[None, :]  # [B, T] flat indices of the history
        real = cols >= history_start[chosen][:, None]
        history = np.where(real, flat[np.clip(cols, 0, None)], -1)
        return history, flat[chosen]

    if n_batches is None:
        order = rng.permutation(targets)
        for lo in range(0, len(order), batch_size):
            yield batch(order[lo : lo + batch_size])
    else:
        for _ in range(n_batches):
            yield batch(targets[rng.integers(0, len(targets), size=batch_size)])


class CooccurrenceContrastive(nn.Module):
    """Item-to-item InfoNCE on collaborative positives: the public re-implementation's reading of the
    paper's collaborative objective (CollisionGenRec), beside the dual tower.

    Each batch item whose batch holds one of its collaborative positives (``cooccurrence``,
    PPMI > 0) is pulled towards the one of highest PPMI, against the rest of the batch. The
    other positives in the batch are masked out of the denominator (false negatives), and so
    is any other copy of the same item. ``self_negative=True`` keeps the item's own similarity
    (cos = 1) in the denominator, as that code does; by default it is left out, as usual.

    Args:
        temperature: softmax temperature on cosine similarities; > 0 (there: 0.1).
        self_negative: keep each item's similarity to itself among the logits.
    """

    def __init__(self, temperature: float = 0.1, self_negative: bool = False) -> None:
        super().__init__()
        if not float(temperature) > 0.0:
            raise ConfigError(f"temperature must be > 0, got {temperature!r}")
        self.temperature = float(temperature)
        self.self_negative = bool(self_negative)

    def forward(self, latents: Tensor, ppmi: Tensor, items: Tensor | None = None) -> Tensor:
        """latents ``[b, d]``, ppmi ``[b, b]`` among the batch's items (0 = not positive; dense, or a
        sparse COO tensor as ``CollaborativePositives.batch(rows, sparse=True)`` gives it), items
        ``[b]`` catalog rows (to mask copies of one item) -> scalar loss (0 when no item has a positive).

        Works on the positive pairs, never on ``[b, b]`` masks: only the rows that have a positive
        get logits, and the masked entries are written into those rows one by one. Positives are
        sparse in a batch, so this is a few ``[rows, b]`` passes instead of a dozen ``[b, b]`` ones."""
        b = latents.shape[0]
        if ppmi.shape != (b, b):
            raise ValueError(f"ppmi must be [b, b] = [{b}, {b}], got {tuple(ppmi.shape)}")
        pairs = (ppmi if ppmi.is_sparse else ppmi.to_sparse()).coalesce()
        r, c = pairs.indices().to(latents.device)
        v = pairs.values().to(latents.device)
        drop = (v <= 0) | (r == c)
        if items is not None:
            drop |= items[r] == items[c]  # a copy of the item itself is never its positive
        r, c, v = r[~drop], c[~drop], v[~drop]
        if r.numel() == 0:
            return latents.sum() * 0.0
        # each row's pairs by falling PPMI, ties by column (argmax's first maximum); coalesced
        # indices come sorted by (row, column) and both sorts are stable
        order = torch.sort(-v, stable=True).indices
        order = order[torch.sort(r[order], stable=True).indices]
        r, c = r[order], c[order]
        first = torch.ones_like(r, dtype=torch.bool)
        first[1:] = r[1:] != r[:-1]
        rows, positive = r[first], c[first]  # the rows that have a positive, ascending; the strongest
        z = F.normalize(latents, dim=-1)
        logits = z[rows] @ z.t() / self.temperature  # [p, b]
        hidden = torch.zeros_like(logits, dtype=torch.bool)
        hidden[torch.searchsorted(rows, r[~first]), c[~first]] = True  # other positives: not negatives
        if items is not None and torch.unique(items).numel() < b:  # other copies: not negatives
            hidden |= items[rows][:, None] == items[None, :]
            hidden[torch.arange(len(rows), device=rows.device), rows] = False
        if not self.self_negative:
            hidden[torch.arange(len(rows), device=rows.device), rows] = True
        return F.cross_entropy(logits.masked_fill(hidden, float("-inf")), positive)
