"""RQ-VAE tokenizer (TIGER's recipe): MLP encoder -> residual quantizer -> MLP decoder.

Loss = reconstruction + codebook + beta * commitment (+ any auxiliary losses).
The training loop has three extension points that QuaSID and plug-in losses use:
``_setup_training`` (build extra modules from the dataset), ``_auxiliary_losses``
(extra terms on the latents and codes of a batch) and ``_epoch_batches`` (how an
epoch's items are grouped into batches).

Launched by torchrun, training is data-parallel (``quasid.distributed``, docs/distributed.md):
``batch_size`` stays the *global* batch, every process takes a rank-strided share of
each of the epoch's batches and the model is wrapped in DistributedDataParallel, so
the union of the processes' steps is the single-process epoch with the same
learning-rate semantics. K-means initialisation and dead-code re-seeding run on
rank 0 and are broadcast; auxiliary (pair) losses see each process's share, or with
``pairs_across_ranks`` the whole global batch gathered with autograd.
"""

from __future__ import annotations

import inspect
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quasid import distributed
from quasid.data.dataset import Dataset
from quasid.errors import ConfigError, DataError
from quasid.io import atomic_path, load_torch
from quasid.progress import advance, progress_bar
from quasid.quantize.residual import QuantizerOutput, ResidualQuantizer
from quasid.tokenizers.base import SIDTokenizer, TokenizerConfig

CHECKPOINT_NAME = "checkpoint.pt"

# An auxiliary loss sees a batch's encoder latents z [B, d], its codes [B, L] and the
# items' catalog rows [B]; it returns a scalar tensor (or an object with a .loss).
AuxiliaryLoss = Callable[[Tensor, Tensor, Tensor], Any]
# A training step maps (rows' content [b, D], rows [b], the global batch [B], epoch) to (loss terms, codes).
BatchTerms = Callable[[Tensor, Tensor, Tensor, int], tuple[dict[str, Tensor], Tensor]]


#: How the reconstruction and quantizer losses reduce (``RQVAEConfig.loss_reduction``).
LOSS_REDUCTIONS = ("sum", "mean")

#: TIGER's RQ-VAE encoder: an MLP 512-256-128 into a 32-d latent (RQVAEConfig's default).
MLP_ENCODER: dict[str, Any] = {"hidden_dims": [512, 256, 128], "latent_dim": 32}


@dataclass
class RQVAEConfig(TokenizerConfig):
    latent_dim: int = MLP_ENCODER["latent_dim"]  # d: encoder output / codeword size
    hidden_dims: list[int] = field(default_factory=lambda: list(MLP_ENCODER["hidden_dims"]))
    epochs: int = 200
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 1e-4
    beta: float = 0.25  # commitment weight
    # how the reconstruction and quantizer losses reduce, which sets the scale an auxiliary loss's
    # weight is read against: "sum" (per-row sums: over the input dims, over the latent dims and
    # levels) or "mean" (element means, the quantizer's averaged over levels: TIGER's, LC-Rec's and
    # CollisionGenRec's). Their QuaSID weights were written for "mean"; under "sum" the same
    # weights are about D (input dims) times weaker against the reconstruction.
    loss_reduction: str = "sum"
    standardize: bool = True  # centre inputs and scale to unit global std before the encoder
    kmeans_init: bool = True  # codebooks from k-means on the first latents
    kmeans_init_samples: int = 20000
    reseed_dead_codes: bool = True  # re-seed codewords unused during an epoch
    checkpoint_every: int = 10  # epochs between checkpoints when a checkpoint dir is given
    device: str = "cpu"  # under torchrun "cuda" means each process's own GPU (LOCAL_RANK)
    pairs_across_ranks: bool = False  # distributed: auxiliary losses see the whole global batch
    # speed switches (docs/tokenizer-speed.md has what each one measured)
    # training: encoder and decoder MLPs under bfloat16 autocast (AMX / avx512_bf16 CPUs, GPUs); the
    # quantizer's codeword search, its losses and every auxiliary loss stay float32
    bf16: bool = True
    # encode: bfloat16 encoder MLP, float32 codeword search; a row whose nearest-codeword margin is
    # under 2 x encode_bf16_tol x ||z|| (inside the bf16 error) is encoded again in float32
    encode_bf16: bool = False
    encode_bf16_tol: float = 0.02

    def validate(self, n_items: int | None = None) -> None:
        super().validate(n_items)
        for name in ("latent_dim", "epochs", "batch_size", "kmeans_init_samples", "checkpoint_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0 or self.beta < 0 or self.weight_decay < 0:
            raise ConfigError("lr must be > 0, beta and weight_decay >= 0")
        if self.loss_reduction not in LOSS_REDUCTIONS:
            raise ConfigError(
                f"loss_reduction must be one of {list(LOSS_REDUCTIONS)}, got {self.loss_reduction!r}"
            )
        if not self.encode_bf16_tol >= 0:
            raise ConfigError(f"encode_bf16_tol must be >= 0, got {self.encode_bf16_tol}")
        if any(h < 1 for h in self.hidden_dims):
            raise ConfigError(f"hidden_dims must be positive, got {self.hidden_dims}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device={self.device!r} but CUDA is not available: use device='cpu'")


def mlp(dims: list[int]) -> nn.Sequential:
    """Linear layers with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(dims)):
        layers.append(nn.Linear(a, b))
        if i < len(dims) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAEModel(nn.Module):
    """Encoder, residual quantizer and decoder."""

    def __init__(self, input_dim: int, cfg: RQVAEConfig, extra_input_dim: int = 0) -> None:
        super().__init__()
        dims = [input_dim, *cfg.hidden_dims, cfg.latent_dim]
        # extra inputs (e.g. collaborative vectors) feed the encoder; the decoder rebuilds content only
        self.encoder = mlp([input_dim + extra_input_dim, *dims[1:]])
        self.quantizer = ResidualQuantizer(cfg.latent_dim, cfg.n_levels, cfg.codebook_size)
        self.decoder = mlp(dims[::-1])

    def forward(self, x: Tensor, bf16: bool = False) -> tuple[Tensor, Tensor, QuantizerOutput]:
        """``x``: [B, D (+ extra)]. ``bf16``: the MLPs under bfloat16 autocast; the quantizer and
        everything returned are float32, so losses and codeword search are unchanged."""
        with bf16_autocast(x, bf16):
            z = self.encoder(x).float()  # [B, d]
        q = self.quantizer(z)
        with bf16_autocast(x, bf16):
            x_hat = self.decoder(q.quantized).float()
        return x_hat, z, q


def bf16_autocast(x: Tensor, enabled: bool) -> torch.autocast:
    """bfloat16 autocast on ``x``'s device (a no-op context when not ``enabled``)."""
    return torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=enabled)


class _TrainStep(nn.Module):
    """The trainable modules as one module whose forward is a batch's loss terms: what DDP wraps, so
    modules used outside the RQ-VAE forward (collaborative vectors, a dual tower) are synchronised too."""

    def __init__(self, modules: list[nn.Module], terms: BatchTerms) -> None:
        super().__init__()
        self.parts = nn.ModuleList(modules)
        self.terms = terms

    def forward(self, xb: Tensor, idx: Tensor, batch: Tensor, epoch: int) -> tuple[dict[str, Tensor], Tensor]:
        return self.terms(xb, idx, batch, epoch)


def _shareable(batches: list[Tensor], world: int) -> list[Tensor]:
    """The batches with any that has fewer rows than processes merged into a neighbour, so every process
    gets rows at every step (DDP needs every process in every backward)."""
    if world == 1:
        return batches
    out: list[Tensor] = []
    for b in batches:
        if out and (len(b) < world or len(out[-1]) < world):
            out[-1] = torch.cat([out[-1], b])
        else:
            out.append(b)
    if len(out[-1]) < world:
        raise ConfigError(f"the catalog has fewer items than the {world} training processes: use fewer")
    return out


class RQVAE(SIDTokenizer):
    """RQ-VAE Semantic ID tokenizer; accepts plug-in auxiliary losses on (z, codes)."""

    method = "rqvae"
    config_class = RQVAEConfig
    config: RQVAEConfig

    def __init__(
        self,
        config: RQVAEConfig | None = None,
        auxiliary_losses: dict[str, tuple[float, AuxiliaryLoss]] | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(config, **overrides)
        self.auxiliary_losses = dict(auxiliary_losses or {})
        self.model_: RQVAEModel | None = None
        self.x_mean_: np.ndarray | None = None
        self.x_scale_: float = 1.0
        self.distributed_: dict[str, Any] | None = None  # set by a distributed fit: world size, replicas

    # --- extension points ----------------------------------------------------------------
    def _setup_training(self, x: np.ndarray, dataset: Dataset) -> list[nn.Module]:
        """Build extra trainable modules from the data; returns them so the optimizer sees them."""
        return [m for _, m in self.auxiliary_losses.values() if isinstance(m, nn.Module)]

    def _auxiliary_losses(self, idx: Tensor, z: Tensor, q: QuantizerOutput, epoch: int) -> dict[str, Tensor]:
        """Extra loss terms for a batch (already weighted). Plug-in losses are applied here."""
        out: dict[str, Tensor] = {}
        for name, (weight, fn) in self.auxiliary_losses.items():
            value = fn(z, q.codes, idx)
            out[name] = weight * (value.loss if hasattr(value, "loss") else value)
        return out

    def _encoder_input(self, xb: Tensor, idx: Tensor) -> Tensor:
        """What the encoder reads for catalog rows ``idx`` with content ``xb``: the content itself."""
        return xb

    def _extra_input_dim(self) -> int:
        return 0

    def _epoch_batches(self, epoch: int, xt: Tensor, generator: torch.Generator) -> list[Tensor]:
        """The epoch's batches of rows of ``xt``: a fresh random permutation, cut in batch_size pieces."""
        perm = torch.randperm(len(xt), generator=generator)
        return list(torch.split(perm, self.config.batch_size))

    # --- training ------------------------------------------------------------------------
    def _standardize(self, x: np.ndarray) -> Tensor:
        assert self.x_mean_ is not None
        xt = torch.from_numpy((np.asarray(x, dtype=np.float32) - self.x_mean_) / self.x_scale_)
        return xt.to(self.config.device)

    def _fit(
        self,
        x: np.ndarray,
        dataset: Dataset,
        progress: bool,
        checkpoint_dir: str | Path | None = None,
        resume: bool = False,
        **kwargs: Any,
    ) -> None:
        cfg = self.config
        distributed.init(cfg.device)
        world = distributed.world_size()
        if cfg.batch_size < world:
            raise ConfigError(
                f"batch_size={cfg.batch_size} is the global batch, shared by {world} processes: "
                f"use batch_size >= {world}"
            )
        progress = progress and distributed.is_main()
        torch.manual_seed(cfg.seed)
        if cfg.standardize:
            self.x_mean_ = x.mean(axis=0).astype(np.float32)
            self.x_scale_ = float(x.std()) or 1.0
        else:
            self.x_mean_, self.x_scale_ = np.zeros(x.shape[1], np.float32), 1.0
        xt = self._standardize(x)
        self.model_ = RQVAEModel(x.shape[1], cfg, self._extra_input_dim()).to(cfg.device)
        extra = self._setup_training(x, dataset)
        params = [p for m in [self.model_, *extra] for p in m.parameters()]
        # the fused kernel is the same update in one pass over each tensor, several times faster a
        # step than the multi-tensor loop on a CPU core; devices without it take that loop
        fused = torch.device(cfg.device).type in ("cpu", "cuda")
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=fused)

        start_epoch = 0
        ckpt_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir else None
        if resume:
            if ckpt_path is None or not ckpt_path.exists():
                raise DataError(f"cannot resume: no {CHECKPOINT_NAME} in {checkpoint_dir}")
            start_epoch = self._load_checkpoint(ckpt_path, optimizer, extra)
        elif cfg.kmeans_init:
            if distributed.rank() == 0:
                self._kmeans_init(xt)
            distributed.broadcast_module(self.model_.quantizer)
        step = self._training_step(extra)
        item_state = [b for m in extra for b in m.buffers() if b.dim() and len(b) == len(xt)]

        with progress_bar(cfg.epochs, f"{self.method} epochs", progress) as bar:
            advance(bar, "resumed" if start_epoch else "", step=start_epoch)
            for epoch in range(start_epoch, cfg.epochs):
                record = self._train_epoch(xt, epoch, optimizer, step, item_state)
                self.history_.append(record)
                if ckpt_path is not None and (
                    (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
                ):
                    if distributed.rank() == 0:
                        self._save_checkpoint(ckpt_path, optimizer, extra, epoch + 1)
                    distributed.barrier()
                advance(
                    bar,
                    f"loss {record['loss']:.4f} recon {record['recon']:.4f} dead {record['reseeded']}",
                )
        self.distributed_ = self._replica_report(extra)
        self.model_.eval()

    def _kmeans_init(self, xt: Tensor) -> None:
        assert self.model_ is not None
        g = torch.Generator().manual_seed(self.config.seed)
        sample = torch.randperm(len(xt), generator=g)[: self.config.kmeans_init_samples]
        sample = sample.to(xt.device)
        with torch.no_grad():
            z = self.model_.encoder(self._encoder_input(xt[sample], sample))
        self.model_.quantizer.init_kmeans(z, seed=self.config.seed)

    def _training_step(self, extra: list[nn.Module]) -> BatchTerms:
        """What computes a batch's loss terms: ``_batch_terms``, wrapped in DDP when distributed."""
        if not distributed.is_active():
            return self._batch_terms
        from torch.nn.parallel import DistributedDataParallel

        assert self.model_ is not None
        on_gpu = self.config.device.startswith("cuda")
        # per-item buffers are each process's own until the epoch's merge: no forward-time broadcast
        no_sync = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        return DistributedDataParallel(
            _TrainStep([self.model_, *extra], self._batch_terms),
            device_ids=[torch.cuda.current_device()] if on_gpu else None,
            find_unused_parameters=bool(extra),  # e.g. a dual tower with no target event in a share
            **{"forward_sync_buffers" if no_sync else "broadcast_buffers": False},
        )

    def _batch_terms(
        self, xb: Tensor, idx: Tensor, batch: Tensor, epoch: int
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Loss terms (already weighted) of this process's rows ``idx`` of the global ``batch``, and their
        codes. Distributed, each term is scaled by rows / (global rows / processes), so DDP's average of
        the processes' gradients is the gradient of the global batch's mean."""
        assert self.model_ is not None
        cfg = self.config
        x_hat, z, q = self.model_(self._encoder_input(xb, idx), bf16=cfg.bf16)
        if cfg.loss_reduction == "mean":  # element means; the quantizer's per-level row sums to a level mean
            recon, quant_scale = F.mse_loss(x_hat, xb), 1.0 / (cfg.latent_dim * cfg.n_levels)
        else:  # per-row sums, mean over rows
            recon, quant_scale = F.mse_loss(x_hat, xb, reduction="sum") / len(xb), 1.0
        terms = {
            "recon": recon,
            "codebook": q.codebook_loss * quant_scale,
            "commit": cfg.beta * q.commitment_loss * quant_scale,
        }
        world = distributed.world_size()
        across = cfg.pairs_across_ranks and world > 1
        if not across:
            terms.update(self._auxiliary_losses(idx, z, q, epoch))
        if world > 1:
            share = len(idx) * world / len(batch)
            terms = {k: v * share for k, v in terms.items()}
        if across:
            # every process computes the same global-batch terms; the gather's backward sums the
            # processes' gradients into each owner's latents and DDP's average undoes the count
            terms.update(self._auxiliary_losses(batch, *self._gather_batch(batch, z, q), epoch))
        return terms, q.codes

    def _gather_batch(self, batch: Tensor, z: Tensor, q: QuantizerOutput) -> tuple[Tensor, QuantizerOutput]:
        """The global batch's latents (with autograd) and quantizer output, rows in ``batch``'s order."""
        world = distributed.world_size()
        sizes = [len(range(r, len(batch), world)) for r in range(world)]
        # gathered row k is batch position order[k] (process r holds positions r, r + world, ...)
        order = torch.cat([torch.arange(r, len(batch), world, device=batch.device) for r in range(world)])
        back = torch.argsort(order)
        both = torch.cat(distributed.all_gather_rows(torch.cat([z, q.quantized], 1), sizes, grad=True))[back]
        codes = torch.cat(distributed.all_gather_rows(q.codes, sizes))[back]
        d = z.shape[1]
        return both[:, :d], replace(q, quantized=both[:, d:], codes=codes)

    def _train_epoch(
        self,
        xt: Tensor,
        epoch: int,
        optimizer: torch.optim.Optimizer,
        step: BatchTerms | None = None,
        item_state: list[Tensor] | None = None,
    ) -> dict[str, float]:
        """One pass over the catalog; RNG derived from (seed, epoch) so a resumed run replays exactly.

        Every process draws the same batches; process r trains on rows r, r + world, ... of each.
        ``item_state``: per-item buffers of the training modules (first dimension = catalog rows, e.g.
        QuaSID's code memory and latent bank) that each process writes for its own rows; at the end of the
        epoch every row takes the value its process left, so all processes hold the single-process table.
        """
        cfg, model = self.config, self.model_
        assert model is not None
        step = step or self._batch_terms
        world, me = distributed.world_size(), distributed.rank()
        model.train()
        gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
        usage = torch.zeros(cfg.n_levels, cfg.codebook_size, dtype=torch.long, device=xt.device)
        sums: dict[str, float] = {}
        t0 = time.perf_counter()
        batches = _shareable(self._epoch_batches(epoch, xt, gen), world)
        mine = torch.zeros(len(xt), dtype=torch.bool, device=xt.device)
        for batch in batches:
            batch = batch.to(xt.device)
            idx = batch[me::world]
            mine[idx] = True
            terms, codes = step(xt[idx], idx, batch, epoch)
            loss = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            usage.scatter_add_(1, codes.t(), torch.ones_like(codes.t()))
            for k, v in {"loss": loss, **terms}.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        if world > 1:  # weighted shares sum to world x the global value (see _batch_terms)
            totals = torch.tensor(list(sums.values()), dtype=torch.float64, device=xt.device)
            totals = distributed.all_reduce_sum(totals).cpu()
            sums = {k: float(v) / world for k, v in zip(sums, totals, strict=True)}
            distributed.all_reduce_sum(usage)
            if item_state:  # each row trained this epoch was trained by exactly one process
                trained = distributed.all_reduce_sum(mine.to(torch.int32)) > 0
                for table in item_state:
                    shape = (-1, *[1] * (table.dim() - 1))
                    merged = distributed.all_reduce_sum(torch.where(mine.view(shape), table, 0))
                    table.copy_(torch.where(trained.view(shape), merged, table))
        record = {k: v / len(batches) for k, v in sums.items()}
        moved = 0
        if cfg.reseed_dead_codes and bool((usage == 0).any()):
            if me == 0:
                pick = torch.randperm(len(xt), generator=gen)[: max(cfg.batch_size, 4 * cfg.codebook_size)]
                pick = pick.to(xt.device)
                with torch.no_grad():
                    z_all = model.encoder(self._encoder_input(xt[pick], pick))
                moved = model.quantizer.reseed_dead_codes(z_all, usage, gen)
            if world > 1:
                distributed.broadcast_module(model.quantizer)
                moved = int(distributed.broadcast(torch.tensor(moved, device=xt.device)))
        record.update(epoch=epoch, reseeded=moved, seconds=time.perf_counter() - t0)
        return record

    def _replica_report(self, extra: list[nn.Module]) -> dict[str, Any] | None:
        """Distributed: world size, backend and every process's digest of the trained state (equal digests
        = identical replicas); None in a single process."""
        if not distributed.is_active():
            return None
        assert self.model_ is not None
        digests = distributed.replica_digests(nn.ModuleList([self.model_, *extra]))
        return {
            "world_size": distributed.world_size(),
            "backend": distributed.backend_for(self.config.device),
            "replicas_identical": len(set(digests)) == 1,
            "replica_digests": digests,
        }

    # --- checkpoints ---------------------------------------------------------------------
    def _save_checkpoint(
        self, path: Path, optimizer: torch.optim.Optimizer, extra: list[nn.Module], epoch: int
    ) -> None:
        assert self.model_ is not None
        payload = {
            "epoch": epoch,
            "model": self.model_.state_dict(),
            "extra": [m.state_dict() for m in extra],
            "optimizer": optimizer.state_dict(),
            "history": self.history_,
            "config": self.config.to_dict(),
        }
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)

    def _load_checkpoint(self, path: Path, optimizer: torch.optim.Optimizer, extra: list[nn.Module]) -> int:
        assert self.model_ is not None
        payload = load_torch(path, "delete it to train from the start", self.config.device)
        if payload["config"] != self.config.to_dict():
            raise DataError(
                f"{path} was written with a different config: resume with the run's own config.toml"
            )
        try:
            self.model_.load_state_dict(payload["model"])
            for module, state in zip(extra, payload["extra"], strict=True):
                module.load_state_dict(state)
            optimizer.load_state_dict(payload["optimizer"])
        except (RuntimeError, ValueError) as exc:  # shapes differ: other embeddings or catalog
            raise DataError(
                f"{path} was trained on other data (different embedding dimension or catalog size): "
                "resume with the run's own data, or start again with --overwrite"
            ) from exc
        self.history_ = list(payload["history"])
        return int(payload["epoch"])

    # --- encoding and persistence ---------------------------------------------------------
    @torch.no_grad()
    def latents(self, x: np.ndarray) -> np.ndarray:
        """Encoder outputs ``[N, d]`` for raw embeddings (before quantization)."""
        self._check_fitted()
        assert self.model_ is not None
        self.model_.eval()
        return self.model_.encoder(self._standardize(x)).cpu().numpy()

    @torch.no_grad()
    def _encode(self, x: np.ndarray) -> np.ndarray:
        assert self.model_ is not None
        self.model_.eval()
        return self._codes(self._standardize(x)).cpu().numpy()

    def _codes(self, inputs: Tensor) -> Tensor:
        """Codes ``[B, L]`` of encoder inputs, in float32 or, with ``encode_bf16``, bf16 with a float32
        re-check of every row whose margin the bf16 error could cross (``encode_bf16_tol``)."""
        assert self.model_ is not None
        encoder, quantizer = self.model_.encoder, self.model_.quantizer
        if not self.config.encode_bf16:
            return quantizer.encode(encoder(inputs))
        with bf16_autocast(inputs, True):
            z = encoder(inputs).float()
        codes, margin = quantizer.encode_with_margin(z)
        unsure = torch.nonzero(margin <= 2 * self.config.encode_bf16_tol * z.norm(dim=-1)).flatten()
        if len(unsure):
            codes[unsure] = quantizer.encode(encoder(inputs[unsure]))
        return codes

    def _state(self) -> dict[str, Any]:
        assert self.model_ is not None
        return {
            "model": {k: v.cpu() for k, v in self.model_.state_dict().items()},
            "x_mean": self.x_mean_,
            "x_scale": self.x_scale_,
        }

    def _load_state(self, state: dict[str, Any]) -> None:
        assert self.input_dim_ is not None
        self.config.device = (
            "cuda" if self.config.device.startswith("cuda") and torch.cuda.is_available() else "cpu"
        )
        self.model_ = RQVAEModel(self.input_dim_, self.config, self._extra_input_dim())
        self.model_.load_state_dict(state["model"])
        self.model_.to(self.config.device).eval()
        self.x_mean_ = np.asarray(state["x_mean"], dtype=np.float32)
        self.x_scale_ = float(state["x_scale"])
