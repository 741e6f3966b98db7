"""The token vocabulary TIGER reads and writes: one token per (level, code) pair.

A code means different things at different levels (code 3 at level 0 is a
coarse cluster, at level 2 a fine one), so each level gets its own block of
token ids: ``token = offset[level] + code``. The disambiguation column of a
``SIDTable`` (if any) is one more level, sized ``max(dedup) + 1``. Three
special tokens come first (pad, eos, and bos, which the decoder starts from),
and an optional block of hashed user-id tokens comes last.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from quasid.errors import ConfigError, DataError
from quasid.sid.table import SIDTable

PAD = 0
EOS = 1
BOS = 2
N_SPECIAL = 3


@dataclass(frozen=True)
class SIDVocab:
    """Token ids for SIDs of a fixed shape.

    Attributes:
        level_sizes: codes per position of the full SID (``K`` per semantic
            level, then ``max(dedup) + 1`` for the disambiguation level, if any).
        user_buckets: number of hashed user-id tokens (0: no user token).
    """

    level_sizes: tuple[int, ...]
    user_buckets: int = 0

    def __post_init__(self) -> None:
        if not self.level_sizes or min(self.level_sizes) < 1:
            raise ConfigError(f"level_sizes={self.level_sizes}: every SID level needs at least one code")
        if self.user_buckets < 0:
            raise ConfigError(f"user_buckets={self.user_buckets}: use 0 (no user token) or a positive count")

    @classmethod
    def from_table(cls, table: SIDTable, user_buckets: int = 0) -> SIDVocab:
        """The vocabulary for ``table``'s full SIDs (its dedup column becomes one more level)."""
        sizes = [int(table.codebook_size)] * table.n_levels
        if table.n_items and int(table.codes.max()) >= table.codebook_size:
            raise DataError(
                f"SID table has code {int(table.codes.max())} but codebook_size={table.codebook_size}: "
                "fix the table's codebook_size"
            )
        if table.dedup is not None:
            sizes.append(int(table.dedup.max()) + 1 if len(table.dedup) else 1)
        return cls(tuple(sizes), user_buckets)

    @property
    def sid_length(self) -> int:
        """Tokens per full SID (L, or L+1 with a disambiguation level)."""
        return len(self.level_sizes)

    @property
    def offsets(self) -> np.ndarray:
        """``[sid_length]`` first token id of each level's block."""
        return N_SPECIAL + np.r_[0, np.cumsum(self.level_sizes)[:-1]].astype(np.int64)

    @property
    def user_offset(self) -> int:
        return N_SPECIAL + int(sum(self.level_sizes))

    @property
    def size(self) -> int:
        """Total vocabulary size (the T5 ``vocab_size``)."""
        return self.user_offset + self.user_buckets

    def encode(self, codes: np.ndarray) -> np.ndarray:
        """``[..., sid_length]`` codes -> the same shape of token ids; out-of-range codes raise."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape[-1:] != (self.sid_length,):
            raise DataError(
                f"codes of shape {codes.shape}: the last axis must be the {self.sid_length} SID levels"
            )
        sizes = np.asarray(self.level_sizes)
        if codes.size and ((codes < 0).any() or (codes >= sizes).any()):
            raise DataError(f"codes outside the vocabulary's level sizes {self.level_sizes}")
        return codes + self.offsets

    def decode(self, tokens: np.ndarray) -> np.ndarray:
        """``[..., sid_length]`` token ids -> codes; a token outside its level's block raises."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.shape[-1:] != (self.sid_length,):
            raise DataError(
                f"tokens of shape {tokens.shape}: the last axis must be the {self.sid_length} SID levels"
            )
        codes = tokens - self.offsets
        if codes.size and ((codes < 0).any() or (codes >= np.asarray(self.level_sizes)).any()):
            raise DataError(
                "tokens are not SID tokens at their level (special, user or another level's token)"
            )
        return codes

    def user_tokens(self, user_ids: Sequence[object]) -> np.ndarray:
        """``[n]`` hashed user tokens (CRC32 of the id's string, stable across runs and machines)."""
        if self.user_buckets == 0:
            raise ConfigError("this vocabulary has no user tokens (user_buckets=0)")
        hashed = [zlib.crc32(str(u).encode()) % self.user_buckets for u in user_ids]
        return self.user_offset + np.asarray(hashed, dtype=np.int64)


def item_tokens(table: SIDTable, vocab: SIDVocab, item_ids: Sequence[object] | None = None) -> np.ndarray:
    """``[n_items, sid_length]`` token ids per item, rows in ``item_ids`` order (default: the table's).

    Interactions index items by catalog row, which need not be the table's row
    order; passing the catalog's ``item_ids`` aligns the two.
    """
    full = table.full_codes()
    if item_ids is not None:
        row_of = {str(i): r for r, i in enumerate(table.item_ids)}
        missing = [str(i) for i in item_ids if str(i) not in row_of]
        if missing:
            raise DataError(
                f"{len(missing)} item(s) have no SID in the table, e.g. {missing[:5]}: "
                "assign SIDs to every catalog item first"
            )
        full = full[np.asarray([row_of[str(i)] for i in item_ids], dtype=np.int64)]
    return vocab.encode(full)
