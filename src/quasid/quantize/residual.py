"""Residual quantizer: L codebooks, each quantizing what the previous levels left.

r^0 = z;  c^l = argmin_k ||r^{l-1} - C_l[k]||;  r^l = r^{l-1} - C_l[c^l];  zq = sum_l C_l[c^l].
Trained VQ-VAE style (codebook + commitment losses, straight-through gradient),
initialised by k-means on real latents, with dead codes re-seeded from data.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from quasid.quantize.kmeans import kmeans, nearest


@dataclass
class QuantizerOutput:
    quantized: Tensor  # [B, d] straight-through quantized latents (gradient reaches the encoder)
    codes: Tensor  # [B, L] long
    codebook_loss: Tensor  # scalar: pulls codewords to the (detached) residuals
    commitment_loss: Tensor  # scalar: pulls residuals to the (detached) codewords


class ResidualQuantizer(nn.Module):
    """L levels x K codewords of dimension d."""

    def __init__(self, dim: int, n_levels: int = 3, codebook_size: int = 256) -> None:
        super().__init__()
        self.dim, self.n_levels, self.codebook_size = dim, n_levels, codebook_size
        self.codebooks = nn.Parameter(torch.randn(n_levels, codebook_size, dim) * 0.01)  # [L, K, d]
        self.register_buffer("initialised", torch.tensor(False))

    @torch.no_grad()
    def init_kmeans(self, z: Tensor, seed: int = 0, n_iter: int = 20) -> None:
        """Set each level's codebook to k-means centroids of that level's residuals."""
        r = z.detach().float().cpu().numpy()
        for level in range(self.n_levels):
            cent = kmeans(r, self.codebook_size, n_iter=n_iter, seed=seed + level)
            self.codebooks.data[level] = torch.from_numpy(cent).to(self.codebooks.device)
            r = r - cent[nearest(r, cent)]
        self.initialised.fill_(True)

    def _nearest(self, r: Tensor, level: int) -> Tensor:
        cb = self.codebooks[level]  # [K, d]
        # ||r - c||^2 = ||r||^2 - 2 r.c + ||c||^2; the ||r||^2 term does not change the argmin
        dist = torch.addmm((cb * cb).sum(-1)[None, :], r, cb.t(), alpha=-2.0)  # [B, K]
        # min(dim).indices, not argmin: the same first-minimum index, about 2x faster on CPU (torch 2.13)
        return dist.min(dim=-1).indices

    def forward(self, z: Tensor) -> QuantizerOutput:  # z: [B, d]
        residual = z
        quantized = torch.zeros_like(z)
        codes = []
        codebook_loss = z.new_zeros(())
        commitment_loss = z.new_zeros(())
        for level in range(self.n_levels):
            with torch.no_grad():
                idx = self._nearest(residual.detach(), level)  # [B]
            cw = self.codebooks[level][idx]  # [B, d]
            codebook_loss = codebook_loss + (cw - residual.detach()).pow(2).sum(-1).mean()
            commitment_loss = commitment_loss + (residual - cw.detach()).pow(2).sum(-1).mean()
            quantized = quantized + cw
            residual = residual - cw.detach()
            codes.append(idx)
        quantized_st = z + (quantized - z).detach()
        return QuantizerOutput(quantized_st, torch.stack(codes, dim=1), codebook_loss, commitment_loss)

    @torch.no_grad()
    def encode(self, z: Tensor) -> Tensor:
        """Codes only, no losses: ``[B, d] -> [B, L]``."""
        residual = z
        codes = []
        for level in range(self.n_levels):
            idx = self._nearest(residual, level)
            residual = residual - self.codebooks[level][idx]
            codes.append(idx)
        return torch.stack(codes, dim=1)

    @torch.no_grad()
    def encode_with_margin(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """Codes ``[B, L]`` and each row's smallest nearest-codeword margin ``[B]`` over the levels.

        The margin is ``||r - c_2nd|| - ||r - c_1st||`` (Euclidean, not squared): a latent moved by
        less than half of it keeps every code, since both distances move by at most that much and
        so does every later residual. What a bf16 encoder's rows are checked against.
        """
        residual = z
        codes = []
        margin = torch.full((len(z),), float("inf"), dtype=z.dtype, device=z.device)
        for level in range(self.n_levels):
            cb = self.codebooks[level]
            part = torch.addmm((cb * cb).sum(-1)[None, :], residual, cb.t(), alpha=-2.0)  # [B, K]
            two = part.topk(min(2, self.codebook_size), dim=-1, largest=False)
            idx = two.indices[:, 0]
            if self.codebook_size > 1:
                sq = (two.values + (residual * residual).sum(-1, keepdim=True)).clamp(min=0).sqrt()
                margin = torch.minimum(margin, sq[:, 1] - sq[:, 0])
            residual = residual - cb[idx]
            codes.append(idx)
        return torch.stack(codes, dim=1), margin

    @torch.no_grad()
    def decode_codes(self, codes: Tensor) -> Tensor:
        """Sum of the chosen codewords: ``[B, L] -> [B, d]``."""
        return sum(self.codebooks[level][codes[:, level]] for level in range(self.n_levels))

    @torch.no_grad()
    def reseed_dead_codes(self, z: Tensor, usage: Tensor, generator: torch.Generator) -> int:
        """Move codewords unused since the last call onto random residuals of real latents.

        ``usage``: ``[L, K]`` counts. Returns how many codewords moved. Re-seeding
        level l uses residuals after levels < l so new codewords land where data is.
        """
        moved = 0
        residual = z
        for level in range(self.n_levels):
            dead = torch.nonzero(usage[level] == 0).flatten()
            if len(dead):
                pick = torch.randint(0, residual.shape[0], (len(dead),), generator=generator)
                self.codebooks.data[level, dead] = residual[pick].to(self.codebooks.dtype)
                moved += len(dead)
            idx = self._nearest(residual, level)
            residual = residual - self.codebooks[level][idx]
        return moved
