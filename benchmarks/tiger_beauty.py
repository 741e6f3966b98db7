"""TIGER (generative retrieval over Semantic IDs) on Amazon Beauty, leave-one-out, beam 20.

Trains a T5 (``TIGER_COMPACT`` for CPUs, ``TIGER_PAPER`` for GPUs) on the SIDs
of a ``SIDTable`` Parquet file, selects the epoch on validation NDCG@10 and
prints one JSON object: validation / test Recall@5/10 and NDCG@5/10, seconds
per epoch, the published TIGER figures for reference.

    python benchmarks/tiger_beauty.py --sids run/sids.parquet --epochs 20
    python benchmarks/tiger_beauty.py --time-steps 60     # timing only: extrapolated epoch, full test decode

Without ``--sids`` the SIDs are a stand-in: RQ-KMeans (3 x 256, TIGER's
shape) on the attribute-id LSA embeddings, plus TIGER's dedup token.
The data folder is ``$QUASID_DATA/amazon-beauty``, else ``../shared/data/amazon-beauty``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from quasid.data import leave_one_out, load_dataset
from quasid.data.catalog import Catalog
from quasid.features import embed_attributes
from quasid.rec.evaluate import EpochRecord, EvalSet, TrainConfig, Trainer, leave_one_out_sets
from quasid.rec.metrics import ranking_metrics
from quasid.rec.tiger import TIGER_COMPACT, TIGER_PAPER, Tiger
from quasid.sid.table import SIDTable
from quasid.tokenizers import RQKMeans

# TIGER on Beauty (Rajput et al., 2023, Table 1)
PUBLISHED = {"recall@5": 0.0454, "ndcg@5": 0.0321, "recall@10": 0.0648, "ndcg@10": 0.0384}
CONFIGS = {"compact": TIGER_COMPACT, "paper": TIGER_PAPER}


def default_data() -> Path:
    root = os.environ.get("QUASID_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
    return Path(root) / "amazon-beauty"


def stand_in_sids(catalog: Catalog, seed: int) -> SIDTable:
    """RQ-KMeans 3 x 256 on attribute LSA vectors, with the dedup level (a baseline, not QuaSID)."""
    embedded = embed_attributes(catalog, dim=64, seed=seed)
    codes = RQKMeans(n_levels=3, codebook_size=256, seed=seed).fit_encode(embedded)
    return SIDTable.from_codes(catalog.item_ids, codes, 256)


def cpu_seconds() -> float:
    """User + system CPU time of this process (all threads): on a shared CPU, work done, not waiting."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timing(
    model: Tiger, trainer: Trainer, train: list[np.ndarray], test: EvalSet, steps: int, n_test: int
) -> dict[str, object]:
    """Train ``steps`` batches (``Trainer``'s batches, AdamW as it uses) and beam-decode ``test``.

    ``test`` may be a random subsample of the ``n_test`` test users; the full decode time is extrapolated.
    """
    examples = trainer.examples(train)
    n_batches = -(-len(examples) // trainer.config.batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=trainer.config.lr)
    model.train()
    batches = trainer.batches(examples, epoch=1)
    next(batches)  # first batch: warm-up (allocator, lazy init), not timed
    wall, cpu, done = time.perf_counter(), cpu_seconds(), 0
    for batch in batches:
        loss = model.training_loss(batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        done += 1
        if done == steps:
            break
    step_wall, step_cpu = (time.perf_counter() - wall) / done, (cpu_seconds() - cpu) / done
    wall, cpu = time.perf_counter(), cpu_seconds()
    ranks = trainer.ranks(test)
    decode_wall = time.perf_counter() - wall
    return {
        "train_examples": len(examples),
        "batches_per_epoch": n_batches,
        "timed_steps": done,
        "seconds_per_step": round(step_wall, 3),
        "cpu_seconds_per_step": round(step_cpu, 3),
        "seconds_per_epoch_extrapolated": round(step_wall * n_batches, 1),
        "cpu_seconds_per_epoch_extrapolated": round(step_cpu * n_batches, 1),
        "decode_users": len(test),
        "decode_seconds": round(decode_wall, 1),
        "decode_cpu_seconds": round(cpu_seconds() - cpu, 1),
        "decode_seconds_all_test_users_extrapolated": round(decode_wall * n_test / len(test), 1),
        "test_after_timed_steps": {k: round(v, 4) for k, v in ranking_metrics(ranks, (5, 10)).items()},
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=default_data())
    p.add_argument(
        "--sids", type=Path, default=None, help="SIDTable Parquet (default: stand-in RQ-KMeans SIDs)"
    )
    p.add_argument("--write-sids", type=Path, default=None, help="save the SIDs used to this Parquet path")
    p.add_argument("--config", choices=sorted(CONFIGS), default="compact")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--patience", type=int, default=3)
    p.add_argument(
        "--eval-every", type=int, default=2, help="epochs between validation decodes (beam search)"
    )
    p.add_argument(
        "--valid-users", type=int, default=4000, help="validation subsample for early stopping (0: all)"
    )
    p.add_argument("--max-items", type=int, default=None, help="history length the encoder reads")
    p.add_argument("--beam", type=int, default=None)
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CPUs with avx512_bf16, GPUs)")
    p.add_argument("--max-minutes", type=float, default=None)
    p.add_argument(
        "--time-steps", type=int, default=0, help="timing only: train this many steps, decode test"
    )
    p.add_argument("--decode-users", type=int, default=0, help="timing: decode a subsample (0: all)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    dataset = load_dataset(args.data)
    assert dataset.interactions is not None
    split = leave_one_out(dataset.interactions)
    table = SIDTable.from_parquet(args.sids) if args.sids else stand_in_sids(dataset.catalog, args.seed)
    if args.write_sids:
        table.to_parquet(args.write_sids)
    config = replace(CONFIGS[args.config], seed=args.seed, bf16=args.bf16)
    if args.max_items:
        config = replace(config, max_items=args.max_items)
    if args.beam:
        config = replace(config, beam_size=args.beam)
    model = Tiger(table, config, item_ids=dataset.catalog.item_ids).to(args.device)
    train_config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        eval_every=args.eval_every,
        eval_batch_size=4096,
        seed=args.seed,
        max_minutes=args.max_minutes,
        device=args.device,
        progress=not args.no_progress,
    )
    train, valid, test = leave_one_out_sets(split)
    if args.valid_users and args.valid_users < len(valid):
        pick = np.sort(np.random.default_rng(args.seed).choice(len(valid), args.valid_users, replace=False))
        valid = EvalSet([valid.histories[i] for i in pick], valid.targets[pick])

    def log(record: EpochRecord) -> None:
        valid_txt = "" if record.valid is None else f" valid ndcg@10 {record.valid['ndcg@10']:.4f}"
        print(
            f"epoch {record.epoch} loss {record.loss:.4f} {record.train_seconds:.1f}s{valid_txt}",
            file=sys.stderr,
        )

    trainer = Trainer(model, train_config, on_epoch=log if args.no_progress else None)
    sids = {
        "source": str(args.sids) if args.sids else "stand-in: RQ-KMeans 3x256 on attribute LSA + dedup",
        "levels": table.n_levels,
        "codebook_size": table.codebook_size,
        "dedup_levels": model.vocab.level_sizes[-1] if table.dedup is not None else 0,
        "distinct_semantic_sids": len(np.unique(table.codes, axis=0)),
    }
    out: dict[str, object] = {
        "dataset": dataset.name,
        "users": len(split.users),
        "items": dataset.catalog.n_items,
        "sids": sids,
        "model": {**config.to_dict(), "parameters": sum(q.numel() for q in model.parameters())},
        "threads": args.threads,
        "device": args.device,
    }
    if args.time_steps:
        timed = test
        if args.decode_users and args.decode_users < len(test):
            pick = np.sort(
                np.random.default_rng(args.seed).choice(len(test), args.decode_users, replace=False)
            )
            timed = EvalSet([test.histories[i] for i in pick], test.targets[pick])
        out["timing"] = timing(model, trainer, train, timed, args.time_steps, len(test))
    else:
        result = trainer.fit(train, valid, test)
        train_s = [h.train_seconds for h in result.history]
        eval_s = [h.eval_seconds for h in result.history if h.valid is not None]
        out.update(
            {
                "train": {k: v for k, v in vars(train_config).items() if k != "progress"},
                "valid_users": len(valid),
                "best_epoch": result.best_epoch,
                "epochs_run": len(result.history),
                "valid": result.valid,
                "test": result.test,
                "published_test": PUBLISHED,
                "seconds_per_epoch_train": round(float(np.mean(train_s)), 1),
                "seconds_per_valid_decode": round(float(np.mean(eval_s)), 1) if eval_s else None,
                "loss_by_epoch": [round(h.loss, 4) for h in result.history],
            }
        )
    out["seconds_total"] = round(time.perf_counter() - t0, 1)
    json.dump(out, sys.stdout, indent=2)
    print()
    return out


if __name__ == "__main__":
    main()
