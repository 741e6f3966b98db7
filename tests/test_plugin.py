"""HMR plugs, unchanged, into a foreign learner: vector-quantize-pytorch's ResidualVQ."""

import numpy as np
import torch
from torch import nn
from vector_quantize_pytorch import ResidualVQ

from quasid.data.catalog import Catalog
from quasid.qualify import HammingMarginRepulsion, MaskContext


def test_repulsion_trains_a_residualvq_encoder_and_respects_the_mask():
    torch.manual_seed(0)
    x = torch.randn(64, 16)
    x[1] = x[0]  # an exact duplicate pair: benign, must not be repelled
    texts = [f"item {i}" for i in range(64)]
    texts[1] = texts[0]
    catalog = Catalog(item_ids=[str(i) for i in range(64)], texts=texts, embeddings=x.numpy())
    encoder = nn.Linear(16, 8)
    rvq = ResidualVQ(dim=8, num_quantizers=2, codebook_size=2)  # 4 SIDs for 64 items: collisions galore
    hmr = HammingMarginRepulsion(
        n_levels=2, tau=0, margin=1.0, mask_context=MaskContext.from_catalog(catalog)
    )

    rows = torch.arange(64)
    z = encoder(x)
    _, codes, _ = rvq(z)
    out = hmr(z, codes, rows)
    assert codes.shape == (64, 2) and out.stats["n_valid"] > 0 and out.loss.item() > 0
    assert out.stats["same_content"] == 1  # the duplicate pair collides and is masked
    out.loss.backward()
    assert encoder.weight.grad is not None and encoder.weight.grad.abs().sum() > 0

    # a few steps of repulsion alone pull the colliding latents apart
    opt = torch.optim.SGD(encoder.parameters(), lr=0.5)
    first = out.loss.item()
    for _ in range(20):
        z = encoder(x)
        loss = hmr(z, codes, rows).loss  # codes fixed: only the latents move
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
    assert np.isfinite(loss.item())
