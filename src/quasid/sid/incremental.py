"""Incremental assignment: new items get SIDs, existing items keep theirs exactly.

Serving indices, caches and trained recommenders key on SIDs, so adding items
must not move any existing one. ``assign_incremental`` keeps every row of the
existing table (codes and disambiguation token untouched, in its order) and
appends the items of the new data that it does not hold, coded by the
tokenizer. A new item whose semantic SID is already taken gets the next free
disambiguation token of that SID group (one past the group's largest existing
token, then counting up among new items in row order), so no new full SID can
equal an existing one, not even one freed by a removed item. For a table built
by ``SIDTable.from_codes`` and a tokenizer that moves nothing, the result equals
disambiguating the whole catalog at once.

Items present in both keep the existing SID; the tokenizer's codes for them
measure *drift* (how many existing items a retrained tokenizer would move, and
at which level their SID first changes), reported in ``DriftReport``. Drift
means the new items' codes come from a codebook the existing codes were not
made with: worth knowing before mixing them.

Everything is vectorised (pyarrow hash lookup of ids, integer keys for SIDs):
a few seconds for millions of items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quasid.data.stream import unique_ids
from quasid.errors import DataError
from quasid.io import write_json
from quasid.metrics.grouping import combine_keys
from quasid.sid.table import SIDTable, disambiguation_tokens

if TYPE_CHECKING:
    from quasid.data.catalog import Catalog
    from quasid.data.dataset import Dataset
    from quasid.data.stream import EmbeddingStream
    from quasid.tokenizers.base import SIDTokenizer

#: How many moved items the report names.
MOVED_EXAMPLES = 10


@dataclass
class DriftReport:
    """What an incremental assignment kept, added and would have moved."""

    n_levels: int
    codebook_size: int
    n_existing: int  # rows of the existing table (all kept)
    n_data: int  # items in the new data
    n_overlap: int  # items in both: they keep their existing SID
    n_new: int  # items only in the new data: appended with fresh SIDs
    n_absent: int  # existing items not in the new data (kept, their SIDs stay reserved)
    moved: int  # overlap items whose tokenizer codes differ from their existing codes
    moved_fraction: float  # moved / n_overlap (0 when there is no overlap)
    moved_by_first_level: list[int]  # moved items by the first level whose code differs
    changed_per_level: list[int]  # overlap items whose code differs at each level
    new_sharing_existing_sid: int  # new items whose semantic SID an existing item already has
    new_colliding: int  # new items sharing their semantic SID with any other item
    disambiguated: bool  # whether the table carries a disambiguation token
    moved_examples: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON, atomically."""
        write_json(path, self.to_dict())
        return Path(path)


def assign_incremental(
    existing: SIDTable,
    tokenizer: SIDTokenizer,
    data: Dataset | Catalog | EmbeddingStream,
) -> tuple[SIDTable, DriftReport]:
    """SIDs for ``data``'s items that keep every existing item's SID; and the drift report.

    Raises ``DataError`` when the existing table does not fit the tokenizer (levels,
    codebook size, codes out of range) or has duplicate item ids.
    """
    from quasid.data.stream import EmbeddingStream
    from quasid.tokenizers.base import as_dataset

    cfg = tokenizer.config
    if existing.n_levels != cfg.n_levels or existing.codebook_size != cfg.codebook_size:
        raise DataError(
            f"the existing SID table has {existing.n_levels} levels x {existing.codebook_size} codes but the "
            f"tokenizer makes {cfg.n_levels} x {cfg.codebook_size}: use the run that made the table "
            "(or a retrained run with the same levels and codebook size)"
        )
    ids = data.item_ids() if isinstance(data, EmbeddingStream) else as_dataset(data).catalog.item_ids
    codes = tokenizer.encode(data)
    return merge_new_items(existing, ids, codes)


def merge_new_items(
    existing: SIDTable, item_ids: np.ndarray | list[object], codes: np.ndarray
) -> tuple[SIDTable, DriftReport]:
    """The existing table plus the items of ``item_ids`` it lacks, coded ``codes`` (one row per id).

    ``codes`` are the tokenizer's codes for *all* of ``item_ids``: those of items
    the table already holds are compared with their existing codes (drift) and
    otherwise ignored.
    """
    n_levels, k = existing.n_levels, existing.codebook_size
    codes = np.asarray(codes, dtype=np.int64)
    data_ids = unique_ids(item_ids, "the new data")
    old_ids = unique_ids(existing.item_ids, "the existing SID table")
    if codes.shape != (len(data_ids), n_levels):
        raise DataError(
            f"new codes have shape {codes.shape} but there are {len(data_ids)} items and the table has "
            f"{n_levels} levels"
        )
    _check_codes(existing.codes, k, "the existing SID table")
    _check_codes(codes, k, "the new codes")

    rows = pc.fill_null(pc.index_in(data_ids, value_set=old_ids), -1).to_numpy().astype(np.int64)
    in_old = rows >= 0
    overlap = np.flatnonzero(in_old)
    new = np.flatnonzero(~in_old)

    diff = codes[overlap] != existing.codes[rows[overlap]]  # [n_overlap, L]
    moved_mask = diff.any(axis=1)
    first_level = np.argmax(diff[moved_mask], axis=1)
    moved_rows = overlap[moved_mask][:MOVED_EXAMPLES]
    examples = [
        {
            "item_id": str(data_ids[int(i)]),
            "existing": "-".join(map(str, existing.codes[rows[i]].tolist())),
            "tokenizer": "-".join(map(str, codes[i].tolist())),
        }
        for i in moved_rows
    ]

    new_codes = codes[new]
    keys = combine_keys(
        [np.concatenate([existing.codes[:, lv], new_codes[:, lv]]) for lv in range(n_levels)], [k] * n_levels
    )
    old_key, new_key = keys[: existing.n_items], keys[existing.n_items :]
    sharing = np.isin(new_key, old_key)
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    new_colliding = int(np.count_nonzero(counts[inverse.reshape(-1)[existing.n_items :]] >= 2))

    dedup = None
    if existing.dedup is not None:
        dedup = np.concatenate([existing.dedup, _next_free_tokens(old_key, existing.dedup, new_key)])
    table = SIDTable(
        np.concatenate(
            [np.asarray(old_ids.to_numpy(zero_copy_only=False), dtype=object), _pick(data_ids, new)]
        ),
        np.concatenate([existing.codes, new_codes]),
        k,
        dedup,
    )
    report = DriftReport(
        n_levels=n_levels,
        codebook_size=k,
        n_existing=existing.n_items,
        n_data=len(data_ids),
        n_overlap=len(overlap),
        n_new=len(new),
        n_absent=existing.n_items - len(overlap),
        moved=int(moved_mask.sum()),
        moved_fraction=float(moved_mask.mean()) if len(overlap) else 0.0,
        moved_by_first_level=np.bincount(first_level, minlength=n_levels).tolist(),
        changed_per_level=diff.sum(axis=0).tolist(),
        new_sharing_existing_sid=int(sharing.sum()),
        new_colliding=new_colliding,
        disambiguated=dedup is not None,
        moved_examples=examples,
    )
    return table, report


def _next_free_tokens(old_key: np.ndarray, old_dedup: np.ndarray, new_key: np.ndarray) -> np.ndarray:
    """Disambiguation tokens of new items: one past their group's largest existing token, then +1 each."""
    order = np.argsort(old_key, kind="stable")
    sorted_keys = old_key[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_keys)) + 1] if len(order) else np.zeros(0, np.int64)
    group_keys = sorted_keys[starts]
    group_next = np.maximum.reduceat(old_dedup[order], starts) + 1 if len(order) else np.zeros(0, np.int64)
    at = np.searchsorted(group_keys, new_key)
    found = at < len(group_keys)
    found[found] = group_keys[at[found]] == new_key[found]
    base = np.zeros(len(new_key), dtype=np.int64)
    base[found] = group_next[at[found]]
    return base + disambiguation_tokens(new_key[:, None])


def _pick(ids: pa.Array, rows: np.ndarray) -> np.ndarray:
    return np.asarray(ids.take(pa.array(rows, pa.int64())).to_numpy(zero_copy_only=False), dtype=object)


def _check_codes(codes: np.ndarray, k: int, what: str) -> None:
    if codes.size and (codes.min() < 0 or codes.max() >= k):
        bad = int(np.flatnonzero(((codes < 0) | (codes >= k)).any(axis=1))[0])
        raise DataError(
            f"{what}: row {bad} has codes {codes[bad].tolist()} outside 0..{k - 1} (codebook size {k})"
        )
