"""Embedding cost of the offline sentence models on one catalog, and what bfloat16 autocast changes.

For each model: every distinct item text of the catalog embedded from scratch (a fresh cache,
so nothing is read back), with the precision the embedder picks (``auto``: bfloat16 autocast on
CPUs with native bf16), timed on the given threads; then, on a seeded sample of texts, float32
against bfloat16 vectors (cosine per text). ``--keep-cache`` files the vectors in the default
embedding cache afterwards, so a bench on the same catalog reads them instead of recomputing.

    python benchmarks/embed_models.py --data amazon-beauty-text --models all-MiniLM-L6-v2 all-mpnet-base-v2
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import command_line, parser, render_only

from quasid.bench.runner import provenance
from quasid.features import item_texts
from quasid.features.embed import (
    EmbeddingCache,
    _resolve_precision,
    default_cache_dir,
    embed_texts,
    resolve_model,
    text_key,
)
from quasid.io import atomic_open, write_json
from quasid.pipeline import load_data


def measure(model: str, texts: list[str], sample: int, keep_cache: bool) -> dict[str, Any]:
    distinct = sorted({t for t in texts if t.strip()})
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        vectors = embed_texts(distinct, model=model, cache_dir=tmp, progress=True, normalize=False)
        seconds = time.perf_counter() - t0
    precision = _resolve_precision("auto", "cpu")
    if keep_cache:
        cache = EmbeddingCache(default_cache_dir(), resolve_model(model), precision)
        cache.put([text_key(t) for t in distinct], vectors)
    pick = np.random.default_rng(0).choice(len(distinct), min(sample, len(distinct)), replace=False)
    chosen = [distinct[i] for i in pick]
    sample_seconds = {}
    runs = {}
    for prec in ("float32", "bfloat16"):
        t0 = time.perf_counter()
        runs[prec] = embed_texts(chosen, model=model, progress=False, precision=prec, use_cache=False)
        sample_seconds[prec] = time.perf_counter() - t0
    a, b = runs["float32"], runs["bfloat16"]
    cosine = (a * b).sum(axis=1)  # both L2-normalised
    return {
        "model": model,
        "dim": int(vectors.shape[1]),
        "precision": precision,
        "distinct_texts": len(distinct),
        "seconds": round(seconds, 1),
        "texts_per_second": round(len(distinct) / seconds, 2),
        "sample": len(chosen),
        "sample_seconds": {k: round(v, 1) for k, v in sample_seconds.items()},
        "bf16_vs_fp32_cosine": {
            "min": float(cosine.min()),
            "p01": float(np.percentile(cosine, 1)),
            "mean": float(cosine.mean()),
        },
    }


def render(results: dict[str, Any], doc: Path) -> None:
    rows = [
        f"| `{r['model']}` | {r['dim']} | {r['precision']} | {r['distinct_texts']:,} | "
        f"{r['seconds'] / 60:.1f} | {r['texts_per_second']:.1f} | {r['sample_seconds']['float32']:.0f} / "
        f"{r['sample_seconds']['bfloat16']:.0f} | {r['bf16_vs_fp32_cosine']['min']:.5f} / "
        f"{r['bf16_vs_fp32_cosine']['mean']:.6f} |"
        for r in results["models"]
    ]
    lines = [
        "# Offline text embeddings: cost and precision",
        "",
        f"Rendered from `{results['json']}` (`{results['command']}`). Catalog `{results['data']}`: "
        f"{results['items']:,} items; the embedded text is `{results['fields']}` per item "
        f"(e.g. `{results['example']}`). One torch thread, {results['cpu']}; the machine was shared,",
        "so the times are upper bounds.",
        "",
        "| model | dim | precision | distinct texts | minutes | texts / s | sample s (fp32 / bf16) "
        "| bf16 vs fp32 cosine (min / mean) |",
        "|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"The sample is {results['models'][0]['sample']} texts drawn with seed 0. Whether the stronger",
        "model makes better SIDs is measured downstream (docs/downstream.md), not here.",
        "",
        "## Joined text or one vector per field",
        "",
        "`embedding.pooling` says how an item's fields become one vector:",
        "",
        "- `joined` (default): one `field: value; ...` string per item, as above. The encoder reads at most",
        "  its window (256 word pieces for both models here), so a long description is cut.",
        "- `fields`: each field (title, brand, categories, description, attribute names) is embedded on its",
        "  own, and the item's vector is the normalised mean of its non-empty fields. Every field gets a",
        "  whole window and an equal say. This is how LETTER and CollisionGenRec built the peer SIDs' input",
        "  (with Qwen3-Embedding-8B, which no PyPI package ships). It encodes about four short texts per",
        "  item instead of one long one.",
        "",
        "    quasid fit amazon-beauty-text --method quasid --set embedding.pooling=fields",
        "    quasid embed amazon-beauty-text -o fields.npy --pooling fields",
        "",
    ]
    with atomic_open(doc) as fh:
        fh.write("\n".join(lines))


def main() -> None:
    ap = parser(__doc__, "embed_models", "embeddings")
    ap.add_argument("--data", default="amazon-beauty-text")
    ap.add_argument("--models", nargs="+", default=["all-MiniLM-L6-v2", "all-mpnet-base-v2"])
    ap.add_argument("--sample", type=int, default=256)
    ap.add_argument("--keep-cache", type=int, default=0, help="1: file the vectors in the default cache")
    ap.add_argument(
        "--append", type=int, default=0, help="1: add to the models already in --out (one process per model)"
    )
    ap.add_argument("--limit", type=int, default=None, help="only the first N items (smoke runs)")
    args = ap.parse_args()
    if render_only(args, render):
        return
    torch.set_num_threads(args.threads)
    catalog = load_data(args.data).catalog
    texts = item_texts(catalog)[: args.limit]

    results: dict[str, Any] = {
        "data": args.data,
        "items": len(texts),
        "fields": " + ".join(
            f for f in ("title", "brand", "categories", "description") if f in catalog.text_fields
        ),
        "example": texts[0][:160],
        "threads": args.threads,
        "cpu": provenance(None, args.threads)["cpu"],
        "json": str(args.out),
        "models": [measure(m, texts, args.sample, bool(args.keep_cache)) for m in args.models],
    }
    results["command"] = command_line(args)
    if args.append and args.out.exists():  # read only now: a parallel run for another model has finished
        earlier = json.loads(args.out.read_text())
        mine = {r["model"] for r in results["models"]}
        results["models"] = [r for r in earlier["models"] if r["model"] not in mine] + results["models"]
        results["command"] = f"{earlier['command']} && {results['command']}"
    write_json(args.out, results)
    render(results, args.doc)


if __name__ == "__main__":
    main()
