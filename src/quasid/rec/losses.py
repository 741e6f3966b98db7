"""Full-catalog softmax cross-entropy, computed in row chunks so the [M, N] logits never exist whole.

A next-item model scores ``M`` positions against ``N`` catalog items. Plain
``F.cross_entropy(h @ W.T, y)`` materialises the fp32 ``[M, N]`` logits, their
log-softmax and its gradient: for SASRec on Amazon Beauty (M ~ 1,500 positions a
batch, N = 12,101) that is several 70 MB passes through memory per step, and it
dominates the step. ``chunked_softmax_cross_entropy`` streams the rows instead:

- forward: per chunk of ``chunk`` rows, ``logits = h_c @ W.T`` and their
  log-sum-exp; only ``lse [M]`` is kept;
- when ``h`` or ``W`` needs a gradient (a training step), the gradient of the
  mean loss is taken in the same pass: the chunk's logits become softmax
  probabilities in place (one exp) and are multiplied back into ``grad_h`` and
  ``grad_W``; the target term is a gather / index-add. Backward then only scales
  the stored gradients, so the logits are computed once per step, not twice.

With ``bf16=True`` the three products run in bfloat16 (AMX / AVX512-BF16 on
CPUs, tensor cores on GPUs) with fp32 log-sum-exp and fp32 gradient
accumulation; the target logit is exact fp32. The loss is then an estimate
within bf16 rounding of the logits (about 3 significant digits), which is noise
next to minibatch noise for training; rankings are never scored this way.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _ChunkedSoftmaxCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h: Tensor, W: Tensor, targets: Tensor, chunk: int, bf16: bool) -> Tensor:  # type: ignore[override]
        M = h.shape[0]
        acc = torch.promote_types(h.dtype, torch.float32)  # log-sum-exp and gradients: fp32 at least
        dtype = torch.bfloat16 if bf16 else h.dtype  # the products
        hc, Wc = h.to(dtype), W.to(dtype)
        Wt = Wc.t().contiguous()  # [d, N]
        lse = h.new_empty(M, dtype=acc)
        target_logit = (h * W[targets]).sum(1).to(acc)  # [M], exact
        ctx.grads = None
        if not (ctx.needs_input_grad[0] or ctx.needs_input_grad[1]):
            for s in range(0, M, chunk):
                lse[s : s + chunk] = torch.logsumexp((hc[s : s + chunk] @ Wt).to(acc), dim=1)
            return (lse - target_logit).mean().to(h.dtype)
        # a training step always runs backward next: the gradient of the mean loss is taken here, in
        # the same pass as the loss (one product and one exp per chunk fewer than recomputing it)
        grad_h = torch.empty_like(h)
        grad_W = torch.zeros(W.shape, dtype=acc, device=W.device)
        for s in range(0, M, chunk):
            h_s = hc[s : s + chunk]
            p = (h_s @ Wt).to(acc)  # [c, N] logits
            top = p.amax(dim=1, keepdim=True)
            total = p.sub_(top).exp_().sum(dim=1, keepdim=True)  # p = exp(logits - max)
            lse[s : s + chunk] = (top + total.log()).squeeze(1)
            p_c = p.div_(total).to(dtype)  # softmax
            grad_h[s : s + chunk] = (p_c @ Wc).to(h.dtype)
            grad_W += (p_c.t() @ h_s).to(acc)
        # the -target_logit term: d/dh = -W[y], d/dW[y] = -h
        grad_h -= W[targets].to(h.dtype)
        grad_W.index_add_(0, targets, h.to(acc), alpha=-1.0)
        ctx.grads = (grad_h.div_(M), grad_W.div_(M).to(W.dtype))
        return (lse - target_logit).mean().to(h.dtype)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, ...]:  # type: ignore[override]
        grad_h, grad_W = ctx.grads
        ctx.grads = None
        return grad_h * grad.to(grad_h.dtype), grad_W * grad.to(grad_W.dtype), None, None, None


def chunked_softmax_cross_entropy(
    h: Tensor, W: Tensor, targets: Tensor, chunk: int = 128, bf16: bool = False
) -> Tensor:
    """Mean of ``-log softmax(h @ W.T)[m, targets[m]]`` over the ``M`` rows, without ``[M, N]`` logits.

    ``h [M, d]`` hidden states, ``W [N, d]`` item vectors, ``targets [M]`` item rows.
    Equal to ``F.cross_entropy(h @ W.T, targets)`` (to float rounding with
    ``bf16=False``; to bf16 rounding of the logits with ``bf16=True``), and so are its gradients.
    """
    if h.ndim != 2 or W.ndim != 2 or h.shape[1] != W.shape[1]:
        raise ValueError(f"h [M, d] and W [N, d] must share d, got {tuple(h.shape)} and {tuple(W.shape)}")
    if targets.shape != (h.shape[0],):
        raise ValueError(f"targets must be [M] = [{h.shape[0]}], got {tuple(targets.shape)}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if h.shape[0] == 0:
        raise ValueError("no rows to score: the batch has no target position")
    return _ChunkedSoftmaxCE.apply(h, W, targets.long(), int(chunk), bool(bf16))
