"""SASRec (Kang & McAuley, 2018) with item embeddings from an id table or composed from Semantic IDs.

Architecture as in the paper: item embedding + learned positional embedding,
a stack of causal self-attention blocks (``nn.TransformerEncoder``, pre-norm,
point-wise feed-forward, dropout), a final layer norm, and scores
``hidden . item_embedding`` tied with the input embeddings, over the whole
catalog.

Training objective: by default full softmax cross-entropy over the catalog at
every position (``loss="ce"``). It is the modern variant (RecBole, and the
"SASRec is underrated" line of work) and is markedly stronger than the paper's
binary cross-entropy with one sampled negative per position, which remains
available as ``loss="bce"`` for comparison with the original.

Item representations (``item_repr``):

- ``"id"``: one learned row per item, the reference every SID model is judged against.
- ``"hybrid"``: the id row plus the SID token vectors (pooled as for ``"sid"``),
  as industrial rankers use SIDs: items that share tokens share part of their
  vector, so rare items borrow from their code neighbours, while the id row
  keeps every item distinct.
- ``"sid"``: no per-item parameters. An item's vector is built from its SID
  tokens: one table per level (``codebook_size`` rows; the disambiguation level,
  when the SID table has one and ``use_dedup`` holds, gets ``max(dedup) + 1``
  rows), pooled by ``"sum"`` or ``"concat"`` (concatenation, then a linear map
  back to ``hidden``). Items that share their whole SID get the same vector and
  so exactly the same score: a collision costs ranking quality downstream,
  which is what this model is here to measure. Scores are computed once per
  distinct SID and copied to its items, so such ties are exact (not left to
  floating-point luck) and the metrics' tie rule applies to them.

Sequences are right-padded, so the causal mask alone keeps real positions from
attending to padding and no row is ever fully masked; position ``t`` is the
``t``-th item of the (last ``max_len`` items of the) sequence.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quasid.errors import ConfigError, DataError
from quasid.rec.dropout import use_fast_dropout
from quasid.rec.losses import chunked_softmax_cross_entropy
from quasid.rec.metrics import RANK_COUNTS, Ranks, rank_of_targets
from quasid.sid.table import SIDTable

ITEM_REPRS = ("id", "sid", "hybrid")
SID_POOLINGS = ("sum", "concat")
LOSSES = ("ce", "bce")


@dataclass
class SASRecConfig:
    """Model shape and objective; training settings live in ``quasid.rec.evaluate.TrainConfig``.

    Defaults are sized for a CPU on the Amazon 5-core sets (12k-18k items,
    sequences of ~9 items): hidden 64, 2 blocks, 2 heads, 50 positions.
    """

    hidden: int = 64
    layers: int = 2
    heads: int = 2
    ffn_dim: int | None = None  # point-wise feed-forward width; None = 4 * hidden
    max_len: int = 50  # positions the model sees (the most recent items)
    dropout: float = 0.3
    item_repr: str = "id"  # "id" | "sid"
    sid_pooling: str = "sum"  # "sum" | "concat" (item_repr="sid" only)
    use_dedup: bool = True  # use the SID table's disambiguation level when it has one
    loss: str = "ce"  # "ce": full softmax over the catalog | "bce": one sampled negative (paper)
    # speed levers of the "ce" loss (docs/judges.md): rows per chunk of the streamed softmax
    # cross-entropy that never holds the [M, N] logits (0 = F.cross_entropy on the full logits), and
    # bf16 products inside it (fp32 log-sum-exp and gradients; evaluation always scores in fp32).
    # bf16 is the default: faster, with test figures within fp32's seed spread (docs/judges.md).
    ce_chunk: int = 64
    ce_bf16: bool = True
    # how evaluation counts the items scored above / with each target (quasid.rec.metrics.RANK_COUNTS:
    # "sign", one in-place pass and two matrix-vector products; "compare", two masks): same ranks
    rank_count: str = "sign"
    # evaluation levers (docs/judges.md), both exact up to float rounding: users scored and ranked per
    # block, so each block's [users, N] scores stay in the core's L2 cache through the rank count (0 =
    # the whole evaluation batch at once); and the last block run at each history's last position
    # only (every other position of it feeds nothing the ranking reads)
    score_block: int = 64
    last_position_only: bool = True
    # evaluation lever, exact: score blocks on this many Python threads at once, each running its ops
    # on one torch thread (torch's own threads split each [64, N] op and cost more than they give on
    # 2 cores, docs/judges.md). 0 = as many as torch has threads (the default; one thread = off);
    # 1 = one block after another on torch's threads
    score_workers: int = 0
    # training lever (docs/judges.md): the dropout modules draw their masks with quasid.rec.dropout's
    # quarter-draw generator (same Bernoulli rate to 2e-5; torch's per-element draw runs on one thread
    # and was a seventh of a 2-thread step); the attention weights' dropout, fused inside
    # nn.MultiheadAttention, keeps torch's. Off by default: on 3 converged seeds its test NDCG@10 fell
    # outside the float32 seeds' range (-1.7 %, docs/judges.md), for about 8 % of a step
    fast_dropout: bool = False
    init_std: float = 0.02  # std of the normal init of embeddings and linear layers
    seed: int = 0  # parameter initialisation

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad field."""
        for name in ("hidden", "layers", "heads", "max_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"SASRecConfig.{name} must be an integer >= 1, got {value!r}")
        if self.hidden % self.heads:
            raise ConfigError(
                f"SASRecConfig.heads={self.heads} must divide SASRecConfig.hidden={self.hidden}"
            )
        if self.ffn_dim is not None and (not isinstance(self.ffn_dim, int) or self.ffn_dim < 1):
            raise ConfigError(f"SASRecConfig.ffn_dim must be an integer >= 1 or None, got {self.ffn_dim!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"SASRecConfig.dropout must be in [0, 1), got {self.dropout!r}")
        if self.item_repr not in ITEM_REPRS:
            raise ConfigError(f"SASRecConfig.item_repr={self.item_repr!r}: use one of {list(ITEM_REPRS)}")
        if self.sid_pooling not in SID_POOLINGS:
            raise ConfigError(
                f"SASRecConfig.sid_pooling={self.sid_pooling!r}: use one of {list(SID_POOLINGS)}"
            )
        if self.loss not in LOSSES:
            raise ConfigError(f"SASRecConfig.loss={self.loss!r}: use one of {list(LOSSES)}")
        if not isinstance(self.ce_chunk, int) or self.ce_chunk < 0:
            raise ConfigError(
                f"SASRecConfig.ce_chunk must be an integer >= 0 (0 = off), got {self.ce_chunk!r}"
            )
        if not isinstance(self.score_block, int) or self.score_block < 0:
            raise ConfigError(
                f"SASRecConfig.score_block must be an integer >= 0 (0 = off), got {self.score_block!r}"
            )
        if not isinstance(self.score_workers, int) or self.score_workers < 0:
            raise ConfigError(
                f"SASRecConfig.score_workers must be an integer >= 0 (0 = torch's thread count), got "
                f"{self.score_workers!r}"
            )
        if self.rank_count not in RANK_COUNTS:
            raise ConfigError(f"SASRecConfig.rank_count={self.rank_count!r}: use one of {list(RANK_COUNTS)}")
        if not self.init_std > 0:
            raise ConfigError(f"SASRecConfig.init_std must be > 0, got {self.init_std!r}")


#: Every speed lever off: the training and evaluation code path SASRec had before them (issue 14):
#: the full fp32 [M, N] cross-entropy, two comparison masks per scored batch, each evaluation batch
#: scored at once on torch's threads with its last block run at every position, torch's dropout.
LEVERS_OFF: dict[str, Any] = {
    "ce_chunk": 0,
    "ce_bf16": False,
    "rank_count": "compare",
    "score_block": 0,
    "last_position_only": False,
    "score_workers": 1,
    "fast_dropout": False,
}


class IdItemEmbedding(nn.Module):
    """One learned vector per item (the classic table)."""

    def __init__(self, n_items: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Embedding(n_items, dim)

    def distinct(self) -> tuple[Tensor, Tensor | None]:
        """``(vectors [U, d], inverse [N] or None)``: here every item is distinct, U = N."""
        return self.table.weight, None


class SIDItemEmbedding(nn.Module):
    """Item vectors composed from SID tokens: a table per level, pooled; no per-item parameters."""

    def __init__(self, codes: np.ndarray, level_sizes: Sequence[int], dim: int, pooling: str) -> None:
        super().__init__()
        codes = np.asarray(codes, dtype=np.int64)  # [N, L]
        uniq, inverse = np.unique(codes, axis=0, return_inverse=True)
        self.register_buffer("codes", torch.from_numpy(uniq))  # [U, L] distinct SIDs
        self.register_buffer("inverse", torch.from_numpy(inverse.reshape(-1)))  # [N] item -> SID row
        self.levels = nn.ModuleList(nn.Embedding(int(size), dim) for size in level_sizes)
        self.pooling = pooling
        self.proj = nn.Linear(len(level_sizes) * dim, dim) if pooling == "concat" else None

    @property
    def n_distinct(self) -> int:
        return int(self.codes.shape[0])

    def distinct(self) -> tuple[Tensor, Tensor | None]:
        """``(vectors [U, d] of the distinct SIDs, inverse [N] mapping items to them)``."""
        parts = [table(self.codes[:, lv]) for lv, table in enumerate(self.levels)]  # L x [U, d]
        if self.proj is None:
            return torch.stack(parts).sum(0), self.inverse  # [U, d]
        return self.proj(torch.cat(parts, dim=-1)), self.inverse  # [U, L*d] -> [U, d]

    def multiplicity(self) -> Tensor:
        """``[U]``: how many catalog items share each distinct SID (the weight of its score column)."""
        return torch.bincount(self.inverse, minlength=self.n_distinct)


class HybridItemEmbedding(nn.Module):
    """Id row + SID token vectors: every item is distinct, and items that share tokens share part of it."""

    def __init__(self, codes: np.ndarray, level_sizes: Sequence[int], dim: int, pooling: str) -> None:
        super().__init__()
        self.ids = IdItemEmbedding(len(codes), dim)
        self.sids = SIDItemEmbedding(codes, level_sizes, dim, pooling)

    @property
    def n_distinct(self) -> int:
        return self.sids.n_distinct

    def distinct(self) -> tuple[Tensor, Tensor | None]:
        """``(vectors [N, d], None)``: the id part makes every item its own row."""
        vectors, inverse = self.sids.distinct()
        return self.ids.table.weight + vectors[inverse], None


def _sid_codes(
    table: SIDTable, n_items: int, item_ids: Sequence[Any] | None, use_dedup: bool
) -> tuple[np.ndarray, list[int]]:
    """The table's codes in model row order, and the size of each level's embedding table."""
    codes = table.full_codes() if use_dedup else table.codes
    if item_ids is not None:
        wanted = [str(i) for i in item_ids]
        where = {str(k): r for r, k in enumerate(table.item_ids)}
        missing = [i for i in wanted if i not in where]
        if missing:
            raise DataError(
                f"{len(missing)} catalog item(s) have no SID, e.g. {missing[:5]}: assign SIDs to every item"
            )
        codes = codes[np.asarray([where[i] for i in wanted], dtype=np.int64)]
    if len(codes) != n_items:
        raise DataError(
            f"the SID table has {len(codes)} items but the model has {n_items}: pass item_ids "
            "(the catalog's) so the table can be aligned to the catalog rows"
        )
    if codes.min() < 0:
        raise DataError("the SID table has negative codes")
    semantic = table.n_levels
    if codes[:, :semantic].max() >= table.codebook_size:
        raise DataError(
            f"the SID table has codes up to {int(codes[:, :semantic].max())} but codebook_size="
            f"{table.codebook_size}"
        )
    sizes = [table.codebook_size] * semantic
    if codes.shape[1] > semantic:
        sizes.append(int(codes[:, semantic].max()) + 1)
    return codes, sizes


class SASRec(nn.Module):
    """Causal self-attention next-item model; implements the ``quasid.rec.evaluate`` model protocol.

    Item rows are the catalog's (``0..n_items-1``); internally the input uses
    ``row + 1`` with 0 for padding, and scores are over the ``n_items`` real items only.
    """

    def __init__(
        self,
        n_items: int,
        config: SASRecConfig | None = None,
        *,
        sid_table: SIDTable | None = None,
        item_ids: Sequence[Any] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__()
        try:
            config = replace(config or SASRecConfig(), **overrides)
        except TypeError as exc:
            raise ConfigError(f"SASRecConfig: {exc}") from None
        config.validate()
        if n_items < 2:
            raise ConfigError(f"n_items={n_items}: ranking needs at least 2 items")
        if config.item_repr != "id" and sid_table is None:
            raise ConfigError(
                f"SASRecConfig.item_repr={config.item_repr!r} needs a sid_table (a quasid.sid.SIDTable)"
            )
        self.config = config
        self.n_items = n_items
        d = config.hidden
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            self.items: IdItemEmbedding | SIDItemEmbedding | HybridItemEmbedding
            if config.item_repr == "id":
                self.items = IdItemEmbedding(n_items, d)
            else:
                assert sid_table is not None
                codes, sizes = _sid_codes(sid_table, n_items, item_ids, config.use_dedup)
                kind = SIDItemEmbedding if config.item_repr == "sid" else HybridItemEmbedding
                self.items = kind(codes, sizes, d, config.sid_pooling)
            self.positions = nn.Embedding(config.max_len, d)
            self.input_norm = nn.LayerNorm(d)
            self.input_dropout = nn.Dropout(config.dropout)
            block = nn.TransformerEncoderLayer(
                d_model=d,
                nhead=config.heads,
                dim_feedforward=config.ffn_dim or 4 * d,
                dropout=config.dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(
                block, config.layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
            )
            self.apply(self._init_weights)
        if config.fast_dropout:
            use_fast_dropout(self)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.init_std)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, std=self.config.init_std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    @property
    def device(self) -> torch.device:
        return self.positions.weight.device

    # --- item vectors and scores -----------------------------------------------------------
    def item_embeddings(self) -> Tensor:
        """``[N, d]``: every catalog item's vector (colliding SIDs give identical rows)."""
        vectors, inverse = self.items.distinct()
        return vectors if inverse is None else vectors[inverse]

    def score_all(self, hidden: Tensor) -> Tensor:
        """``hidden [M, d] -> scores [M, N]`` over the whole catalog (dot product, tied embeddings)."""
        vectors, inverse = self.items.distinct()  # [U, d], [N]
        scores = hidden @ vectors.T  # [M, U]
        return scores if inverse is None else scores[:, inverse]  # one score per SID, copied to its items

    # --- encoder ---------------------------------------------------------------------------
    def encode(self, inputs: Tensor, item_vectors: Tensor | None = None) -> Tensor:
        """``inputs [B, T]`` (item row + 1, 0 = right padding) -> hidden states ``[B, T, d]``."""
        x, causal = self._embed(inputs, item_vectors)
        return self.encoder(x, mask=causal, is_causal=True)  # [B, T, d]

    def _embed(self, inputs: Tensor, item_vectors: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """The first block's input ``[B, T, d]`` and the causal mask ``[T, T]``."""
        T = inputs.shape[1]
        if self.config.max_len < T:
            raise ValueError(f"sequence length {T} exceeds SASRecConfig.max_len={self.config.max_len}")
        if item_vectors is None:
            item_vectors = self.item_embeddings()
        table = torch.cat([item_vectors.new_zeros(1, item_vectors.shape[1]), item_vectors])  # [N+1, d]
        x = table[inputs] + self.positions.weight[:T]  # [B, T, d]
        x = self.input_dropout(self.input_norm(x))
        return x, nn.Transformer.generate_square_subsequent_mask(T, device=inputs.device)

    def _encode_last(self, inputs: Tensor, lengths: Tensor) -> Tensor:
        """``[B, d]``: ``encode(inputs)`` at each row's position ``lengths - 1``, the last block run
        there only. Its query is that one position; its keys and values are every position up to it
        (the key padding mask drops the rest, as the causal mask did), so it is the same function."""
        x, causal = self._embed(inputs)
        *first, last = self.encoder.layers
        for layer in first:
            x = layer(x, src_mask=causal, is_causal=True)
        T = inputs.shape[1]
        after = torch.arange(T, device=inputs.device)[None, :] >= lengths[:, None]  # [B, T]: keys dropped
        y = x[torch.arange(len(lengths), device=inputs.device), lengths - 1][:, None]  # [B, 1, d]
        kv = last.norm1(x)
        attended = last.self_attn(last.norm1(y), kv, kv, key_padding_mask=after, need_weights=False)[0]
        y = y + last.dropout1(attended)
        y = y + last.dropout2(last.linear2(last.dropout(last.activation(last.linear1(last.norm2(y))))))
        return self.encoder.norm(y)[:, 0]

    def forward(self, inputs: Tensor) -> Tensor:
        """Hidden states ``[B, T, d]`` of right-padded inputs (see ``encode``)."""
        return self.encode(inputs)

    # --- training (the evaluate.RankingModel protocol) ---------------------------------------
    def training_examples(self, sequences: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Windows of at most ``max_len + 1`` items; each transition of each sequence is a target once.

        A sequence longer than the window is cut from its end backwards, the
        windows overlapping by one item (the input that precedes the next
        window's first target). Sequences of fewer than 2 items teach nothing.
        """
        w = self.config.max_len + 1
        out: list[np.ndarray] = []
        for seq in sequences:
            seq = np.asarray(seq, dtype=np.int64)
            end = len(seq)
            while end >= 2:
                start = max(0, end - w)
                out.append(seq[start:end])
                end = start + 1
        return out

    def example_length(self, example: np.ndarray) -> int:
        """Items in a training window (the loop batches similar lengths together)."""
        return len(example)

    def collate(self, examples: Sequence[np.ndarray]) -> dict[str, Tensor]:
        """Right-padded ``input [B, T]`` (row + 1, 0 = pad) and ``target [B, T]`` (row, -1 = none)."""
        T = max(len(e) for e in examples) - 1
        inputs = np.zeros((len(examples), T), dtype=np.int64)
        targets = np.full((len(examples), T), -1, dtype=np.int64)
        for i, e in enumerate(examples):
            inputs[i, : len(e) - 1] = e[:-1] + 1
            targets[i, : len(e) - 1] = e[1:]
        return {"input": torch.from_numpy(inputs), "target": torch.from_numpy(targets)}

    def training_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """Mean next-item loss over every non-padded position of the batch."""
        inputs = batch["input"].to(self.device)
        targets = batch["target"].to(self.device)
        vectors, inverse = self.items.distinct()
        item_vectors = vectors if inverse is None else vectors[inverse]  # [N, d]
        hidden = self.encode(inputs, item_vectors)  # [B, T, d]
        mask = targets >= 0
        h = hidden[mask]  # [M, d]
        pos = targets[mask]  # [M]
        if self.config.loss == "ce":
            if self.config.ce_chunk:  # streamed over rows; the per-item vectors make the gather free
                return chunked_softmax_cross_entropy(
                    h, item_vectors, pos, self.config.ce_chunk, self.config.ce_bf16
                )
            logits = h @ vectors.T  # [M, U]
            if inverse is not None:
                logits = logits[:, inverse]  # [M, N]
            return F.cross_entropy(logits, pos)
        neg = torch.randint(0, self.n_items, pos.shape, device=pos.device)  # [M], uniform
        neg = torch.where(neg == pos, (neg + 1) % self.n_items, neg)  # never the positive itself
        pos_logit = (h * item_vectors[pos]).sum(-1)
        neg_logit = (h * item_vectors[neg]).sum(-1)
        return F.binary_cross_entropy_with_logits(
            pos_logit, torch.ones_like(pos_logit)
        ) + F.binary_cross_entropy_with_logits(neg_logit, torch.zeros_like(neg_logit))

    # --- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def score_histories(self, histories: Sequence[np.ndarray]) -> Tensor:
        """``[B, N]`` scores of every catalog item as the next item after each history."""
        return self.score_all(self._last_hidden(histories))  # [B, N]

    def _last_hidden(self, histories: Sequence[np.ndarray]) -> Tensor:
        """``[B, d]``: the hidden state after each history's last item."""
        if any(len(h) == 0 for h in histories):
            raise DataError("SASRec cannot score an empty history")
        L = self.config.max_len
        clipped = [np.asarray(h, dtype=np.int64)[-L:] for h in histories]
        lengths = torch.tensor([len(h) for h in clipped], device=self.device)
        padded = np.zeros((len(clipped), int(lengths.max())), dtype=np.int64)
        for i, h in enumerate(clipped):
            padded[i, : len(h)] = h + 1
        inputs = torch.from_numpy(padded).to(self.device)
        if self.config.last_position_only and not self.training:
            return self._encode_last(inputs, lengths)
        hidden = self.encode(inputs)  # [B, T, d]
        return hidden[torch.arange(len(clipped), device=self.device), lengths - 1]  # [B, d]

    @torch.no_grad()
    def rank_targets(self, histories: Sequence[np.ndarray], targets: np.ndarray) -> Ranks:
        """Full-catalog rank (with ties) of each target after its history, ``score_block`` users at a time."""
        targets_t = torch.as_tensor(np.asarray(targets), device=self.device)
        hidden = self._last_hidden(histories)  # [B, d]
        if isinstance(self.items, SIDItemEmbedding):
            # one column per distinct SID, weighted by its item count: the same ranks and ties as the
            # [B, N] scores, without copying every SID's score to its items
            vectors, inverse = self.items.distinct()  # [U, d], [N]
            columns, weights = inverse[targets_t], self.items.multiplicity()
        else:
            vectors, columns, weights = self.item_embeddings(), targets_t, None  # [N, d]
        block = self.config.score_block or max(len(hidden), 1)

        def score(i: int) -> Ranks:
            with torch.no_grad():  # grad mode is per thread: a worker does not inherit the caller's
                return rank_of_targets(
                    hidden[i : i + block] @ vectors.T,  # [block, U or N]
                    columns[i : i + block],
                    weights=weights,
                    overwrite=True,
                    count=self.config.rank_count,
                )

        starts = range(0, len(hidden), block)
        workers = min(self.config.score_workers or torch.get_num_threads(), len(starts))
        if workers <= 1:
            return Ranks.cat(score(i) for i in starts)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # one torch thread per worker: no oversubscription
        try:
            with ThreadPoolExecutor(workers) as pool:
                return Ranks.cat(list(pool.map(score, starts)))  # in block order
        finally:
            torch.set_num_threads(threads)

    def describe(self) -> dict[str, Any]:
        """Config and sizes, for run records."""
        out = asdict(self.config)
        out["n_items"] = self.n_items
        out["n_parameters"] = sum(p.numel() for p in self.parameters())
        if not isinstance(self.items, IdItemEmbedding):
            out["n_distinct_sids"] = self.items.n_distinct
        return out
