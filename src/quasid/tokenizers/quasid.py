"""QuaSID: RQ-VAE + Hamming-guided Margin Repulsion + Conflict-Aware Valid Pair Masking + collaborative term.

L = L_rq + lambda_hmr * L_hmr + lambda_cl * L_cl   (../shared/QUASID.md section 5)

Two readings of the paper, one class. ``QuaSIDConfig``'s defaults are the public
re-implementation's reading (CollisionGenRec, tokenizer/quasid.py), because it measured better
downstream on every bench that ran both (docs/quasid.md, "Which reading is the default");
``QuaSIDSeverityConfig`` (method ``quasid_severity``) is our first reading, which the ablations
take apart.

- HMR (``qualify.repulsion``) pushes apart, in the encoder space, batch pairs whose
  current SIDs are within Hamming distance tau: in two bands with fixed margins (default),
  or with a margin scaled by severity after a warm-up (``hmr_scheme = "severity"``);
- CAVPM (``qualify.masking``) drops benign pairs from that repulsion: collaboratively
  positive pairs (default), or five rules (same content, same group, both missing,
  near-duplicate content, strong co-interaction);
- the collaborative term: item-to-item InfoNCE on PPMI co-occurrence positives (default,
  ``qualify.contrastive.CooccurrenceContrastive``), or a dual tower (``collab_objective =
  "dual_tower"``) aligning each item's latent with the users whose histories lead to it. Content
  alone cannot tell identical-content items apart (f(x_i) = f(x_j)), so the dual tower's item
  tower may also read a learnable per-item collaborative vector (``collab_dim``); items unseen at
  fit time get a zero vector, i.e. a content-only SID;
- conflict-aware last-level resolution (``qualify.resolution``, ``resolve_conflicts``, on in
  ``QuaSIDSeverityConfig``) gives the qualified collisions still left after training different
  last tokens under their shared prefix; benign components keep sharing their SID.

Interaction data is restricted to the leave-one-out training part by default, so
SIDs used downstream never saw a user's validation or test item.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from quasid.data.dataset import Dataset
from quasid.data.stream import EmbeddingStream
from quasid.errors import ConfigError, DataError
from quasid.qualify import DualTowerContrastive, HammingMarginRepulsion, MaskConfig, MaskContext
from quasid.qualify.contrastive import CooccurrenceContrastive
from quasid.qualify.cooccurrence import CollaborativePositives
from quasid.qualify.masking import DEFAULT_RULES, RULES
from quasid.qualify.repulsion import SCHEMES
from quasid.qualify.resolution import benign_components, resolve_last_level
from quasid.quantize.residual import QuantizerOutput
from quasid.tokenizers.base import as_dataset
from quasid.tokenizers.rqvae import MLP_ENCODER, RQVAE, RQVAEConfig

#: What trains the codes on behaviour (``QuaSIDConfig.collab_objective``).
COLLAB_OBJECTIVES = ("dual_tower", "cooccurrence")


@dataclass
class QuaSIDConfig(RQVAEConfig):
    """QuaSID's settings; the defaults are the public re-implementation's reading (see the module)."""

    # Encoder: one linear map into a 128-d latent instead of RQ-VAE's MLP. It keeps content
    # neighbours on shared coarse codes, and measured better on every downstream judge of
    # amazon-beauty-text, cold start included (docs/quasid.md, "Which encoder is the default").
    latent_dim: int = 128
    hidden_dims: list[int] = field(default_factory=list)
    # Hamming-guided Margin Repulsion
    lambda_hmr: float = 1.0
    tau: int = 1  # candidate pairs: Hamming distance <= tau
    margin: float = 0.8  # cosine-distance margin of a full collision (m0 of the severity scheme)
    gamma: float = 1.0  # severity scheme: margin exponent on severity
    warmup_epochs: int = 0  # repulsion off while codes are still meaningless
    # "banded": the public re-implementation's two bands, full collisions (margin, hmr_weight_full)
    # and 0 < h <= tau (margin_partial, hmr_weight_partial), each a mean over its pairs;
    # "severity": margin m0 * s^gamma, weight s (our reading) (qualify.repulsion)
    hmr_scheme: str = "banded"
    margin_partial: float = 0.5
    hmr_weight_full: float = 0.2
    hmr_weight_partial: float = 0.1
    # Conflict-Aware Valid Pair Masking
    mask: bool = True
    # "collab_positive": never repel co-occurring pairs (PPMI > 0 within ppmi_window) or copies of one
    # item; our reading's five rules are DEFAULT_RULES
    mask_rules: list[str] = field(default_factory=lambda: ["collab_positive"])
    theta_dup: float = 0.98
    k_co: int = 2
    # collaborative objective: "cooccurrence" (item-to-item InfoNCE on PPMI positives within
    # ppmi_window, the public re-implementation's) or "dual_tower" (user tower vs next item, ours)
    collab_objective: str = "cooccurrence"
    ppmi_window: int = 3  # also the window of the collab_positive mask rule
    cl_self_negative: bool = True  # cooccurrence: keep each item's self-similarity among the logits
    lambda_cl: float = 0.1  # 0 disables the collaborative objective
    temperature: float = 0.1
    pooling: str = "mean"
    max_history: int = 20
    collab_dim: int = 0  # dual tower: per-item collaborative input to the encoder (0 = content only)
    # start of the collaborative vectors: "zeros" (learnt by the dual tower alone) or "svd" (item
    # factors of the training interactions, so collaborative signal shapes the codes from epoch 0)
    collab_init: str = "zeros"
    interactions: str = "train"  # "train": leave-one-out training part only; "all": every event
    # batch composition
    conflict_batches: bool = False  # compose batches so currently colliding items meet
    # after training: split qualified collisions in the last token (qualify.resolution; the
    # counterpart of the public re-implementation's zero-collision variant)
    resolve_conflicts: bool = False
    # ... and benign collisions too: every item its own last token where its prefix has a free
    # code (unique SIDs for recommenders; benign items still share their prefix)
    resolve_benign: bool = False

    def validate(self, n_items: int | None = None) -> None:
        super().validate(n_items)
        if self.lambda_hmr < 0 or self.lambda_cl < 0:
            raise ConfigError("lambda_hmr and lambda_cl must be >= 0")
        if not 0 <= self.tau <= self.n_levels:
            raise ConfigError(f"tau must be in [0, n_levels={self.n_levels}], got {self.tau}")
        unknown = sorted(set(self.mask_rules) - set(RULES))
        if unknown:
            raise ConfigError(f"mask_rules has unknown rule(s) {unknown}; valid: {list(RULES)}")
        if self.interactions not in {"train", "all"}:
            raise ConfigError(f"interactions must be 'train' or 'all', got {self.interactions!r}")
        if self.hmr_scheme not in SCHEMES:
            raise ConfigError(f"hmr_scheme must be one of {list(SCHEMES)}, got {self.hmr_scheme!r}")
        if self.collab_objective not in COLLAB_OBJECTIVES:
            raise ConfigError(
                f"collab_objective must be one of {list(COLLAB_OBJECTIVES)}, got {self.collab_objective!r}"
            )
        window = self.ppmi_window
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ConfigError(f"ppmi_window must be an integer >= 1, got {self.ppmi_window!r}")
        if not 0 < self.margin_partial <= 2 or self.hmr_weight_full < 0 or self.hmr_weight_partial < 0:
            raise ConfigError("margin_partial must be in (0, 2] and the HMR band weights >= 0")
        if self.collab_init not in {"zeros", "svd"}:
            raise ConfigError(f"collab_init must be 'zeros' or 'svd', got {self.collab_init!r}")
        if self.collab_dim < 0 or self.warmup_epochs < 0:
            raise ConfigError("collab_dim and warmup_epochs must be >= 0")
        self.mask_config()  # validates theta_dup / k_co

    def mask_config(self) -> MaskConfig:
        on = set(self.mask_rules)
        return MaskConfig(**{rule: rule in on for rule in RULES}, theta_dup=self.theta_dup, k_co=self.k_co)


@dataclass
class QuaSIDSeverityConfig(QuaSIDConfig):
    """Our first reading of the paper (../shared/QUASID.md): severity-scaled HMR after a warm-up,
    the five CAVPM rules, the dual tower with a per-item collaborative input, batches composed of
    colliding items, and last-level resolution. lambda_hmr, margin and conflict_batches are the
    settings of every committed figure of this reading (docs/ablation.md; QUASID.md's starting
    point was 1.0 / 0.5 / False). It keeps RQ-VAE's MLP encoder, as every committed figure of it had."""

    latent_dim: int = MLP_ENCODER["latent_dim"]
    hidden_dims: list[int] = field(default_factory=lambda: list(MLP_ENCODER["hidden_dims"]))
    lambda_hmr: float = 50.0
    margin: float = 1.0
    warmup_epochs: int = 10
    hmr_scheme: str = "severity"
    mask_rules: list[str] = field(default_factory=lambda: list(DEFAULT_RULES))
    collab_objective: str = "dual_tower"
    cl_self_negative: bool = False
    temperature: float = 0.07
    collab_dim: int = 16
    conflict_batches: bool = True
    resolve_conflicts: bool = True


class QuaSID(RQVAE):
    """Collision-qualified Semantic IDs (the full method; the public reading by default)."""

    method = "quasid"
    config_class = QuaSIDConfig
    config: QuaSIDConfig

    def __init__(self, config: QuaSIDConfig | None = None, **overrides: Any) -> None:
        super().__init__(config, **overrides)
        self.item_ids_: np.ndarray | None = None  # training catalog ids, rows of the collab table
        self.collab_: nn.Embedding | None = None
        self.hmr_: HammingMarginRepulsion | None = None
        self.dual_tower_: DualTowerContrastive | None = None
        self.item_cl_: CooccurrenceContrastive | None = None
        self.positives_: CollaborativePositives | None = None  # PPMI positives, held only during fit
        self._events: _TargetEvents | None = None
        self._memory: _Memory | None = None  # each item's codes as last seen in training
        self._bank: _Memory | None = None  # each item's latent as last seen in training (dual tower)
        self._rng: np.random.Generator | None = None
        self.collaborative_ = True  # set at fit: False when the data has no user histories
        self._sequences: list[np.ndarray] = []  # training histories, held only during fit
        # last-level resolution of the training catalog: rows, their raw codes, their new last token
        self.resolved_rows_ = np.zeros(0, dtype=np.int64)
        self.resolved_raw_ = np.zeros((0, self.config.n_levels), dtype=np.int64)
        self.resolved_last_ = np.zeros(0, dtype=np.int64)
        self.resolution_stats_: dict[str, int] = {}

    # --- set-up ----------------------------------------------------------------------------
    def _uses_collab(self) -> bool:
        """Whether a collaborative objective trains (user histories exist and lambda_cl > 0)."""
        return self.config.lambda_cl > 0 and self.collaborative_

    def _uses_dual_tower(self) -> bool:
        return self._uses_collab() and self.config.collab_objective == "dual_tower"

    def _uses_collab_vectors(self) -> bool:
        """Whether the encoder reads a per-item collaborative vector beside the content."""
        return self._uses_collab() and self.config.collab_dim > 0

    def _fit(self, x: np.ndarray, dataset: Dataset, progress: bool, **kwargs: Any) -> None:
        self._sequences = self._training_sequences(dataset)  # read again by _setup_training
        self.collaborative_ = any(len(s) >= 2 for s in self._sequences)
        if self.config.lambda_cl > 0 and not self.collaborative_:
            warnings.warn(
                f"dataset '{dataset.name}' has no user histories: QuaSID trains without the dual tower "
                "(content-only SIDs; give interactions to inject collaborative signal)",
                stacklevel=3,
            )
        try:
            super()._fit(x, dataset, progress, **kwargs)
        finally:
            self._sequences = []
            self.positives_ = None
        if self.config.resolve_conflicts:
            self._resolve(x, dataset)

    def _extra_input_dim(self) -> int:
        return self.config.collab_dim if self._uses_collab_vectors() else 0

    def _training_sequences(self, dataset: Dataset) -> list[np.ndarray]:
        if dataset.interactions is None:
            return []
        if self.config.interactions == "all":
            return dataset.interactions.sequences()
        from quasid.data.splits import leave_one_out

        try:
            split = leave_one_out(dataset.interactions, min_events=3, on_short="drop")
        except DataError:  # no user long enough to hold out two events: nothing collaborative to learn
            return []
        return split.train_sequences()

    def _setup_training(self, x: np.ndarray, dataset: Dataset) -> list[nn.Module]:
        cfg = self.config
        device = cfg.device
        self.item_ids_ = dataset.catalog.item_ids.copy()
        sequences = self._sequences
        context = None
        if cfg.mask:
            window = cfg.ppmi_window if "collab_positive" in cfg.mask_rules else None
            context = MaskContext.from_catalog(dataset.catalog, sequences, collab_window=window).to(device)
        self.hmr_ = HammingMarginRepulsion(
            cfg.n_levels,
            tau=cfg.tau,
            margin=cfg.margin,
            gamma=cfg.gamma,
            mask_config=cfg.mask_config(),
            mask_context=context,
            scheme=cfg.hmr_scheme,
            margin_partial=cfg.margin_partial,
            weight_full=cfg.hmr_weight_full,
            weight_partial=cfg.hmr_weight_partial,
        )
        modules: list[nn.Module] = list(super()._setup_training(x, dataset))
        if cfg.conflict_batches:
            self._memory = _Memory(torch.full((len(x), cfg.n_levels), -1, dtype=torch.long)).to(device)
            modules.append(self._memory)  # checkpointed with the other modules, so resume replays exactly
        if self._uses_collab_vectors():
            self.collab_ = nn.Embedding(len(x), cfg.collab_dim).to(device)
            nn.init.zeros_(self.collab_.weight)
            if cfg.collab_init == "svd":
                init = interaction_factors(sequences, len(x), cfg.collab_dim, cfg.seed)
                self.collab_.weight.data.copy_(torch.from_numpy(init))
            modules.append(self.collab_)
        if self._uses_dual_tower():
            self.dual_tower_ = DualTowerContrastive(
                cfg.latent_dim, cfg.temperature, cfg.pooling, cfg.max_history
            ).to(device)
            self._events = _TargetEvents(sequences, len(x), cfg.max_history)
            self._bank = _Memory(torch.zeros(len(x), cfg.latent_dim)).to(device)
            modules += [self.dual_tower_, self._bank]
        elif self._uses_collab():  # cooccurrence: no parameters, the PPMI positives of the training part
            self.positives_ = CollaborativePositives.from_sequences(sequences, len(x), cfg.ppmi_window)
            self.item_cl_ = CooccurrenceContrastive(cfg.temperature, cfg.cl_self_negative)
        return modules

    def _encoder_input(self, xb: Tensor, idx: Tensor) -> Tensor:
        if not self._uses_collab_vectors():
            return xb
        assert self.collab_ is not None
        known = idx >= 0
        collab = self.collab_(idx.clamp(min=0)) * known[:, None]
        return torch.cat([xb, collab], dim=-1)

    # --- the objective -----------------------------------------------------------------------
    def _auxiliary_losses(self, idx: Tensor, z: Tensor, q: QuantizerOutput, epoch: int) -> dict[str, Tensor]:
        cfg = self.config
        out = super()._auxiliary_losses(idx, z, q, epoch)
        if self._memory is not None:
            self._memory.values[idx] = q.codes.detach()
        if cfg.lambda_hmr > 0 and epoch >= cfg.warmup_epochs:
            assert self.hmr_ is not None
            out["hmr"] = cfg.lambda_hmr * self.hmr_(z, q.codes, idx if cfg.mask else None).loss
        if self._uses_dual_tower():
            out["cl"] = cfg.lambda_cl * self._contrastive(idx, z)
        elif self.positives_ is not None and self.item_cl_ is not None:
            out["cl"] = cfg.lambda_cl * self.item_cl_(
                z, self.positives_.batch(idx, sparse=True).to(z.device), idx
            )
        return out

    def _contrastive(self, idx: Tensor, z: Tensor) -> Tensor:
        """InfoNCE for the batch's items as targets; histories read a latent bank (no extra encoder pass)."""
        assert self._bank is not None and self._events is not None and self.dual_tower_ is not None
        assert self._rng is not None
        self._bank.values[idx] = z.detach()
        rows = idx.cpu().numpy()
        keep, history = self._events.sample(rows, self._rng)
        if not keep.any():
            return z.sum() * 0.0
        keep_t = torch.from_numpy(keep).to(z.device)
        hist = torch.from_numpy(history).to(z.device)  # [b, T], -1 = padding
        mask = hist >= 0
        hist_latents = self._bank.values[hist.clamp(min=0)] * mask[..., None]
        return self.dual_tower_(hist_latents, mask, z[keep_t], idx[keep_t])

    def _epoch_batches(self, epoch: int, xt: Tensor, generator: torch.Generator) -> list[Tensor]:
        """Random batches, or with ``conflict_batches`` after warm-up: items sorted by their SID prefix
        (random order of prefixes), so colliding and one-token-apart items share batches.

        The codes are those each item got in its last training step (the previous epoch), so
        composing the batches costs no extra encoder pass."""
        cfg = self.config
        self._rng = np.random.default_rng([cfg.seed, epoch])  # the dual tower's event draws replay on resume
        memory = self._memory
        if memory is None or epoch < cfg.warmup_epochs or bool((memory.values < 0).any()):
            return super()._epoch_batches(epoch, xt, generator)
        n = len(xt)
        depth = max(1, cfg.n_levels - 1)
        prefix = memory.values[:, :depth].cpu()
        if cfg.codebook_size**depth < 2**62:  # the prefix as one integer: a 1-D unique is much faster
            key = torch.zeros(n, dtype=torch.long)
            for level in range(depth):
                key = key * cfg.codebook_size + prefix[:, level]
            _, group = torch.unique(key, return_inverse=True)
        else:
            _, group = torch.unique(prefix, dim=0, return_inverse=True)
        group_rank = torch.randperm(int(group.max()) + 1, generator=generator)[group]
        jitter = torch.randperm(n, generator=generator)
        order = torch.from_numpy(np.lexsort((jitter.numpy(), group_rank.numpy())))
        batches = list(torch.split(order, cfg.batch_size))
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    # --- inference ---------------------------------------------------------------------------
    def rows_of(self, data: Dataset | EmbeddingStream | Any) -> Tensor:
        """Training-catalog rows of ``data``'s items (-1 for items unseen at fit time)."""
        source = data.item_ids() if isinstance(data, EmbeddingStream) else as_dataset(data).catalog.item_ids
        ids = np.asarray(source).astype(str)
        assert self.item_ids_ is not None
        lookup = {k: i for i, k in enumerate(self.item_ids_.astype(str))}
        return torch.tensor([lookup.get(k, -1) for k in ids], dtype=torch.long)

    def encode(self, data: Any, batch_size: int = 65536) -> np.ndarray:
        """SIDs; items seen at fit time use their collaborative vector and their resolved last token,
        new items are encoded from content only."""
        self._check_fitted()
        needs_rows = self._uses_collab_vectors() or len(self.resolved_rows_) > 0
        rows = self.rows_of(data) if needs_rows else None  # one id lookup serves both uses
        codes = self._raw_codes(data, batch_size, rows)
        if len(self.resolved_rows_):
            assert rows is not None
            codes = self._apply_resolution(codes, rows.numpy())
        return codes

    def _raw_codes(self, data: Any, batch_size: int, rows: Tensor | None = None) -> np.ndarray:
        """The quantizer's codes, before last-level resolution (streams are read chunk by chunk).

        ``rows``: ``rows_of(data)`` when the caller has it already."""
        if not self._uses_collab_vectors():
            return super().encode(data, batch_size)
        if rows is None:
            rows = self.rows_of(data)
        if not isinstance(data, EmbeddingStream):
            data = EmbeddingStream.from_array(
                as_dataset(data).catalog.require_embeddings(), chunk_size=batch_size
            )
        self._check_dim(data.dim)
        codes = np.empty((data.n_rows, self.config.n_levels), dtype=np.int64)
        for start, chunk in data.chunks():
            codes[start : start + len(chunk)] = self._latent_codes(
                chunk, rows[start : start + len(chunk)], batch_size
            )[0]
        return codes

    @torch.no_grad()
    def _latent_codes(
        self, x: np.ndarray, rows: Tensor, batch_size: int, residuals: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes ``[N, L]`` of raw embeddings (catalog ``rows`` pick the collaborative vectors), and with
        ``residuals`` what the last level quantizes ``[N, d]``."""
        assert self.model_ is not None
        self.model_.eval()
        quantizer = self.model_.quantizer
        codes, last = [], []
        for lo in range(0, len(x), batch_size):
            xb = self._standardize(x[lo : lo + batch_size])
            inputs = self._encoder_input(xb, rows[lo : lo + batch_size].to(xb.device))
            if not residuals:  # the encode path: float32 or the encode_bf16 switch (RQVAE._codes)
                codes.append(self._codes(inputs).cpu().numpy())
                continue
            z = self.model_.encoder(inputs)
            c = quantizer.encode(z)
            codes.append(c.cpu().numpy())
            r = z - sum(quantizer.codebooks[lvl][c[:, lvl]] for lvl in range(quantizer.n_levels - 1))
            last.append(r.cpu().numpy())
        out = np.concatenate(codes).astype(np.int64) if codes else np.zeros((0, quantizer.n_levels), np.int64)
        return out, (np.concatenate(last) if residuals and last else None)

    def _resolve(self, x: np.ndarray, dataset: Dataset) -> None:
        """Split the training catalog's qualified collisions in the last token (``qualify.resolution``)."""
        from quasid.metrics.collisions import benign_rules

        assert self.model_ is not None
        raw, residuals = self._latent_codes(x, torch.arange(len(x)), 65536, residuals=True)
        assert residuals is not None
        if self.config.resolve_benign:
            components = np.arange(len(raw), dtype=np.int64)  # every item is its own component
        else:
            components = benign_components(raw, benign_rules(dataset.catalog)[0])
        codebook = self.model_.quantizer.codebooks[-1].detach().cpu().numpy()
        result = resolve_last_level(raw, residuals, codebook, components)
        self.resolved_rows_ = result.moved
        self.resolved_raw_ = raw[result.moved]
        self.resolved_last_ = result.codes[result.moved, -1]
        self.resolution_stats_ = result.stats

    def _apply_resolution(self, codes: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Resolved last tokens for training items whose raw SID is still the one resolved at fit."""
        lookup = np.full(len(self.item_ids_) if self.item_ids_ is not None else 0, -1, dtype=np.int64)
        lookup[self.resolved_rows_] = np.arange(len(self.resolved_rows_))
        known = np.flatnonzero(rows >= 0)
        slot = lookup[rows[known]]
        hit = known[slot >= 0]
        slot = slot[slot >= 0]
        same = (codes[hit] == self.resolved_raw_[slot]).all(axis=1)
        codes = codes.copy()
        codes[hit[same], -1] = self.resolved_last_[slot[same]]
        return codes

    # --- persistence -------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        state = super()._state()
        state["item_ids"] = None if self.item_ids_ is None else self.item_ids_.astype(str).tolist()
        state["collab"] = None if self.collab_ is None else self.collab_.weight.detach().cpu()
        state["resolution"] = {
            "rows": self.resolved_rows_,
            "raw": self.resolved_raw_,
            "last": self.resolved_last_,
            "stats": self.resolution_stats_,
        }
        return state

    def _load_state(self, state: dict[str, Any]) -> None:
        self.collaborative_ = state.get("collab") is not None
        super()._load_state(state)
        self.item_ids_ = None if state["item_ids"] is None else np.asarray(state["item_ids"], dtype=object)
        if state.get("collab") is not None:
            weight = state["collab"]
            self.collab_ = nn.Embedding(weight.shape[0], weight.shape[1])
            self.collab_.weight.data.copy_(weight)
            self.collab_.to(self.config.device)
        resolution = state.get("resolution")
        if resolution is not None:
            self.resolved_rows_ = np.asarray(resolution["rows"], dtype=np.int64)
            raw = np.asarray(resolution["raw"], dtype=np.int64)
            self.resolved_raw_ = raw.reshape(-1, self.config.n_levels)
            self.resolved_last_ = np.asarray(resolution["last"], dtype=np.int64)
            self.resolution_stats_ = dict(resolution["stats"])


class _Memory(nn.Module):
    """A per-item table written during training (codes, latents); a module so checkpoints carry it."""

    values: Tensor

    def __init__(self, initial: Tensor) -> None:
        super().__init__()
        self.register_buffer("values", initial)


class _TargetEvents:
    """For each item, the flat positions where it is a user's next item (with >= 1 earlier item)."""

    def __init__(self, sequences: list[np.ndarray], n_items: int, max_history: int) -> None:
        lengths = np.array([len(s) for s in sequences], dtype=np.int64)
        self.flat = (
            np.concatenate([np.asarray(s, np.int64) for s in sequences])
            if len(sequences)
            else np.zeros(0, np.int64)
        )
        starts = np.cumsum(lengths) - lengths
        self.user_start = np.repeat(starts, lengths)
        events = np.flatnonzero(np.arange(len(self.flat)) > self.user_start)
        order = np.argsort(self.flat[events], kind="stable")
        self.events = events[order]
        self.ptr = np.searchsorted(self.flat[self.events], np.arange(n_items + 1))
        self.offsets = np.arange(-max_history, 0, dtype=np.int64)

    def sample(self, items: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """(keep [b] bool: item has an event, history [kept, T] padded with -1) for one random event each."""
        lo, hi = self.ptr[items], self.ptr[items + 1]
        keep = hi > lo
        pick = lo[keep] + (rng.random(int(keep.sum())) * (hi[keep] - lo[keep])).astype(np.int64)
        ev = self.events[pick]
        cols = ev[:, None] + self.offsets[None, :]
        real = cols >= self.user_start[ev][:, None]
        history = np.where(real, self.flat[np.clip(cols, 0, None)], -1)
        return keep, history


def interaction_factors(sequences: list[np.ndarray], n_items: int, dim: int, seed: int) -> np.ndarray:
    """``[n_items, dim]`` item factors of the binary user x item matrix (truncated SVD, U * sqrt(S)).

    Scaled to unit global std, the scale of the standardised content the encoder reads beside
    them; items without training events get zeros, as unseen items do at encode time.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.linalg import svds

    out = np.zeros((n_items, dim), dtype=np.float32)
    if not sequences:
        return out
    rows = np.repeat(np.arange(len(sequences)), [len(s) for s in sequences])  # user of each event
    cols = np.concatenate(sequences)
    if len(cols) == 0:
        return out
    matrix = csr_matrix((np.ones(len(cols), np.float32), (cols, rows)), shape=(n_items, len(sequences)))
    matrix.data[:] = 1.0  # repeated events count once
    k = min(dim, min(matrix.shape) - 1)
    if k < 1:
        return out
    v0 = np.random.default_rng(seed).uniform(-1, 1, min(matrix.shape))
    u, sv, _ = svds(matrix, k=k, v0=v0)
    factors = u * np.sqrt(sv)[None, :]
    seen = np.asarray(matrix.getnnz(axis=1) > 0)
    factors[~seen] = 0.0
    std = float(factors[seen].std()) or 1.0
    out[:, :k] = factors / std
    return out


# Ablations: one component of our reading (QuaSIDSeverityConfig) each on top of RQ-VAE (QUASID.md section 7).


@dataclass
class RQVAEHMRConfig(QuaSIDSeverityConfig):
    """Ablation: RQ-VAE + HMR, no mask, no dual tower, no last-level resolution."""

    mask: bool = False
    lambda_cl: float = 0.0
    resolve_conflicts: bool = False


@dataclass
class RQVAEHMRMaskConfig(QuaSIDSeverityConfig):
    """Ablation: RQ-VAE + HMR + CAVPM, no dual tower, no last-level resolution."""

    lambda_cl: float = 0.0
    resolve_conflicts: bool = False


@dataclass
class RQVAECLConfig(QuaSIDSeverityConfig):
    """Ablation: RQ-VAE + dual tower only: no repulsion, no last-level resolution."""

    lambda_hmr: float = 0.0
    resolve_conflicts: bool = False


@dataclass
class RQVAEResolveConfig(QuaSIDSeverityConfig):
    """Ablation: RQ-VAE + last-level resolution only: no repulsion, no dual tower."""

    lambda_hmr: float = 0.0
    lambda_cl: float = 0.0
    mask: bool = False


class QuaSIDSeverity(QuaSID):
    """Our first reading of QuaSID (``QuaSIDSeverityConfig``), as a preset of the same class."""

    method = "quasid_severity"
    config_class = QuaSIDSeverityConfig


class QuaSIDPeer(QuaSID):
    """The public reading under the name the benches gave it before it became the default: the
    same config as ``quasid``, so committed bench cells of ``quasid_peer`` keep their meaning."""

    method = "quasid_peer"


class RQVAEHMR(QuaSID):
    method = "rqvae_hmr"
    config_class = RQVAEHMRConfig


class RQVAEHMRMask(QuaSID):
    method = "rqvae_hmr_mask"
    config_class = RQVAEHMRMaskConfig


class RQVAECL(QuaSID):
    method = "rqvae_cl"
    config_class = RQVAECLConfig


class RQVAEResolve(QuaSID):
    method = "rqvae_resolve"
    config_class = RQVAEResolveConfig
