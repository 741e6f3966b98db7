"""Report plots (matplotlib, Agg backend), drawn from results.json only.

- ``metrics_<recommender>.png``: test Recall/NDCG@5/10 per method, bars at the mean, error bars
  one sample std over seeds, with the item-id reference as a dashed line per metric.
- ``curves_<recommender>.png``: validation NDCG@10 per epoch, one line per (method, seed).
- ``sid_levels.png``: full-SID collisions (harmful vs benign) and per-level codebook
  utilisation and entropy, per method.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from quasid.bench.figures import ID_ROW, METRIC_NAMES, METRICS, REC_NAMES, aggregate, current, mean_std
from quasid.plotting import integer_ticks, pyplot, save_png


def draw_all(results: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Every plot the results support; returns the files written."""
    plt = pyplot()
    out_dir = Path(out_dir)
    config, cells, sids = current(results)
    order = list(config.methods)
    agg = aggregate(cells)
    written = []
    try:
        alone = list(agg) == ["sasrec_id"]  # else the id model is a reference line in the others' plots
        for rec, rows in agg.items():
            if rec == "sasrec_id" and not alone:
                continue
            labels = [x for x in order if x in rows] or [ID_ROW]
            reference = None if alone else agg.get("sasrec_id", {}).get(ID_ROW)
            written.append(metric_bars(plt, rec, rows, labels, reference, out_dir / f"metrics_{rec}.png"))
            shown = {rec, "sasrec_id"} if rec == "sasrec_sid" else {rec}  # same model family: same axes
            rec_cells = [c for c in cells if c["recommender"] in shown]
            curve_labels = labels + ([ID_ROW] if reference is not None and rec == "sasrec_sid" else [])
            written.append(training_curves(plt, rec, rec_cells, curve_labels, out_dir / f"curves_{rec}.png"))
        if sids:
            written.append(sid_levels(plt, sids, order, out_dir / "sid_levels.png"))
    finally:
        plt.close("all")
    return written


def metric_bars(
    plt: Any,
    rec: str,
    rows: dict[str, dict[str, Any]],
    labels: list[str],
    reference: dict[str, Any] | None,
    path: Path,
) -> Path:
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(METRICS) * max(1, len(labels)) / 3, 3.6))
    x = np.arange(len(METRICS))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        means = [rows[label]["test"][m][0] for m in METRICS]
        stds = [rows[label]["test"][m][1] or 0.0 for m in METRICS]
        ax.bar(x + (i - (len(labels) - 1) / 2) * width, means, width, yerr=stds, capsize=3, label=label)
    if reference is not None:
        for j, m in enumerate(METRICS):
            ax.hlines(reference["test"][m][0], j - 0.45, j + 0.45, colors="k", linestyles="dashed", lw=1)
        ax.plot([], [], "k--", lw=1, label="SASRec on item ids")
    ax.set_xticks(x, [METRIC_NAMES[m] for m in METRICS])
    ax.set_ylabel("test figure (mean ± std over seeds)")
    ax.set_title(f"{REC_NAMES[rec]}: test metrics")
    ax.legend(fontsize=8, ncols=2)
    return save_png(fig, path)


def training_curves(plt: Any, rec: str, cells: list[dict[str, Any]], labels: list[str], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    colors = {label: "k" if label == ID_ROW else f"C{i}" for i, label in enumerate(labels)}
    seen: set[str] = set()
    for cell in sorted(cells, key=lambda c: (c["method"] or ID_ROW, c["seed"])):
        label = cell["method"] or ID_ROW
        points = [(h["epoch"], h["valid"]["ndcg@10"]) for h in cell["history"] if h["valid"] is not None]
        if not points:
            continue
        ep, val = zip(*points, strict=True)
        name = "SASRec on item ids" if label == ID_ROW else label
        ax.plot(ep, val, marker=".", color=colors.get(label), label=None if label in seen else name, lw=1)
        ax.axvline(cell["best_epoch"], color=colors.get(label), alpha=0.15, lw=1)
        seen.add(label)
    ax.set_xlabel("epoch")
    integer_ticks(ax.xaxis)
    ax.set_ylabel("validation NDCG@10")
    ax.set_title(f"{REC_NAMES[rec]}: training curves (one line per seed; faint: best epoch)")
    if seen:
        ax.legend(fontsize=8)
    return save_png(fig, path)


def sid_levels(plt: Any, sids: list[dict[str, Any]], order: list[str], path: Path) -> Path:
    by: dict[str, list[dict[str, Any]]] = {}
    for record in sids:
        by.setdefault(record["method"], []).append(record["metrics"])
    labels = [x for x in order if x in by]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    x = np.arange(len(labels))
    harmful = [mean_std([m["harmful_collision_rate"] or 0.0 for m in by[lb]]) for lb in labels]
    benign = [mean_std([m["benign_collision_rate"] or 0.0 for m in by[lb]]) for lb in labels]
    total = [mean_std([m["collision_rate"] for m in by[lb]]) for lb in labels]
    ax = axes[0]
    ax.bar(x, [h[0] for h in harmful], 0.6, label="harmful", color="C3")
    ax.bar(x, [b[0] for b in benign], 0.6, bottom=[h[0] for h in harmful], label="benign", color="C2")
    ax.errorbar(
        x, [t[0] for t in total], yerr=[t[1] or 0.0 for t in total], fmt="none", ecolor="k", capsize=3
    )
    ax.set_xticks(x, labels, rotation=20)
    ax.set_ylabel("share of items")
    ax.set_title("full-SID collisions (error bar: total, std)")
    ax.legend(fontsize=8)
    for ax, key, title in (
        (axes[1], "utilisation", "codebook utilisation"),
        (axes[2], "entropy", "entropy / log K"),
    ):
        for i, label in enumerate(labels):
            per_level = np.asarray([m[key] for m in by[label]], dtype=float)  # [seeds, levels]
            levels = np.arange(1, per_level.shape[1] + 1)
            ax.errorbar(
                levels + (i - (len(labels) - 1) / 2) * 0.08,
                per_level.mean(0),
                yerr=per_level.std(0, ddof=1) if len(per_level) > 1 else None,
                marker="o",
                capsize=3,
                label=label,
                color=f"C{i}",
            )
        ax.set_xlabel("semantic level")
        integer_ticks(ax.xaxis)
        ax.set_title(f"{title} per level")
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
    return save_png(fig, path)
