"""Intrinsic SID quality of each tokenizer on real catalogs, methods x seeds in one process.

    python benchmarks/baselines.py --datasets amazon-industrial amazon-beauty \
        --methods rqkmeans rqvae quasid --seeds 0 1 2 --out benchmarks/results/baselines.json

Every method sees the same embeddings (all-MiniLM-L6-v2 of the item text, cached)
and the same L x K; the JSON holds every raw figure, the Markdown table the mean
and spread. docs/baselines.md is written from the JSON.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from quasid import pipeline
from quasid.config import EmbeddingConfig, RunConfig
from quasid.io import write_json

HEADLINE = (
    "collision_rate",
    "harmful_collision_rate",
    "benign_collision_rate",
    "n_unique_sids",
    "fit_seconds",
)


def run(datasets: list[str], methods: list[str], seeds: list[int], params: dict[str, Any]) -> dict[str, Any]:
    results: dict[str, Any] = {"params": params, "seeds": seeds, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            dataset = pipeline.prepare_embeddings(pipeline.load_data(name), EmbeddingConfig(source="text"))
            for method in methods:
                for seed in seeds:
                    cfg = RunConfig(
                        method=method,
                        data=name,
                        seed=seed,
                        embedding=EmbeddingConfig(source="given"),
                        tokenizer=dict(params.get(method, params["default"])),
                    )
                    t0 = time.perf_counter()
                    res = pipeline.fit(
                        cfg, Path(tmp) / f"{name}-{method}-{seed}", dataset=dataset, progress=False
                    )
                    m = res.metrics
                    print(
                        f"{name} {method} seed {seed}: collisions {m['collision_rate']:.4f} "
                        f"harmful {m['harmful_collision_rate']:.4f} ({time.perf_counter() - t0:.0f}s)",
                        flush=True,
                    )
                    results["runs"].append(
                        {
                            "dataset": name,
                            "method": method,
                            "seed": seed,
                            "metrics": m,
                            "tokenizer": res.tokenizer.config.to_dict(),
                        }
                    )
    return results


def summarise(results: dict[str, Any]) -> str:
    """Markdown: mean +- population std over seeds of the headline figures."""
    lines = ["| dataset | method | " + " | ".join(HEADLINE) + " |", "|---|---|" + "---|" * len(HEADLINE)]
    keys = sorted({(r["dataset"], r["method"]) for r in results["runs"]}, key=lambda k: (k[0], k[1]))
    order = {m: i for i, m in enumerate(dict.fromkeys(r["method"] for r in results["runs"]))}
    for ds, method in sorted(keys, key=lambda k: (k[0], order[k[1]])):
        cells = []
        for key in HEADLINE:
            vals = [r["metrics"][key] for r in results["runs"] if (r["dataset"], r["method"]) == (ds, method)]
            mean, spread = statistics.fmean(vals), statistics.pstdev(vals)
            cells.append(
                f"{mean:.1%} ± {spread:.1%}" if key.endswith("rate") else f"{mean:.1f} ± {spread:.1f}"
            )
        lines.append(f"| {ds} | {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["amazon-industrial", "amazon-beauty"])
    ap.add_argument("--methods", nargs="+", default=["rqkmeans", "rqvae", "quasid"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--codebook-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    common = {"n_levels": args.levels, "codebook_size": args.codebook_size}
    trained = {**common, "epochs": args.epochs, "batch_size": 1024}
    params = {
        "rqkmeans": common,
        "default": trained,
        "quasid": {
            **trained,
            "lambda_hmr": 50.0,
            "margin": 1.0,
            "warmup_epochs": 10,
            "conflict_batches": True,
        },
    }
    results = run(args.datasets, args.methods, args.seeds, params)
    results["command"] = "python benchmarks/baselines.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}"
        for k, v in vars(args).items()
    )
    results["summary_markdown"] = summarise(results)
    write_json(args.out, results)
    print(results["summary_markdown"])


if __name__ == "__main__":
    main()
