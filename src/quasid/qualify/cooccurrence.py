"""Collaborative positives: item pairs that users consume close together more often than chance.

The public QuaSID re-implementation (CollisionGenRec, Zhang et al., CIKM 2026) reads the paper's
collaborative signal as positive pointwise mutual information (PPMI) of windowed co-occurrence
in the training histories (the paper itself uses Swing). Two items co-occur when they stand at
most ``window`` positions apart in one history; each such event counts once in both directions.
With ``c_ab`` the symmetric counts, ``c_a = sum_b c_ab`` and ``T = sum_ab c_ab``:

    PPMI(a, b) = max(0, log(c_ab * T / (c_a * c_b)))

Pairs with PPMI > 0 are the *collaborative positives*: the item-to-item contrastive objective
pulls them together (``contrastive.CooccurrenceContrastive``) and the valid pair mask never
repels them (``masking`` rule ``collab_positive``). The matrix is sparse (no N x N array).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.sparse import csr_matrix
from torch import Tensor

from quasid.errors import ConfigError, DataError

#: The window of the public re-implementation.
DEFAULT_WINDOW = 3


def ppmi(sequences: Sequence[np.ndarray], n_items: int, window: int = DEFAULT_WINDOW) -> csr_matrix:
    """``[n_items, n_items]`` sparse symmetric PPMI of windowed co-occurrence (only entries > 0 stored).

    sequences: per-user item-row histories in time order (the training part only, so the
    signal never saw a validation or test item).
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError(f"ppmi window must be a positive integer, got {window!r}")
    firsts, seconds = [], []
    for seq in sequences:
        s = np.asarray(seq, dtype=np.int64).ravel()
        for offset in range(1, min(window, len(s) - 1) + 1):
            firsts.append(s[:-offset])
            seconds.append(s[offset:])
    if not firsts:
        return csr_matrix((n_items, n_items), dtype=np.float64)
    a, b = np.concatenate(firsts), np.concatenate(seconds)
    if len(a) and (min(a.min(), b.min()) < 0 or max(a.max(), b.max()) >= n_items):
        bad = np.concatenate([a, b])
        bad = bad[(bad < 0) | (bad >= n_items)][:5].tolist()
        raise DataError(f"histories name item rows {bad} outside the catalog of {n_items} items")
    rows, cols = np.concatenate([a, b]), np.concatenate([b, a])
    counts = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_items, n_items))
    counts.sum_duplicates()
    total = counts.sum()
    if total == 0:
        return csr_matrix((n_items, n_items), dtype=np.float64)
    marginal = np.asarray(counts.sum(axis=1)).ravel()
    coo = counts.tocoo()
    pmi = np.log(coo.data * total / (marginal[coo.row] * marginal[coo.col]))
    keep = pmi > 0
    out = csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=(n_items, n_items))
    out.sort_indices()
    return out


class CollaborativePositives:
    """PPMI lookups for training batches: ``[b, b]`` blocks (dense or sparse) and pair tests."""

    def __init__(self, matrix: csr_matrix) -> None:
        if matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"PPMI matrix must be square, got {matrix.shape}")
        self.matrix = matrix.tocsr()
        n = matrix.shape[0]
        coo = self.matrix.tocoo()
        upper = coo.row < coo.col
        keys = np.sort(coo.row[upper].astype(np.int64) * n + coo.col[upper])
        self.n_items = n
        self.keys = torch.from_numpy(keys)  # sorted a * n + b (a < b) of the positive pairs

    @classmethod
    def from_sequences(
        cls, sequences: Sequence[np.ndarray], n_items: int, window: int = DEFAULT_WINDOW
    ) -> CollaborativePositives:
        return cls(ppmi(sequences, n_items, window))

    @property
    def n_pairs(self) -> int:
        """Unordered positive pairs."""
        return int(self.keys.numel())

    def batch(self, rows: Tensor, sparse: bool = False) -> Tensor:
        """``[b, b]`` float PPMI among the batch's catalog rows (0 where not positive), on rows' device.

        ``sparse=True``: the block as a coalesced sparse COO tensor (what training uses: a batch holds
        few positive pairs). It is built from the batch rows' stored entries alone."""
        idx = rows.detach().cpu().numpy()
        gathered = self.matrix[idx]  # [b, n] CSR: one row gather, no column indexing
        entry_rows = np.repeat(np.arange(len(idx)), np.diff(gathered.indptr))
        r, c, v = _batch_columns(idx, self.n_items, entry_rows, gathered.indices, gathered.data)
        block = torch.sparse_coo_tensor(
            torch.from_numpy(np.stack([r, c])),
            torch.from_numpy(v.astype(np.float32)),
            (len(idx), len(idx)),
            check_invariants=False,  # in range by construction
        ).coalesce()
        return (block if sparse else block.to_dense()).to(rows.device)

    def is_positive(self, a: Tensor, b: Tensor) -> Tensor:
        """``[p]`` bool: whether catalog rows ``(a[k], b[k])`` are a collaborative positive pair."""
        query = torch.minimum(a, b) * self.n_items + torch.maximum(a, b)
        return find_keys(self.keys.to(a.device), query)[0]


def find_keys(keys: Tensor, query: Tensor) -> tuple[Tensor, Tensor]:
    """(found [p] bool, position [p]) of each query in the sorted pair ``keys``."""
    if keys.numel() == 0:
        return torch.zeros(query.shape, dtype=torch.bool, device=query.device), torch.zeros_like(query)
    pos = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
    return keys[pos] == query, pos


def _batch_columns(
    idx: np.ndarray, n_items: int, rows: np.ndarray, items: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored entries (batch row, catalog item, value) -> (batch row, batch column, value) for every
    batch column that holds the item (a batch may hold an item twice); other entries drop out."""
    in_batch = np.zeros(n_items, dtype=bool)
    in_batch[idx] = True
    keep = in_batch[items]  # one table lookup first, so the search below sees the few that stay
    rows, items, values = rows[keep], items[keep], values[keep]
    order = np.argsort(idx, kind="stable")
    lo = np.searchsorted(idx[order], items, side="left")
    count = np.searchsorted(idx[order], items, side="right") - lo
    start = np.repeat(lo, count)
    step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    return np.repeat(rows, count), order[start + step], np.repeat(values, count)
