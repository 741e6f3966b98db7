"""How fast the downstream judges run, where their time goes and what bounds it (issue 14).

For SASRec on SIDs, SASRec on item ids and TIGER_COMPACT on amazon-beauty (SIDs:
RQ-KMeans 3 x 256 + dedup token on the attribute LSA vectors, the scripts'
stand-in), side by side in one process: every speed lever off (the code path
before them: ``LEVERS_OFF`` of each model) against the defaults, on 1 and on 2
torch threads, each setting ``--repeats`` times (off and on back to back, in alternating order;
medians reported, with the range of the repeats' own off / on ratios). Per judge and setting:

- seconds per training epoch: ``--steps`` of the epoch's Trainer batches, taken at
  evenly spaced quantiles of their size in tokens (a stratified sample: length-bucketed
  batches differ up to 20x in cost), timed after one warm-up batch, mean times the
  epoch's batch count;
- seconds per validation pass and per test pass (TIGER: beam-20 decode of
  every test user; SASRec: full-catalog scoring), timed on a seeded subsample
  of ``--eval-users`` users and extrapolated to the pass's user count;
- where the time goes (defaults, 1 thread): torch.profiler self-CPU time by
  op class; "Python / data" is the wall time no op accounts for;
- the ceilings: bf16 and fp32 matmul GFLOP/s and memory bandwidth measured on
  this CPU in the same run, and each phase's achieved GFLOP/s (profiler FLOP
  counts of its matmuls) as a fraction of each ceiling.

    python benchmarks/bench_judges.py                 # writes benchmarks/results/judges.json, docs/judges.md
    python benchmarks/bench_judges.py --render benchmarks/results/judges.json
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import finish, machine, parser, render_only
from torch.profiler import ProfilerActivity, profile

from quasid import pipeline
from quasid.bench.config import BenchConfig
from quasid.bench.methods import method_sids
from quasid.bench.recommenders import build_model, protocol_data
from quasid.bench.single import STAND_IN
from quasid.io import atomic_open, write_json
from quasid.rec.evaluate import EvalSet, Trainer
from quasid.rec.sasrec import LEVERS_OFF as SASREC_LEVERS_OFF
from quasid.rec.tiger import LEVERS_OFF as TIGER_LEVERS_OFF
from quasid.rec.tiger import Tiger

JUDGES = ("sasrec_sid", "sasrec_id", "tiger")
JUDGE_NAMES = {"sasrec_sid": "SASRec on SIDs", "sasrec_id": "SASRec on item ids", "tiger": "TIGER compact"}
DEFAULT_RESULTS = (
    "benchmarks/results/judges.json"  # where the runs before ``results_file`` was recorded wrote
)
QUALITY_KEYS = ("quality",)  # recorded by --quality
LEVERS_OFF = {"sasrec_sid": SASREC_LEVERS_OFF, "sasrec_id": SASREC_LEVERS_OFF, "tiger": TIGER_LEVERS_OFF}

#: Op classes of the profile, by substring of the aten op name (first match wins).
OP_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("attention", ("scaled_dot_product", "flash_attention", "_efficient_attention")),
    ("softmax / CE", ("softmax", "cross_entropy", "nll_loss", "logsumexp")),
    ("matmul", ("aten::mm", "aten::bmm", "aten::addmm", "aten::matmul", "aten::linear", "baddbmm")),
    ("embedding gather", ("embedding", "index_select", "aten::gather", "aten::index", "take_along")),
    ("RNG (dropout)", ("bernoulli", "random_", "dropout")),
    ("dtype casts / copies", ("aten::copy_", "_to_copy", "aten::to")),
)


def _stopwatch(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ceilings() -> dict[str, float]:
    """Matmul GFLOP/s (fp32, bf16; 4096 x 1024 x 1024) and copy bandwidth (GB/s) at the current threads."""
    out: dict[str, float] = {}
    m, k, n = 4096, 1024, 1024
    for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
        a @ b
        best = min(_stopwatch(lambda a=a, b=b: a @ b) for _ in range(5))
        out[f"matmul_gflops_{name}"] = round(2 * m * k * n / best / 1e9, 1)
    src = torch.ones(64 * 2**20 // 4)  # 64 MiB, past the caches
    dst = torch.empty_like(src)
    best = min(_stopwatch(lambda: dst.copy_(src)) for _ in range(5))
    out["copy_gb_s"] = round(2 * src.numel() * 4 / best / 1e9, 1)  # read + write
    return out


def subsample(eval_set: EvalSet, n: int, seed: int = 0) -> EvalSet:
    """A seeded subsample of ``n`` cases (all when ``n`` is 0 or at least the set)."""
    if not n or n >= len(eval_set):
        return eval_set
    pick = np.sort(np.random.default_rng(seed).choice(len(eval_set), n, replace=False))
    return EvalSet([eval_set.histories[i] for i in pick], eval_set.targets[pick])


class Cell:
    """One judge with one lever setting: its model, Trainer, optimiser and an endless batch stream."""

    def __init__(self, judge: str, levers: str, env: dict[str, Any], **fields: Any) -> None:
        config: BenchConfig = env["config"]
        base = config.model_config(judge, 0)
        model_config = dataclasses.replace(base, **LEVERS_OFF[judge]) if levers == "off" else base
        model_config = dataclasses.replace(model_config, **fields)  # e.g. another micro_batch
        self.model_config = model_config
        table = None if judge == "sasrec_id" else env["table"]
        self.model = build_model(judge, model_config, env["dataset"], table)
        self.trainer = Trainer(self.model, config.train_config(judge, 0))
        self.examples = self.trainer.examples(env["train"])
        bs = self.trainer.config.batch_size
        self.batches_per_epoch = -(-len(self.examples) // bs)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.trainer.config.lr)
        self.n_valid = config.valid_users(judge) or len(env["valid"])
        self.epoch = list(self.trainer.batches(self.examples, epoch=1))  # collated once, not timed
        self.at = 0

    def strata(self, steps: int) -> list[Any]:
        """``steps`` batches at evenly spaced quantiles of the epoch's batch sizes in tokens.

        Length-bucketed batches differ up to 20x in cost, so a few consecutive
        batches say little about an epoch; a stratified sample of them does.
        """
        order = sorted(range(len(self.epoch)), key=lambda i: _tokens(self.epoch[i]))
        return [self.epoch[order[int((q + 0.5) * len(order) / steps)]] for q in range(steps)]

    def step(self, batch: Any = None) -> None:
        """One training step as ``Trainer.fit`` takes it (default: the epoch's next batch)."""
        if batch is None:
            batch, self.at = self.epoch[self.at % len(self.epoch)], self.at + 1
        self.model.train()
        loss = self.model.training_loss(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.trainer.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.trainer.config.grad_clip)
        self.optimizer.step()


def _tokens(batch: Any) -> int:
    """Input tokens a training batch computes over, padding included."""
    if isinstance(batch, list) and batch and isinstance(batch[0], dict):  # TIGER micro-batches
        return sum(int(p["input_ids"].numel()) for p in batch)
    if isinstance(batch, torch.Tensor):
        return int(batch.numel())
    if isinstance(batch, dict):
        return sum(int(v.numel()) for v in batch.values() if isinstance(v, torch.Tensor))
    if isinstance(batch, (tuple, list)):
        return sum(_tokens(b) for b in batch)
    return 1


def seconds_per_step(cell: Cell, steps: int) -> float:
    """Mean seconds of ``steps`` training steps at the epoch's batch-size strata, after a warm-up step."""
    cell.step()  # warm-up
    return _stopwatch(lambda: [cell.step(b) for b in cell.strata(steps)]) / steps


def time_cell(cell: Cell, env: dict[str, Any], steps: int) -> dict[str, float]:
    """Seconds per training epoch (extrapolated), per validation pass and per test pass.

    SASRec's passes are timed whole: a pass sorts its users by history length and pads each batch
    to its longest history, so a small sample (one batch padded to the longest of its users) would
    overstate it several times. TIGER's beam decode costs per user alike and is extrapolated from
    the sample.
    """
    train = seconds_per_step(cell, steps)
    sample: EvalSet = env["eval_sample"]
    cell.trainer.ranks(subsample(sample, 32))  # warm-up
    if isinstance(cell.model, Tiger):
        per_user = _stopwatch(lambda: cell.trainer.ranks(sample)) / len(sample)
        valid, test = per_user * cell.n_valid, per_user * len(env["test"])
    else:
        valid = _stopwatch(lambda: cell.trainer.ranks(env["valid"]))
        test = _stopwatch(lambda: cell.trainer.ranks(env["test"]))
    return {
        "seconds_per_step": round(train, 4),
        "seconds_per_epoch": round(train * cell.batches_per_epoch, 1),
        "seconds_per_valid_pass": round(valid, 2),
        "seconds_per_test_pass": round(test, 2),
    }


def op_profile(fn: Callable[[], Any], repeat: int) -> dict[str, Any]:
    """Self-CPU seconds per op class over ``repeat`` calls, the unaccounted wall time, and matmul GFLOP/s."""
    fn()
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        wall = _stopwatch(lambda: [fn() for _ in range(repeat)])
    classes = {name: 0.0 for name, _ in OP_CLASSES}
    classes["other ops"] = 0.0
    flops = 0.0
    for ev in prof.key_averages():
        seconds = ev.self_cpu_time_total / 1e6
        flops += ev.flops or 0.0
        name = next((c for c, keys in OP_CLASSES if any(k in ev.key for k in keys)), "other ops")
        classes[name] += seconds
    ops = sum(classes.values())
    classes["Python / data"] = max(wall - ops, 0.0)
    return {
        "wall_seconds_per_call": round(wall / repeat, 4),
        "seconds_per_call_by_class": {k: round(v / repeat, 4) for k, v in classes.items()},
        "share_by_class": {k: round(v / max(wall, ops), 3) for k, v in classes.items()},
        "matmul_gflops_achieved": round(flops / wall / 1e9, 2),
    }


def environment(eval_users: int) -> dict[str, Any]:
    """The dataset, split, stand-in SIDs and bench config every cell shares."""
    config = BenchConfig.from_dict(
        {"data": "amazon-beauty", "seeds": [0], "recommenders": list(JUDGES), "threads": 1, **STAND_IN}
    )
    dataset = pipeline.load_data(config.data)
    data = protocol_data(dataset, config)
    spec = config.method_specs()[0]
    embedded = pipeline.prepare_embeddings(data.tokenizer_data, config.embedding, 0, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        table = method_sids(spec, 0, embedded, config, Path(tmp), progress=False).table
    return {
        "config": config,
        "dataset": dataset,
        "table": table,
        "train": data.train,
        "valid": data.valid,
        "test": data.test,
        "eval_sample": subsample(data.test, eval_users),
        "sids": spec.to_dict(),
    }


def time_micro_batches(env: dict[str, Any], sizes: list[int], steps: int, repeats: int) -> dict[str, Any]:
    """TIGER's training epoch (levers on, 1 thread) at each ``micro_batch``: the forward passes a
    batch is cut into. Exact (the loss is the micro-batches' example-weighted mean), so only speed
    decides it: fewer passes pad more, more passes cost more per-op overhead. Every size is timed
    ``repeats`` times in turn (the same load); medians reported."""
    cells = {size: Cell("tiger", "on", env, micro_batch=size) for size in sizes}
    runs: dict[int, list[float]] = {size: [] for size in sizes}
    for r in range(repeats):
        for size in sizes if r % 2 == 0 else sizes[::-1]:
            cell = cells[size]
            runs[size].append(round(seconds_per_step(cell, steps) * cell.batches_per_epoch, 1))
            print("tiger micro_batch", size, r, runs[size][-1], flush=True)
    return {
        "threads": 1,
        "sortish": cells[sizes[0]].model_config.sortish,
        "seconds_per_epoch": {str(k): float(np.median(v)) for k, v in runs.items()},
        "repeats": {str(k): v for k, v in runs.items()},
    }


def run(args: Any) -> dict[str, Any]:
    env = environment(args.eval_users)
    results: dict[str, Any] = {
        "dataset": "amazon-beauty",
        "users": len(env["test"]),
        "items": env["dataset"].catalog.n_items,
        "sids": env["sids"],
        "machine": machine(),
        "steps_timed": {j: args.steps if j != "tiger" else args.tiger_steps for j in JUDGES},
        "eval_users_timed": len(env["eval_sample"]),
        "levers_off": LEVERS_OFF,
        "ceilings": {},
        "timing": {},
        "profile": {},
        "models": {},
    }
    cells = {(j, lv): Cell(j, lv, env) for j in JUDGES for lv in ("off", "on")}
    for (j, lv), cell in cells.items():
        results["models"][f"{j}/{lv}"] = dataclasses.asdict(cell.model_config)
        results["timing"].setdefault(j, {})[lv] = {}
    results["repeats"] = args.repeats
    results["timing_repeats"] = {j: {"off": {}, "on": {}} for j in JUDGES}
    for threads in args.thread_counts:
        torch.set_num_threads(threads)
        results["ceilings"][str(threads)] = ceilings()
        for r in range(args.repeats):
            for j in JUDGES:  # off and on back to back, their order alternating: the same machine load
                for lv in ("off", "on") if r % 2 == 0 else ("on", "off"):
                    timed = time_cell(cells[(j, lv)], env, results["steps_timed"][j])
                    results["timing_repeats"][j][lv].setdefault(str(threads), []).append(timed)
                    print(j, lv, threads, r, timed, flush=True)
        for j in JUDGES:
            for lv in ("off", "on"):
                runs = results["timing_repeats"][j][lv][str(threads)]
                results["timing"][j][lv][str(threads)] = {
                    k: float(np.median([t[k] for t in runs])) for k in runs[0]
                }
    torch.set_num_threads(1)
    if args.tiger_micro_batches:
        results["micro_batch"] = time_micro_batches(
            env, args.tiger_micro_batches, args.tiger_steps, args.repeats
        )
    eval_small = subsample(env["eval_sample"], 128)
    for j in JUDGES:
        cell = cells[(j, "on")]
        results["profile"][j] = {
            "train_step": op_profile(cell.step, 3),
            "eval_128_users": op_profile(lambda c=cell: c.trainer.ranks(eval_small), 1),
        }
    return results


#: The training levers that change a judge's arithmetic (the rest are exact), as a quality cell names them.
ARITHMETIC_LEVERS: dict[str, dict[str, str]] = {
    "sasrec_sid": {"ce_bf16": "bf16", "fast_dropout": "fast dropout"},
    "tiger": {"bf16": "bf16", "fast_dropout": "fast dropout", "sortish": "length-sorted batches"},
}
BASELINE = "fp32"  # every arithmetic lever off: the code path before issue 14
#: The commit from which TIGER's fast_dropout path computes attention in float32 (before it, in bf16
#: under autocast): a cell's code version is part of its setting there, so cells trained on either
#: side of it are never pooled.
TIGER_FP32_ATTENTION = "4ad8cdf5129aa95d54ae82fcf75ed7e947c9330b"


@functools.cache  # one git call per session commit, not per cell
def _fp32_attention(commit: str | None) -> bool:
    """Whether a bench session's commit holds TIGER's float32 fast-path attention (git ancestry)."""
    if not commit:
        return False
    run = subprocess.run(
        ["git", "merge-base", "--is-ancestor", TIGER_FP32_ATTENTION, commit],
        cwd=Path(__file__).parent,
        capture_output=True,
        check=False,
    )
    if run.returncode not in (0, 1):
        raise SystemExit(f"cannot tell whether {commit} holds {TIGER_FP32_ATTENTION}: {run.stderr.decode()}")
    return run.returncode == 0


def add_bench_quality(
    results_path: Path, recommender: str, folders: list[Path], method: str, doc: Path
) -> None:
    """Record the ``recommender`` cells of ``method`` in bench ``folders`` (the same cells under each
    setting of its arithmetic levers) as that judge's quality check, and re-render."""
    results = json.loads(results_path.read_text())
    cells = []
    for folder in folders:
        bench = json.loads((folder / "results.json").read_text())
        for c in bench["cells"]:
            if c["recommender"] == recommender and c["method"] == method:
                model = c["model"]
                levers = {k: bool(model.get(k, False)) for k in ARITHMETIC_LEVERS[recommender]}
                if recommender == "tiger" and levers["fast_dropout"]:
                    commit = bench["sessions"][c["session"]].get("git_commit")
                    levers["fp32_attention"] = _fp32_attention(commit)
                cells.append(
                    {
                        "folder": str(folder),
                        # the CPU that trained it: bf16 and even fp32 figures differ between CPU types
                        "cpu": bench["sessions"][c["session"]].get("cpu"),
                        "data": bench["config"]["data"],
                        "patience": c["train"]["patience"],
                        "epoch_cap": c["train"]["epochs"],
                        "seed": c["seed"],
                        "levers": levers,
                        "best_epoch": c["best_epoch"],
                        "epochs_run": c["epochs_run"],
                        "stop": c["stop"],
                        "valid_ndcg@10": c["valid"]["ndcg@10"],
                        "test_ndcg@10": c["test"]["ndcg@10"],
                        "test_recall@10": c["test"]["recall@10"],
                        # wall seconds per training epoch in the bench (its lanes share the machine)
                        "seconds_per_epoch": c.get("seconds_per_epoch_train"),
                        "micro_batch": model.get("micro_batch"),
                    }
                )
    if not cells:
        raise SystemExit(f"no {recommender} cells of method {method!r} in {[str(f) for f in folders]}")
    results.setdefault("quality", {})[recommender] = {
        "command": (
            f"python benchmarks/bench_judges.py --render {results_path} --doc {doc} --quality "
            f"{' '.join(map(str, folders))} --quality-judge {recommender} --quality-method {method}"
        ),
        "method": method,
        "cells": sorted(cells, key=lambda c: (_setting(recommender, c), c["seed"])),
    }
    write_json(results_path, results)
    render(results, doc)


def _setting(recommender: str, cell: dict[str, Any]) -> str:
    """A quality cell's arithmetic levers that are on, by name (``fp32`` when none is)."""
    names = ARITHMETIC_LEVERS[recommender]
    label = " + ".join(label for key, label in names.items() if cell["levers"][key]) or BASELINE
    if cell["levers"].get("fp32_attention"):  # TIGER's fast path after its attention fix
        label = label.replace("fast dropout", "fast dropout (fp32 attention)")
    return label


def _quality(results: dict[str, Any], recommender: str) -> list[str]:
    judge = JUDGE_NAMES[recommender]
    q = results.get("quality", {}).get(recommender)
    if not q:
        return [f"({judge}: no quality check recorded in this results file; `--quality` records one)"]
    data = ", ".join(sorted({c["data"] for c in q["cells"]}))
    patience = ", ".join(str(p) for p in sorted({c["patience"] for c in q["cells"]}))
    caps = ", ".join(str(p) for p in sorted({c["epoch_cap"] for c in q["cells"]}))
    levers = "; ".join(f"`{k}`" for k in ARITHMETIC_LEVERS[recommender])
    lines = [
        f"{judge}, cells of `quasid bench` (method `{q['method']}`, {data}, patience {patience} on "
        f"validation NDCG@10, at most {caps} epochs): the same cells under each setting of the training "
        f"levers that change the arithmetic ({levers}; *{BASELINE}* = all of them off, the code path "
        "before issue 14)." + (f" Recorded with `{q['command']}`." if q.get("command") else ""),
        "",
        "| training levers | seed | best epoch | epochs run | stop | valid NDCG@10 | test NDCG@10 | "
        "test Recall@10 | s / epoch | micro-batch | folder | CPU |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    by: dict[str, list[float]] = {}
    epoch_seconds: dict[str, list[float]] = {}
    cpus: dict[str, set[str | None]] = {}
    for c in q["cells"]:
        name = _setting(recommender, c)
        by.setdefault(name, []).append(c["test_ndcg@10"])
        cpus.setdefault(name, set()).add(c.get("cpu"))
        seconds = c.get("seconds_per_epoch")
        if seconds is not None:
            epoch_seconds.setdefault(name, []).append(seconds)
        lines.append(
            f"| {name} | {c['seed']} | {c['best_epoch']} | {c['epochs_run']} | {c['stop']} | "
            f"{c['valid_ndcg@10']:.4f} | {c['test_ndcg@10']:.4f} | {c['test_recall@10']:.4f} | "
            f"{'n/a' if seconds is None else round(seconds)} | {c.get('micro_batch') or 'n/a'} | "
            f"`{c['folder']}` | {c.get('cpu') or 'not recorded'} |"
        )
    lines.append("")
    for name, values in by.items():
        figure = (
            f"{np.mean(values):.4f} ± {float(np.std(values, ddof=1)):.4f} (min {min(values):.4f}, "
            f"max {max(values):.4f}, {len(values)} seeds)"
            if len(values) > 1
            else f"{values[0]:.4f} (1 seed)"
        )
        seconds = epoch_seconds.get(name)
        lines.append(
            f"- {name}: test NDCG@10 {figure}"
            + (f"; {np.median(seconds):.0f} s per training epoch (median)" if seconds else "")
        )
    base = by.get(BASELINE, [])
    if len(base) > 1:  # every setting against the code path before the levers
        mean32, std32 = float(np.mean(base)), float(np.std(base, ddof=1))
        for name, values in by.items():
            if name == BASELINE:
                continue
            mean = float(np.mean(values))
            delta = mean - mean32
            where = "inside" if min(base) <= mean <= max(base) else "above" if mean > max(base) else "below"
            faster = ""
            compared_cpus = cpus[name] | cpus[BASELINE]
            if epoch_seconds.get(name) and epoch_seconds.get(BASELINE):
                ratio = np.median(epoch_seconds[BASELINE]) / np.median(epoch_seconds[name])
                faster = (
                    f"; its bench epochs {ratio:.2f}x as fast (one CPU type)"
                    if len(compared_cpus) == 1 and None not in compared_cpus
                    else "; bench epochs not compared (cells of several CPU types)"
                )
            lines.append(
                f"- {name} - {BASELINE}: {delta:+.4f} ({delta / mean32:+.1%}), {abs(delta) / std32:.1f} "
                f"{BASELINE} seed standard deviations; its mean is {where} the {BASELINE} seeds' "
                f"range{faster}."
            )
    elif base:
        lines.append(
            f"- {BASELINE} has {len(base)} seed here, so no seed spread to hold the others against yet."
        )
    return lines


def _machine(m: dict[str, Any]) -> str:
    if "bf16_matmul_isa" not in m:  # recorded before the CPU model was
        return f"Machine: {m['cpu']}, torch {m['torch']} (the CPU model was not recorded)."
    return (
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, bf16 matmul instructions: {m['bf16_matmul_isa']}, "
        f"torch {m['torch']}. The bf16 levers' gains depend on those instructions (AMX runs bf16 "
        "products several times faster than AVX512-BF16), so a ratio holds for the CPU it was measured on."
    )


def _score_workers(model: dict[str, Any]) -> str:
    """How the recorded SASRec scored its blocks (runs before ``score_workers`` recorded none: off)."""
    workers = model.get("score_workers", 1)
    if workers == 1:
        return ""
    on = "as many Python threads as torch has" if workers == 0 else f"{workers} Python threads"
    return f", blocks scored on {on}, each on one torch thread"


def _tiger_on(model: dict[str, Any]) -> str:
    """TIGER's "on" column as the run recorded it (the defaults of that day)."""
    parts = ["bf16 autocast" if model["bf16"] else "no bf16"]
    parts.append("the quarter-draw dropout" if model.get("fast_dropout") else "stock dropout")
    if model.get("sortish"):
        parts.append(f"length-sorted batches in micro-batches of {model['micro_batch']}")
    else:
        parts.append(f"random batches cut in micro-batches of {model['micro_batch']}")
    if model.get("beam_search") == "trie":
        parts.append(f"the trie beam search over {model['decode_batch_size']} users at a time")
    return ", ".join(parts)


def _micro_batch(results: dict[str, Any]) -> list[str]:
    mb = results.get("micro_batch")
    if not mb:
        return []
    best = min(mb["seconds_per_epoch"], key=mb["seconds_per_epoch"].get)
    lines = [
        "## TIGER micro-batch (levers on, 1 thread)",
        "",
        "`TigerConfig.micro_batch` is exact (a batch is sorted by length and cut into forward passes "
        "of that many examples, each padded to its own longest history; the loss is their "
        "example-weighted mean), so only speed decides it. "
        f"Batches {'length-sorted' if mb['sortish'] else 'random'}; each size timed "
        f"{len(next(iter(mb['repeats'].values())))} times in turn, median epoch seconds "
        "(extrapolated as above) with the range.",
        "",
        "| micro_batch | s / epoch | range |",
        "| --- | --- | --- |",
    ]
    for size, median in mb["seconds_per_epoch"].items():
        runs = mb["repeats"][size]
        mark = " (fastest)" if size == best else ""
        lines.append(f"| {size}{mark} | {median:.1f} | {min(runs):.1f}-{max(runs):.1f} |")
    return [*lines, ""]


def _ratio(off: float, on: float) -> str:
    return f"{off / on:.2f}x" if on > 0 else "n/a"


def render(results: dict[str, Any], doc: Path) -> None:
    """docs/judges.md from the results JSON."""
    names = JUDGE_NAMES
    lines = [
        "# Judge speed: SASRec and TIGER on amazon-beauty",
        "",
        f"<!-- rendered by benchmarks/bench_judges.py from {results.get('results_file', DEFAULT_RESULTS)}; "
        "do not edit -->",
        "",
        f"Command: `{results['command']}`. {results['users']:,} users, {results['items']:,} items; SIDs "
        f"{results['sids'].get('label')} (the scripts' stand-in: RQ-KMeans 3 x 256 + dedup "
        "token on attribute LSA vectors). Levers **off** is each model's `LEVERS_OFF` (the code path "
        "before issue 14: SASRec's full fp32 [M, N] cross-entropy, two comparison masks per scored "
        "batch, each evaluation batch of 1,024 users scored at once and its last block run at every "
        "position; TIGER's Hugging Face `generate()`, stock dropout, no bf16, "
        "random batches cut in micro-batches of 64); **on** is the defaults (SASRec: the streamed "
        "cross-entropy with its gradient taken in the forward pass, bf16 products; torch's dropout "
        "in both columns, since the quarter-draw one (`fast_dropout`) failed the quality check "
        "below; ranks counted from one in-place sign pass, 64 users scored at a time so that "
        "their scores stay in the core's L2 cache through the count, the last block run at each "
        "history's last position only"
        + _score_workers(results["models"]["sasrec_sid/on"])
        + "; TIGER: "
        + _tiger_on(results["models"]["tiger/on"])
        + "). The mask count of the off column was itself made cheaper "
        "in the same change (masks counted as bytes, not cast to float), so its scoring passes are "
        "faster than the code before issue 14 was. Both settings run in the same "
        "process, back to back per thread count, so they see the same load.",
        "",
        "Epochs are extrapolated from "
        + ", ".join(f"{names[j]} {n}" for j, n in results["steps_timed"].items())
        + " timed training steps (after a warm-up step), taken at evenly spaced quantiles of the "
        "epoch's batch sizes. SASRec's validation and test passes are timed whole (every user, scores "
        "over the whole catalog, always fp32); TIGER's beam-20 constrained decode is timed on "
        f"{results['eval_users_timed']} test users and scaled to the pass's users (it validates on a "
        "4,000-user subsample). Absolute seconds depend on the machine's load; the off/on ratio, taken "
        "within one run, is the figure to quote.",
        "",
        _machine(results["machine"]),
        "",
        "## Time per epoch and per pass",
        "",
        *(
            [
                f"Each setting was timed {results['repeats']} times, off and on back to back in alternating "
                "order; the seconds are the medians, the speed-up is the median of the repeats' own "
                "off / on ratios with their range.",
                "",
            ]
            if results.get("timing_repeats")
            else []
        ),
        "| judge | threads | phase | levers off (s) | levers on (s) | speed-up |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    phases = (
        ("seconds_per_epoch", "training epoch"),
        ("seconds_per_valid_pass", "validation pass"),
        ("seconds_per_test_pass", "test pass (decode / scoring)"),
    )
    repeats = results.get("timing_repeats")
    for j, by in results["timing"].items():
        for threads in by["on"]:
            for key, label in phases:
                off, on = by["off"][threads][key], by["on"][threads][key]
                ratio = _ratio(off, on)
                if repeats:  # the median of the repeats' own off / on ratios, and their range
                    pairs = zip(repeats[j]["off"][threads], repeats[j]["on"][threads], strict=True)
                    ratios = [a[key] / b[key] for a, b in pairs]
                    ratio = f"{np.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f})"
                lines.append(
                    f"| {names[j]} | {threads} | {label} | {round(off, 2)} | {round(on, 2)} | {ratio} |"
                )
    lines += ["", *_micro_batch(results)]
    lines += [
        "## Ceilings on this CPU (measured in the same run)",
        "",
        "| threads | fp32 matmul GFLOP/s | bf16 matmul GFLOP/s | copy GB/s (read + write) |",
        "| --- | --- | --- | --- |",
    ]
    for threads, c in results["ceilings"].items():
        lines.append(
            f"| {threads} | {c['matmul_gflops_fp32']} | {c['matmul_gflops_bf16']} | {c['copy_gb_s']} |"
        )
    one = results["ceilings"]["1"]
    lines += [
        "",
        "## Where the time goes (levers on, 1 thread)",
        "",
        "torch.profiler self-CPU time by op class; *Python / data* is the wall time no op accounts for "
        "(interpreter, collation, generator overhead). *Achieved* is the profiler's FLOP count of the "
        "matmuls over wall time; the ratios say which ceiling they are against: **fp32** "
        f"({one['matmul_gflops_fp32']} GFLOP/s) and **bf16** ({one['matmul_gflops_bf16']} GFLOP/s).",
        "",
    ]
    classes = list(next(iter(results["profile"].values()))["train_step"]["share_by_class"])
    lines.append("| judge | phase | wall s / call | " + " | ".join(classes) + " | achieved GFLOP/s | "
                 "/ fp32 ceiling | / bf16 ceiling |")  # fmt: skip
    lines.append("| --- " * (len(classes) + 6) + "|")
    for j, phases_prof in results["profile"].items():
        for phase, p in phases_prof.items():
            shares = " | ".join(f"{100 * p['share_by_class'][c]:.0f} %" for c in classes)
            g = p["matmul_gflops_achieved"]
            lines.append(
                f"| {names[j]} | {phase.replace('_', ' ')} | {p['wall_seconds_per_call']} | {shares} | {g} | "
                f"{g / one['matmul_gflops_fp32']:.3f} | {g / one['matmul_gflops_bf16']:.3f} |"
            )
    best = max(p["matmul_gflops_achieved"] for ph in results["profile"].values() for p in ph.values())
    lines += [
        "",
        f"The best phase reaches {best / one['matmul_gflops_fp32']:.2f} of the fp32 matmul ceiling and "
        f"{best / one['matmul_gflops_bf16']:.3f} of the bf16 one: the matmuls are small (TIGER: d_model "
        "128, at most 81 tokens; SASRec: hidden 64), so what bounds each step is the rest of the table "
        "(elementwise work, casts, RNG, per-op overhead: memory traffic and interpreter), not arithmetic.",
        "",
        "## Quality",
        "",
        *_quality(results, "sasrec_sid"),
        "",
        *_quality(results, "tiger"),
        "",
    ]
    with atomic_open(doc) as fh:
        fh.write("\n".join(lines))


def main() -> None:
    ap = parser(__doc__.splitlines()[0], "judges", "judges")
    ap.add_argument("--steps", type=int, default=20, help="timed SASRec training steps per cell")
    ap.add_argument("--tiger-steps", type=int, default=8, help="timed TIGER training steps per cell")
    ap.add_argument("--eval-users", type=int, default=512, help="test users timed per pass (extrapolated)")
    ap.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3, help="timings of each setting (medians reported)")
    ap.add_argument(
        "--tiger-micro-batches",
        type=int,
        nargs="*",
        default=[16, 32, 64, 128],
        help="TIGER micro_batch sizes to time (levers on, 1 thread); none to skip",
    )
    ap.add_argument(
        "--quality",
        type=Path,
        nargs="+",
        help="with --render: record the --quality-judge cells of --quality-method in these bench folders",
    )
    ap.add_argument("--quality-judge", choices=sorted(ARITHMETIC_LEVERS), default="sasrec_sid")
    ap.add_argument("--quality-method", default="lcrec", help="the bench method of --quality")
    args = ap.parse_args()
    if args.render is not None and args.quality:
        add_bench_quality(args.render, args.quality_judge, args.quality, args.quality_method, args.doc)
        return
    if render_only(args, render):
        return
    results = run(args)
    results["results_file"] = str(args.out)
    if args.out.exists():  # the quality checks are recorded apart (--quality): keep them
        previous = json.loads(args.out.read_text())
        results.update({k: previous[k] for k in QUALITY_KEYS if k in previous})
    finish(args, results, render)


if __name__ == "__main__":
    main()
