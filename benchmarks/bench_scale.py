"""Scale: encode throughput for 1M items against the bare arithmetic, fit time against catalog size,
peak memory per stage, and the collision audit of a 10M-item catalog.

    nice -n 10 python benchmarks/bench_scale.py --threads 1

Data: synthetic unit-norm 384-d embeddings (the dimension of all-MiniLM-L6-v2)
drawn around 64 topics x 16 subtopics, written once to a temporary .npy; 3
levels x 256 codes. Every stage runs in a child process of its own, so the peak
resident memory it reports (VmHWM) is that stage's alone, and every
figure is set against plain arithmetic timed in the same process:

- encode: items/s of ``tokenizer.encode`` on 1M items (streamed from the .npy
  and in memory), and the ratio to the *ceiling*: the same arithmetic done bare
  with torch (the encoder's matrix products, then ``z @ C_l^T`` per level; for
  RQ-KMeans ``x @ C_l^T`` per level), at its fastest row-block size. Also the
  ratio to a plain faiss ``IndexFlatL2`` nearest-codeword search of the same
  rows (RQ-VAE: its latents) against the same codebooks;
- fit: seconds and seconds per item at each catalog size (RQ-KMeans as
  configured by default; RQ-VAE for a fixed number of epochs), and the fit time
  in units of one faiss nearest-codeword pass over the same items;
- audit: ``sid_metrics`` with a catalog (texts, group keys, missing content) on
  10M items, and the same pass of faiss units extrapolated to 10M items.

On a shared machine timings wander: encode and its references take turns chunk
by chunk (65,536 rows) over ``--repeats`` passes, so a passing load hits them
alike; fit and probe timings are the best of ``--repeats`` runs.
Prints and writes benchmarks/results/scale.json; docs/scale.md is rendered from it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import numpy as np

DIM, LEVELS, K = 384, 3, 256
CHUNK = 65536
FIT_SAMPLE_FOR_ENCODE = 100_000  # rows the encode stage's tokenizers are trained on (fit is timed apart)
CEILING_BLOCKS = (1024, 4096, 16384, 65536)
PROBE_ITEMS, PROBE_PASSES = 16384, 8  # the faiss nearest-codeword probe: the unit of fit / audit time
ENCODE_TARGET, AUDIT_SECONDS, AUDIT_GB, LINEAR_TOLERANCE = 0.7, 600.0, 8.0, 1.2


# --- helpers every stage uses -------------------------------------------------------------
def peak_rss_gb() -> float:
    """This process's peak resident memory so far: VmHWM of its own address space.

    Not ``getrusage``'s ``ru_maxrss``: on Linux a child started by fork + exec
    inherits its parent's peak there, which would charge the driver's memory to
    every stage.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024 / 1e9
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


def best_of(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each function over ``repeats`` rounds, the functions alternating in each round."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return times


def set_threads(threads: int) -> dict[str, int]:
    import faiss
    import torch

    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    return {"torch_threads": torch.get_num_threads(), "faiss_threads": faiss.omp_get_max_threads()}


def faiss_search(inputs: np.ndarray, codebooks: np.ndarray) -> Callable[[int, int], None]:
    """A plain faiss nearest-codeword search of rows ``lo:hi`` against each level's codebook."""
    import faiss

    indexes = []
    for book in codebooks:
        index = faiss.IndexFlatL2(book.shape[1])
        index.add(np.ascontiguousarray(book, dtype=np.float32))
        indexes.append(index)

    def run(lo: int, hi: int) -> None:
        for index in indexes:
            for start in range(lo, hi, CHUNK):
                index.search(inputs[start : min(start + CHUNK, hi)], 1)

    return run


def interleaved(fns: dict[str, Callable[[int, int], object]], n: int, rounds: int) -> dict[str, float]:
    """Total seconds of each function over ``rounds`` passes of rows ``0..n``, the functions taking
    turns chunk by chunk, so that a load that comes and goes on a shared machine hits them alike."""
    totals = dict.fromkeys(fns, 0.0)
    for _ in range(rounds):
        for lo in range(0, n, CHUNK):
            for name, fn in fns.items():
                t0 = time.perf_counter()
                fn(lo, min(lo + CHUNK, n))
                totals[name] += time.perf_counter() - t0
    return totals


def faiss_seconds_per_item(repeats: int, seed: int = 0) -> float:
    """Seconds per item of one nearest-codeword pass (384-d, 3 x 256): the time unit of fit and audit.

    A small probe searched ``PROBE_PASSES`` times, so it adds little to the stage's peak memory.
    """
    rng = np.random.default_rng(seed)
    probe = rng.standard_normal((PROBE_ITEMS, DIM)).astype(np.float32)
    search = faiss_search(probe, rng.standard_normal((LEVELS, K, DIM)).astype(np.float32))

    def passes() -> None:
        for _ in range(PROBE_PASSES):
            search(0, PROBE_ITEMS)

    return min(best_of({"probe": passes}, repeats)["probe"]) / (PROBE_ITEMS * PROBE_PASSES)


def tokenizer(method: str, epochs: int) -> Any:
    from quasid.tokenizers import RQVAE, RQKMeans

    if method == "rqkmeans":
        return RQKMeans(n_levels=LEVELS, codebook_size=K)
    return RQVAE(n_levels=LEVELS, codebook_size=K, epochs=epochs)


def synthetic_embeddings(path: Path, n: int, seed: int = 0) -> None:
    """Unit vectors around 64 topics x 16 subtopics, written chunk by chunk (each chunk seeded alone)."""
    rng = np.random.default_rng(seed)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    topics = unit(rng.standard_normal((64, DIM)))
    subtopics = unit(topics[:, None, :] + 0.8 * unit(rng.standard_normal((64, 16, DIM))))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, DIM))
    for lo in range(0, n, CHUNK):
        r = np.random.default_rng([seed, lo])
        m = min(CHUNK, n - lo)
        centre = subtopics[r.integers(0, 64, m), r.integers(0, 16, m)]
        out[lo : lo + m] = unit(centre + 0.6 * unit(r.standard_normal((m, DIM))))
    out.flush()
    del out


# --- stages (each in its own process) ---------------------------------------------------------
def stage_encode(args: dict[str, Any]) -> dict[str, Any]:
    """Encode throughput of one method on the .npy, against the bare-arithmetic ceiling and faiss."""
    import torch

    from quasid.data.stream import open_embeddings
    from quasid.tokenizers.base import ENCODE_BLOCK

    threads = set_threads(args["threads"])
    method, repeats = args["method"], args["repeats"]
    stream = open_embeddings(args["data"], chunk_size=CHUNK)
    n = stream.n_rows
    sample, _ = stream.sample(FIT_SAMPLE_FOR_ENCODE, seed=0)
    tok = tokenizer(method, epochs=1).fit(sample)
    del sample
    streamed: list[np.ndarray] = []
    stream_times = best_of({"streamed": lambda: streamed.append(tok.encode(stream))}, repeats)["streamed"]
    stream_rss = peak_rss_gb()  # before the matrix is loaded whole

    x = np.load(args["data"])
    xt = torch.from_numpy(x)
    if method == "rqkmeans":
        books = torch.from_numpy(tok.codebooks_)
        layers: list[torch.Tensor] = []
        search_rows, search_books = x, tok.codebooks_
    else:
        model = tok.model_
        layers = [m.weight.detach() for m in model.encoder if isinstance(m, torch.nn.Linear)]
        books = model.quantizer.codebooks.detach()
        search_rows = np.concatenate([tok.latents(x[lo : lo + CHUNK]) for lo in range(0, n, CHUNK)])
        search_books = books.numpy()

    def ceiling(block: int) -> Callable[[int, int], None]:
        """The encoder's matrix products and the codeword distance products, nothing else."""

        def run(lo: int, hi: int) -> None:
            with torch.inference_mode():
                for start in range(lo, hi, block):
                    h = xt[start : min(start + block, hi)]
                    for w in layers:
                        h = torch.mm(h, w.t())
                    for level in range(LEVELS):
                        torch.mm(h, books[level].t())

        return run

    in_memory = np.empty_like(streamed[0])

    def encode(lo: int, hi: int) -> None:
        in_memory[lo:hi] = tok.encode(x[lo:hi])

    fns: dict[str, Callable[[int, int], object]] = {"encode": encode}
    fns.update({f"ceiling_{b}": ceiling(b) for b in CEILING_BLOCKS})
    fns["faiss"] = faiss_search(search_rows, search_books)
    totals = interleaved(fns, n, repeats)
    ceiling_block = min(CEILING_BLOCKS, key=lambda b: totals[f"ceiling_{b}"])
    ceiling_seconds = totals[f"ceiling_{ceiling_block}"]
    macs = sum(w.shape[0] * w.shape[1] for w in layers) + LEVELS * K * books.shape[-1]
    return {
        "method": method,
        "n_items": n,
        "encoder_shapes": [list(w.shape[::-1]) for w in layers],
        "codebooks": list(books.shape),
        "matmul_macs_per_item": int(macs),
        "encode_block": ENCODE_BLOCK,
        "chunk_size": CHUNK,
        "rounds": repeats,
        "items_per_s": n * repeats / totals["encode"],
        "streamed_items_per_s": n / min(stream_times),
        "streamed_equals_in_memory": bool(np.array_equal(streamed[0], in_memory)),
        "ceiling_items_per_s": n * repeats / ceiling_seconds,
        "ceiling_block": ceiling_block,
        "ratio_to_ceiling": ceiling_seconds / totals["encode"],
        "faiss_items_per_s": n * repeats / totals["faiss"],
        "ratio_to_faiss": totals["faiss"] / totals["encode"],
        "seconds_total": {name: round(t, 3) for name, t in totals.items()},
        "seconds_streamed": [round(t, 3) for t in stream_times],
        "peak_rss_gb_streamed_encode": stream_rss,
        "peak_rss_gb": peak_rss_gb(),
        **threads,
    }


def stage_fit(args: dict[str, Any]) -> dict[str, Any]:
    """Fit time of one method on the first ``n`` rows (held in memory)."""
    threads = set_threads(args["threads"])
    n = args["n"]
    x = np.array(np.load(args["data"], mmap_mode="r")[:n])
    data_rss = peak_rss_gb()
    times = best_of({"fit": lambda: tokenizer(args["method"], args["epochs"]).fit(x)}, args["repeats"])["fit"]
    bf16 = bool(getattr(tokenizer(args["method"], args["epochs"]).config, "bf16", False))
    seconds = min(times)
    unit = faiss_seconds_per_item(args["repeats"])
    return {
        "method": args["method"],
        "n_items": n,
        "epochs": args["epochs"] if args["method"] == "rqvae" else None,
        "bf16": bf16,
        "seconds": seconds,
        "seconds_each_repeat": [round(t, 3) for t in times],
        "seconds_per_item": seconds / n,
        "faiss_pass_seconds": unit * n,
        "ratio_to_faiss_pass": seconds / (unit * n),
        "peak_rss_gb_data": data_rss,
        "peak_rss_gb": peak_rss_gb(),
        **threads,
    }


def audit_inputs(n: int, seed: int = 0) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Codes, texts and group keys of a synthetic catalog with harmful, benign and missing-content cases.

    Level 1 is Zipf-skewed over 256 codes, levels 2-3 uniform, so crowded first
    codes collide by chance (harmful); 10% of items are variants that copy an
    earlier item's SID, text and group key (benign); 2% have no text (missing).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, K + 1) ** 0.8
    codes = np.stack(
        [rng.choice(K, size=n, p=weights / weights.sum()), rng.integers(0, K, n), rng.integers(0, K, n)],
        axis=1,
    ).astype(np.int32)
    product = np.arange(n)
    variant = np.flatnonzero(rng.random(n) < 0.10)
    variant = variant[variant > 0]
    product[variant] = rng.integers(0, variant)  # an earlier item
    codes[variant] = codes[product[variant]]
    title = pc.binary_join_element_wise("product ", pa.array(product).cast(pa.string()), "")
    missing = rng.random(n) < 0.02
    texts = pc.if_else(pa.array(missing), "", title).to_pylist()
    groups = np.where(np.isin(product, product[variant]), np.char.add("g", product.astype(str)), "")
    return codes, texts, groups.astype(object)


def stage_audit(args: dict[str, Any]) -> dict[str, Any]:
    """``sid_metrics`` with and without a catalog on ``n`` items."""
    from quasid.data.catalog import Catalog
    from quasid.metrics import sid_metrics

    threads = set_threads(args["threads"])
    n = args["n"]
    t0 = time.perf_counter()
    codes, texts, groups = audit_inputs(n)
    inputs_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    catalog = Catalog(item_ids=np.arange(n), texts=texts, group_keys=groups, name="synthetic-10M")
    catalog_seconds = time.perf_counter() - t0
    del texts, groups
    inputs_rss = peak_rss_gb()
    t0 = time.perf_counter()
    metrics = sid_metrics(codes, K, catalog)
    audit_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    sid_metrics(codes, K)
    plain_seconds = time.perf_counter() - t0
    unit = faiss_seconds_per_item(args["repeats"])
    keep = (
        "collision_rate",
        "harmful_collision_rate",
        "benign_collision_rate",
        "colliding_pairs",
        "benign_pairs",
        "harmful_pairs",
        "n_unique_sids",
        "distinct_prefixes",
        "prefix_diversity",
        "content_duplicate_rate",
        "missing_rate",
    )
    return {
        "n_items": n,
        "seconds": audit_seconds,
        "seconds_without_catalog": plain_seconds,
        "inputs_seconds": inputs_seconds,
        "catalog_build_seconds": catalog_seconds,
        "faiss_pass_seconds": unit * n,
        "ratio_to_faiss_pass": audit_seconds / (unit * n),
        "peak_rss_gb_inputs": inputs_rss,
        "peak_rss_gb": peak_rss_gb(),
        "metrics": {k: metrics[k] for k in keep},
        **threads,
    }


STAGES = {"encode": stage_encode, "fit": stage_fit, "audit": stage_audit}


def run_stage(name: str, args: dict[str, Any], threads: int) -> dict[str, Any]:
    """Run one stage in a fresh child process (its own peak RSS) and return its JSON."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        result = Path(fh.name)
    env = {
        **os.environ,
        **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
    }
    cmd = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--stage-args",
        json.dumps(args),
        "--result",
        str(result),
    ]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    out = json.loads(result.read_text())
    result.unlink()
    out["wall_seconds"] = time.perf_counter() - t0
    print(
        f"{name} {json.dumps({k: v for k, v in out.items() if not isinstance(v, dict | list)})}", flush=True
    )
    return out


# --- the whole benchmark -----------------------------------------------------------------------
def measure(args: argparse.Namespace) -> dict[str, Any]:
    import faiss
    import torch

    from quasid.progress import advance, progress_bar

    workdir = Path(tempfile.mkdtemp(prefix="quasid-scale-"))
    try:
        n_max = max([args.encode_items, *args.fit_sizes])
        data = workdir / "embeddings.npy"
        t0 = time.perf_counter()
        synthetic_embeddings(data, n_max)
        print(f"wrote {n_max} x {DIM} synthetic embeddings in {time.perf_counter() - t0:.0f}s", flush=True)
        common_args = {"data": str(data), "threads": args.threads, "repeats": args.repeats}
        jobs: list[tuple[str, dict[str, Any]]] = [("encode", {"method": m}) for m in args.methods]
        jobs += [
            ("fit", {"method": m, "n": n, "epochs": args.rqvae_epochs})
            for m in args.methods
            for n in args.fit_sizes
        ]
        jobs.append(("audit", {"n": args.audit_items}))
        results: dict[str, Any] = {"encode": {}, "fit": {m: [] for m in args.methods}, "audit": None}
        load = os.getloadavg()
        with progress_bar(len(jobs), "scale stages") as bar:
            for name, extra in jobs:
                out = run_stage(name, {**common_args, **extra}, args.threads)
                if name == "encode":
                    results["encode"][extra["method"]] = out
                elif name == "fit":
                    results["fit"][extra["method"]].append(out)
                else:
                    results["audit"] = out
                advance(bar, name)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    for rows in results["fit"].values():
        for prev, row in itertools.pairwise(rows):
            row["growth_vs_linear"] = (row["seconds"] / prev["seconds"]) / (row["n_items"] / prev["n_items"])
    results["machine"] = {
        "cpu_count": os.cpu_count(),
        "threads": args.threads,
        "load_average_at_start": [round(v, 2) for v in load],
        "shared": "a 2-core machine shared with other engineers' jobs (run under nice 10): encode and its "
        "references take turns chunk by chunk; fit and probe timings are best of the repeats",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "faiss": faiss.__version__,
        "numpy": np.__version__,
    }
    results["checks"] = checks(results)
    return results


def checks(results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets, each with the measured figure."""
    out: dict[str, Any] = {}
    for method, row in results["encode"].items():
        name = f"encode_{method}_ratio_to_fp32_ceiling_>=_{ENCODE_TARGET}"
        out[name] = row["ratio_to_ceiling"] >= ENCODE_TARGET
    for method, rows in results["fit"].items():
        growth = [r["growth_vs_linear"] for r in rows if "growth_vs_linear" in r]
        out[f"fit_{method}_no_worse_than_linear_(x{LINEAR_TOLERANCE}_noise)"] = all(
            g <= LINEAR_TOLERANCE for g in growth
        )
    audit = results["audit"]
    out[f"audit_under_{AUDIT_SECONDS:.0f}s"] = audit["seconds"] < AUDIT_SECONDS
    out[f"audit_peak_under_{AUDIT_GB:.0f}GB"] = audit["peak_rss_gb"] < AUDIT_GB
    return out


PAGE = """# Scale: throughput, fit time, memory, 10M-item audit

Generated by `benchmarks/bench_scale.py` from `benchmarks/results/scale.json`
(every raw timing is in that file). Do not edit by hand.

Machine: {cpus} CPU cores, **{threads} torch / faiss thread(s)**, torch {torch},
faiss {faiss}; {shared}. Load average when the run started: {load}.
Data: synthetic unit-norm {dim}-d embeddings (the size of all-MiniLM-L6-v2),
{levels} levels x {k} codes. Each stage ran in its own process; *peak RSS* is
that process's peak resident memory (VmHWM; importing torch, faiss and pyarrow
alone takes {imports}).

## Using it

    quasid assign RUN --data embeddings.parquet -o sids.parquet --chunk-size 65536
    quasid assign RUN --existing sids.parquet --data v2.parquet -o sids_v2.parquet --drift-json drift.json
    quasid evaluate sids.parquet --data DATASET --json metrics.json

`--data` may be an embedding file, streamed chunk by chunk: a `.npy` matrix
(items are its rows) or a Parquet table with `item_id` and one list-of-floats
column. In Python: `tok.encode(open_embeddings(path))` and
`tok.fit(open_embeddings(path), sample_size=...)` (`quasid.data.stream`),
`assign_incremental(existing, tok, data)` (`quasid.sid`).

Bounded by the chunk size: the embedding rows held while encoding (`.npy`
files are read with plain reads at the array's offset, so mapped pages do not
pile up either; Parquet is decoded one batch at a time). Not bounded by it: the
output (item ids and `[N, L]` codes, written as one SID table), and fitting: a
tokenizer fitted on a stream trains on a uniform sample of `sample_size` rows
(default 1,000,000) held in memory; RQ-KMeans' faiss k-means subsamples 256
points per centroid anyway, RQ-VAE runs its epochs over the sample. QuaSID's
`encode` needs the catalog in memory (it looks items up by id).

Incremental assignment (`--existing`): every existing row keeps its codes and
disambiguation token, in its order; new items are appended in data order with
the tokenizer's codes; a new item on an occupied SID gets one past that SID's
largest existing token, so no new full SID equals an existing one (tested over
random tables with hypothesis, `tests/test_incremental.py`). Items present in
both keep the existing SID; the drift report counts how many of them this
tokenizer would move, by the first level that changes.

## Encode throughput ({n_encode} items)

*Ceiling* = the **float32** ceiling: the same arithmetic done bare in float32 with
torch in the same process: the encoder's matrix products then `z @ C_l^T` per
level (RQ-KMeans: `x @ C_l^T` per level), at its fastest row block. Every ratio
on this page is against that float32 ceiling; encode against the **bfloat16**
ceiling (this CPU's AMX), and the bf16 speed switches with their SID agreement,
are measured in [tokenizer-speed.md](tokenizer-speed.md). Encode here is the
default float32 encode (`encode_bf16 = false`). *faiss* = a plain `IndexFlatL2`
nearest-codeword search of the same rows (RQ-VAE: its latents) against the same
codebooks. Encode works {block}-row blocks inside {chunk}-row chunks; streamed
= read from the `.npy` chunk by chunk (`quasid.data.stream`).

{encode_rows}

## Fit time against catalog size

RQ-KMeans with its defaults (faiss k-means on at most 256 points per centroid,
25 iterations, then a nearest-codeword pass over all items per level); RQ-VAE
for {epochs} epoch(s) (batch 1024, k-means initialisation on 20k latents), MLPs
trained in {rqvae_precision}.
*growth* = (time ratio) / (size ratio) against the previous size: <= 1 is no
worse than linear. *faiss passes* = fit time in units of one faiss
nearest-codeword pass (384-d, 3 x 256) over the same items.

{fit_rows}

## Collision audit of {n_audit} items

`sid_metrics(codes, 256, catalog)`: collisions, harmful / benign split (content
key, group key, missing content), per-level usage, prefix diversity and the
exact Hamming distribution, all by hashing / sorting code tuples, never by
pairs. Synthetic catalog, a stress input rather than a tokenizer's output:
Zipf-skewed first level and uniform random levels 2-3 (so crowded first codes
collide by chance), 10% variants copying an earlier item's SID, text and group
key, 2% without text. *Building the Catalog* (checking 10M ids unique, group
keys) comes before the audit and is not part of its time.

{audit_rows}

## Checks

{check_rows}

Command:

    {command}
"""


def gb(v: float) -> str:
    return f"{v:.2f} GB"


def table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def render(results: dict[str, Any], path: Path) -> None:
    """Write docs/scale.md from the results JSON (atomically)."""
    from quasid.io import atomic_open

    machine = results["machine"]
    encode = table(
        [
            "method",
            "encode items/s",
            "fp32 ceiling items/s",
            f"ratio to fp32 ceiling (target >= {ENCODE_TARGET})",
            "faiss search items/s",
            "encode / faiss",
            "streamed items/s",
            "streamed == in-memory",
            "peak RSS streamed / total",
        ],
        [
            [
                method,
                f"{r['items_per_s']:,.0f}",
                f"{r['ceiling_items_per_s']:,.0f}",
                f"**{r['ratio_to_ceiling']:.2f}**",
                f"{r['faiss_items_per_s']:,.0f}",
                f"{r['ratio_to_faiss']:.2f}",
                f"{r['streamed_items_per_s']:,.0f}",
                str(r["streamed_equals_in_memory"]),
                f"{gb(r['peak_rss_gb_streamed_encode'])} / {gb(r['peak_rss_gb'])}",
            ]
            for method, r in results["encode"].items()
        ],
    )
    fit = table(
        [
            "method",
            "items",
            "fit s",
            "us / item",
            "growth vs linear",
            "faiss passes",
            "peak RSS data / total",
        ],
        [
            [
                method,
                f"{r['n_items']:,}",
                f"{r['seconds']:.1f}",
                f"{r['seconds_per_item'] * 1e6:.1f}",
                f"{r['growth_vs_linear']:.2f}" if "growth_vs_linear" in r else "-",
                f"{r['ratio_to_faiss_pass']:.1f}",
                f"{gb(r['peak_rss_gb_data'])} / {gb(r['peak_rss_gb'])}",
            ]
            for method, rows in results["fit"].items()
            for r in rows
        ],
    )
    a = results["audit"]
    m = a["metrics"]
    audit = table(
        ["figure", "value"],
        [
            ["audit seconds, with catalog", f"**{a['seconds']:.1f}**"],
            ["audit seconds, codes only", f"{a['seconds_without_catalog']:.1f}"],
            ["building the Catalog (ids, texts, group keys)", f"{a['catalog_build_seconds']:.1f} s"],
            ["audit in faiss nearest-codeword passes over the same items", f"{a['ratio_to_faiss_pass']:.2f}"],
            [
                "peak RSS: inputs in memory / whole process",
                f"{gb(a['peak_rss_gb_inputs'])} / **{gb(a['peak_rss_gb'])}**",
            ],
            ["collision rate", f"{m['collision_rate']:.2%}"],
            [
                "harmful / benign collision rate",
                f"{m['harmful_collision_rate']:.2%} / {m['benign_collision_rate']:.2%}",
            ],
            [
                "colliding / benign / harmful pairs",
                f"{m['colliding_pairs']:,} / {m['benign_pairs']:,} / {m['harmful_pairs']:,}",
            ],
            ["unique SIDs", f"{m['n_unique_sids']:,}"],
            ["distinct prefixes, depth 1 / 2 / 3", " / ".join(f"{p:,}" for p in m["distinct_prefixes"])],
            ["prefix diversity, depth 1 / 2 / 3", " / ".join(f"{p:.3g}" for p in m["prefix_diversity"])],
        ],
    )
    checked = table(
        # re-derived from the figures, so a page re-rendered from an older JSON names the targets as now
        ["target", "met"],
        [[name, "yes" if ok else "**no**"] for name, ok in checks(results).items()],
    )
    first_encode = next(iter(results["encode"].values()))
    first_fit = next(iter(results["fit"].get("rqvae", [])), {})
    page = PAGE.format(
        cpus=machine["cpu_count"],
        threads=machine["threads"],
        torch=machine["torch"],
        faiss=machine["faiss"],
        shared=machine["shared"],
        load=", ".join(map(str, machine["load_average_at_start"])),
        imports=gb(first_encode["peak_rss_gb_imports"]),
        dim=DIM,
        levels=LEVELS,
        k=K,
        n_encode=f"{first_encode['n_items']:,}",
        block=first_encode["encode_block"],
        chunk=CHUNK,
        encode_rows=encode,
        epochs=first_fit.get("epochs", "-"),
        rqvae_precision="bf16 autocast (`bf16 = true`)"
        if first_fit.get("bf16")
        else "float32 (a run from before the `bf16` training switch, whose default is now true: "
        "[tokenizer-speed.md](tokenizer-speed.md))",
        fit_rows=fit,
        n_audit=f"{a['n_items']:,}",
        audit_rows=audit,
        check_rows=checked,
        command=results["command"],
    )
    with atomic_open(path) as fh:
        fh.write(page)


def main() -> None:
    ap = common.parser(__doc__, "scale", "scale")
    ap.add_argument("--encode-items", type=int, default=1_000_000)
    ap.add_argument("--fit-sizes", nargs="+", type=int, default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--audit-items", type=int, default=10_000_000)
    ap.add_argument("--methods", nargs="+", default=["rqvae", "rqkmeans"])
    ap.add_argument("--rqvae-epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    ap.add_argument("--stage-args", help=argparse.SUPPRESS)
    ap.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage:  # a child process: one stage, its JSON to --result
        import quasid.data.stream
        import quasid.metrics
        import quasid.tokenizers  # noqa: F401  (torch, faiss, pyarrow: the libraries' own memory)
        from quasid.io import write_json

        imports_rss = peak_rss_gb()
        write_json(
            args.result,
            {**STAGES[args.stage](json.loads(args.stage_args)), "peak_rss_gb_imports": imports_rss},
        )
        return
    if common.render_only(args, render):
        return
    results = measure(args)
    common.finish(args, results, render)
    print(json.dumps(results["checks"], indent=2))


if __name__ == "__main__":
    main()
