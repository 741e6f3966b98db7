"""One bench cell: build a downstream recommender on a SID table, train it under the protocol, record it.

Shared by the bench runner and the single-model scripts (benchmarks/sasrec_beauty.py,
benchmarks/tiger_beauty.py), so every downstream figure of the project comes from the
same code path: the same split, the same validation subsample, the same record.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from quasid.bench.config import BenchConfig
from quasid.bench.paired import compact_ranks
from quasid.data.dataset import Dataset
from quasid.data.splits import cold_start_split, leave_one_out
from quasid.errors import ConfigError
from quasid.rec.evaluate import (
    Checkpoint,
    EpochRecord,
    EvalSet,
    FitResult,
    TrainConfig,
    Trainer,
    cold_start_sets,
    leave_one_out_sets,
)
from quasid.sid.table import SIDTable


@dataclass
class ProtocolData:
    """What every cell trains and is scored on: the same for all methods and seeds of a bench."""

    train: list[np.ndarray]
    valid: EvalSet
    test: EvalSet
    tokenizer_data: Dataset  # what tokenizers may see (cold items' events removed under cold_start)
    summary: dict[str, Any]


def protocol_data(dataset: Dataset, config: BenchConfig) -> ProtocolData:
    """The split of ``config.protocol``; ConfigError when the dataset has no interactions."""
    if dataset.interactions is None:
        raise ConfigError(
            f"dataset '{dataset.name}' has no interactions: recommenders {config.recommenders} need a "
            "user log (give a dataset with one, or run an intrinsic-only bench with --recommenders none)"
        )
    if config.protocol == "cold_start":
        split = cold_start_split(dataset.interactions, frac=config.cold_frac, seed=config.split_seed)
        train, valid, test = cold_start_sets(split)
        tokenizer_data = Dataset(dataset.catalog, split.train)
        extra = {"cold_items": len(split.cold_items)}
    else:
        split_loo = leave_one_out(dataset.interactions)
        train, valid, test = leave_one_out_sets(split_loo)
        tokenizer_data = dataset  # tokenizers split off the validation / test events themselves
        extra = {"users_dropped": split_loo.n_dropped}
    summary = {
        "protocol": config.protocol,
        "users": dataset.interactions.n_users,
        "items": dataset.catalog.n_items,
        "events": dataset.interactions.n_events,
        "train_sequences": len(train),
        "valid_cases": len(valid),
        "test_cases": len(test),
        **extra,
    }
    return ProtocolData(train, valid, test, tokenizer_data, summary)


def valid_subsample(valid: EvalSet, n: int, seed: int) -> EvalSet:
    """``n`` validation cases drawn with ``seed`` (all when ``n`` is 0 or not smaller): the same for
    every method of a seed, so model selection is compared on equal terms."""
    if n <= 0 or n >= len(valid):
        return valid
    pick = np.sort(np.random.default_rng(seed).choice(len(valid), n, replace=False))
    return EvalSet([valid.histories[i] for i in pick], valid.targets[pick])


def build_model(
    recommender: str, model_config: Any, dataset: Dataset, table: SIDTable | None, device: str = "cpu"
) -> nn.Module:
    """The recommender of a cell (item rows in catalog order)."""
    item_ids = dataset.catalog.item_ids
    if recommender == "tiger":
        from quasid.rec.tiger import Tiger

        if table is None:
            raise ConfigError("tiger decodes SIDs: it needs a SID table")
        return Tiger(table, model_config, item_ids=item_ids).to(device)
    from quasid.rec.sasrec import SASRec

    return SASRec(dataset.catalog.n_items, model_config, sid_table=table, item_ids=item_ids).to(device)


def describe(model: nn.Module) -> dict[str, Any]:
    """Config and size of a model, for the record."""
    if hasattr(model, "describe"):
        return model.describe()
    return {**asdict(model.config), "n_parameters": sum(p.numel() for p in model.parameters())}


def stop_reason(fit: FitResult, train_config: TrainConfig) -> str:
    """Why training ended: the epoch cap, patience (early stopping) or the wall-clock budget."""
    if not fit.stopped_early:
        return "epochs"
    budget = train_config.max_minutes
    if budget is not None and sum(h.train_seconds + h.eval_seconds for h in fit.history) > budget * 60:
        return "time budget"
    return "patience"


def capped_while_improving(best_epoch: int, epochs_run: int, stop: str, train: dict[str, Any]) -> bool:
    """Whether a cell ran into its epoch cap with its best validation inside the last patience window,
    i.e. it might still have improved: its figures are a lower bound, not a converged value."""
    if stop != "epochs":
        return False
    window = int(train.get("patience", TrainConfig.patience)) * int(train.get("eval_every", 1))
    return best_epoch > epochs_run - window


def train_cell(
    model: nn.Module,
    train_config: TrainConfig,
    data: ProtocolData,
    valid_users: int = 0,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    checkpoint: Checkpoint | None = None,
) -> dict[str, Any]:
    """Train with early stopping on (a seeded subsample of) validation; the JSON record of the cell.
    With ``checkpoint``, a killed cell run again resumes after its last finished epoch."""
    valid = valid_subsample(data.valid, valid_users, train_config.seed)
    fit = Trainer(model, train_config, on_epoch, checkpoint).fit(data.train, valid, data.test)
    evaluated = [h for h in fit.history if h.valid is not None]
    stop = stop_reason(fit, train_config)
    return {
        "valid": fit.valid,
        "test": fit.test,
        "best_epoch": fit.best_epoch,
        "epochs_run": len(fit.history),
        "stop": stop,
        "capped_improving": capped_while_improving(
            fit.best_epoch, len(fit.history), stop, asdict(train_config)
        ),
        "seconds": fit.seconds,
        "seconds_per_epoch_train": float(np.mean([h.train_seconds for h in fit.history])),
        "seconds_per_eval": float(np.mean([h.eval_seconds for h in evaluated])) if evaluated else None,
        "n_valid": fit.n_valid,
        "n_test": fit.n_test,
        "history": [asdict(h) for h in fit.history],
        "model": describe(model),
        "train": {k: v for k, v in asdict(train_config).items() if k != "progress"},
        # per-user test ranks, compactly, for the paired bootstrap (bench.paired)
        "test_top": compact_ranks(fit.test_ranks, max(train_config.ks)),
    }


def epoch_logger(prefix: str = "") -> Callable[[EpochRecord], None]:
    """An ``on_epoch`` hook printing one line per epoch to stderr (for logs, when bars are off)."""

    def log(record: EpochRecord) -> None:
        valid = "" if record.valid is None else f" valid ndcg@10 {record.valid['ndcg@10']:.4f}"
        print(
            f"{prefix}epoch {record.epoch} loss {record.loss:.4f} {record.train_seconds:.1f}s{valid}",
            file=sys.stderr,
            flush=True,
        )

    return log


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads; returns the previous count (to restore)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    return before
