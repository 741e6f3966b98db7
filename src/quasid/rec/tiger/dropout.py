"""Dropout whose mask costs a quarter of the random draws: 16 random bits per element, four per int64 draw.

On a CPU, ``torch.nn.Dropout`` spends most of its time in the generator: one
Mersenne-Twister draw per element (``bernoulli_``), about 10x the cost of the
multiply it feeds. T5 applies dropout at every sublayer, inside the feed-forward
and on every attention matrix, so on TIGER's training step the draws were a
quarter of the profile. Drawing full-range int64s and reading each as four
16-bit uniforms gives the same independent Bernoulli mask with a keep
probability of ``round((1 - p) * 65536) / 65536`` (within 2e-5 of ``1 - p``),
from the same seeded torch generator, at a quarter of the draws.

``use_fast_dropout(t5)`` swaps every ``nn.Dropout`` of a Hugging Face T5 for
``FastDropout`` and routes its attention through ``fast_attention`` (eager
attention with the same mask; SDPA when not training, where there is no dropout).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, eager_mask

ATTENTION = "quasid_fast_dropout"  # the name fast_attention is registered under


def keep_mask(shape: torch.Size, p: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """``shape`` of ``0`` (dropped) or ``1 / keep`` (kept), with drop probability ``p`` to 16 bits."""
    n = 1
    for s in shape:
        n *= int(s)
    draws = torch.empty((n + 3) // 4, dtype=torch.int64, device=device).random_(-(2**63), 2**63 - 1)
    bits = draws.view(torch.int16)[:n].view(shape)  # each uniform over [-32768, 32767]
    threshold = round(p * 65536)  # drop when below it (counted from the bottom)
    keep = 1.0 - threshold / 65536
    return (bits >= threshold - 32768).to(dtype).mul_(1.0 / keep)


def fast_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``nn.functional.dropout`` semantics (inverted dropout, identity when not training or ``p == 0``)."""
    if not training or p == 0.0:
        return x
    if p >= 1.0:
        return torch.zeros_like(x)
    return x * keep_mask(x.shape, p, x.device, x.dtype)


class FastDropout(nn.Dropout):
    """``nn.Dropout`` with the quarter-draw mask (same ``p``, same train/eval behaviour, same state)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fast_dropout(x, self.p, self.training)


def fast_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    position_bias: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """T5 attention: eager with ``fast_dropout`` on the weights when training, else SDPA (no dropout then)."""
    if dropout == 0.0 or not module.training:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=0.0, scaling=scaling,
            position_bias=position_bias, **kwargs,
        )  # fmt: skip
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling  # [b, H, q, k]
    if position_bias is not None:
        weights = weights + position_bias
    if attention_mask is None and getattr(module, "is_causal", False) and query.shape[2] > 1:
        causal = torch.ones(query.shape[2], key.shape[2], dtype=torch.bool, device=query.device).tril()
        weights = weights.masked_fill(~causal, torch.finfo(weights.dtype).min)
    elif attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask
    weights = fast_dropout(torch.softmax(weights, dim=-1), dropout, True)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()  # [b, q, H, d]
    return out, weights


AttentionInterface.register(ATTENTION, fast_attention)
AttentionMaskInterface.register(ATTENTION, eager_mask)  # additive float masks, causal never left implicit


def use_fast_dropout(model: nn.Module) -> None:
    """Swap the ``nn.Dropout`` modules of ``model`` for ``FastDropout``, its attention for fast_attention."""
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
    model.set_attn_implementation(ATTENTION)
