"""SASRec-id (or SASRec-sid with ``--sids``) on Amazon Beauty under our protocol, next to published SASRec.

Leave-one-out, full ranking over the 12,101 items, early stopping on
validation NDCG@10. Prints one JSON object: validation and test metrics at the
best epoch, seconds per epoch and in total, the published reference.

    python benchmarks/sasrec_beauty.py [--seed 0] [--threads 2] [--dropout 0.3] ...

The data folder is ``$QUASID_DATA/amazon-beauty``, else ``../shared/data/amazon-beauty``
beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from quasid.data import leave_one_out, load_dataset
from quasid.rec import SASRec, SASRecConfig, TrainConfig, fit_and_evaluate
from quasid.rec.evaluate import EpochRecord
from quasid.sid.table import SIDTable

# SASRec on Beauty as reported in the TIGER paper (Rajput et al., 2023, Table 1)
PUBLISHED = {"recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318}


def default_data() -> Path:
    root = os.environ.get("QUASID_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(root) / "amazon-beauty"


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    p.add_argument("--patience", type=int, default=TrainConfig.patience)
    p.add_argument("--eval-every", type=int, default=TrainConfig.eval_every)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument("--dropout", type=float, default=SASRecConfig.dropout)
    p.add_argument("--hidden", type=int, default=SASRecConfig.hidden)
    p.add_argument("--layers", type=int, default=SASRecConfig.layers)
    p.add_argument("--heads", type=int, default=SASRecConfig.heads)
    p.add_argument("--loss", choices=["ce", "bce"], default=SASRecConfig.loss)
    p.add_argument(
        "--sids",
        type=Path,
        default=None,
        help="SID table (Parquet, or an LC-Rec index .json whose last level breaks ties): "
        "train SASRec-sid on it instead of SASRec-id",
    )
    p.add_argument("--sid-pooling", choices=["sum", "concat"], default=SASRecConfig.sid_pooling)
    p.add_argument("--no-dedup", action="store_true", help="ignore the SID table's disambiguation level")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dataset = load_dataset(args.data)
    assert dataset.interactions is not None
    split = leave_one_out(dataset.interactions)
    table = None
    if args.sids is not None:
        table = (
            SIDTable.from_lcrec_index(args.sids, item_ids=dataset.catalog.item_ids, semantic_levels=3)
            if args.sids.suffix == ".json"
            else SIDTable.from_parquet(args.sids)
        )
    model = SASRec(
        dataset.catalog.n_items,
        SASRecConfig(
            hidden=args.hidden,
            layers=args.layers,
            heads=args.heads,
            dropout=args.dropout,
            loss=args.loss,
            seed=args.seed,
            item_repr="id" if table is None else "sid",
            sid_pooling=args.sid_pooling,
            use_dedup=not args.no_dedup,
        ),
        sid_table=table,
        item_ids=dataset.catalog.item_ids,
    )
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        eval_every=args.eval_every,
        seed=args.seed,
        max_minutes=args.max_minutes,
        progress=not args.no_progress,
    )

    def log(record: EpochRecord) -> None:
        valid = "" if record.valid is None else f" valid ndcg@10 {record.valid['ndcg@10']:.4f}"
        print(
            f"epoch {record.epoch} loss {record.loss:.4f} {record.train_seconds:.1f}s{valid}",
            file=sys.stderr,
            flush=True,
        )

    result = fit_and_evaluate(model, split, config, on_epoch=log if args.no_progress else None)
    train_s = [h.train_seconds for h in result.history]
    eval_s = [h.eval_seconds for h in result.history if h.valid is not None]
    out: dict[str, object] = {
        "dataset": dataset.name,
        "users": len(split.users),
        "items": dataset.catalog.n_items,
        "sids": None if args.sids is None else str(args.sids),
        "seed": args.seed,
        "threads": args.threads,
        "model": model.describe(),
        "train": {k: v for k, v in vars(config).items() if k != "progress"},
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "valid": result.valid,
        "test": result.test,
        "published_test": PUBLISHED,
        "seconds_total": round(time.perf_counter() - t0, 1),
        "seconds_per_epoch_train": round(float(np.mean(train_s)), 2),
        "seconds_per_eval": round(float(np.mean(eval_s)), 2) if eval_s else None,
        "valid_ndcg@10_by_epoch": [
            round(h.valid["ndcg@10"], 4) if h.valid is not None else None for h in result.history
        ],
        "loss_by_epoch": [round(h.loss, 4) for h in result.history],
    }
    json.dump(out, sys.stdout, indent=2)
    print()
    return out


if __name__ == "__main__":
    main()
