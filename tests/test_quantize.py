import numpy as np
import pytest
import torch

from quasid.errors import ConfigError
from quasid.quantize.kmeans import kmeans, nearest
from quasid.quantize.residual import ResidualQuantizer


def test_kmeans_finds_separated_clusters_and_is_deterministic():
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [10, 0], [0, 10]], dtype=np.float32)
    x = np.concatenate([c + 0.1 * rng.normal(size=(100, 2)) for c in centres]).astype(np.float32)
    a = kmeans(x, 3, seed=1)
    b = kmeans(x, 3, seed=1)
    np.testing.assert_array_equal(a, b)
    assert sorted(np.round(a).astype(int).tolist()) == sorted(centres.astype(int).tolist())
    labels = nearest(x, a)
    assert len(set(labels[:100])) == 1 and len(set(labels)) == 3


def test_kmeans_with_fewer_points_than_clusters_returns_k_rows():
    x = np.eye(3, dtype=np.float32)
    assert kmeans(x, 5).shape == (5, 3)
    with pytest.raises(ConfigError, match="k >= 1"):
        kmeans(x, 0)


def test_residual_quantizer_codes_match_manual_residual_argmin():
    torch.manual_seed(0)
    rq = ResidualQuantizer(dim=4, n_levels=2, codebook_size=5)
    z = torch.randn(7, 4)
    codes = rq.encode(z)
    r = z.clone()
    for level in range(2):
        d = torch.cdist(r, rq.codebooks[level].detach())
        expect = d.argmin(1)
        assert torch.equal(codes[:, level], expect)
        r = r - rq.codebooks[level].detach()[expect]
    out = rq(z)
    assert torch.equal(out.codes, codes)
    assert torch.allclose(rq.decode_codes(codes), z - r, atol=1e-6)


def test_straight_through_gradient_reaches_latents_and_codebook():
    torch.manual_seed(0)
    rq = ResidualQuantizer(dim=3, n_levels=2, codebook_size=4)
    z = torch.randn(6, 3, requires_grad=True)
    out = rq(z)
    (out.quantized.sum() + out.codebook_loss + out.commitment_loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert rq.codebooks.grad is not None and rq.codebooks.grad.abs().sum() > 0


def test_kmeans_init_and_dead_code_reseeding():
    torch.manual_seed(0)
    rq = ResidualQuantizer(dim=2, n_levels=1, codebook_size=3)
    z = torch.tensor([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0], [-5.0, 5.0], [-5.1, 5.0]])
    rq.init_kmeans(z, seed=0)
    assert len(set(rq.encode(z)[:, 0].tolist())) == 3
    rq.codebooks.data[0, 2] = torch.tensor([100.0, 100.0])  # a code nobody uses
    usage = torch.bincount(rq.encode(z)[:, 0], minlength=3)[None]
    assert usage[0, 2] == 0
    moved = rq.reseed_dead_codes(z, usage, torch.Generator().manual_seed(0))
    assert moved == 1
    assert rq.codebooks.data[0, 2].abs().max() < 10  # now sits on a real latent
