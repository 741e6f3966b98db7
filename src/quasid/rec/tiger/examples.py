"""Turning item histories into T5 inputs, and train sequences into prefix examples.

The encoder reads the most recent ``max_items`` items of a history, each
spelled as its SID tokens, optionally after a hashed user token. Training uses
TIGER's prefix augmentation: every position ``t >= 1`` of a user's training
sequence is one example (items before ``t`` -> item ``t``). Most prefixes are
short, so a batch is cut into length-sorted micro-batches rather than padded
to its longest history.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from quasid.errors import ConfigError, DataError
from quasid.rec.tiger.vocab import EOS, PAD


@dataclass
class PrefixExamples:
    """All (history, next item) pairs of a set of sequences, as offsets into one flat array.

    Example ``i`` has history ``flat[max(starts[i], ends[i] - max_items) : ends[i]]``
    and target ``flat[ends[i]]``.
    """

    flat: np.ndarray  # [n_events] item rows of all sequences, concatenated
    starts: np.ndarray  # [n_examples] offset of the example's sequence start
    ends: np.ndarray  # [n_examples] offset of the target (history ends before it)
    user_tokens: np.ndarray | None  # [n_examples] hashed user token, or None

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> ExampleRef:
        """One example, as a reference the model's ``collate`` turns back into arrays."""
        return ExampleRef(self, int(i))


class ExampleRef(NamedTuple):
    """Example ``index`` of ``source`` (what the generic trainer shuffles and hands to ``collate``)."""

    source: PrefixExamples
    index: int


class HistoryEncoder:
    """Encodes histories as right-padded SID token sequences.

    Args:
        item_tokens: ``[n_items, S]`` SID token ids per item row.
        max_items: keep only the most recent this many items of a history.
    """

    def __init__(self, item_tokens: np.ndarray, max_items: int) -> None:
        if max_items < 1:
            raise ConfigError(f"max_items={max_items}: the encoder needs at least one history item")
        self.item_tokens = np.asarray(item_tokens, dtype=np.int64)
        self.max_items = max_items

    @property
    def sid_length(self) -> int:
        return self.item_tokens.shape[1]

    def _check_items(self, items: np.ndarray) -> None:
        if items.size and (items.min() < 0 or items.max() >= len(self.item_tokens)):
            raise DataError(
                f"item rows outside [0, {len(self.item_tokens)}): the SID table does not cover them"
            )

    def encode_flat(
        self, flat: np.ndarray, starts: np.ndarray, ends: np.ndarray, user_tokens: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Histories ``flat[max(start, end - max_items):end]`` -> ``input_ids, attention_mask`` ``[B, T]``.

        Layout per row: [user token], the items' SID tokens oldest first, EOS,
        then PAD. T5 has only relative positions, so the EOS right after the
        newest item is the fixed anchor from which the model finds it.
        """
        lengths = np.minimum(ends - starts, self.max_items)  # [B] items kept
        if (lengths < 1).any():
            raise DataError("a history is empty: TIGER needs at least one past item per example")
        width = int(lengths.max())
        first = ends - lengths
        slot = np.arange(width)  # [W]
        valid = slot[None, :] < lengths[:, None]  # [B, W]
        rows = flat[np.where(valid, first[:, None] + slot[None, :], 0)]  # [B, W] item rows, left-aligned
        toks = np.full((len(ends), width * self.sid_length + 1), PAD, dtype=np.int64)  # [B, W*S+1]
        toks[:, :-1] = np.where(valid[:, :, None], self.item_tokens[rows], PAD).reshape(len(ends), -1)
        toks[np.arange(len(ends)), lengths * self.sid_length] = EOS
        mask = np.zeros(toks.shape, dtype=bool)  # [B, W*S+1]
        mask[:, :-1] = np.repeat(valid, self.sid_length, axis=1)
        mask[np.arange(len(ends)), lengths * self.sid_length] = True
        if user_tokens is not None:
            toks = np.column_stack([user_tokens, toks])
            mask = np.column_stack([np.ones(len(ends), dtype=bool), mask])
        return torch.from_numpy(toks), torch.from_numpy(mask.astype(np.int64))

    def encode(
        self, histories: Sequence[np.ndarray], user_tokens: np.ndarray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Item-row histories -> ``input_ids, attention_mask`` ``[B, T]`` (most recent items kept)."""
        lengths = np.fromiter((len(h) for h in histories), dtype=np.int64, count=len(histories))
        flat = (
            np.concatenate([np.asarray(h, dtype=np.int64) for h in histories])
            if len(histories)
            else np.zeros(0)
        )
        self._check_items(flat)
        ends = np.cumsum(lengths)
        return self.encode_flat(flat.astype(np.int64), ends - lengths, ends, user_tokens)

    def labels(self, targets: np.ndarray) -> torch.Tensor:
        """``[B]`` target item rows -> ``[B, S+1]`` SID tokens followed by EOS (teacher-forcing labels)."""
        targets = np.asarray(targets, dtype=np.int64)
        self._check_items(targets)
        toks = self.item_tokens[targets]
        return torch.from_numpy(np.column_stack([toks, np.full(len(toks), EOS)]))

    def prefix_examples(
        self, sequences: Sequence[np.ndarray], user_tokens: np.ndarray | None = None
    ) -> PrefixExamples:
        """Every ``(sequence[:t], sequence[t])`` with ``t >= 1``; ``user_tokens`` is ``[n_sequences]``."""
        lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
        flat = (
            np.concatenate([np.asarray(s, dtype=np.int64) for s in sequences])
            if len(sequences)
            else np.zeros(0, dtype=np.int64)
        )
        self._check_items(flat)
        seq_start = np.cumsum(lengths) - lengths
        n_ex = np.maximum(lengths - 1, 0)  # examples per sequence
        owner = np.repeat(np.arange(len(sequences)), n_ex)  # [n_examples]
        within = np.arange(int(n_ex.sum())) - np.repeat(np.cumsum(n_ex) - n_ex, n_ex)  # 0..n_ex-1
        starts = seq_start[owner]
        ends = starts + within + 1
        users = None if user_tokens is None else np.asarray(user_tokens, dtype=np.int64)[owner]
        return PrefixExamples(flat, starts, ends, users)

    def collate(
        self, examples: PrefixExamples, idx: np.ndarray, micro_batch: int | None = None
    ) -> list[dict[str, torch.Tensor]]:
        """Examples ``idx`` -> micro-batches ``{input_ids [b, T], attention_mask [b, T], labels [b, S+1]}``.

        The examples are sorted by history length and cut into micro-batches of
        ``micro_batch`` (default: one), each padded only to its own longest
        history. A shuffled batch almost always holds one 20-item history, so
        one padded tensor would cost ~3x the encoder work of the real tokens.
        """
        idx = np.asarray(idx, dtype=np.int64)
        if len(idx) == 0:
            raise DataError("cannot collate an empty batch")
        step = micro_batch or len(idx)
        if step < 1:
            raise ConfigError(f"micro_batch={micro_batch}: must be at least 1")
        lengths = np.minimum(examples.ends[idx] - examples.starts[idx], self.max_items)
        idx = idx[np.argsort(lengths, kind="stable")]
        out = []
        for i in range(0, len(idx), step):
            part = idx[i : i + step]
            users = None if examples.user_tokens is None else examples.user_tokens[part]
            input_ids, attention_mask = self.encode_flat(
                examples.flat, examples.starts[part], examples.ends[part], users
            )
            labels = self.labels(examples.flat[examples.ends[part]])
            out.append({"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels})
        return out
