"""The downstream evaluation protocol, and a training loop any next-item model can use.

Protocol (what every figure in the reports means):

- leave-one-out: per user, train on all but the last two items, validate on the
  second last, test on the last; the test history includes the validation
  item. Ranking is over the whole catalog (no sampled negatives), with the
  tie convention of ``quasid.rec.metrics``.
- early stopping on validation NDCG@10 (``TrainConfig.monitor``), with
  ``patience`` counted in evaluations; the test figures are those of the
  parameters of the best validation evaluation, never of the last epoch.
- cold start: some items are withheld from every training interaction
  (``quasid.data.cold_start_split``); the test events are those whose target is
  a withheld item. Validation, for early stopping, is each user's last *warm*
  event, so model selection never looks at a cold item either.

The loop is generic. A model is an ``nn.Module`` that provides
``training_loss(batch) -> scalar`` and ``rank_targets(histories, targets) -> ranks``
(a ``Ranks`` or plain 0-based ranks, one per target, over the whole catalog).
It may also provide ``training_examples(sequences)`` (what one epoch shuffles:
default, the per-user training sequences), ``collate(examples)`` (how a
list of examples becomes a batch: default, the list itself) and
``example_length(example)`` (to batch examples of similar length together).
SASRec and TIGER differ only in those methods.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor, nn

from quasid.data.interactions import Interactions
from quasid.data.splits import ColdStart, LeaveOneOut
from quasid.errors import ConfigError, DataError
from quasid.io import atomic_path, load_torch
from quasid.progress import advance, progress_bar
from quasid.rec.metrics import RankLike, Ranks, ranking_metrics

CHECKPOINT_FORMAT = "quasid.rec.trainer/1"


@runtime_checkable
class RankingModel(Protocol):
    """What the loop needs from a model (besides being an ``nn.Module``)."""

    def training_loss(self, batch: Any) -> Tensor:
        """Scalar loss of one training batch (the model is in train mode)."""
        ...

    def rank_targets(self, histories: Sequence[np.ndarray], targets: np.ndarray) -> RankLike:
        """0-based rank of each target among all catalog items, given each history (eval mode, no grad)."""
        ...


@dataclass
class TrainConfig:
    """How a downstream model is trained and selected (model-agnostic; sizes are in the model's config).

    Defaults suit SASRec on the Amazon 5-core sets on a CPU.
    """

    epochs: int = 200  # upper bound; early stopping usually ends sooner
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    grad_clip: float | None = 5.0  # max gradient norm; None disables clipping
    patience: int = 5  # evaluations without improvement of `monitor` before stopping
    eval_every: int = 1  # epochs between validation evaluations (the last epoch is always evaluated)
    eval_batch_size: int = 1024
    bucket: int = 50  # sortish batching pool, in batches (1 = plain shuffle); needs model.example_length
    monitor: str = "ndcg@10"  # validation metric that selects the epoch
    ks: tuple[int, ...] = (5, 10)
    seed: int = 0
    max_minutes: float | None = None  # wall-clock budget: stop after the evaluation that crosses it
    device: str = "cpu"
    progress: bool = True

    def validate(self) -> None:
        """Raise ``ConfigError`` naming the first bad field."""
        for name in ("epochs", "batch_size", "patience", "eval_every", "eval_batch_size", "bucket"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"TrainConfig.{name} must be an integer >= 1, got {value!r}")
        if not self.lr > 0:
            raise ConfigError(f"TrainConfig.lr must be > 0, got {self.lr!r}")
        if self.weight_decay < 0:
            raise ConfigError(f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ConfigError(f"TrainConfig.grad_clip must be > 0 or None, got {self.grad_clip!r}")
        if not self.ks or any(not isinstance(k, int) or k < 1 for k in self.ks):
            raise ConfigError(f"TrainConfig.ks must be positive integers, got {self.ks!r}")
        valid = [f"{m}@{k}" for k in self.ks for m in ("recall", "ndcg")]
        if self.monitor not in valid:
            raise ConfigError(f"TrainConfig.monitor={self.monitor!r}: use one of {valid}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise ConfigError(f"TrainConfig.max_minutes must be > 0 or None, got {self.max_minutes!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"TrainConfig.device={self.device!r} but CUDA is not available: use 'cpu'")


@dataclass
class EvalSet:
    """Test cases: one history (item rows in time order) and one target item row each."""

    histories: list[np.ndarray]
    targets: np.ndarray  # [n] int64

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=np.int64).reshape(-1)
        if len(self.histories) != len(self.targets):
            raise DataError(f"{len(self.histories)} histories but {len(self.targets)} targets")
        empty = [i for i, h in enumerate(self.histories) if len(h) == 0]
        if empty:
            raise DataError(f"{len(empty)} test case(s) have an empty history (e.g. #{empty[0]})")

    def __len__(self) -> int:
        return len(self.targets)


@dataclass
class EpochRecord:
    """One epoch of training: mean loss, seconds, and the validation metrics when it was evaluated."""

    epoch: int  # 1-based
    loss: float
    train_seconds: float
    valid: dict[str, float] | None = None
    eval_seconds: float = 0.0


@dataclass
class FitResult:
    """The outcome of ``fit``: figures at the best validation evaluation, plus the whole history."""

    best_epoch: int
    valid: dict[str, float]  # at best_epoch
    test: dict[str, float]  # at best_epoch (empty when no test set was given)
    history: list[EpochRecord]
    seconds: float  # wall clock, training + evaluation
    stopped_early: bool
    n_valid: int
    n_test: int
    test_ranks: Ranks | None = field(default=None, repr=False)  # per-event, for paired comparisons

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the per-event ranks)."""
        out = asdict(self)
        out.pop("test_ranks")
        return out


def _default_examples(model: nn.Module, sequences: list[np.ndarray]) -> Sequence[Any]:
    hook = getattr(model, "training_examples", None)
    return hook(sequences) if hook is not None else sequences


def _collate(model: nn.Module, examples: list[Any]) -> Any:
    hook = getattr(model, "collate", None)
    return hook(examples) if hook is not None else examples


class Trainer:
    """Train a ``RankingModel`` with AdamW, evaluate on a validation set, keep the best parameters."""

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        checkpoint: Checkpoint | None = None,
        **overrides: Any,
    ) -> None:
        """``on_epoch`` is called with each finished epoch's record (logging, plots, external stopping);
        with ``checkpoint``, ``fit`` saves its state after every epoch and resumes from it."""
        if not isinstance(model, RankingModel) or not isinstance(model, nn.Module):
            raise ConfigError(
                f"{type(model).__name__} cannot be trained here: it must be an nn.Module with "
                "training_loss(batch) and rank_targets(histories, targets)"
            )
        try:
            config = replace(config or TrainConfig(), **overrides)
        except TypeError as exc:
            raise ConfigError(f"TrainConfig: {exc}") from None
        config.validate()
        self.model = model
        self.config = config
        self.on_epoch = on_epoch
        self.checkpoint = checkpoint

    # --- data ----------------------------------------------------------------------------
    def examples(self, train_sequences: list[np.ndarray]) -> Sequence[Any]:
        """What one epoch iterates over, from the per-user training sequences."""
        return _default_examples(self.model, train_sequences)

    def batches(self, examples: Sequence[Any], epoch: int) -> Iterator[Any]:
        """The training batches of ``epoch`` (1-based): a seeded shuffle of the examples, collated.

        When the model gives ``example_length(example)`` and ``TrainConfig.bucket``
        holds, batches are "sortish": the shuffled examples are cut into pools of
        ``bucket`` batches, each pool sorted by length and cut into batches, and
        the batch order shuffled. Batches then hold examples of similar length,
        so little compute goes into padding, while every epoch still mixes users.
        Depends only on (seed, epoch), so a run can be reproduced and inspected batch by batch.
        """
        gen = torch.Generator().manual_seed(self.config.seed * 1_000_003 + epoch)
        order = torch.randperm(len(examples), generator=gen).tolist()
        bs = self.config.batch_size
        length = getattr(self.model, "example_length", None)
        if length is None or self.config.bucket <= 1:
            chunks = [order[s : s + bs] for s in range(0, len(order), bs)]
        else:
            pool = bs * self.config.bucket
            chunks = []
            for p in range(0, len(order), pool):
                ids = sorted(order[p : p + pool], key=lambda i: length(examples[i]))
                chunks.extend(ids[s : s + bs] for s in range(0, len(ids), bs))
            chunks = [chunks[i] for i in torch.randperm(len(chunks), generator=gen).tolist()]
        for chunk in chunks:
            yield _collate(self.model, [examples[i] for i in chunk])

    # --- evaluation ----------------------------------------------------------------------
    @torch.no_grad()
    def ranks(self, eval_set: EvalSet) -> Ranks:
        """Full-catalog ranks of every target (model in eval mode; its mode is restored after)."""
        was_training = self.model.training
        self.model.eval()
        # by history length, so a batch pads little; the ranks are put back in the set's order
        order = np.argsort([len(h) for h in eval_set.histories], kind="stable")
        try:
            bs = self.config.eval_batch_size
            parts = []
            for s in range(0, len(order), bs):
                idx = order[s : s + bs]
                parts.append(
                    self.model.rank_targets([eval_set.histories[i] for i in idx], eval_set.targets[idx])
                )
        finally:
            self.model.train(was_training)
        sorted_ranks = Ranks.cat(parts)
        if len(sorted_ranks) != len(eval_set):
            raise RuntimeError(f"rank_targets returned {len(sorted_ranks)} ranks for {len(eval_set)} targets")
        higher = np.empty_like(sorted_ranks.higher)
        ties = np.empty_like(sorted_ranks.ties)
        higher[order], ties[order] = sorted_ranks.higher, sorted_ranks.ties
        return Ranks(higher, ties)

    def evaluate(self, eval_set: EvalSet) -> dict[str, float]:
        """Recall@K and NDCG@K for every K of the config."""
        return ranking_metrics(self.ranks(eval_set), self.config.ks)

    # --- training ------------------------------------------------------------------------
    def fit(
        self, train_sequences: list[np.ndarray], valid: EvalSet, test: EvalSet | None = None
    ) -> FitResult:
        """Train with early stopping on ``valid``; load the best parameters; score ``test`` with them.

        Seeded: the same seed, data and config give the same history on CPU. The
        global torch RNG is left as it was (the run uses a forked one). With the
        Trainer's ``checkpoint``, a killed fit called again continues after its last
        finished epoch, with the same figures as an uninterrupted one.
        """
        cfg = self.config
        if len(valid) == 0:
            raise DataError("the validation set is empty: early stopping needs at least one case")
        with torch.random.fork_rng(devices=[]), torch.enable_grad():  # whatever grad mode the caller left
            torch.manual_seed(cfg.seed)
            return self._fit(train_sequences, valid, test)

    def _fit(self, train_sequences: list[np.ndarray], valid: EvalSet, test: EvalSet | None) -> FitResult:
        cfg = self.config
        model = self.model.to(cfg.device)
        examples = self.examples(train_sequences)
        if len(examples) == 0:
            raise DataError("no training examples: every training sequence is too short to learn from")
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        state = _LoopState()
        if self.checkpoint is not None:
            saved = self.checkpoint.load()
            # a state past this run's epoch cap cannot be wound back: that run is trained over
            if saved is not None and len(saved["history"]) <= cfg.epochs:
                state = _LoopState.restore(saved, model, optimizer, cfg.device)
        t0 = time.perf_counter() - state.elapsed  # a resumed run's budget counts its earlier time
        name = type(model).__name__
        with progress_bar(cfg.epochs, f"train {name}", enabled=cfg.progress) as bar:
            advance(bar, "resumed" if state.history else "", step=len(state.history))
            for epoch in range(len(state.history) + 1, cfg.epochs + 1):
                if state.finished:
                    break
                record = EpochRecord(epoch, *self._train_epoch(model, optimizer, examples, epoch))
                state.history.append(record)
                over_time = cfg.max_minutes is not None and time.perf_counter() - t0 > cfg.max_minutes * 60
                info, stop = f"loss {record.loss:.4f}", False
                if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or over_time:
                    t_eval = time.perf_counter()
                    record.valid = self.evaluate(valid)
                    record.eval_seconds = time.perf_counter() - t_eval
                    score = record.valid[cfg.monitor]
                    if score > state.best_score:
                        state.best_score, state.best_epoch, state.best_valid = score, epoch, record.valid
                        state.best_state = copy.deepcopy(model.state_dict())
                        state.bad_evals = 0
                    else:
                        state.bad_evals += 1
                    info += f"  {cfg.monitor} {score:.4f} (best {state.best_score:.4f} @{state.best_epoch})"
                    stop = state.bad_evals >= cfg.patience or over_time
                if stop:
                    state.finished, state.stopped_early = True, epoch < cfg.epochs
                state.elapsed = time.perf_counter() - t0
                if self.checkpoint is not None:
                    self.checkpoint.save(state.to_dict(model, optimizer))
                advance(bar, info)
                if self.on_epoch is not None:
                    self.on_epoch(record)
        if state.best_state is not None:
            model.load_state_dict(state.best_state)
        test_metrics: dict[str, float] = {}
        test_ranks = None
        if test is not None and len(test):
            test_ranks = self.ranks(test)
            test_metrics = ranking_metrics(test_ranks, cfg.ks)
        return FitResult(
            best_epoch=state.best_epoch,
            valid=state.best_valid,
            test=test_metrics,
            history=state.history,
            seconds=time.perf_counter() - t0,
            stopped_early=state.stopped_early,
            n_valid=len(valid),
            n_test=0 if test is None else len(test),
            test_ranks=test_ranks,
        )

    def _train_epoch(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, examples: Sequence[Any], epoch: int
    ) -> tuple[float, float]:
        """One pass over the batches of ``epoch``: (mean loss, seconds)."""
        cfg = self.config
        model.train()
        t_epoch = time.perf_counter()
        total, n_batches = 0.0, 0
        for batch in self.batches(examples, epoch):
            loss = model.training_loss(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{type(model).__name__}: training loss became {loss.item()} at epoch {epoch}: "
                    "lower TrainConfig.lr"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            total += float(loss.detach())
            n_batches += 1
        return total / max(n_batches, 1), time.perf_counter() - t_epoch


@dataclass
class _LoopState:
    """Everything ``Trainer.fit`` carries from one epoch to the next: what a checkpoint holds."""

    history: list[EpochRecord] = field(default_factory=list)
    best_score: float = -math.inf
    best_epoch: int = 0
    best_state: dict[str, Tensor] | None = None
    best_valid: dict[str, float] = field(default_factory=dict)
    bad_evals: int = 0
    finished: bool = False  # patience or the time budget ended training (only the test pass is left)
    stopped_early: bool = False
    elapsed: float = 0.0  # seconds of training and evaluation so far

    def to_dict(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
        loop = {k: v for k, v in asdict(self).items() if k not in ("history", "best_state")}
        return {
            **loop,
            "history": [asdict(h) for h in self.history],
            "best_state": self.best_state,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            # dropout draws from torch's global generator: restoring it makes a resumed run the same run
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }

    @classmethod
    def restore(
        cls, saved: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer, device: str
    ) -> _LoopState:
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["rng"])
        if saved["cuda_rng"] is not None and device.startswith("cuda"):
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        names = {f.name for f in fields(cls)} - {"history"}
        state = cls(**{k: saved[k] for k in names})
        state.history = [EpochRecord(**h) for h in saved["history"]]
        return state


@dataclass
class Checkpoint:
    """Where ``Trainer.fit`` keeps its state after every epoch, so a killed run resumes where it was.

    ``key`` names the run (the bench uses the cell's fingerprint, epoch cap left out). A file written
    under another key belongs to another run: it is trained over from the start, never resumed. A
    resumed run is the same run: batches depend only on (seed, epoch), and the checkpoint holds the
    dropout generator. So is a run that ended at its epoch cap and is fitted again under a higher
    cap: it goes on from where it stopped (the learning rate is constant), with one difference, an
    evaluation at the old cap when that epoch is not a multiple of ``eval_every``.
    """

    path: Path
    key: str

    def load(self) -> dict[str, Any] | None:
        """The saved state of this run, or None (no file, or another run's)."""
        if not self.path.exists():
            return None
        saved = load_torch(self.path, "delete it to train this model from the start")
        if not isinstance(saved, dict) or saved.get("format") != CHECKPOINT_FORMAT:
            raise DataError(
                f"{self.path} is not a readable quasid checkpoint (not a recommender's training state): "
                "delete it to train this model from the start"
            )
        return saved if saved.get("key") == self.key else None

    def save(self, state: dict[str, Any]) -> None:
        """Write atomically: a run killed mid-write keeps the previous epoch's checkpoint."""
        with atomic_path(self.path) as tmp:
            torch.save({"format": CHECKPOINT_FORMAT, "key": self.key, **state}, tmp)

    def remove(self) -> None:
        """Delete the file (once the run's figures are recorded elsewhere)."""
        self.path.unlink(missing_ok=True)


def leave_one_out_sets(split: LeaveOneOut) -> tuple[list[np.ndarray], EvalSet, EvalSet]:
    """(train sequences, validation set, test set) of a leave-one-out split, users aligned."""
    return (
        split.train_sequences(),
        EvalSet(list(split.valid_history), split.valid_target),
        EvalSet(list(split.test_history), split.test_target),
    )


def cold_start_sets(split: ColdStart) -> tuple[list[np.ndarray], EvalSet, EvalSet]:
    """(train sequences, validation set, cold test set) of a cold-start split.

    The training log has no event of a cold item. Each user with at least two
    warm events gives their last warm event as a validation case and trains on
    the rest; the test cases are the split's (targets all cold).
    """
    sequences = _user_sequences(split.train)
    train: list[np.ndarray] = []
    histories: list[np.ndarray] = []
    targets: list[int] = []
    for seq in sequences:
        if len(seq) >= 2:
            train.append(seq[:-1])
            histories.append(seq[:-1])
            targets.append(int(seq[-1]))
        elif len(seq):
            train.append(seq)
    return (
        train,
        EvalSet(histories, np.asarray(targets, np.int64)),
        EvalSet(list(split.test_history), split.test_target),
    )


def _user_sequences(interactions: Interactions) -> list[np.ndarray]:
    return [s for s in interactions.sequences() if len(s)]


def fit_and_evaluate(
    model: nn.Module,
    split: LeaveOneOut,
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    checkpoint: Checkpoint | None = None,
    **overrides: Any,
) -> FitResult:
    """The leave-one-out protocol: train on ``split.train``, select on validation, report test.

    ``overrides`` replace ``config`` fields (``epochs=5``).
    """
    train, valid, test = leave_one_out_sets(split)
    return Trainer(model, config, on_epoch, checkpoint, **overrides).fit(train, valid, test)


def fit_and_evaluate_cold_start(
    model: nn.Module,
    split: ColdStart,
    config: TrainConfig | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    checkpoint: Checkpoint | None = None,
    **overrides: Any,
) -> FitResult:
    """The cold-start protocol: train without the cold items, report on test events that target them."""
    if len(split.test_target) == 0:
        raise DataError("the cold-start split has no test case: raise frac or use more data")
    train, valid, test = cold_start_sets(split)
    return Trainer(model, config, on_epoch, checkpoint, **overrides).fit(train, valid, test)
