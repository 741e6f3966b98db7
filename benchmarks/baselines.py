"""Intrinsic SID quality of each tokenizer on real catalogs, methods x seeds in one process.

    python benchmarks/baselines.py --datasets amazon-industrial amazon-beauty \
        --methods rqkmeans rqvae quasid=quasid_severity --seeds 0 1 2 --out benchmarks/results/baselines.json

Every method sees the same embeddings (all-MiniLM-L6-v2 of the item text, cached)
and the same L x K; the JSON holds every raw figure, the Markdown table the mean
and spread. docs/baselines.md is written from the JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
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


def run(datasets: list[str], variants: list[Variant], seeds: list[int]) -> dict[str, Any]:
    """Fit every variant with every seed on each dataset (same embeddings), collecting the metrics."""
    results: dict[str, Any] = {
        "params": {v.label: {"method": v.method, **v.params} for v in variants},
        "seeds": seeds,
        "runs": [],
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name in datasets:
            dataset = pipeline.prepare_embeddings(pipeline.load_data(name), common.TEXT_EMBEDDING)
            for variant in variants:
                for seed in seeds:
                    cfg = RunConfig(
                        method=variant.method,
                        data=name,
                        seed=seed,
                        embedding=EmbeddingConfig(source="given"),
                        tokenizer=dict(variant.params),
                    )
                    t0 = time.perf_counter()
                    res = pipeline.fit(
                        cfg, Path(tmp) / f"{name}-{variant.label}-{seed}", dataset=dataset, progress=False
                    )
                    m = res.metrics
                    print(
                        f"{name} {variant.label} seed {seed}: collisions {m['collision_rate']:.4f} "
                        f"harmful {m['harmful_collision_rate']:.4f} ({time.perf_counter() - t0:.0f}s)",
                        flush=True,
                    )
                    results["runs"].append(
                        {
                            "dataset": name,
                            "method": variant.label,
                            "seed": seed,
                            "metrics": m,
                            "tokenizer": res.tokenizer.config.to_dict(),
                            "history": res.tokenizer.history_[-1] if res.tokenizer.history_ else {},
                        }
                    )
    return results


@dataclass
class Variant:
    """One row of the comparison: a label, the tokenizer method and its parameters."""

    label: str
    method: str
    params: dict[str, Any]


def variants(
    tokens: list[str], sets: list[str], common: dict[str, Any], trained: dict[str, Any]
) -> list[Variant]:
    """``METHOD`` or ``LABEL=METHOD`` tokens, with ``--param LABEL.key=value`` overrides.

    RQ-KMeans takes the common shape only; trained methods add the training
    settings. Everything else is each method's own default (QuaSID's defaults
    are the settings of the committed figures; its ablations are presets).
    """
    from quasid.tokenizers import TOKENIZERS

    out = []
    for token in tokens:
        label, _, method = token.rpartition("=")
        TOKENIZERS[method]  # an unknown method fails here, before any fitting
        out.append(Variant(label or method, method, dict(common if method == "rqkmeans" else trained)))
    by_label = {v.label: v for v in out}
    for item in sets:
        key, _, raw = item.partition("=")
        label, _, field = key.partition(".")
        by_label[label].params[field] = tomllib.loads(f"v = {raw}")["v"]
    return out


def components(run: dict[str, Any]) -> str:
    """What a QuaSID-family run actually trained with, read off its recorded config and last epoch.

    Rows of the ablation page are named by this, not by the method name, so a
    row says what ran: e.g. the dual tower counts only where its loss was logged
    (a catalog without interactions trains without it).
    """
    cfg, last = run["tokenizer"], run.get("history", {})
    if "lambda_hmr" not in cfg:
        return run["method"]
    parts = ["rqvae"]
    if cfg["lambda_hmr"] > 0:
        parts.append("HMR" + (" + CAVPM" if cfg["mask"] else ""))
    if "cl" in last:
        parts.append("dual tower")
    if cfg.get("resolve_conflicts"):
        parts.append("resolution" + (" (benign too)" if cfg.get("resolve_benign") else ""))
    parts.append("conflict batches" if cfg["conflict_batches"] else "random batches")
    return " + ".join(parts)


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One results dict from several runs of the script (e.g. one per dataset, in parallel; same seeds)."""
    first = parts[0]
    for other in parts[1:]:
        if other["seeds"] != first["seeds"]:
            raise SystemExit("cannot merge results with different seeds")
    merged = {**first, "runs": [run for part in parts for run in part["runs"]]}
    merged["params"] = {k: v for part in parts for k, v in part["params"].items()}
    merged["command"] = "\n    ".join(part["command"] for part in parts)
    merged["summary_markdown"] = summarise(merged, merged.get("kind") == "ablation")
    return merged


def summarise(results: dict[str, Any], by_components: bool = False) -> str:
    """Markdown: mean +- population std over seeds of the headline figures.

    With ``by_components`` rows are named by what each run trained with
    (``components``); runs that trained the same thing under two method names
    count once per seed, and the last column names the methods that ran it.
    """
    rows: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    ran_as: dict[tuple[str, str], list[str]] = {}
    for run in results["runs"]:
        key = (run["dataset"], components(run) if by_components else run["method"])
        rows.setdefault(key, {}).setdefault(run["seed"], run)
        ran_as.setdefault(key, [])
        if run["method"] not in ran_as[key]:
            ran_as[key].append(run["method"])
    extra = " ran as |" if by_components else ""
    lines = [
        "| dataset | method | " + " | ".join(HEADLINE) + " |" + extra,
        "|---|---|" + "---|" * (len(HEADLINE) + bool(by_components)),
    ]
    for (ds, label), by_seed in sorted(rows.items(), key=lambda kv: kv[0][0]):
        cells = []
        for key in HEADLINE:
            vals = [r["metrics"][key] for r in by_seed.values()]
            mean, spread = statistics.fmean(vals), statistics.pstdev(vals)
            cells.append(
                f"{mean:.1%} ± {spread:.1%}" if key.endswith("rate") else f"{mean:.1f} ± {spread:.1f}"
            )
        tail = f" {', '.join(ran_as[(ds, label)])} |" if by_components else ""
        lines.append(f"| {ds} | {label} | " + " | ".join(cells) + " |" + tail)
    return "\n".join(lines)


DOC_HEADER = """# Baseline Semantic IDs on real catalogs

Generated by `benchmarks/baselines.py` from `benchmarks/results/ablation.json`
(rows rqkmeans, rqvae and quasid of the runs there; every raw figure and
tokenizer config is in that file; the other rows are on
[ablation.md](ablation.md)). Do not edit by hand.

Setup: all-MiniLM-L6-v2 embeddings of each item's text (amazon-industrial:
title, brand, description; amazon-beauty: brand + category names), L = {levels}
levels x K = {k} codes, seeds {seeds}, one process, 2-core CPU, one torch thread.
Figures are mean ± population std over seeds. *harmful* = share of items whose
full SID (without the disambiguation token) is shared with an item of different
content; *benign* = items whose only collisions are with same-content, same-group
or missing-content items. In amazon-beauty {beauty_dup} of items share their exact
content with another item, so every content-only tokenizer must collide them
(benign by definition); only interaction data can separate them.

QuaSID here is its defaults ([quasid.md](quasid.md)): lambda_hmr = 50, margin =
1.0, tau = 1, warm-up 10 epochs, conflict-aware batches, all five mask rules,
the dual tower (lambda_cl = 0.1, leave-one-out training interactions only) where
the dataset has interactions (amazon-beauty; amazon-industrial has none), and
the last-level resolution after training. Trained methods: 100 epochs, batch
1024 (full configs in the JSON).

Commands:

    {command}

"""


ABLATION_HEADER = """# QuaSID ablations: what each component does to the collisions

Generated by `benchmarks/baselines.py` from `benchmarks/results/ablation.json`
(every raw figure and tokenizer config is in that file). Do not edit by hand.

Setup as in [baselines.md](baselines.md): all-MiniLM-L6-v2 embeddings of each
item's text, L = {levels} x K = {k}, seeds {seeds}, one process per dataset, one
torch thread, 100 epochs, batch 1024. Mean ± population std over seeds.

Each row is named by what its runs trained with, read off each run's recorded
config and last logged epoch (`components` in the script), not by the method
name: RQ-VAE, plus Hamming-guided Margin Repulsion (HMR; lambda 50, margin 1.0,
tau 1, after a 10-epoch warm-up), with or without Conflict-Aware Valid Pair
Masking (CAVPM, all five rules), the dual tower (lambda_cl 0.1; only where the
data has interactions, so never on amazon-industrial), the conflict-aware
last-level resolution, and conflict-aware or random batch composition. The
last column names the method presets whose runs the row holds (two presets
that trained the same thing are counted once per seed; in the first pass of
runs every QuaSID-family preset was given the repulsion settings, so the
presets `rqvae_cl` and `rqvae_resolve` of that pass trained with HMR too and
appear under two rows). `fit_seconds` are wall times on a machine shared with
other jobs, not a speed figure: [overhead.md](overhead.md) is. In amazon-beauty
{beauty_dup} of items share their exact content with another item: those
collisions are benign, and only interaction data can separate them.

Commands:

    {command}

"""

HEADERS = {"baselines": DOC_HEADER, "ablation": ABLATION_HEADER}


#: The methods the baselines page shows (the ablation page shows every run).
BASELINE_ROWS = ("rqkmeans", "rqvae", "quasid")


def render_doc(results: dict[str, Any], path: Path, kind: str | None = None) -> None:
    """Write the Markdown page of ``kind`` (default: the results' own) for ``results`` (atomically)."""
    from quasid.io import atomic_open

    kind = kind or results.get("kind", "baselines")
    if kind == "baselines":
        results = {**results, "runs": [r for r in results["runs"] if r["method"] in BASELINE_ROWS]}

    first = results["runs"][0]["tokenizer"]
    dup = [r["metrics"]["content_duplicate_rate"] for r in results["runs"] if r["dataset"] == "amazon-beauty"]
    header = HEADERS[kind].format(
        levels=first["n_levels"],
        k=first["codebook_size"],
        seeds=results["seeds"],
        beauty_dup=f"{dup[0]:.1%}" if dup else "n/a",
        command=results["command"],
    )
    with atomic_open(path) as fh:
        fh.write(header + summarise(results, kind == "ablation") + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["amazon-industrial", "amazon-beauty"])
    ap.add_argument(
        "--methods",
        nargs="+",
        # quasid=quasid_severity: the reading every committed run of this script was made with
        default=["rqkmeans", "rqvae", "quasid=quasid_severity"],
        help="METHOD or LABEL=METHOD tokens.",
    )
    ap.add_argument(
        "--param", action="append", help="LABEL.key=value (a TOML value), e.g. q_rand.conflict_batches=false"
    )
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--levels", type=int, default=3)
    ap.add_argument("--codebook-size", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines.json"))
    ap.add_argument("--doc", type=Path, default=Path("docs/baselines.md"), help="Markdown page to write.")
    ap.add_argument(
        "--render",
        type=Path,
        nargs="+",
        help="Only re-render --doc from results JSON(s); several (e.g. one per dataset, run in parallel) "
        "are merged into --out first.",
    )
    ap.add_argument("--kind", choices=sorted(HEADERS), help="Which page --doc is (default: baselines).")
    args = ap.parse_args()
    if args.render:
        parts = [json.loads(path.read_text()) for path in args.render]
        results = parts[0]
        if len(parts) > 1:
            results = merge(parts)
            write_json(args.out, results)
        render_doc(results, args.doc, args.kind)
        return
    torch.set_num_threads(args.threads)
    shape = {"n_levels": args.levels, "codebook_size": args.codebook_size}
    trained = {**shape, "epochs": args.epochs, "batch_size": 1024}
    results = run(args.datasets, variants(args.methods, args.param or [], shape, trained), args.seeds)
    results["command"] = common.command_line(args, skip=("render",))
    results["kind"] = args.kind or "baselines"
    results["summary_markdown"] = summarise(results, results["kind"] == "ablation")
    write_json(args.out, results)
    render_doc(results, args.doc)
    print(results["summary_markdown"])


if __name__ == "__main__":
    main()
