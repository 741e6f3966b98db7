"""Plug-and-play: HMR + CAVPM added, unchanged, to someone else's tokenizer (vector-quantize-pytorch).

The learner is the kind of code users already have: an MLP encoder, the
``ResidualVQ`` of lucidrains/vector-quantize-pytorch (EMA codebooks, k-means
init, dead-code expiry) and an MLP decoder, trained on reconstruction +
commitment in a plain loop. quasid's repulsion enters as two lines:

    hmr = HammingMarginRepulsion(n_levels=3, mask_context=MaskContext.from_catalog(catalog))
    loss = loss + lam * hmr(z, codes, rows).loss          # z: encoder output, codes: [B, L]

Both arms train with the same seeds, data and steps in one process (and each
is also read out through quasid's last-level resolution); the
figures are items in harmful collisions (full SID shared with a different-
content item), total collisions and unique SIDs, mean and spread over seeds.

    python benchmarks/plugin_residualvq.py --data amazon-industrial --seeds 0 1 2

Prints and writes benchmarks/results/plugin_residualvq.json; docs/plugin.md is rendered from it.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import common
import numpy as np
import torch
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from quasid import pipeline
from quasid.io import atomic_open
from quasid.metrics import sid_metrics
from quasid.metrics.collisions import benign_rules
from quasid.qualify import HammingMarginRepulsion, MaskContext
from quasid.qualify.resolution import benign_components, resolve_last_level

LEVELS, CODES, LATENT = 3, 256, 32


class UserTokenizer(nn.Module):
    """Encoder -> vector-quantize-pytorch ResidualVQ -> decoder: a typical hand-written SID learner."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Linear(dim, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, LATENT)
        )
        self.decoder = nn.Sequential(
            nn.Linear(LATENT, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, dim)
        )
        self.rvq = ResidualVQ(
            dim=LATENT,
            num_quantizers=LEVELS,
            codebook_size=CODES,
            kmeans_init=True,
            kmeans_iters=10,
            threshold_ema_dead_code=2,
            decay=0.9,
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder(x)
        quantized, codes, commit = self.rvq(z)
        return self.decoder(quantized), z, codes, commit.sum()


def train(
    x: torch.Tensor, seed: int, epochs: int, lam: float, hmr: HammingMarginRepulsion | None
) -> UserTokenizer:
    """The user's loop; with ``hmr`` it adds the repulsion after a warm-up of a tenth of the epochs."""
    torch.manual_seed(seed)
    model = UserTokenizer(x.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        for rows in torch.randperm(len(x), generator=gen).split(1024):
            x_hat, z, codes, commit = model(x[rows])
            loss = (x_hat - x[rows]).pow(2).sum(-1).mean() + 0.25 * commit
            if hmr is not None and epoch >= epochs // 10:
                loss = loss + lam * hmr(z, codes, rows).loss  # the plug-in: one line in the loop
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@torch.no_grad()
def sids(model: UserTokenizer, x: torch.Tensor, catalog: Any, resolve: bool) -> np.ndarray:
    """The model's SIDs; with ``resolve``, quasid's last-level resolution applied after the fact."""
    z = model.encoder(x)
    codes = model.rvq(z)[1]
    if not resolve:
        return codes.numpy()
    books = model.rvq.codebooks  # [L, K, d]
    residual = z - sum(books[level][codes[:, level]] for level in range(LEVELS - 1))
    rules, _ = benign_rules(catalog)
    return resolve_last_level(
        codes.numpy(), residual.numpy(), books[-1].numpy(), benign_components(codes.numpy(), rules)
    ).codes


def run(data: str, seeds: list[int], epochs: int, lam: float, margin: float) -> dict[str, Any]:
    dataset = pipeline.prepare_embeddings(pipeline.load_data(data), common.TEXT_EMBEDDING)
    catalog = dataset.catalog
    raw = catalog.require_embeddings().astype(np.float32)
    x = torch.from_numpy((raw - raw.mean(0)) / raw.std())
    context = MaskContext.from_catalog(catalog)
    arms = {
        "residualvq": None,
        "residualvq+hmr": HammingMarginRepulsion(LEVELS, tau=1, margin=margin, mask_context=context),
    }
    runs = []
    for seed in seeds:
        for arm, hmr in arms.items():
            t0 = time.perf_counter()
            model = train(x, seed, epochs, lam, hmr)
            seconds = time.perf_counter() - t0
            for resolve in (False, True):
                name = arm + ("+resolution" if resolve else "")
                m = sid_metrics(sids(model, x, catalog, resolve), CODES, catalog)
                runs.append({"arm": name, "seed": seed, "seconds": seconds, "metrics": m})
                print(
                    f"{name} seed {seed}: collisions {m['collision_rate']:.4f} "
                    f"harmful {m['harmful_collision_rate']:.4f} unique {m['n_unique_sids']}",
                    flush=True,
                )
    return {"data": data, "seeds": seeds, "epochs": epochs, "lambda_hmr": lam, "margin": margin, "runs": runs}


HEADLINE = ("harmful_collision_rate", "collision_rate", "n_unique_sids")

PAGE = """# Plug-and-play repulsion

Generated by `benchmarks/plugin_residualvq.py` from `benchmarks/results/plugin_residualvq.json`.
Do not edit by hand.

HMR + CAVPM (`quasid.qualify.HammingMarginRepulsion`) needs nothing but a
batch's encoder latents `z [B, d]`, its codes `[B, L]` and the items' catalog
rows, so any tokenizer that exposes `(z, codes)` takes it unchanged, in two lines:

```python
from quasid.metrics.collisions import benign_rules
from quasid.qualify import HammingMarginRepulsion, MaskContext
from quasid.qualify.resolution import benign_components, resolve_last_level

hmr = HammingMarginRepulsion(n_levels=3, margin=1.0, mask_context=MaskContext.from_catalog(catalog))
...
loss = loss + lam * hmr(z, codes, rows).loss   # inside your training step, after a short warm-up
```

`MaskContext.from_catalog(catalog, sequences)` also takes user histories, to
mask collaborative neighbours. Without a `mask_context` every candidate pair
is repelled (the "HMR without mask" ablation). quasid's own RQ-VAE takes it
the same way, as a plug-in loss:
`RQVAE(auxiliary_losses={{"hmr": (lam, hmr)}})`; [ablation.md](ablation.md)
compares RQ-VAE with and without it (rows `rqvae` and `rqvae + HMR + CAVPM + ...`).

## A foreign learner: vector-quantize-pytorch ResidualVQ

The learner: MLP encoder (to d = 32) -> `vector_quantize_pytorch.ResidualVQ`
({levels} x {codes}, EMA codebooks, k-means init, dead-code expiry) -> MLP
decoder, trained for {epochs} epochs on reconstruction + 0.25 x commitment,
batch 1024, AdamW 1e-3, in a plain loop; the `+hmr` arm adds the line above
(lambda = {lam}, margin = {margin}, tau = 1, all mask rules) after a warm-up
of a tenth of the epochs. The `+resolution` arms apply quasid's last-level
resolution (`quasid.qualify.resolution`) to the trained model's SIDs, using its
ResidualVQ codebooks: also a plug-in, after training, no edit to the learner.
{data}, seeds {seeds}, one process; mean ± population std over seeds.

| arm | {cols} |
|---|{dashes}
{rows}

Command:

    {command}
"""


def render(results: dict[str, Any], path: Path) -> None:
    rows = []
    for arm in dict.fromkeys(r["arm"] for r in results["runs"]):
        cells = []
        for key in HEADLINE:
            vals = [r["metrics"][key] for r in results["runs"] if r["arm"] == arm]
            mean, spread = statistics.fmean(vals), statistics.pstdev(vals)
            cells.append(
                f"{mean:.1%} ± {spread:.1%}" if key.endswith("rate") else f"{mean:.0f} ± {spread:.0f}"
            )
        rows.append(f"| {arm} | " + " | ".join(cells) + " |")
    text = PAGE.format(
        levels=LEVELS,
        codes=CODES,
        epochs=results["epochs"],
        lam=results["lambda_hmr"],
        margin=results["margin"],
        data=results["data"],
        seeds=results["seeds"],
        cols=" | ".join(HEADLINE),
        dashes="---|" * len(HEADLINE),
        rows="\n".join(rows),
        command=results["command"],
    )
    with atomic_open(path) as fh:
        fh.write(text)


def main() -> None:
    ap = common.parser(__doc__, "plugin_residualvq", "plugin")
    ap.add_argument("--data", default="amazon-industrial")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--lambda-hmr", type=float, default=50.0)
    ap.add_argument("--margin", type=float, default=1.0)
    args = ap.parse_args()
    if common.render_only(args, render):
        return
    torch.set_num_threads(args.threads)
    common.finish(args, run(args.data, args.seeds, args.epochs, args.lambda_hmr, args.margin), render)


if __name__ == "__main__":
    main()
