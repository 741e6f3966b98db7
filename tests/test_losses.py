"""The streamed softmax cross-entropy equals the plain one, in value and in gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from quasid.rec.losses import chunked_softmax_cross_entropy


def _case(M: int = 37, N: int = 101, d: int = 8, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(M, d, generator=g, dtype=torch.float64).requires_grad_()
    W = torch.randn(N, d, generator=g, dtype=torch.float64).requires_grad_()
    y = torch.randint(0, N, (M,), generator=g)
    y[:3] = y[0]  # repeated targets: the index-add must accumulate them
    return h, W, y


def _loss_and_grads(fn, h, W, y) -> tuple[torch.Tensor, ...]:
    h.grad = W.grad = None
    loss = fn(h, W, y)
    (2.5 * loss).backward()  # a non-unit upstream gradient
    return loss.detach(), h.grad.clone(), W.grad.clone()


@pytest.mark.parametrize("chunk", [1, 5, 37, 1000])
def test_equals_plain_cross_entropy_and_its_gradients(chunk: int) -> None:
    h, W, y = _case()
    ref = _loss_and_grads(lambda h, W, y: F.cross_entropy(h @ W.T, y), h, W, y)
    new = _loss_and_grads(lambda h, W, y: chunked_softmax_cross_entropy(h, W, y, chunk), h, W, y)
    for a, b in zip(ref, new, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_bf16_products_stay_within_bf16_rounding() -> None:
    h, W, y = _case(M=64, N=500, d=16, seed=1)
    h32, W32 = h.detach().float().requires_grad_(), W.detach().float().requires_grad_()
    ref = _loss_and_grads(lambda h, W, y: F.cross_entropy(h @ W.T, y), h32, W32, y)
    new = _loss_and_grads(lambda h, W, y: chunked_softmax_cross_entropy(h, W, y, 16, bf16=True), h32, W32, y)
    assert abs(float(new[0] - ref[0])) < 2e-2 * float(ref[0])
    for a, b in zip(ref[1:], new[1:], strict=True):
        assert float((a - b).norm() / a.norm()) < 2e-2


def test_bad_shapes_are_refused() -> None:
    h, W, y = _case()
    with pytest.raises(ValueError, match="share d"):
        chunked_softmax_cross_entropy(h, W[:, :3], y)
    with pytest.raises(ValueError, match="targets"):
        chunked_softmax_cross_entropy(h, W, y[:-1])
    with pytest.raises(ValueError, match="chunk"):
        chunked_softmax_cross_entropy(h, W, y, chunk=0)
    with pytest.raises(ValueError, match="no rows"):
        chunked_softmax_cross_entropy(h[:0], W, y[:0])
