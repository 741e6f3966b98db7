"""Hamming-guided Margin Repulsion (HMR): turn SID overlaps into geometric constraints.

For every batch pair whose current Semantic IDs are within Hamming distance tau
(a full collision or an overly similar composition), HMR asks the encoder
latents to be at least a margin apart in cosine distance, with the margin and
the weight both growing with the collision severity s = (L - h) / L:

    L_hmr = sum_ij M_ij s_ij max(0, m0 s_ij^gamma - (1 - cos(z_i, z_j))) / max(1, sum_ij M_ij)

M is the valid pair mask (``masking``): benign collisions are not repelled.

``scheme="banded"`` is the public re-implementation's reading (CollisionGenRec): two bands
with their own margin and weight, each averaged over its own pairs,

    L_hmr = w_full * mean_{h=0} max(0, m_full - d_ij) + w_partial * mean_{0<h<=tau} max(0, m_partial - d_ij)

with d_ij = 1 - cos(z_i, z_j) (there: m_full 0.8, m_partial 0.5, w_full 0.2, w_partial 0.1).
The sums run over ordered pairs; every term is symmetric, so summing over the
unordered pairs i < j (what is computed) gives the same ratio at half the work.
Codes come from the current forward pass and carry no gradient; only the
latents move, so the encoder learns to pull conflicting items into different
cells. The module needs nothing but (latents, codes, item rows), so any
tokenizer that exposes (z, c) adds ``lam * hmr(z, codes, idx).loss`` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from quasid.errors import ConfigError
from quasid.qualify.hamming import candidate_pairs, severity
from quasid.qualify.masking import RULES, MaskConfig, MaskContext, pair_cosine, valid_pairs

#: How margins and weights follow the Hamming distance (see the module docstring).
SCHEMES = ("severity", "banded")


@dataclass
class RepulsionOutput:
    """The repulsion loss and what it saw.

    stats: ``n_candidates`` (pairs with h <= tau), ``n_valid`` (after masking),
    ``n_active`` (valid pairs still inside their margin), ``mean_severity`` (over
    valid pairs, 0.0 if none), ``same_item`` and one count per mask rule (how many
    candidates it fired on; all 0 without a mask). Pair counts are unordered pairs.
    """

    loss: Tensor
    stats: dict[str, float] = field(default_factory=dict)


class HammingMarginRepulsion(nn.Module):
    """Severity-scaled margin repulsion between colliding items' latents.

    Args:
        n_levels: SID length L.
        tau: largest Hamming distance that makes a candidate pair, in [0, L].
        margin: m0, the cosine-distance margin of a full collision, in (0, 2].
        gamma: margin exponent, m_ij = m0 * s_ij^gamma; > 0.
        mask_config: which benign-collision rules mask pairs.
        mask_context: the catalog's precomputed lookups; None repels every
            candidate (the "HMR without mask" ablation).
        scheme: ``"severity"`` (margin and weight scaled by s) or ``"banded"`` (full collisions
            with ``margin`` and ``weight_full``, 0 < h <= tau with ``margin_partial`` and
            ``weight_partial``, each band a mean over its pairs).
    """

    def __init__(
        self,
        n_levels: int,
        tau: int = 1,
        margin: float = 0.5,
        gamma: float = 1.0,
        mask_config: MaskConfig | None = None,
        mask_context: MaskContext | None = None,
        scheme: str = "severity",
        margin_partial: float = 0.5,
        weight_full: float = 1.0,
        weight_partial: float = 1.0,
    ) -> None:
        super().__init__()
        if scheme not in SCHEMES:
            raise ConfigError(f"HMR scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        if not 0.0 < float(margin_partial) <= 2.0:
            raise ConfigError(f"margin_partial must be in (0, 2] (a cosine distance), got {margin_partial!r}")
        if weight_full < 0 or weight_partial < 0:
            raise ConfigError("HMR band weights must be >= 0")
        if isinstance(n_levels, bool) or not isinstance(n_levels, int) or n_levels < 1:
            raise ConfigError(f"n_levels must be a positive integer (the SID length), got {n_levels!r}")
        if isinstance(tau, bool) or not isinstance(tau, int) or not 0 <= tau <= n_levels:
            raise ConfigError(f"tau must be an integer in [0, n_levels={n_levels}], got {tau!r}")
        if not 0.0 < float(margin) <= 2.0:
            raise ConfigError(f"margin must be in (0, 2] (a cosine distance), got {margin!r}")
        if not float(gamma) > 0.0:
            raise ConfigError(f"gamma must be > 0, got {gamma!r}")
        self.n_levels = n_levels
        self.tau = tau
        self.margin = float(margin)
        self.gamma = float(gamma)
        self.mask_config = mask_config or MaskConfig()
        self.mask_context = mask_context
        self.scheme = scheme
        self.margin_partial = float(margin_partial)
        self.weight_full = float(weight_full)
        self.weight_partial = float(weight_partial)

    def extra_repr(self) -> str:
        masked = "on" if self.mask_context is not None else "off"
        return (
            f"n_levels={self.n_levels}, tau={self.tau}, margin={self.margin}, "
            f"gamma={self.gamma}, mask={masked}, scheme={self.scheme}"
        )

    def forward(self, latents: Tensor, codes: Tensor, item_index: Tensor | None = None) -> RepulsionOutput:
        """latents ``[b, d]`` (encoder output z), codes ``[b, L]``, item_index ``[b]`` catalog rows."""
        if latents.ndim != 2 or codes.ndim != 2 or codes.shape != (latents.shape[0], self.n_levels):
            raise ValueError(
                f"expected latents [b, d] and codes [b, {self.n_levels}], "
                f"got {tuple(latents.shape)} and {tuple(codes.shape)}"
            )
        if item_index is not None and item_index.shape != (latents.shape[0],):
            raise ValueError(f"item_index must be [b={latents.shape[0]}], got {tuple(item_index.shape)}")
        if self.mask_context is not None and item_index is None:
            raise ValueError(
                "this HMR has a mask_context, so forward needs item_index (catalog rows of the batch)"
            )

        i, j, h = candidate_pairs(codes.detach().to(latents.device), self.tau)  # [p] each, i < j
        n_candidates = int(i.numel())
        counts = dict.fromkeys(("same_item", *RULES), 0)
        if item_index is not None:
            keep, counts = valid_pairs(item_index, i, j, self.mask_context, self.mask_config)
            i, j, h = i[keep], j[keep], h[keep]

        s = severity(h, self.n_levels, dtype=latents.dtype)  # [p]
        distance = 1.0 - pair_cosine(latents, i, j)  # [p], gradient flows into latents only
        n_valid = int(i.numel())
        if self.scheme == "banded":
            full = h == 0
            margin = torch.where(full, self.margin, self.margin_partial).to(latents.dtype)
            hinge = F.relu(margin - distance)
            loss = latents.sum() * 0.0
            for band, weight in ((full, self.weight_full), (~full, self.weight_partial)):
                if bool(band.any()):
                    loss = loss + weight * hinge[band].mean()
        else:
            hinge = F.relu(self.margin * s.pow(self.gamma) - distance)
            loss = (s * hinge).sum() / max(1, n_valid)

        stats: dict[str, float] = {
            "n_candidates": n_candidates,
            "n_valid": n_valid,
            "n_active": int((hinge > 0).sum()) if n_valid else 0,
            "mean_severity": float(s.mean()) if n_valid else 0.0,
        }
        stats.update({k: v for k, v in counts.items() if k not in ("candidates", "valid")})
        return RepulsionOutput(loss=loss, stats=stats)
