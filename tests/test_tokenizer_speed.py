"""The tokenizer speed switches (issue 14): ``bf16`` training, ``encode_bf16`` and its float32 re-check."""

import numpy as np
import pytest
import torch

from quasid.data.synthetic import make_synthetic
from quasid.errors import ConfigError
from quasid.quantize.residual import ResidualQuantizer
from quasid.tokenizers import RQVAE, QuaSIDSeverity
from quasid.tokenizers.rqvae import RQVAEConfig, RQVAEModel


def clustered(n=600, d=16, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(8, d)) * 3
    return (centres[rng.integers(0, 8, n)] + rng.normal(size=(n, d))).astype(np.float32)


def quantizer(seed=0, levels=3, k=16, d=8):
    torch.manual_seed(seed)
    q = ResidualQuantizer(d, levels, k)
    q.codebooks.data = torch.randn(levels, k, d) * torch.tensor([1.0, 0.3, 0.1])[:levels, None, None]
    return q


def test_encode_with_margin_gives_the_same_codes_and_the_true_margin():
    q = quantizer()
    z = torch.randn(500, 8)
    codes, margin = q.encode_with_margin(z)
    assert torch.equal(codes, q.encode(z))
    assert (margin >= 0).all()
    # the margin is the smallest gap between the nearest and the second-nearest codeword, by brute force
    residual, expect = z, torch.full((500,), float("inf"))
    for level in range(3):
        dist = torch.cdist(residual, q.codebooks[level]).sort(dim=-1).values
        expect = torch.minimum(expect, dist[:, 1] - dist[:, 0])
        residual = residual - q.codebooks[level][codes[:, level]]
    torch.testing.assert_close(margin, expect, atol=1e-4, rtol=1e-4)


def test_a_latent_moved_by_less_than_half_the_margin_keeps_its_codes():
    q = quantizer(seed=1)
    z = torch.randn(2000, 8)
    codes, margin = q.encode_with_margin(z)
    direction = torch.nn.functional.normalize(torch.randn_like(z), dim=-1)
    moved = z + direction * (0.49 * margin[:, None])
    assert torch.equal(q.encode(moved), codes)


def small_rqvae(**overrides):
    params = {"n_levels": 3, "codebook_size": 16, "epochs": 4, "batch_size": 128, "latent_dim": 8}
    return RQVAE(**{**params, **overrides})


def test_bf16_encode_with_recheck_gives_the_float32_sids():
    x = clustered()
    tok = small_rqvae(bf16=False).fit(x)
    fp32 = tok.encode(x)
    tok.config.encode_bf16 = True
    np.testing.assert_array_equal(tok.encode(x), fp32)


def test_bf16_encode_rechecks_exactly_the_rows_inside_the_tolerance(monkeypatch):
    x = clustered()
    tok = small_rqvae(encode_bf16=True, encode_bf16_tol=0.0).fit(x)
    seen: list[int] = []
    encode = tok.model_.quantizer.encode
    monkeypatch.setattr(tok.model_.quantizer, "encode", lambda z: seen.append(len(z)) or encode(z))
    tok.encode(x)
    assert sum(seen) < len(x)  # tolerance 0: only exact ties are encoded again
    seen.clear()
    tok.config.encode_bf16_tol = 1e6  # every row is inside the assumed error: all of them again in fp32
    tok.encode(x)
    assert sum(seen) == len(x)


def test_bf16_forward_keeps_the_quantizer_and_outputs_in_float32():
    torch.manual_seed(0)
    model = RQVAEModel(16, RQVAEConfig(n_levels=3, codebook_size=16, latent_dim=8))
    x = torch.randn(64, 16)
    x_hat, z, q = model(x, bf16=True)
    assert x_hat.dtype == z.dtype == q.quantized.dtype == torch.float32
    # the codes are float32 codeword search on the (bf16-computed) latent, not a bf16 search
    assert torch.equal(q.codes, model.quantizer.encode(z))
    _, z32, _ = model(x, bf16=False)
    assert not torch.equal(z, z32)  # the MLP really ran in bf16 ...
    torch.testing.assert_close(z, z32, atol=0.05, rtol=0.05)  # ... and only bf16 rounding apart
    (x_hat - x).pow(2).mean().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


@pytest.mark.parametrize("bf16", [False, True])
def test_training_switch_fits_and_reconstructs(bf16):
    x = clustered()
    tok = small_rqvae(bf16=bf16, epochs=8).fit(x)
    assert tok.history_[-1]["recon"] < tok.history_[0]["recon"]
    assert len({tuple(r) for r in tok.encode(x)}) > 50


def test_quasid_encode_with_collaborative_vectors_honours_the_encode_switch(monkeypatch):
    data = make_synthetic(n_items=300, n_users=250, seed=0)
    tok = QuaSIDSeverity(n_levels=2, codebook_size=16, epochs=3, batch_size=64, latent_dim=8, warmup_epochs=1)
    tok.fit(data)
    assert tok._uses_collab_vectors()
    fp32 = tok.encode(data)
    tok.config.encode_bf16 = True
    calls: list[int] = []
    margin = tok.model_.quantizer.encode_with_margin
    quantizer = tok.model_.quantizer
    monkeypatch.setattr(quantizer, "encode_with_margin", lambda z: calls.append(len(z)) or margin(z))
    np.testing.assert_array_equal(tok.encode(data), fp32)
    assert sum(calls) == 300  # the bf16 path ran for every item


def test_negative_tolerance_is_a_config_error():
    with pytest.raises(ConfigError, match="encode_bf16_tol"):
        small_rqvae(encode_bf16_tol=-0.1).fit(clustered())


def test_nearest_codeword_keeps_argmins_first_index_on_ties():
    q = quantizer(levels=1, k=16)
    q.codebooks.data[0, 9] = q.codebooks.data[0, 4]  # two identical codewords: rows nearest them tie
    z = q.codebooks.data[0, [4, 9, 4]] + 1e-3
    cb = q.codebooks[0]
    expect = torch.addmm((cb * cb).sum(-1)[None, :], z, cb.t(), alpha=-2.0).argmin(dim=-1)
    assert torch.equal(q.encode(z)[:, 0], expect)
    assert (q.encode(z)[:, 0] == 4).all()
