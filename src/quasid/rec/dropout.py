"""Dropout whose mask costs a quarter of the random draws: 16 random bits per element, four per int64 draw.

On a CPU, ``torch.nn.Dropout`` spends most of its time in the generator: one
Mersenne-Twister draw per element (``bernoulli_``), about 10x the cost of the
multiply it feeds, and the draw runs on one thread however many torch has. Both
judges apply dropout at every sublayer (TIGER's T5 also on every attention
matrix), so the draws were a quarter of TIGER's training step and, on 2 threads,
about a seventh of SASRec's. Both judges have it as a switch (``SASRecConfig.fast_dropout``,
``TigerConfig.fast_dropout``), off: their converged test figures fell below those of torch's
dropout (SASRec -1.7 % over 3 seeds, TIGER -5.2 % over 3; docs/judges.md), though the mask
below has the same distribution. TIGER's cells also ran their attention in bf16, a bug
fixed since (``quasid.rec.tiger.dropout``); with float32 attention, 3 seeds give -2.4 %
[-4.9, +0.3] against bf16 alone (docs/bench.md), so TIGER's switch stays off too.
Drawing full-range int64s and reading each as four 16-bit uniforms gives the same
independent Bernoulli mask with a keep probability of ``round((1 - p) * 65536) / 65536``
(within 2e-5 of ``1 - p``), from the same seeded torch generator, at a quarter of the draws.

``use_fast_dropout(model)`` swaps every ``nn.Dropout`` module of a model for
``FastDropout``; dropout applied inside a fused op (``nn.MultiheadAttention``'s
attention weights) is not a module and keeps torch's draw.
"""

from __future__ import annotations

import torch
from torch import nn


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


def use_fast_dropout(model: nn.Module) -> int:
    """Swap the ``nn.Dropout`` modules of ``model`` for ``FastDropout``; returns how many were swapped."""
    swapped = 0
    for parent in model.modules():
        for name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p, child.inplace))
                swapped += 1
    return swapped
