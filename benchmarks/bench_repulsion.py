"""Cost of Hamming-guided Margin Repulsion per training step, on CPU.

Prints JSON: forward+backward time of HMR at B = 256 / 1024 / 4096 (d = 64, L = 3)
with codes spread over K = 256 codes per level (the trained regime) and over
K = 8 (collision-heavy, like early training), with and without the valid pair
mask; the time to build a MaskContext for 12k items / 200k events; and, for
scale, one forward+backward step of a plain RQ-VAE (768-512-256-128-64 MLP
encoder and decoder, 3 x 256 residual codebooks) at B = 1024.

    python benchmarks/bench_repulsion.py [--threads N] [--repeats R]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from quasid.data.catalog import Catalog
from quasid.qualify import HammingMarginRepulsion, MaskContext

N_ITEMS, N_USERS, N_EVENTS, DIM, LEVELS = 12_000, 20_000, 200_000, 64, 3


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after two warm-up calls."""
    for _ in range(2):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def synthetic_catalog(rng: np.random.Generator) -> tuple[Catalog, list[np.ndarray]]:
    """12k items (some duplicate texts, some groups, some missing) and 200k Zipf-popular events."""
    emb = rng.standard_normal((N_ITEMS, 384)).astype(np.float32)
    texts = [f"item {i}" for i in range(N_ITEMS)]
    for i in range(0, 600, 2):
        texts[i + 1] = texts[i]
    for i in range(600, 700):
        texts[i] = ""
        emb[i] = 0.0
    groups = np.array([f"g{i // 4}" if 1000 <= i < 3000 else "" for i in range(N_ITEMS)])
    catalog = Catalog(item_ids=np.arange(N_ITEMS), texts=texts, group_keys=groups, embeddings=emb)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.8
    items = rng.choice(N_ITEMS, size=N_EVENTS, p=popularity / popularity.sum())
    cuts = np.sort(rng.choice(np.arange(1, N_EVENTS), size=N_USERS - 1, replace=False))
    return catalog, np.split(items, cuts)


def mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def rqvae_step(batch: int) -> Callable[[], None]:
    """One forward+backward step of a plain RQ-VAE, for scale."""
    dims = [768, 512, 256, 128, DIM]
    encoder, decoder = mlp(dims), mlp(dims[::-1])
    codebooks = [nn.Parameter(torch.randn(256, DIM)) for _ in range(LEVELS)]
    x = torch.randn(batch, 768)

    def step() -> None:
        z = encoder(x)
        residual, quantized, commit = z, torch.zeros_like(z), z.new_zeros(())
        for book in codebooks:
            code = torch.cdist(residual.detach(), book).argmin(dim=-1)
            chosen = book[code]
            commit = (
                commit
                + ((chosen - residual.detach()) ** 2).mean()
                + 0.25 * ((residual - chosen.detach()) ** 2).mean()
            )
            quantized = quantized + chosen
            residual = residual - chosen.detach()
        zq = z + (quantized - z).detach()
        loss = ((decoder(zq) - x) ** 2).mean() + commit
        loss.backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    g = torch.Generator().manual_seed(0)

    catalog, sequences = synthetic_catalog(rng)
    start = time.perf_counter()
    context = MaskContext.from_catalog(catalog, sequences)
    build_s = time.perf_counter() - start

    results = []
    for batch in (256, 1024, 4096):
        idx = torch.randperm(N_ITEMS, generator=g)[:batch]
        latents = torch.randn(batch, DIM, generator=g, requires_grad=True)
        for regime, k in (("spread_K256", 256), ("collision_heavy_K8", 8)):
            codes = torch.randint(0, k, (batch, LEVELS), generator=g)
            for masked in (False, True):
                hmr = HammingMarginRepulsion(LEVELS, tau=1, mask_context=context if masked else None)
                index = idx if masked else None

                def step(hmr=hmr, latents=latents, codes=codes, index=index) -> None:
                    latents.grad = None
                    hmr(latents, codes, index).loss.backward()

                stats = hmr(latents, codes, index).stats
                results.append(
                    {
                        "batch": batch,
                        "regime": regime,
                        "masked": masked,
                        "fwd_bwd_ms": round(timed(step, args.repeats), 3),
                        "n_candidates": stats["n_candidates"],
                        "n_valid": stats["n_valid"],
                    }
                )
    report = {
        "device": "cpu",
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "threads": args.threads,
        "dim": DIM,
        "levels": LEVELS,
        "tau": 1,
        "mask_context_build_s": round(build_s, 3),
        "mask_context": {"items": N_ITEMS, "events": N_EVENTS, "co_pairs": int(context.co_keys.numel())},
        "reference_rqvae_step_ms_b1024": round(timed(rqvae_step(1024), max(3, args.repeats // 4)), 3),
        "hmr": results,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
