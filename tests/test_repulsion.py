"""Hamming-guided Margin Repulsion: the hinge, its weights, its mask and its gradient."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError
from quasid.qualify import hamming, masking
from quasid.qualify.hamming import pairwise_hamming
from quasid.qualify.masking import MaskContext, valid_pair_mask
from quasid.qualify.repulsion import HammingMarginRepulsion


def pair_at_cosine(cos: float) -> torch.Tensor:
    return torch.tensor([[1.0, 0.0], [cos, math.sqrt(1 - cos**2)]], requires_grad=True)


def reference_loss(latents, codes, n_levels, tau, margin, gamma, idx=None, context=None, config=None):
    """QUASID.md section 2 over ordered pairs, with dense b x b matrices."""
    b = codes.shape[0]
    h = pairwise_hamming(codes)
    candidate = (h <= tau) & ~torch.eye(b, dtype=torch.bool)
    if idx is None:
        mask = candidate
    else:
        mask, _ = valid_pair_mask(idx, candidate, context, config)
    s = (n_levels - h).float() / n_levels
    unit = F.normalize(latents, dim=-1)
    d = 1 - unit @ unit.t()
    hinge = torch.clamp(margin * s**gamma - d, min=0)
    return (mask * s * hinge).sum() / max(1, int(mask.sum()))


def test_full_collision_hand_value() -> None:
    z = pair_at_cosine(0.8)  # d = 0.2
    out = HammingMarginRepulsion(3)(z, torch.tensor([[1, 2, 3], [1, 2, 3]]))
    assert out.loss.item() == pytest.approx(1.0 * (0.5 - 0.2), abs=1e-6)
    assert out.stats["n_candidates"] == out.stats["n_valid"] == out.stats["n_active"] == 1
    assert out.stats["mean_severity"] == pytest.approx(1.0)


def test_severity_scales_weight_and_margin() -> None:
    z = pair_at_cosine(0.8)
    out = HammingMarginRepulsion(3, tau=1, margin=0.5, gamma=2.0)(z, torch.tensor([[1, 2, 3], [1, 2, 9]]))
    s = 2 / 3
    assert out.loss.item() == pytest.approx(s * (0.5 * s**2 - 0.2), abs=1e-6)


def test_zero_beyond_margin_positive_within() -> None:
    codes = torch.tensor([[0, 0, 0], [0, 0, 0]])
    hmr = HammingMarginRepulsion(3, margin=0.5)
    far = hmr(pair_at_cosine(0.3), codes)  # d = 0.7 > 0.5
    assert far.loss.item() == 0.0 and far.stats["n_active"] == 0 and far.stats["n_valid"] == 1
    near = hmr(pair_at_cosine(0.6), codes)  # d = 0.4 < 0.5
    assert near.loss.item() > 0.0


def test_tau_is_respected() -> None:
    z = pair_at_cosine(0.9)
    codes = torch.tensor([[1, 2, 3], [1, 7, 8]])  # h = 2
    out = HammingMarginRepulsion(3, tau=1)(z, codes)
    assert out.stats["n_candidates"] == 0 and out.loss.item() == 0.0
    out = HammingMarginRepulsion(3, tau=2)(z, codes)
    assert out.stats["n_candidates"] == 1
    assert out.loss.item() == pytest.approx((1 / 3) * (0.5 / 3 - 0.1), abs=1e-6)


def test_gradient_reaches_only_latents_of_valid_pairs() -> None:
    # rows 0,1: distinct items colliding; rows 2,3: same text (benign) colliding; row 4 alone
    catalog = Catalog(item_ids=np.arange(5), texts=["a", "b", "c", "c", "d"])
    context = MaskContext.from_catalog(catalog)
    hmr = HammingMarginRepulsion(2, tau=0, mask_context=context)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(5, 4, generator=g)
    latents[1] = latents[0] + 0.01
    latents[3] = latents[2] + 0.01
    latents.requires_grad_()
    codes = torch.tensor([[0, 0], [0, 0], [1, 1], [1, 1], [2, 2]])
    out = hmr(latents, codes, torch.arange(5))
    assert out.stats["n_candidates"] == 2 and out.stats["n_valid"] == 1 and out.stats["same_content"] == 1
    out.loss.backward()
    row_grad = latents.grad.abs().sum(dim=-1)
    assert (row_grad[:2] > 0).all()
    assert (row_grad[2:] == 0).all()
    # codes take no part in the graph: without grad-carrying latents there is nothing to differentiate
    assert not hmr(latents.detach(), codes, torch.arange(5)).loss.requires_grad


def test_loss_has_a_graph_even_without_pairs() -> None:
    latents = torch.randn(3, 4, requires_grad=True)
    out = HammingMarginRepulsion(2, tau=0)(latents, torch.tensor([[0, 0], [1, 1], [2, 2]]))
    out.loss.backward()
    assert out.loss.item() == 0.0 and latents.grad.abs().sum() == 0


@pytest.mark.parametrize("masked", [False, True])
def test_matches_ordered_pair_formula(masked: bool) -> None:
    g = torch.Generator().manual_seed(3)
    n, n_levels = 40, 3
    texts = [f"t{i // 2}" if i < 10 else f"u{i}" for i in range(n)]  # five benign duplicate pairs
    catalog = Catalog(item_ids=np.arange(n), texts=texts, embeddings=torch.randn(n, 6, generator=g).numpy())
    context = MaskContext.from_catalog(catalog, [np.array([12, 13, 14]), np.array([13, 12])])
    latents = torch.randn(n, 8, generator=g, requires_grad=True)
    codes = torch.randint(0, 3, (n, n_levels), generator=g)
    idx = torch.randperm(n, generator=g)
    kwargs = {"n_levels": n_levels, "tau": 1, "margin": 0.8, "gamma": 1.5}
    hmr = HammingMarginRepulsion(**kwargs, mask_context=context if masked else None)
    out = hmr(latents, codes, idx if masked else None)
    ref = reference_loss(latents, codes, **kwargs, idx=idx if masked else None, context=context)
    assert out.loss.item() == pytest.approx(ref.item(), rel=1e-5)
    (grad,) = torch.autograd.grad(out.loss, latents)
    (ref_grad,) = torch.autograd.grad(ref, latents)
    assert torch.allclose(grad, ref_grad, atol=1e-6)
    if masked:
        assert out.stats["n_valid"] < out.stats["n_candidates"]


def test_sparse_and_dense_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(4)
    latents = torch.randn(300, 16, generator=g)
    codes = torch.randint(0, 6, (300, 3), generator=g)
    hmr = HammingMarginRepulsion(3, tau=1)
    monkeypatch.setattr(hamming, "DENSE_MAX_BATCH", 0)
    monkeypatch.setattr(hamming, "DENSE_PAIR_FRACTION", 0)
    monkeypatch.setattr(masking, "DENSE_COSINE_FRACTION", 0)
    sparse = hmr(latents, codes)
    monkeypatch.setattr(hamming, "DENSE_MAX_BATCH", 10**9)
    monkeypatch.setattr(masking, "DENSE_COSINE_FRACTION", 10**9)
    dense = hmr(latents, codes)
    assert sparse.loss.item() == pytest.approx(dense.loss.item(), rel=1e-5)
    assert sparse.stats == dense.stats


def test_context_needs_item_index() -> None:
    context = MaskContext.from_catalog(Catalog(item_ids=np.arange(2), texts=["a", "b"]))
    hmr = HammingMarginRepulsion(2, mask_context=context)
    with pytest.raises(ValueError, match="item_index"):
        hmr(torch.randn(2, 3), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="codes"):
        hmr(torch.randn(2, 3), torch.zeros(2, 3, dtype=torch.long), torch.arange(2))


def test_same_item_twice_is_never_repelled() -> None:
    out = HammingMarginRepulsion(2)(
        torch.randn(3, 4), torch.zeros(3, 2, dtype=torch.long), torch.tensor([7, 7, 8])
    )
    assert out.stats["n_candidates"] == 3 and out.stats["same_item"] == 1 and out.stats["n_valid"] == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_levels": 0}, "n_levels"),
        ({"n_levels": 3, "tau": 4}, "tau"),
        ({"n_levels": 3, "tau": -1}, "tau"),
        ({"n_levels": 3, "margin": 0.0}, "margin"),
        ({"n_levels": 3, "margin": 2.5}, "margin"),
        ({"n_levels": 3, "gamma": 0.0}, "gamma"),
    ],
)
def test_parameters_are_validated(kwargs: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=field):
        HammingMarginRepulsion(**kwargs)


def residual_codes(z: torch.Tensor, codebooks: list[torch.Tensor]) -> torch.Tensor:
    """Nearest-codeword residual quantization: [n, d] -> [n, levels]."""
    residual, codes = z, []
    for book in codebooks:
        c = torch.cdist(residual, book).argmin(dim=-1)
        codes.append(c)
        residual = residual - book[c]
    return torch.stack(codes, dim=-1)


def optimise_planted_collisions(masked: bool) -> tuple[float, float, float, float]:
    """Full-collision rate of planted distinct / duplicate pairs, before and after 60 HMR steps."""
    g = torch.Generator().manual_seed(0)
    n, dim, n_planted = 200, 16, 20
    z = torch.randn(n, dim, generator=g)
    codebooks = [torch.randn(4, dim, generator=g), 0.5 * torch.randn(4, dim, generator=g)]
    texts = [f"item {i}" for i in range(n)]
    distinct = torch.arange(0, 2 * n_planted, 2)  # (k, k+1): different content, nearly equal latents
    duplicate = torch.arange(2 * n_planted, 4 * n_planted, 2)  # (k, k+1): same content, nearly equal latents
    for k in torch.cat([distinct, duplicate]).tolist():
        z[k + 1] = z[k] + 0.01 * torch.randn(dim, generator=g)
    for k in duplicate.tolist():
        texts[k + 1] = texts[k]
    context = MaskContext.from_catalog(Catalog(item_ids=np.arange(n), texts=texts)) if masked else None
    hmr = HammingMarginRepulsion(2, tau=1, margin=0.5, mask_context=context)
    idx = torch.arange(n) if masked else None
    z.requires_grad_()
    opt = torch.optim.Adam([z], lr=0.05)

    def rates() -> tuple[float, float]:
        codes = residual_codes(z.detach(), codebooks)
        collide = (codes[:-1] == codes[1:]).all(dim=-1).float()
        return collide[distinct].mean().item(), collide[duplicate].mean().item()

    before = rates()
    for _ in range(60):
        out = hmr(z, residual_codes(z.detach(), codebooks), idx)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    return (*before, *rates())


def test_repulsion_separates_distinct_collisions_and_spares_duplicates() -> None:
    distinct_before, duplicate_before, distinct_after, duplicate_after = optimise_planted_collisions(
        masked=True
    )
    assert distinct_before == duplicate_before == 1.0
    assert distinct_after <= 0.35
    assert duplicate_after >= 0.75
    # the control: without the mask the duplicates are torn apart too
    _, _, _, duplicate_unmasked = optimise_planted_collisions(masked=False)
    assert duplicate_unmasked <= 0.3


def test_stats_have_the_same_keys_with_or_without_mask() -> None:
    context = MaskContext.from_catalog(Catalog(item_ids=np.arange(3), texts=["a", "a", "b"]))
    latents, codes = torch.randn(3, 4), torch.zeros(3, 2, dtype=torch.long)
    masked = HammingMarginRepulsion(2, mask_context=context)(latents, codes, torch.arange(3)).stats
    plain = HammingMarginRepulsion(2)(latents, codes).stats
    assert set(masked) == set(plain)
    assert {"n_candidates", "n_valid", "n_active", "mean_severity", "same_content"} <= set(plain)
    assert masked["same_content"] == 1 and plain["same_content"] == 0


def test_banded_scheme_averages_each_band_with_its_own_margin_and_weight() -> None:
    """The public re-implementation's HMR: full collisions and h <= tau partial ones, separately."""
    torch.manual_seed(0)
    latents = torch.randn(6, 4, requires_grad=True)
    codes = torch.tensor([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 5], [7, 7, 7], [8, 8, 8]])
    hmr = HammingMarginRepulsion(
        3, tau=1, margin=0.8, scheme="banded", margin_partial=0.5, weight_full=0.2, weight_partial=0.1
    )
    out = hmr(latents, codes)
    unit = F.normalize(latents, dim=-1)
    d = 1 - unit @ unit.t()
    full = [(0, 1), (0, 2), (1, 2)]
    partial = [(0, 3), (1, 3), (2, 3)]
    expected = 0.2 * torch.stack([torch.relu(0.8 - d[p]) for p in full]).mean()
    expected = expected + 0.1 * torch.stack([torch.relu(0.5 - d[p]) for p in partial]).mean()
    assert out.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert out.stats["n_valid"] == 6
    severity_scheme = HammingMarginRepulsion(3, tau=1, margin=0.8)(latents, codes).loss
    assert severity_scheme.item() != pytest.approx(out.loss.item())  # the two readings differ
    only_partial = HammingMarginRepulsion(3, tau=1, scheme="banded", weight_full=0.0)
    rows = [0, 3, 4, 5]  # one partial pair, no full collision: an empty band adds nothing
    assert only_partial(latents[rows], codes[rows]).loss.item() == pytest.approx(
        torch.relu(0.5 - d[0, 3]).item()
    )
    with pytest.raises(ConfigError, match="scheme"):
        HammingMarginRepulsion(3, scheme="flat")
