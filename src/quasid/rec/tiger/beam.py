"""Beam search over the SID trie, hand-rolled on the T5's own modules (``TigerConfig.beam_search="trie"``).

Hugging Face ``generate()`` is general: it copies the encoder output once per
beam, so every decoder step recomputes cross-attention keys and values for
``beams`` identical copies of each history, reorders a per-layer cache through
``index_select`` and walks the whole prefix of every beam through the trie. A
SID has a fixed depth (``S`` tokens, then EOS), so here one step is: embed the
beams' last tokens, run the decoder layers for one position against a
self-attention cache and against cross-attention keys and values computed once
per user, then take the top ``beams`` of ``beam score + log p(token)`` over the
tokens each beam's trie node allows. After ``S`` steps the final step scores
EOS, the only continuation of a leaf.

Scores are what ``generate()`` uses with ``length_penalty=0``: the sum over
the SID's tokens and EOS of the log-softmax over the whole vocabulary (masked
to the trie after the softmax, not renormalised). Beams that run out of valid
continuations (catalog smaller than the beam at some depth) come back with
score ``-inf`` and leaf ``-1``. Ties are broken as ``torch.topk`` breaks them
over the ``[beam, token]`` flattening, the same layout ``generate()`` ranks.
"""

from __future__ import annotations

import torch
from transformers import T5ForConditionalGeneration

from quasid.rec.tiger.trie import DEAD, SIDTrie
from quasid.rec.tiger.vocab import BOS, EOS


def _heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """``[n, t, H * d]`` -> ``[n, H, t, d]``."""
    return x.view(x.shape[0], x.shape[1], n_heads, -1).transpose(1, 2)


def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """T5 attention (no 1/sqrt(d) scaling): ``softmax(q k^T + bias) v``."""
    scores = torch.matmul(q, k.transpose(-1, -2))
    if bias is not None:
        scores = scores + bias
    return torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v)


class TrieBeamSearch:
    """Constrained beam search of one T5 over one trie (the T5 in eval mode, under no-grad)."""

    def __init__(self, t5: T5ForConditionalGeneration, trie: SIDTrie) -> None:
        self.t5 = t5
        self.trie = trie
        self.n_heads = t5.config.num_heads
        self.scale = t5.config.d_model**-0.5 if getattr(t5.config, "scale_decoder_outputs", True) else 1.0

    def _cross_kv(self, enc: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per decoder layer, cross-attention keys and values ``[b, H, T, d]``, once per history."""
        out = []
        for block in self.t5.decoder.block:
            att = block.layer[1].EncDecAttention
            out.append((_heads(att.k(enc), self.n_heads), _heads(att.v(enc), self.n_heads)))
        return out

    def _step(
        self,
        tokens: torch.Tensor,
        cache: list[tuple[torch.Tensor, torch.Tensor]],
        cross: list[tuple[torch.Tensor, torch.Tensor]],
        enc_bias: torch.Tensor,
        beams: int,
    ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]]]:
        """One decoder position: ``tokens [b * k]`` -> log-probs ``[b * k, V]`` (fp32) and the new cache."""
        dec = self.t5.decoder
        t = cache[0][0].shape[2] if cache else 0  # position of this token
        h = dec.embed_tokens(tokens)[:, None, :]  # [n, 1, d]
        first = dec.block[0].layer[0].SelfAttention
        pos_bias = first.compute_bias(1, t + 1, device=h.device, past_seen_tokens=t)  # [1, H, 1, t+1]
        new_cache = []
        for i, block in enumerate(dec.block):
            sa = block.layer[0]
            x = sa.layer_norm(h)
            q, k, v = (_heads(lin(x), self.n_heads) for lin in (sa.SelfAttention.q, sa.SelfAttention.k,
                                                                sa.SelfAttention.v))  # fmt: skip
            if cache:
                k, v = torch.cat([cache[i][0], k], dim=2), torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            att = _attend(q, k, v, pos_bias.to(q.dtype))  # [n, H, 1, d]
            h = h + sa.SelfAttention.o(att.transpose(1, 2).reshape(h.shape[0], 1, -1))
            ca = block.layer[1]
            x = ca.layer_norm(h)  # [b * k, 1, d]
            q = ca.EncDecAttention.q(x).view(-1, beams, self.n_heads, cross[i][0].shape[-1]).transpose(1, 2)
            att = _attend(q, cross[i][0], cross[i][1], enc_bias.to(q.dtype))  # [b, H, k, d]: beams as queries
            h = h + ca.EncDecAttention.o(att.transpose(1, 2).reshape(h.shape[0], 1, -1))
            h = block.layer[2](h)
        h = dec.final_layer_norm(h)[:, 0] * self.scale
        return torch.log_softmax(self.t5.lm_head(h).float(), dim=-1), new_cache

    def search(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, beams: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``[b, T]`` histories -> ``[b, beams]`` trie leaves (-1: none) and scores, best first."""
        b = input_ids.shape[0]
        device = input_ids.device
        enc = self.t5.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        cross = self._cross_kv(enc)
        enc_bias = torch.zeros(attention_mask.shape, dtype=torch.float32, device=device)
        enc_bias = enc_bias.masked_fill(attention_mask == 0, torch.finfo(torch.float32).min)[:, None, None, :]
        k = 1  # live beams per history: one (BOS) before the first step
        tokens = torch.full((b,), BOS, dtype=torch.int64, device=device)
        nodes = torch.zeros(b, dtype=torch.int64, device=device)  # trie root
        scores = torch.zeros(b, 1, device=device)
        cache: list[tuple[torch.Tensor, torch.Tensor]] = []
        for _ in range(self.trie.depth):
            logp, cache = self._step(tokens, cache, cross, enc_bias, k)  # [b * k, V]
            logp = logp.masked_fill(~self.trie.mask(nodes), float("-inf"))
            vocab = logp.shape[1]
            cand = (scores.reshape(-1, 1) + logp).view(b, k * vocab)
            k_next = min(beams, k * vocab)
            scores, flat = torch.topk(cand, k_next, dim=1)  # [b, k'], best first
            parent = flat // vocab + (torch.arange(b, device=device) * k)[:, None]  # rows of [b * k]
            tokens = (flat % vocab).reshape(-1)
            parent = parent.reshape(-1)
            cache = [(kc[parent], vc[parent]) for kc, vc in cache]
            nodes = self.trie.step(nodes[parent], tokens)
            nodes = torch.where(torch.isfinite(scores.reshape(-1)), nodes, torch.full_like(nodes, DEAD))
            k = k_next
        logp, _ = self._step(tokens, cache, cross, enc_bias, k)  # EOS is a leaf's only continuation
        final = scores + logp[:, EOS].view(b, k)
        live = nodes.view(b, k) >= self.trie.leaf_base
        final = final.masked_fill(~live, float("-inf"))
        final, order = torch.sort(final, dim=1, descending=True, stable=True)
        leaves = torch.gather(nodes.view(b, k), 1, order) - self.trie.leaf_base
        leaves = torch.where(torch.isfinite(final), leaves, torch.full_like(leaves, -1))
        if k < beams:  # fewer token paths than beams in total
            pad = torch.full((b, beams - k), -1, dtype=leaves.dtype, device=device)
            leaves = torch.cat([leaves, pad], dim=1)
            final = torch.cat([final, torch.full((b, beams - k), float("-inf"), device=device)], dim=1)
        return leaves, final
