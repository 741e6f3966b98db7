"""Tokenizer speed levers (issue 14, part 3): QuaSID fit time on amazon-beauty in float32 and with the
``bf16`` training switch, and RQ-VAE encode against the float32 and the bfloat16 ceilings.

    nice -n 10 python benchmarks/bench_tokenizer_speed.py --threads 1 --seeds 0 1 2 --readings public severity

- fit: QuaSID in each reading of ``--readings`` (``READINGS``: the default public reading, and our
  reading with the committed bench settings of benchmarks/bench_beauty.toml [method.quasid]), 3 x
  256, 100 epochs, batch 1024, on amazon-beauty's text embeddings, ``bf16 = false`` and
  ``bf16 = true`` alternating seed by seed, so a load on the shared machine hits both alike. Each
  fit's wall seconds and its process CPU seconds (less sensitive to other jobs on the machine), and
  the intrinsic metrics of its SIDs
  (what ``quasid evaluate`` reports: collision rates), so the faster fit can be checked against the
  seed spread of the float32 one.
- encode: an RQ-VAE fitted on the same embeddings (``--encode-epochs``), encode in float32 and with
  ``encode_bf16`` (bf16 encoder, float32 codeword search, float32 re-check of the rows inside the
  bf16 error), against two ceilings: the same matrix products done bare in float32 and in bfloat16
  (this CPU's AMX), at the fastest row block. Also the share of SIDs a bf16 encoder alone (no
  re-check) gets identical to float32, and the share of rows the re-check encodes again.

Prints and writes benchmarks/results/tokenizer_speed.json; docs/tokenizer-speed.md is rendered from it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch

from quasid import pipeline
from quasid.io import atomic_open
from quasid.metrics import sid_metrics
from quasid.tokenizers import RQVAE, QuaSID, QuaSIDSeverity
from quasid.tokenizers.base import ENCODE_BLOCK
from quasid.tokenizers.rqvae import MLP_ENCODER

SHAPE = {"n_levels": 3, "codebook_size": 256, "epochs": 100, "batch_size": 1024}
#: reading -> (tokenizer class, settings, what the page says of them)
READINGS: dict[str, tuple[type[QuaSID], dict[str, Any], str]] = {
    "public": (
        QuaSID,
        {**SHAPE, **MLP_ENCODER},  # the encoder the committed JSON measured (QuaSIDConfig's before issue 11)
        "the default reading (`quasid`, the public re-implementation's: banded HMR from the first "
        "epoch, the co-occurrence mask and item-to-item InfoNCE, random batches, no resolution) with "
        "RQ-VAE's MLP encoder (512-256-128, latent 32), its default when this was measured",
    ),
    "severity": (
        QuaSIDSeverity,  # benchmarks/bench_beauty.toml [method.quasid]
        {**SHAPE, "lambda_hmr": 50.0, "margin": 1.0, "warmup_epochs": 10, "conflict_batches": True},
        "our reading (`quasid_severity`) with the committed bench settings (benchmarks/bench_beauty.toml "
        "`[method.quasid]`: lambda_hmr 50, margin 1, warm-up 10, conflict batches, dual tower, "
        "last-level resolution)",
    ),
}
METRICS = ("collision_rate", "harmful_collision_rate", "benign_collision_rate", "n_unique_sids")
CEILING_BLOCKS = (1024, 4096, 16384)
#: encode variants timed: float32; bf16 encoder with the float32 re-check; bf16 encoder alone (tol 0)
ENCODES = ("fp32", "bf16", "bf16_alone")
SWITCHES = {
    "bf16": "training (RQVAEConfig, so QuaSID too): encoder and decoder MLPs under bfloat16 autocast; "
    "codeword search, quantizer losses, repulsion and dual tower stay float32",
    "encode_bf16": "encode: bfloat16 encoder, float32 codeword search; every row whose smallest "
    "nearest-codeword margin is <= 2 x `encode_bf16_tol` x \\|\\|z\\|\\| is encoded again in float32",
}
FIT_TARGET_S, ENCODE_TARGET, AGREEMENT_TARGET = 60.0, 0.5, 0.999


def timed_fit(dataset: Any, reading: str, seed: int, bf16: bool, epochs: int) -> dict[str, Any]:
    """One QuaSID fit: wall and CPU seconds, epoch seconds, and the intrinsic metrics of its SIDs."""
    klass, settings, _ = READINGS[reading]
    tok = klass(**{**settings, "epochs": epochs}, seed=seed, bf16=bf16)
    wall, cpu = time.perf_counter(), time.process_time()
    tok.fit(dataset)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    codes = tok.encode(dataset)
    metrics = sid_metrics(codes, SHAPE["codebook_size"], dataset.catalog)
    raw = sid_metrics(tok._raw_codes(dataset, 65536), SHAPE["codebook_size"], dataset.catalog)
    return {
        "seed": seed,
        "bf16": bf16,
        "seconds": wall,
        "cpu_seconds": cpu,
        "epoch_seconds": sum(r["seconds"] for r in tok.history_),
        "final_recon": tok.history_[-1]["recon"],
        "metrics": {k: metrics[k] for k in METRICS},
        "raw_metrics": {k: raw[k] for k in METRICS},
    }


def measure_fit(dataset: Any, reading: str, seeds: list[int], epochs: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"fp32": [], "bf16": []}
    for seed in seeds:
        for name in runs:
            run = timed_fit(dataset, reading, seed, name == "bf16", epochs)
            runs[name].append(run)
            print(
                f"fit {reading} {name} seed {seed}: {run['seconds']:.1f} s wall, "
                f"{run['cpu_seconds']:.1f} s cpu, "
                f"{json.dumps(run['metrics'])}",
                flush=True,
            )
    summary = {
        name: {
            "median_seconds": statistics.median(r["seconds"] for r in rs),
            "median_cpu_seconds": statistics.median(r["cpu_seconds"] for r in rs),
            **{
                f"{k}_range": [min(r["metrics"][k] for r in rs), max(r["metrics"][k] for r in rs)]
                for k in METRICS
            },
            **{
                f"raw_{k}_range": [min(r["raw_metrics"][k] for r in rs), max(r["raw_metrics"][k] for r in rs)]
                for k in METRICS
            },
        }
        for name, rs in runs.items()
    }
    pairs = [a["cpu_seconds"] / b["cpu_seconds"] for a, b in zip(runs["fp32"], runs["bf16"], strict=True)]
    return {
        "reading": reading,
        "epochs": epochs,
        "runs": runs,
        "summary": summary,
        "speedup_cpu_per_seed": pairs,
    }


def ceiling(layers: list[torch.Tensor], books: torch.Tensor, dtype: torch.dtype) -> Callable[..., None]:
    """The encoder's matrix products and the codeword distance products, bare, in ``dtype``."""
    ws = [w.to(dtype) for w in layers]
    cbs = [b.to(dtype) for b in books]

    def run(x: torch.Tensor, block: int) -> None:
        with torch.inference_mode():
            for start in range(0, len(x), block):
                h = x[start : start + block].to(dtype)
                for w in ws:
                    h = torch.mm(h, w.t())
                for cb in cbs:
                    torch.mm(h, cb.t())

    return run


def measure_encode(dataset: Any, epochs: int, rounds: int) -> dict[str, Any]:
    """RQ-VAE encode in float32 and with ``encode_bf16`` against the float32 and bfloat16 ceilings."""
    x = dataset.catalog.embeddings
    tok = RQVAE(n_levels=3, codebook_size=256, epochs=epochs, seed=0).fit(dataset)
    model = tok.model_
    assert model is not None
    layers = [m.weight.detach() for m in model.encoder if isinstance(m, torch.nn.Linear)]
    books = model.quantizer.codebooks.detach()
    xt = tok._standardize(x)
    fp32_codes = tok.encode(x)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        z16 = model.encoder(xt).float()
    with torch.no_grad():
        z32 = model.encoder(xt)
        alone = model.quantizer.encode(z16).numpy()
        _, margin = model.quantizer.encode_with_margin(z16)
    tol = tok.config.encode_bf16_tol
    rechecked = float((margin <= 2 * tol * z16.norm(dim=-1)).float().mean())
    rel_err = ((z16 - z32).norm(dim=-1) / z32.norm(dim=-1)).numpy()

    def encoder(bf16: bool, tol: float) -> Callable[[], None]:
        def run() -> None:
            tok.config.encode_bf16, tok.config.encode_bf16_tol = bf16, tol
            tok.encode(x)

        return run

    fns: dict[str, Callable[[], None]] = {
        "encode_fp32": encoder(False, tol),
        "encode_bf16": encoder(True, tol),  # with the float32 re-check
        "encode_bf16_alone": encoder(True, 0.0),  # encode_bf16_tol = 0: no re-check
    }
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        run = ceiling(layers, books, dtype)
        for block in CEILING_BLOCKS:
            fns[f"ceiling_{name}_{block}"] = lambda run=run, block=block: run(xt, block)
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):  # every function once per round, in turn; the best round counts
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    tok.config.encode_bf16, tok.config.encode_bf16_tol = True, tol
    bf16_codes = tok.encode(x)
    tok.config.encode_bf16 = False
    rate = {name: len(x) / min(t) for name, t in times.items()}
    best = {kind: max((rate[f"ceiling_{kind}_{b}"], b) for b in CEILING_BLOCKS) for kind in ("fp32", "bf16")}
    return {
        "n_items": len(x),
        "dim": int(x.shape[1]),
        "rqvae_epochs": epochs,
        "rounds": rounds,
        "encode_block": ENCODE_BLOCK,
        "encode_bf16_tol": tol,
        "items_per_s": {k: v for k, v in rate.items() if k.startswith("encode")},
        "ceiling_items_per_s": {kind: b[0] for kind, b in best.items()},
        "ceiling_block": {kind: b[1] for kind, b in best.items()},
        "ratio": {
            f"{enc}_to_{kind}_ceiling": rate[f"encode_{enc}"] / best[kind][0]
            for enc in ENCODES
            for kind in ("fp32", "bf16")
        },
        "bf16_alone_sid_agreement": float((alone == fp32_codes).all(axis=1).mean()),
        "bf16_rechecked_sid_agreement": float((bf16_codes == fp32_codes).all(axis=1).mean()),
        "rechecked_share": rechecked,
        "latent_relative_error_quantiles": {
            q: float(np.quantile(rel_err, float(q))) for q in ("0.5", "0.99", "1.0")
        },
        "seconds_each_round": {k: [round(t, 4) for t in v] for k, v in times.items()},
    }


def checks(results: dict[str, Any]) -> dict[str, Any]:
    enc = results["encode"]
    default = "bf16" if results["defaults"]["bf16"] else "fp32"
    encode_default = "bf16" if results["defaults"]["encode_bf16"] else "fp32"
    fit_checks = {}
    for reading, fit in fits(results).items():
        under = f"quasid_{reading}_fit_default_under_{FIT_TARGET_S:.0f}s"
        fit_checks[f"{under}_wall"] = fit["summary"][default]["median_seconds"] < FIT_TARGET_S
        fit_checks[f"{under}_cpu"] = fit["summary"][default]["median_cpu_seconds"] < FIT_TARGET_S
    return {
        **fit_checks,
        f"encode_default_>=_{ENCODE_TARGET}_of_bf16_ceiling": (
            enc["ratio"][f"{encode_default}_to_bf16_ceiling"] >= ENCODE_TARGET
        ),
        f"bf16_encode_alone_>=_{ENCODE_TARGET}_of_bf16_ceiling": (
            enc["ratio"]["bf16_alone_to_bf16_ceiling"] >= ENCODE_TARGET
        ),
        f"bf16_encode_alone_>=_{AGREEMENT_TARGET:.1%}_identical_sids": enc["bf16_alone_sid_agreement"]
        >= AGREEMENT_TARGET,
        f"bf16_encode_rechecked_>=_{AGREEMENT_TARGET:.1%}_identical_sids": enc["bf16_rechecked_sid_agreement"]
        >= AGREEMENT_TARGET,
    }


PAGE = """# Tokenizer speed: bf16 training and encode (issue 14)

Generated by `benchmarks/bench_tokenizer_speed.py` from the results JSON its command (at the end)
wrote (`--out`, default `benchmarks/results/tokenizer_speed.json`). Do not edit by hand. Linked from
[scale.md](scale.md).

{n_items} items (amazon-beauty, all-MiniLM-L6-v2 text embeddings, {dim}-d), 3 x 256 codes,
{threads} torch thread(s). Machine: {machine}. Load average when the run started: {load}.

## Switches

| switch | what it does | default |
|---|---|---|
{switch_rows}
| `encode_bf16_tol` | the bf16 latent error assumed, relative to \\|\\|z\\|\\| | `{tol}` |

{fit_sections}
## RQ-VAE encode against the float32 and the bfloat16 ceiling

An RQ-VAE fitted {enc_epochs} epochs on the same embeddings; {rounds} rounds, every variant once
per round in turn, each variant's best round counted. *fp32 ceiling* = the encoder's matrix
products and `z @ C_l^T` per level done bare in float32; *bf16 ceiling* = the same products in
bfloat16 (AMX); each at its fastest row block.
Every ratio below names its ceiling.

{encode_rows}

SIDs identical to float32 encode: bf16 encoder alone **{alone:.2%}**; with the float32 re-check
**{rechecked:.2%}** (the re-check encoded {share:.1%} of the rows again). The bf16 latent's
error, \\|\\|z_bf16 - z_fp32\\|\\| / \\|\\|z\\|\\|: median {e50:.4f}, 99 % {e99:.4f}, max {emax:.4f}; the last
level's residuals are small against \\|\\|z\\|\\|, so most rows have a nearest-codeword margin
inside that error.

{verdict}

## Checks

{check_rows}

Command:

    {command}
"""


FIT_SECTION = """## QuaSID fit on amazon-beauty: {reading} reading

QuaSID in {settings}, {epochs} epochs, batch 1024, float32 and `bf16 = true` alternating seed by
seed. *CPU s* is the fitting process's own CPU time (what a quiet core would take); *wall s* also
carries the waits for the other jobs on this shared machine. Metrics are `sid_metrics` of the SIDs
`encode` gives (after last-level resolution where the reading resolves; *raw* = before it).

{fit_rows}

bf16 / float32 CPU-time speed-up, seed by seed: {speedups}.

{fit_ranges}
"""


def fits(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """reading -> fit figures (a JSON made before ``--readings`` holds one fit, of our reading)."""
    return results.get("fits") or {results["fit"].get("reading", "severity"): results["fit"]}


def fit_section(reading: str, fit: dict[str, Any]) -> str:
    rows = [
        "| variant | seed | wall s | CPU s | collision rate | harmful | raw collision rate | raw harmful |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in fit["runs"].items():
        for r in runs:
            m, raw = r["metrics"], r["raw_metrics"]
            rows.append(
                f"| {name} | {r['seed']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                f"{m['collision_rate']:.2%} | {m['harmful_collision_rate']:.2%} | "
                f"{raw['collision_rate']:.2%} | {raw['harmful_collision_rate']:.2%} |"
            )
    ranges = "\n".join(
        f"- {name}: median {s['median_seconds']:.1f} s wall / {s['median_cpu_seconds']:.1f} s CPU; "
        f"raw collision rate {s['raw_collision_rate_range'][0]:.2%} to "
        f"{s['raw_collision_rate_range'][1]:.2%}, "
        f"raw harmful {s['raw_harmful_collision_rate_range'][0]:.2%} to "
        f"{s['raw_harmful_collision_rate_range'][1]:.2%}"
        for name, s in fit["summary"].items()
    )
    return FIT_SECTION.format(
        reading=reading,
        settings=READINGS[reading][2],
        epochs=fit["epochs"],
        fit_rows="\n".join(rows),
        speedups=", ".join(f"{s:.2f}x" for s in fit["speedup_cpu_per_seed"]),
        fit_ranges=ranges,
    )


def _verdict(enc: dict[str, Any]) -> str:
    """What the encode figures decide about the ``encode_bf16`` default, from the figures."""
    ratio, ceil = enc["ratio"], enc["ceiling_items_per_s"]
    fast = ratio["bf16_alone_to_bf16_ceiling"]
    alone, rechecked = enc["bf16_alone_sid_agreement"], enc["bf16_rechecked_sid_agreement"]
    lines = [
        f"The bf16 encoder alone (`encode_bf16 = true`, `encode_bf16_tol = 0`) runs at {fast:.2f} of the "
        f"bf16 ceiling; float32 encode at {ratio['fp32_to_bf16_ceiling']:.2f} of it (the bare float32 "
        f"products reach {ceil['fp32'] / ceil['bf16']:.2f} of it, so no float32 encode can reach 0.5)."
    ]
    if alone >= AGREEMENT_TARGET:
        lines.append(
            f"Its SIDs are {alone:.2%} identical to float32's, inside the {AGREEMENT_TARGET:.1%} bar."
        )
    else:
        lines.append(
            f"Its SIDs are only {alone:.2%} identical to float32's, under the {AGREEMENT_TARGET:.1%} bar, so "
            "encode stays float32 by default (`encode_bf16 = false`): the fast path is a switch for "
            "catalogs where a few changed SIDs do not matter (a first look at a large catalog)."
        )
    if rechecked >= AGREEMENT_TARGET:
        lines.append(
            f"With the re-check it is {rechecked:.2%} identical, at {ratio['bf16_to_bf16_ceiling']:.2f} of "
            f"the ceiling: it encodes {enc['rechecked_share']:.1%} of the rows again in float32."
        )
    return " ".join(lines)


def render(results: dict[str, Any], path: Path) -> None:
    enc = results["encode"]
    ips, ceil, ratio = enc["items_per_s"], enc["ceiling_items_per_s"], enc["ratio"]
    encode_rows = "\n".join(
        [
            "| encode | items/s | ratio to fp32 ceiling | ratio to bf16 ceiling |",
            "|---|---|---|---|",
            *(
                f"| {v} | {ips[f'encode_{v}']:,.0f} | {ratio[f'{v}_to_fp32_ceiling']:.2f} | "
                f"**{ratio[f'{v}_to_bf16_ceiling']:.2f}** |"
                for v in ENCODES
            ),
            f"| fp32 ceiling (block {enc['ceiling_block']['fp32']}) | {ceil['fp32']:,.0f} | 1.00 | "
            f"{ceil['fp32'] / ceil['bf16']:.2f} |",
            f"| bf16 ceiling (block {enc['ceiling_block']['bf16']}) | {ceil['bf16']:,.0f} | "
            f"{ceil['bf16'] / ceil['fp32']:.2f} | 1.00 |",
        ]
    )
    e = enc["latent_relative_error_quantiles"]
    checked = "\n".join(
        ["| target | met |", "|---|---|"]
        + [f"| {k} | {'yes' if v else '**no**'} |" for k, v in results["checks"].items()]
    )
    text = PAGE.format(
        n_items=f"{enc['n_items']:,}",
        dim=enc["dim"],
        threads=results["threads"],
        machine=results["machine"],
        load=", ".join(map(str, results["load_average_at_start"])),
        switch_rows="\n".join(
            f"| `{name}` | {what} | `{str(results['defaults'][name]).lower()}` |"
            for name, what in SWITCHES.items()
        ),
        tol=enc["encode_bf16_tol"],
        fit_sections="\n".join(fit_section(reading, fit) for reading, fit in fits(results).items()),
        enc_epochs=enc["rqvae_epochs"],
        rounds=enc["rounds"],
        encode_rows=encode_rows,
        alone=enc["bf16_alone_sid_agreement"],
        rechecked=enc["bf16_rechecked_sid_agreement"],
        share=enc["rechecked_share"],
        e50=e["0.5"],
        e99=e["0.99"],
        emax=e["1.0"],
        check_rows=checked,
        verdict=_verdict(enc),
        command=results["command"],
    )
    with atomic_open(path) as fh:
        fh.write(text)


def main() -> None:
    ap = common.parser(__doc__, "tokenizer_speed", "tokenizer-speed")
    ap.add_argument("--data", default="amazon-beauty")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=SHAPE["epochs"])
    # severity alone by default: the committed JSON's command (made before the public reading was the default)
    ap.add_argument("--readings", nargs="+", choices=sorted(READINGS), default=["severity"])
    ap.add_argument("--encode-epochs", type=int, default=100)
    ap.add_argument("--encode-rounds", type=int, default=10)
    args = ap.parse_args()
    if common.render_only(args, render):
        return
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    dataset = pipeline.prepare_embeddings(pipeline.load_data(args.data), common.TEXT_EMBEDDING)
    from quasid.tokenizers.rqvae import RQVAEConfig

    defaults = RQVAEConfig()
    results: dict[str, Any] = {
        "data": args.data,
        "threads": args.threads,
        "load_average_at_start": [round(v, 2) for v in load],
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
        "AMX-BF16, shared with other engineers' jobs",
        "defaults": {"bf16": defaults.bf16, "encode_bf16": defaults.encode_bf16},
        "encode": measure_encode(dataset, args.encode_epochs, args.encode_rounds),
    }
    print(json.dumps({k: results["encode"][k] for k in ("items_per_s", "ratio")}, indent=2), flush=True)
    results["fits"] = {r: measure_fit(dataset, r, args.seeds, args.epochs) for r in args.readings}
    results["checks"] = checks(results)
    common.finish(args, results, render)
    print(json.dumps(results["checks"], indent=2))


if __name__ == "__main__":
    main()
