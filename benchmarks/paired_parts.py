"""Paired bootstrap between cells of two bench folders (say two embedding settings of one bench).

A bench report pairs methods of its own folder only. Cells of one bench made under another
embedding setting live in their own folder, because their SID fingerprints differ; this script
pairs such a cell with a cell of the main folder over the same test users, reading the per-user
ranks each results.json stores (``test_top``). Nothing is trained.

    python benchmarks/paired_parts.py --recommender sasrec_sid \\
        --pair benchmarks/results/bench_beauty_text_parts/fields:quasid_peer_4x256 \\
               benchmarks/results/bench_beauty_text_parts/peers:lcrec
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from quasid.bench.paired import compare_cells
from quasid.io import write_json

DEFAULT_OUT = Path("benchmarks/results/paired_parts.json")


def cells_of(spec: str, recommender: str) -> tuple[str, list[dict[str, Any]]]:
    """``FOLDER[,FOLDER...]:METHOD`` -> (spec, that method's finished cells of ``recommender``).

    Several folders pool one method's seeds run in parallel parts (one seed a folder); a seed
    found in two of them is refused, since the pairing could not say which cell it used."""
    folders, _, method = spec.rpartition(":")
    if not folders or not method:
        raise SystemExit(f"error: --pair takes FOLDER[,FOLDER...]:METHOD, got {spec!r}")
    cells: list[dict[str, Any]] = []
    for folder in folders.split(","):
        path = Path(folder) / "results.json"
        if not path.exists():
            raise SystemExit(f"error: {path} does not exist: give a bench folder")
        found = [
            c
            for c in json.loads(path.read_text())["cells"]
            if c["recommender"] == recommender and c["method"] == method
        ]
        if not found:
            raise SystemExit(f"error: {path} has no {recommender} cell of method {method!r}")
        seen = {c["seed"] for c in cells} & {c["seed"] for c in found}
        if seen:
            raise SystemExit(f"error: seed {min(seen)} of {method!r} is in two of the folders of {spec!r}")
        cells += found
    return spec, cells


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recommender", default="sasrec_sid")
    ap.add_argument(
        "--pair",
        nargs=2,
        action="append",
        required=True,
        metavar=("A", "B"),
        help="FOLDER[,FOLDER...]:METHOD twice (several folders pool one method's seeds)",
    )
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    rows = []
    for a, b in args.pair:
        (name_a, cells_a), (name_b, cells_b) = cells_of(a, args.recommender), cells_of(b, args.recommender)
        result = compare_cells(cells_a, cells_b)
        if result is None:
            raise SystemExit(f"error: {name_a} and {name_b} share no seed with per-user ranks")
        rows.append({"recommender": args.recommender, "a": name_a, "b": name_b, **result})
        gain = "n/a" if result["gain"] is None else f"{result['gain']:+.1%}"
        low, high = result["gain_ci"] or (None, None)
        ci = "" if low is None else f" [{low:+.1%}, {high:+.1%}]"
        print(f"{name_a} vs {name_b} (seeds {result['seeds']}): {result['diff']:+.4f} NDCG@10, {gain}{ci}")
    pairs = " ".join(f"--pair {a} {b}" for a, b in args.pair)
    out = "" if args.out == DEFAULT_OUT else f" --out {args.out}"
    command = f"python benchmarks/paired_parts.py --recommender {args.recommender}{out} {pairs}"
    write_json(args.out, {"command": command, "pairs": rows})


if __name__ == "__main__":
    main()
