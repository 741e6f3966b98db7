"""T5 with the quarter-draw dropout of ``quasid.rec.dropout``, attention weights included.

T5 applies dropout on every attention matrix too, inside Hugging Face's attention
function, where swapping modules cannot reach it. ``use_fast_t5_dropout(t5)``
swaps every ``nn.Dropout`` for ``FastDropout`` and routes attention through
``fast_attention`` (eager attention with the same mask, in float32 as SDPA computes
it; SDPA when not training, where there is no dropout).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, eager_mask

from quasid.rec.dropout import fast_dropout, use_fast_dropout

ATTENTION = "quasid_fast_dropout"  # the name fast_attention is registered under


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
    """T5 attention: eager with ``fast_dropout`` on the weights when training, else SDPA (no dropout then).

    In float32 whatever the inputs' dtype, as SDPA's math path (the one it takes under dropout)
    computes: under bf16 autocast, scores and weights rounded to bf16 changed the loss, and cells
    trained with them scored lower (docs/judges.md)."""
    if dropout == 0.0 or not module.training:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=0.0, scaling=scaling,
            position_bias=position_bias, **kwargs,
        )  # fmt: skip
    dtype = query.dtype
    with torch.autocast(query.device.type, enabled=False):
        out, weights = _float32_attention(
            module, query.float(), key.float(), value.float(), attention_mask, scaling, dropout, position_bias
        )
    return out.to(dtype), weights


def _float32_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None,
    dropout: float,
    position_bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eager attention with the quarter-draw dropout on its weights: ``[b, q, H, d]`` and the weights."""
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3))  # [b, H, q, k]
    if scaling != 1.0:  # T5 folds the scale into its initialisation (scaling 1.0): no pass over [b, H, q, k]
        weights = weights * scaling
    if position_bias is not None:
        weights = weights + position_bias.float()
    if attention_mask is None and getattr(module, "is_causal", False) and query.shape[2] > 1:
        causal = torch.ones(query.shape[2], key.shape[2], dtype=torch.bool, device=query.device).tril()
        weights = weights.masked_fill(~causal, torch.finfo(weights.dtype).min)
    elif attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            weights = weights.masked_fill(~attention_mask, torch.finfo(weights.dtype).min)
        else:
            weights = weights + attention_mask.float()
    weights = fast_dropout(torch.softmax(weights, dim=-1), dropout, True)
    out = torch.matmul(weights, value).transpose(1, 2).contiguous()  # [b, q, H, d]
    return out, weights


AttentionInterface.register(ATTENTION, fast_attention)
AttentionMaskInterface.register(ATTENTION, eager_mask)  # additive float masks, causal never left implicit


def use_fast_t5_dropout(t5: nn.Module) -> None:
    """Swap the ``nn.Dropout`` modules of a T5 for ``FastDropout``, its attention for fast_attention."""
    use_fast_dropout(t5)
    t5.set_attn_implementation(ATTENTION)
