"""TIGER on tables without a dedup token: how much did sharing a beam's rank lift the committed cells?

Until ``TigerConfig.rank_ties = "expected"``, every item of a decoded SID took that beam's position
(``"shared"``), so a top-10 of beams could hold more than 10 items and a table with collisions was
over-counted. The committed cells keep each test hit's beam position (``test_top``), not the beams
before it, so their fair figure cannot be recomputed without decoding again. It can be bounded:
this script rebuilds each cell's SID table through the bench's own code path
(``quasid.bench.methods.method_sids``: a folder's ``runs/`` are reused, else the table is refitted
with the cell's config and seed and checked against the cell's recorded SID-size histogram; peer
tables are read from their files) and re-ranks each hit as one of the ``m`` items of its SID,
ties broken uniformly, with every earlier beam counted as one item. Earlier beams of several items
would rank it lower still, so the result is an upper bound on the cell's NDCG@10 under
``"expected"``, and ``shared - bound`` a lower bound on what sharing added. Nothing is trained.

    python benchmarks/tiger_ties.py --folders benchmarks/results/bench_beauty_text_parts/tiger_f \\
        benchmarks/results/bench_beauty_text_parts/tiger_h
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

RECOMMENDER = "tiger"


def sid_sizes(codes: np.ndarray) -> np.ndarray:
    """``[N]``: how many items carry each item's full SID (1 = a unique SID)."""
    from quasid.metrics.grouping import combine_keys, group_sizes

    return group_sizes(combine_keys(list(codes.T), codes.max(axis=0) + 1))


def bounded_ndcg(
    cell: dict[str, Any], targets: np.ndarray, sizes: np.ndarray, k: int = 10
) -> dict[str, float]:
    """The cell's NDCG@k as committed (``shared``) and its upper bound under ``expected``."""
    from quasid.rec.metrics import Ranks, per_event_metrics

    top = cell["test_top"]
    rows = np.asarray(top["rows"], dtype=np.int64)
    higher = np.asarray(top["higher"], dtype=np.float64)
    m = sizes[targets[rows]]
    shared = per_event_metrics(Ranks(higher, np.zeros(len(rows), np.int64)), [k])[f"ndcg@{k}"]
    bound = per_event_metrics(Ranks(higher, m - 1), [k])[f"ndcg@{k}"]
    n = int(top["n"])
    return {
        "shared": float(shared.sum() / n),
        "bound": float(bound.sum() / n),
        "hits_on_shared_sids": float((m > 1).mean()) if len(rows) else 0.0,
    }


def folder_rows(folder: Path) -> list[dict[str, Any]]:
    """One row per current TIGER cell of a bench folder ranked the ``shared`` way."""
    from quasid import pipeline
    from quasid.bench.config import BenchConfig
    from quasid.bench.methods import method_sids
    from quasid.bench.recommenders import protocol_data

    results = json.loads((folder / "results.json").read_text())
    config = BenchConfig.from_results(results)
    cells = [
        c
        for c in results["cells"]
        if c["recommender"] == RECOMMENDER
        and c["method"]
        and config.cell_matches(c)
        and c.get("test_top")
        and c.get("model", {}).get("rank_ties", "shared") == "shared"  # else ranked with ties already
    ]
    dataset = pipeline.load_data(config.data)
    data = protocol_data(dataset, config)
    tokenizer_data = pipeline.prepare_embeddings(data.tokenizer_data, config.embedding, 0, False)
    rows = []
    for cell in sorted(cells, key=lambda c: (c["method"], c["seed"])):
        spec, seed = config.method_spec(cell["method"]), int(cell["seed"])
        record = results["sids"].get(f"{spec.label}/s{seed}", {})
        if record.get("dedup") and spec.is_tokenizer:
            continue  # a tokenizer's dedup token makes every SID one item: both readings agree
        table = method_sids(spec, seed, tokenizer_data, config, folder / "runs", progress=False).table
        sizes = sid_sizes(table.full_codes())  # the SIDs TIGER decodes
        semantic = sid_sizes(table.codes)  # the SIDs the recorded histogram counts
        histogram = {str(s): n // s for s, n in sorted(Counter(semantic.tolist()).items())}
        recorded = record.get("metrics", {}).get("items_per_sid_hist")
        figures = bounded_ndcg(cell, np.asarray(data.test.targets), sizes)
        rows.append(
            {
                "folder": str(folder),
                "method": spec.label,
                "seed": seed,
                "collision_rate": record.get("metrics", {}).get("collision_rate"),
                "rebuilt_collision_rate": float((semantic > 1).mean()),
                "same_table": recorded is not None and histogram == recorded,
                "test_ndcg@10": float(cell["test"]["ndcg@10"]),
                **figures,
            }
        )
        print(f"{folder.name} {spec.label} s{seed}: {rows[-1]}", file=sys.stderr, flush=True)
    return rows


def render(results: dict[str, Any], path: Path) -> None:
    lines = [
        *common.page_header(
            "TIGER without a dedup token: what sharing a beam's rank added", results, "tiger_ties"
        ),
        'Every TIGER cell committed before `TigerConfig.rank_ties = "expected"` gave all the items of',
        "a decoded SID that beam's position (`shared`), so on a table without a dedup token a top-10 of",
        "beams could hold more than 10 items. *Bound*: each test hit re-ranked as one of the items of its",
        "SID, ties broken uniformly, with every earlier beam counted as one item. Earlier beams of several",
        "items would push it lower still, so the bound is the most the cell can score under `expected`,",
        "and *added at least* is how much sharing lifted it at the least. *Hits on a shared SID*: the share",
        "of top-10 hits whose target shares its SID with another item. *Same table*: the rebuilt table has",
        "the SID-size histogram the cell recorded. Committed parts keep no `runs/`, so tokenizer tables are",
        "refitted from the cell's config and seed by the code of this run; where that refit is not the",
        "cell's table (*no*), its collision rate is close but each target's SID size is the refit's, so the",
        "bound is an estimate, not a bound. Published tables are read from their files.",
        "",
        "| bench | SIDs | seed | collisions (cell / rebuilt) | same table | test NDCG@10 (shared, committed) "
        "| bound under expected | added at least | hits on a shared SID |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        cell = "" if r["collision_rate"] is None else f"{r['collision_rate']:.1%}"
        coll = f"{cell} / {r['rebuilt_collision_rate']:.1%}"
        added = r["shared"] / r["bound"] - 1 if r["bound"] else float("nan")
        lines.append(
            f"| {Path(r['folder']).name} | {r['method']} | {r['seed']} | {coll} | "
            f"{'yes' if r['same_table'] else 'no'} | {r['test_ndcg@10']:.4f} | {r['bound']:.4f} | "
            f"+{added:.1%} | {r['hits_on_shared_sids']:.1%} |"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    common.folders_main(
        __doc__, "tiger_ties", "tiger-ties", "bench folders with TIGER cells", folder_rows, render
    )


if __name__ == "__main__":
    main()
