"""Cold start: how many cold items does each SID table put on codes no warm item uses?

Under the cold-start protocol (``--set protocol=cold_start``) the items withheld from training are
seen only through their SIDs. Under SASRec's full-softmax loss a token that no warm item carries
is only ever a negative in training, so a cold item placed on it starts behind. This script
takes the cold-start bench folders, rebuilds each SID table through the bench's own code path
(``quasid.bench.methods.method_sids``: a folder's ``runs/`` are reused, else the table is refitted
with the same config and seed; peer tables are read from their files) and puts, beside each
table's cold-item NDCG@10, the share of cold items whose code at each level, and whose prefix at
each depth, no warm item has (``quasid.audit.usage.cold_reach``), and the share of cold items whose
prefix equals that of their nearest warm item in content (``cold_neighbour_agreement``, cosine on
the embeddings the tokenizers read). Nothing is trained but missing tokenizer runs.

    python benchmarks/cold_reach.py --folders benchmarks/results/bench_beauty_text_parts/cold_a \\
        benchmarks/results/bench_beauty_text_parts/cold_b
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common

RECOMMENDER = "sasrec_sid"


def cold_setup(config: Any) -> tuple[Any, np.ndarray]:
    """The data a cold-start bench's tokenizers read (with its embeddings) and its cold items."""
    from quasid import pipeline
    from quasid.bench.recommenders import protocol_data
    from quasid.data.splits import cold_start_split

    dataset = pipeline.load_data(config.data)
    split = cold_start_split(dataset.interactions, frac=config.cold_frac, seed=config.split_seed)
    tokenizer_data = protocol_data(dataset, config).tokenizer_data
    # every table is compared with the content its tokenizers read, published ones included
    tokenizer_data = pipeline.prepare_embeddings(tokenizer_data, config.embedding, 0, False)
    return tokenizer_data, split.cold_items


def table_reach(table: Any, tokenizer_data: Any, cold_items: np.ndarray) -> dict[str, Any]:
    """``cold_reach`` of a SID table plus its per-depth agreement with the content neighbours."""
    from quasid.audit.usage import cold_neighbour_agreement, cold_reach, prefix_keys

    codes = table.full_codes()
    prefixes = prefix_keys(codes, codes.max(axis=0) + 1)
    reach = cold_reach(prefixes, codes, cold_items)
    embeddings = tokenizer_data.catalog.require_embeddings()
    reach["neighbour_prefix"] = cold_neighbour_agreement(prefixes, embeddings, cold_items)
    return reach


def folder_rows(folder: Path) -> list[dict[str, Any]]:
    """One row per current sasrec_sid cell of a cold-start bench folder."""
    from quasid.bench.config import BenchConfig
    from quasid.bench.methods import method_sids

    results = json.loads((folder / "results.json").read_text())
    config = BenchConfig.from_results(results)
    if config.protocol != "cold_start":
        raise SystemExit(f"error: {folder} is a {config.protocol!r} bench: give cold-start bench folders")
    cells = [
        c
        for c in results["cells"]
        if c["recommender"] == RECOMMENDER and c["method"] and config.cell_matches(c)
    ]
    tokenizer_data, cold_items = cold_setup(config)
    rows = []
    for cell in sorted(cells, key=lambda c: (c["method"], c["seed"])):
        spec, seed = config.method_spec(cell["method"]), int(cell["seed"])
        table = method_sids(spec, seed, tokenizer_data, config, folder / "runs", progress=False).table
        reach = table_reach(table, tokenizer_data, cold_items)
        record = results["sids"].get(f"{spec.label}/s{seed}", {})
        rows.append(
            {
                "folder": str(folder),
                "method": spec.label,
                "seed": seed,
                "collision_rate": record.get("metrics", {}).get("collision_rate"),
                "test_ndcg@10": float(cell["test"]["ndcg@10"]),
                "valid_ndcg@10": float(cell["valid"]["ndcg@10"]),
                **reach,
            }
        )
        print(f"{folder.name} {spec.label} s{seed}: {reach}", file=sys.stderr, flush=True)
    return rows


def render(results: dict[str, Any], path: Path) -> None:
    rows = results["rows"]
    lines = [
        *common.page_header("Cold start: cold items on codes no warm item uses", results, "cold_reach"),
        "Per SID table of the cold-start benches: the cold items' test NDCG@10 (SASRec on SIDs, the",
        "bench's figure), and the share of cold items whose code at a level, or whose prefix of a",
        "depth, no warm (trained-on) item has. A token only cold items carry is only ever a negative",
        "in training. Depth L is the whole SID (with the disambiguation token where the table has one).",
        "*Shared with content neighbour*: the share of cold items whose prefix of each depth equals that",
        "of their nearest warm item in content (cosine on the embeddings the tokenizers read); a",
        "recommender that sums token vectors carries a cold item towards the warm items it shares them with.",
        "The shares are of the bench's own tables when its folder keeps `runs/`; the committed parts keep",
        "none, so their tables were refitted from the cell's config and seed by the code of this run, which",
        "can differ from the bench's table by a few points. NDCG and collisions are the bench cell's.",
        "",
        "| bench | SIDs | seed | cold NDCG@10 | collisions | new code per level | new prefix per depth "
        "| shared with content neighbour, per depth |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        coll = "" if r["collision_rate"] is None else f"{r['collision_rate']:.1%}"
        lines.append(
            f"| {Path(r['folder']).name} | {r['method']} | {r['seed']} | {r['test_ndcg@10']:.4f} | {coll} | "
            + " / ".join(f"{v:.1%}" for v in r["unseen_code"])
            + " | "
            + " / ".join(f"{v:.1%}" for v in r["unseen_prefix"])
            + " | "
            + " / ".join(f"{v:.1%}" for v in r["neighbour_prefix"])
            + " |"
        )
    if rows:
        lines += ["", f"{rows[0]['cold_items']} cold items."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    common.folders_main(__doc__, "cold_reach", "cold-reach", "cold-start bench folders", folder_rows, render)


if __name__ == "__main__":
    main()
