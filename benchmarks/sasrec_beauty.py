"""SASRec-id (or SASRec-sid with ``--sids``) on Amazon Beauty under our protocol, next to published SASRec.

Leave-one-out, full ranking over the 12,101 items, early stopping on
validation NDCG@10. Prints one JSON object: validation and test metrics at the
best epoch, seconds per epoch and in total, the published reference. A one-cell
``quasid bench`` underneath (``quasid.bench.single``): for several methods or
seeds, run ``quasid bench`` itself.

    python benchmarks/sasrec_beauty.py [--seed 0] [--threads 1] [--dropout 0.3] [--sids sids.parquet] ...

The dataset is ``--data`` (default ``amazon-beauty`` under ``$QUASID_DATA``, else ``../shared/data``).
"""

from __future__ import annotations

import argparse
import json
import sys

from quasid.bench.single import add_cell_arguments, cell_config, run_cell
from quasid.rec import SASRecConfig


def main(argv: list[str] | None = None) -> dict[str, object]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_cell_arguments(p)
    p.add_argument("--dropout", type=float, default=SASRecConfig.dropout)
    p.add_argument("--hidden", type=int, default=SASRecConfig.hidden)
    p.add_argument("--layers", type=int, default=SASRecConfig.layers)
    p.add_argument("--heads", type=int, default=SASRecConfig.heads)
    p.add_argument("--loss", choices=["ce", "bce"], default=SASRecConfig.loss)
    p.add_argument("--sid-pooling", choices=["sum", "concat"], default=SASRecConfig.sid_pooling)
    p.add_argument("--no-dedup", action="store_true", help="ignore the SID table's disambiguation level")
    p.add_argument("--hybrid", action="store_true", help="item vector = id row + SID token vectors (--sids)")
    args = p.parse_args(argv)

    model = {
        "hidden": args.hidden,
        "layers": args.layers,
        "heads": args.heads,
        "dropout": args.dropout,
        "loss": args.loss,
        "sid_pooling": args.sid_pooling,
        "use_dedup": not args.no_dedup,
    }
    recommender = "sasrec_id" if args.sids is None else ("sasrec_hybrid" if args.hybrid else "sasrec_sid")
    config = cell_config(args, recommender, model)
    out = run_cell(config, args)
    json.dump(out, sys.stdout, indent=2)
    print()
    return out


if __name__ == "__main__":
    main()
