"""The figures of a bench's results.json: its current cells and SID records, aggregated over seeds.

Shared by the Markdown report and the plots, below both, so neither imports the other for them.
"""

from __future__ import annotations

import statistics
from typing import Any

from quasid.bench.config import BenchConfig
from quasid.bench.recommenders import capped_while_improving

METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")
METRIC_NAMES = {"recall@5": "Recall@5", "ndcg@5": "NDCG@5", "recall@10": "Recall@10", "ndcg@10": "NDCG@10"}
REC_NAMES = {
    "sasrec_sid": "SASRec on SIDs",
    "sasrec_id": "SASRec on item ids",
    "sasrec_hybrid": "SASRec on item ids + SIDs",
    "tiger": "TIGER",
}
ID_ROW = "item ids"  # the sasrec_id reference row's label


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value: one seed has no spread)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None


def current(results: dict[str, Any]) -> tuple[BenchConfig, list[dict[str, Any]], list[dict[str, Any]]]:
    """(config, cells, SID records) that belong to the stored config (fingerprints match)."""
    config = BenchConfig.from_results(results)
    planned = set(config.cells())
    cells = [
        c
        for c in results["cells"]
        if (c["recommender"], c["method"], c["seed"]) in planned and config.cell_matches(c)
    ]
    sids = [
        s
        for s in results["sids"].values()
        if s["method"] in config.methods
        and s["seed"] in config.seeds
        and s["fingerprint"] == config.sid_fingerprint(s["method"])
    ]
    return config, cells, sids


def aggregate(cells: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{recommender: {method label: {n, seeds, test/valid: {metric: (mean, std)}, ...}}}``."""
    groups: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for cell in cells:
        groups.setdefault(cell["recommender"], {}).setdefault(cell["method"] or ID_ROW, []).append(cell)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for rec, by_method in groups.items():
        out[rec] = {}
        for label, group in by_method.items():
            out[rec][label] = {
                "n": len(group),
                "seeds": sorted(c["seed"] for c in group),
                "test": {m: mean_std([c["test"][m] for c in group]) for m in METRICS},
                "valid": {m: mean_std([c["valid"][m] for c in group]) for m in METRICS},
                "best_epoch": mean_std([c["best_epoch"] for c in group]),
                "minutes": mean_std([c["seconds"] / 60 for c in group]),
                "stops": sorted({c["stop"] for c in group}),
                "capped": sum(_capped(c) for c in group),
            }
    return out


def _capped(cell: dict[str, Any]) -> bool:
    """The cell hit its epoch cap while still improving (read from older records too)."""
    if "capped_improving" in cell:
        return bool(cell["capped_improving"])
    return capped_while_improving(cell["best_epoch"], cell["epochs_run"], cell["stop"], cell.get("train", {}))
