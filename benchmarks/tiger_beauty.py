"""TIGER (generative retrieval over Semantic IDs) on Amazon Beauty, leave-one-out, beam 20.

Trains a T5 (``TIGER_COMPACT`` for CPUs, ``TIGER_PAPER`` for GPUs) on a SID table,
selects the epoch on validation NDCG@10 and prints one JSON object: validation /
test Recall@5/10 and NDCG@5/10, seconds per epoch, the published TIGER figures for
reference. A one-cell ``quasid bench`` underneath (``quasid.bench.single``).

    python benchmarks/tiger_beauty.py --sids run/sids.parquet --epochs 20
    python benchmarks/tiger_beauty.py --time-steps 60     # timing only: extrapolated epoch, full test decode
    python benchmarks/tiger_beauty.py --levers off ...    # the code path before the speed levers

``--sids`` takes a SID Parquet or an LC-Rec index .json. Without it the SIDs are a
stand-in: RQ-KMeans (3 x 256, TIGER's shape) on the attribute-id LSA embeddings,
plus TIGER's dedup token.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from quasid import pipeline
from quasid.bench.config import BenchConfig
from quasid.bench.methods import method_sids
from quasid.bench.recommenders import build_model, protocol_data, set_threads
from quasid.bench.single import add_cell_arguments, cell_config, run_cell
from quasid.rec.evaluate import EvalSet, Trainer
from quasid.rec.metrics import ranking_metrics
from quasid.rec.tiger import LEVERS_OFF, Tiger
from quasid.sid.table import SIDTable


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


def time_cell(config: BenchConfig, steps: int, decode_users: int) -> dict[str, object]:
    """Timing mode: the cell's SIDs, model and Trainer, ``steps`` training steps and one test decode."""
    seed = config.seeds[0]
    dataset = pipeline.load_data(config.data)
    data = protocol_data(dataset, config)
    spec = config.method_specs()[0]
    tokenizer_data = pipeline.prepare_embeddings(data.tokenizer_data, config.embedding, seed, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        table = method_sids(spec, seed, tokenizer_data, config, Path(tmp), progress=False).table
    model = build_model("tiger", config.model_config("tiger", seed), dataset, table, config.device)
    trainer = Trainer(model, config.train_config("tiger", seed))
    test = data.test
    if decode_users and decode_users < len(test):
        pick = np.sort(np.random.default_rng(seed).choice(len(test), decode_users, replace=False))
        test = EvalSet([test.histories[i] for i in pick], test.targets[pick])
    return {
        "dataset": dataset.name,
        "items": dataset.catalog.n_items,
        "sids": spec.to_dict(),
        "model": {
            **config.model_config("tiger", seed).to_dict(),
            "parameters": sum(q.numel() for q in model.parameters()),
        },
        "threads": config.threads,
        "device": config.device,
        "timing": timing(model, trainer, data.train, test, steps, len(data.test)),
    }


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cell_arguments(p, epochs=20, patience=3, eval_every=2)
    p.add_argument("--write-sids", type=Path, default=None, help="save the SIDs used to this Parquet path")
    p.add_argument("--config", choices=["compact", "paper"], default="compact")
    p.add_argument(
        "--valid-users", type=int, default=4000, help="validation subsample for early stopping (0: all)"
    )
    p.add_argument("--max-items", type=int, default=None, help="history length the encoder reads")
    p.add_argument("--beam", type=int, default=None)
    p.add_argument(
        "--levers",
        choices=["on", "off"],
        default="on",
        help="speed levers: on = TigerConfig defaults, off = LEVERS_OFF (the code path before them)",
    )
    p.add_argument(
        "--time-steps", type=int, default=0, help="timing only: train this many steps, decode test"
    )
    p.add_argument("--decode-users", type=int, default=0, help="timing: decode a subsample (0: all)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)

    model: dict[str, object] = dict(LEVERS_OFF) if args.levers == "off" else {}
    if args.max_items:
        model["max_items"] = args.max_items
    if args.beam:
        model["beam_size"] = args.beam
    config = cell_config(args, "tiger", model, preset=args.config, valid_users=args.valid_users)
    config = config.override([f'device="{args.device}"'])
    if args.time_steps:
        before = set_threads(config.threads)
        out = time_cell(config, args.time_steps, args.decode_users)
        set_threads(before)
    else:
        out = run_cell(config, args)
    if args.write_sids:
        write_sids(config, args.write_sids)
    json.dump(out, sys.stdout, indent=2)
    print()
    return out


def write_sids(config: BenchConfig, path: Path) -> None:
    """Save the cell's SID table (re-derived: the same seed gives the same SIDs)."""
    dataset = pipeline.load_data(config.data)
    dataset = pipeline.prepare_embeddings(dataset, config.embedding, config.seeds[0], progress=False)
    spec = config.method_specs()[0]
    with tempfile.TemporaryDirectory() as tmp:
        table: SIDTable = method_sids(spec, config.seeds[0], dataset, config, Path(tmp), progress=False).table
    table.to_parquet(path)


if __name__ == "__main__":
    main()
