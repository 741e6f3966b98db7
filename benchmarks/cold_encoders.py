"""Cold start: which tokenizer encoder keeps a cold item's coarse codes next to its content neighbours?

``cold_reach.py`` finds that the learned tokenizers' cold items share their depth-2 prefix with
their nearest warm item in content far less often than RQ-KMeans' do, and that cold NDCG@10 falls
in the same order. This script measures that share for tokenizer variants without training a
recommender: each variant is a bench method with ``--set`` assignments on it, fitted on the
cold-start protocol's tokenizer data (seed 0), and its table goes through the same
``cold_reach.table_reach`` as the bench tables. It chooses which variants earn a cold-start bench
cell; no recommender metric is read.

    python benchmarks/cold_encoders.py --variants rqkmeans_4x256 rqvae_4x256 \\
        'rqvae_4x256:hidden_dims=[]' 'rqvae_4x256:hidden_dims=[]:latent_dim=128'
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cold_reach
import common

CONFIG = Path("benchmarks/bench_beauty_text.toml")


def variant_row(variant: str, config_path: Path, seed: int) -> dict[str, Any]:
    """Fit one ``METHOD[:key=value...]`` variant on the cold split and measure its cold reach."""
    from quasid.bench.config import BenchConfig
    from quasid.bench.methods import method_sids

    method, *assignments = variant.split(":")
    sets = ["protocol=cold_start", *(f"method.{method}.{a}" for a in assignments)]
    config = BenchConfig.load(config_path).override(sets)
    tokenizer_data, cold_items = cold_reach.cold_setup(config)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as runs:
        spec = config.method_spec(method)
        out = method_sids(spec, seed, tokenizer_data, config, Path(runs), progress=False)
    reach = cold_reach.table_reach(out.table, tokenizer_data, cold_items)
    row = {
        "variant": variant,
        "seed": seed,
        "collision_rate": float(out.metrics["collision_rate"]),
        "fit_seconds": round(time.perf_counter() - t0, 1),
        **reach,
    }
    print(f"{variant}: {row}", file=sys.stderr, flush=True)
    return row


def render(results: dict[str, Any], path: Path) -> None:
    lines = [
        *common.page_header(
            "Cold start: how faithful each tokenizer encoder's coarse codes are to content",
            results,
            "cold_encoders",
        ),
        "Each row is a tokenizer variant (a bench method of `benchmarks/bench_beauty_text.toml`, with the",
        "assignments after its name) fitted on the cold-start protocol's tokenizer data. *Shared with",
        "content neighbour*: the share of cold items whose prefix of each depth equals that of their",
        "nearest warm item in content (cosine on the MiniLM vectors the tokenizers read), as in",
        "[cold-reach.md](cold-reach.md). No recommender is trained: this picks the variants that get a",
        "cold-start bench cell.",
        "",
        "| variant | seed | collisions | new prefix per depth | shared with content neighbour, per depth "
        "| fit seconds |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        lines.append(
            f"| `{r['variant']}` | {r['seed']} | {r['collision_rate']:.1%} | "
            + " / ".join(f"{v:.1%}" for v in r["unseen_prefix"])
            + " | "
            + " / ".join(f"{v:.1%}" for v in r["neighbour_prefix"])
            + f" | {r['fit_seconds']:.0f} |"
        )
    if results["rows"]:
        lines += ["", f"{results['rows'][0]['cold_items']} cold items."]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    ap = common.parser(__doc__, "cold_encoders", "cold-encoders")
    ap.add_argument("--config", type=Path, default=CONFIG)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=[], help="METHOD[:key=value...] of the bench config")
    ap.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows of --out already measured for a listed variant and seed; fit only the rest",
    )
    args = ap.parse_args()
    # not part of the recorded command: a resumed run's rows are those the full command gives
    done = previous_rows(args.out, args.seed) if vars(args).pop("resume") else {}

    def rows_of(variant: str) -> list[dict[str, Any]]:
        return [done.get(variant) or variant_row(variant, args.config, args.seed)]

    missing = "--variants takes one or more METHOD[:key=value...] of the bench config"
    common.run_rows(args, render, args.variants, missing, rows_of)


def previous_rows(out: Path, seed: int) -> dict[str, dict[str, Any]]:
    """The rows of an earlier run of this script for ``seed``, by variant (none if there is no file)."""
    if not out.exists():
        return {}
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    return {r["variant"]: r for r in rows if r["seed"] == seed}


if __name__ == "__main__":
    main()
