"""Prefix trie over the catalog's SIDs, so beam search can only spell SIDs that exist.

A free decoder happily emits token paths no item has; TIGER reports a few
percent of such invalid IDs. Constraining every decoding step to the trie's
children removes them entirely, and lets each returned path name its items.

The trie is stored as flat tensors (no Python node objects), so one decoding
step for thousands of beams is a few vectorised ops: the prefix of every beam
is walked level by level with ``searchsorted`` over sorted edge keys
(``parent * vocab_size + token``), and the allowed-token mask is scattered from
a CSR list of each node's allowed tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

from quasid.errors import DataError
from quasid.rec.tiger.vocab import EOS, PAD

DEAD = -1  # node id of a prefix that is in no SID (only reachable when beams outnumber valid paths)


class SIDTrie:
    """All valid SID token paths of a catalog.

    Args:
        tokens: ``[n_items, S]`` token ids of each item's full SID (``item_tokens``).
        vocab_size: size of the token vocabulary (for edge keys and masks).

    Nodes are numbered root = 0, then depth 1, ..., depth S (the leaves, one
    per distinct SID). A leaf's only allowed token is EOS; a dead prefix's only
    allowed token is PAD, so its score stays ``-inf`` and it never ends a beam.
    """

    def __init__(self, tokens: np.ndarray, vocab_size: int) -> None:
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.ndim != 2 or len(tokens) == 0:
            raise DataError(
                f"trie needs a non-empty [n_items, sid_length] token matrix, got shape {tokens.shape}"
            )
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise DataError(f"SID tokens outside the vocabulary of {vocab_size}")
        n_items, depth = tokens.shape
        self.vocab_size = vocab_size
        self.depth = depth

        parent = np.zeros(
            n_items, dtype=np.int64
        )  # [n_items] node of each item's prefix at the current depth
        base = 1
        keys, children = [], []
        for d in range(1, depth + 1):
            _, first, inverse = np.unique(tokens[:, :d], axis=0, return_index=True, return_inverse=True)
            inverse = inverse.reshape(-1)
            node = base + inverse  # [n_items]
            keys.append(parent[first] * vocab_size + tokens[first, d - 1])  # one edge per new node
            children.append(base + np.arange(len(first)))
            parent = node
            base += len(first)
        self.n_nodes = base
        self.leaf_base = base - len(children[-1])
        self.n_leaves = len(children[-1])

        key = np.concatenate(keys)
        child = np.concatenate(children)
        order = np.argsort(key)
        self.edge_keys = torch.from_numpy(key[order])  # [n_edges] sorted
        self.edge_child = torch.from_numpy(child[order])  # [n_edges]

        # allowed tokens per node (CSR): children's tokens for inner nodes, EOS for leaves
        edge_parent = key // vocab_size
        edge_token = key % vocab_size
        leaves = np.arange(self.leaf_base, self.n_nodes)
        node_of = np.concatenate([edge_parent, leaves])
        tok_of = np.concatenate([edge_token, np.full(len(leaves), EOS)])
        order = np.lexsort((tok_of, node_of))
        self.allowed_tokens = torch.from_numpy(tok_of[order])  # [n_edges + n_leaves]
        self.allowed_ptr = torch.from_numpy(
            np.r_[0, np.cumsum(np.bincount(node_of, minlength=self.n_nodes))].astype(np.int64)
        )  # [n_nodes + 1]

        # items per leaf (CSR, items in row order) and each item's leaf
        self.item_leaf = parent - self.leaf_base  # [n_items] in [0, n_leaves)
        order = np.argsort(self.item_leaf, kind="stable")
        self.leaf_items = order  # [n_items]
        self.leaf_ptr = np.r_[
            0, np.cumsum(np.bincount(self.item_leaf, minlength=self.n_leaves))
        ]  # [n_leaves+1]
        self.leaf_sizes = np.diff(self.leaf_ptr)  # [n_leaves] items per full SID

    # --- walking --------------------------------------------------------------------------
    def walk(self, prefixes: torch.Tensor) -> torch.Tensor:
        """``[R, d]`` token prefixes (no decoder-start token) -> ``[R]`` node ids, ``DEAD`` if off-trie."""
        node = torch.zeros(prefixes.shape[0], dtype=torch.int64, device=prefixes.device)
        for col in range(prefixes.shape[1]):
            node = self.step(node, prefixes[:, col])
        return node

    def step(self, nodes: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """``[R]`` node ids and the ``[R]`` tokens after them -> ``[R]`` child ids (``DEAD`` off-trie)."""
        keys, child = self.edge_keys.to(nodes.device), self.edge_child.to(nodes.device)
        key = nodes * self.vocab_size + tokens
        idx = torch.searchsorted(keys, key).clamp_(max=len(keys) - 1)
        hit = (keys[idx] == key) & (nodes != DEAD)
        return torch.where(hit, child[idx], torch.full_like(nodes, DEAD))

    def allowed(self, prefix: Sequence[int]) -> torch.Tensor:
        """Token ids that may follow ``prefix`` (a leaf: ``[EOS]``; not a valid prefix: ``[PAD]``)."""
        node = int(self.walk(torch.as_tensor([list(prefix)], dtype=torch.int64).reshape(1, -1))[0])
        if node == DEAD:
            return torch.tensor([PAD])
        return self.allowed_tokens[self.allowed_ptr[node] : self.allowed_ptr[node + 1]]

    def prefix_allowed_tokens_fn(self, batch_id: int, sent: torch.Tensor) -> list[int]:
        """``generate(prefix_allowed_tokens_fn=...)`` form (``sent`` starts with the decoder-start token)."""
        return self.allowed(sent[1:].tolist()).tolist()

    def mask(self, nodes: torch.Tensor) -> torch.Tensor:
        """``[R]`` node ids -> ``[R, vocab_size]`` bool, True where the token is allowed."""
        device = nodes.device
        ptr, toks = self.allowed_ptr.to(device), self.allowed_tokens.to(device)
        out = torch.zeros(len(nodes), self.vocab_size, dtype=torch.bool, device=device)
        dead = nodes == DEAD
        out[dead, PAD] = True
        live = torch.nonzero(~dead).squeeze(1)  # [R']
        start, count = ptr[nodes[live]], ptr[nodes[live] + 1] - ptr[nodes[live]]
        rows = torch.repeat_interleave(live, count)  # [E]
        first = torch.repeat_interleave(torch.cumsum(count, 0) - count, count)
        pos = torch.repeat_interleave(start, count) + torch.arange(len(rows), device=device) - first
        out[rows, toks[pos]] = True
        return out

    # --- leaves -> items ------------------------------------------------------------------
    def leaves(self, sids: torch.Tensor) -> np.ndarray:
        """``[R, S]`` full SID tokens -> ``[R]`` leaf index in ``[0, n_leaves)``, -1 if not a catalog SID."""
        node = self.walk(sids).cpu().numpy()
        return np.where(node >= self.leaf_base, node - self.leaf_base, -1)

    def items_at(self, leaf: int) -> np.ndarray:
        """Item rows whose full SID is this leaf (one item when the table has a dedup level)."""
        return self.leaf_items[self.leaf_ptr[leaf] : self.leaf_ptr[leaf + 1]]


class TrieConstraint(LogitsProcessor):
    """Beam-search logits processor: every token outside the trie's continuations gets ``-inf``.

    Equivalent to ``prefix_allowed_tokens_fn`` but vectorised over all beams
    (HF's per-beam Python loop is the bottleneck when decoding 20 beams for
    tens of thousands of users).
    """

    def __init__(self, trie: SIDTrie) -> None:
        self.trie = trie

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        # input_ids: [R, cur_len] starting with the decoder-start token; scores: [R, V]
        allowed = self.trie.mask(self.trie.walk(input_ids[:, 1:]))
        return scores.masked_fill(~allowed[:, : scores.shape[1]], float("-inf"))
