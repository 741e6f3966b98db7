"""One bench cell from a benchmark script's command line (benchmarks/sasrec_beauty.py, tiger_beauty.py).

The scripts keep their flags, but every figure they print comes from ``run_bench`` on a
one-cell ``BenchConfig``: the same split, SID loading, training and record as a full bench.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from quasid.bench.config import BenchConfig
from quasid.bench.runner import run_bench
from quasid.rec.evaluate import TrainConfig

#: Stand-in SIDs when a script is given none: RQ-KMeans 3 x 256 on attribute-id LSA vectors + dedup.
STAND_IN = {
    "methods": ["rqkmeans"],
    "method": {"rqkmeans": {"n_levels": 3, "codebook_size": 256}},
    "embedding": {"source": "attributes", "attribute_dim": 64},
}


def add_cell_arguments(parser: argparse.ArgumentParser, **defaults: Any) -> None:
    """The flags both scripts share: data, seed, threads, TrainConfig fields, output folder."""
    d = {f: getattr(TrainConfig, f) for f in ("epochs", "patience", "eval_every", "lr", "batch_size")}
    d.update(defaults)
    parser.add_argument("--data", default="amazon-beauty", help="dataset path or name under $QUASID_DATA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=d["epochs"])
    parser.add_argument("--patience", type=int, default=d["patience"])
    parser.add_argument("--eval-every", type=int, default=d["eval_every"])
    parser.add_argument("--lr", type=float, default=d["lr"])
    parser.add_argument("--weight-decay", type=float, default=TrainConfig.weight_decay)
    parser.add_argument("--batch-size", type=int, default=d["batch_size"])
    parser.add_argument("--max-minutes", type=float, default=None)
    parser.add_argument(
        "--sids",
        type=Path,
        default=None,
        help="SID table: Parquet, or an LC-Rec index .json whose last level breaks ties",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the bench folder here (default: temporary)"
    )
    parser.add_argument("--no-progress", action="store_true")


def cell_config(
    args: argparse.Namespace, recommender: str, model: dict[str, Any], **extra: Any
) -> BenchConfig:
    """A one-cell BenchConfig from the shared flags, ``model`` fields and recommender settings."""
    train = {
        "epochs": args.epochs,
        "patience": args.patience,
        "eval_every": args.eval_every,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "batch_size": args.batch_size,
        "max_minutes": args.max_minutes,
    }
    values: dict[str, Any] = {
        "data": str(args.data),
        "seeds": [args.seed],
        "recommenders": [recommender],
        "threads": args.threads,
        "methods": [],
        recommender: {"model": model, "train": {k: v for k, v in train.items() if v is not None}, **extra},
    }
    if recommender != "sasrec_id":
        if args.sids is None:
            values.update(STAND_IN)
        else:
            source = "lcrec" if args.sids.suffix == ".json" else "sids"
            values.update(
                {"methods": [source], "method": {source: {"source": source, "path": str(args.sids)}}}
            )
    return BenchConfig.from_dict(values)


def run_cell(config: BenchConfig, args: argparse.Namespace) -> dict[str, Any]:
    """Run the config's one cell; a JSON-ready summary in the scripts' long-standing layout."""
    t0 = time.perf_counter()
    command = shlex.join([sys.argv[0], *sys.argv[1:]])
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.out or Path(tmp)
        results = run_bench(config, folder, progress=not args.no_progress, command=command, plots=False)
    (cell,) = results["cells"]
    sids = results["sids"].get(f"{cell['method']}/s{cell['seed']}")
    family = "tiger" if cell["recommender"] == "tiger" else "sasrec"
    history = cell["history"]
    ds = results["dataset"]
    return {
        "dataset": ds["name"],
        "users": ds["users"],
        "items": ds["items"],
        "sids": None if sids is None else {k: v for k, v in sids.items() if k != "metrics"},
        "sid_collision_rate": None if sids is None else sids["metrics"]["collision_rate"],
        "seed": cell["seed"],
        "threads": config.threads,
        "model": cell["model"],
        "train": cell["train"],
        "valid_users": cell["n_valid"],
        "best_epoch": cell["best_epoch"],
        "epochs_run": cell["epochs_run"],
        "stop": cell["stop"],
        "valid": cell["valid"],
        "test": cell["test"],
        "published_test": results["published"].get(family, {}).get("test"),
        "seconds_total": round(time.perf_counter() - t0, 1),
        "seconds_per_epoch_train": round(cell["seconds_per_epoch_train"], 2),
        "seconds_per_eval": None if cell["seconds_per_eval"] is None else round(cell["seconds_per_eval"], 2),
        "valid_ndcg@10_by_epoch": [
            None if h["valid"] is None else round(h["valid"]["ndcg@10"], 4) for h in history
        ],
        "loss_by_epoch": [round(h["loss"], 4) for h in history],
    }
