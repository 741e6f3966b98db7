"""The SID table: every item's Semantic ID, with an optional disambiguation token.

Stored as Parquet (one row per item: ``item_id``, ``sid_0..sid_{L-1}``, optional
``sid_dedup``) and exportable to LC-Rec's ``index.json`` token format
(``{"0": ["<a_12>", "<b_7>", "<c_200>"]}``) for interop with peer code.
"""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quasid.errors import DataError
from quasid.io import atomic_open, atomic_path

_TOKEN = re.compile(r"^<([a-z]+)_(\d+)>$")


def disambiguation_tokens(codes: np.ndarray) -> np.ndarray:
    """TIGER-style extra token: the rank of each item among items with the same SID (0, 1, ...).

    Items are ranked in row order, so the token is stable when new items are appended.
    """
    if len(codes) == 0:
        return np.zeros(0, dtype=np.int64)
    _, inverse = np.unique(codes, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    sorted_groups = inverse[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_groups)) + 1]
    run_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    dedup = np.empty(len(codes), dtype=np.int64)
    dedup[order] = np.arange(len(order)) - run_start
    return dedup


@dataclass
class SIDTable:
    """Item ids and their codes; ``dedup`` is the disambiguation token column (or None)."""

    item_ids: np.ndarray  # [N] str
    codes: np.ndarray  # [N, L] int64, the semantic levels
    codebook_size: int
    dedup: np.ndarray | None = None  # [N] int64

    def __post_init__(self) -> None:
        self.item_ids = np.asarray([str(i) for i in self.item_ids], dtype=object)
        self.codes = np.asarray(self.codes, dtype=np.int64)
        if self.codes.ndim != 2 or len(self.codes) != len(self.item_ids):
            raise DataError(
                f"SID table: codes shape {self.codes.shape} does not match {len(self.item_ids)} item ids"
            )
        if self.dedup is not None:
            self.dedup = np.asarray(self.dedup, dtype=np.int64)

    @classmethod
    def from_codes(
        cls, item_ids: np.ndarray, codes: np.ndarray, codebook_size: int, disambiguate: bool = True
    ) -> SIDTable:
        return cls(item_ids, codes, codebook_size, disambiguation_tokens(codes) if disambiguate else None)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_levels(self) -> int:
        return self.codes.shape[1]

    def full_codes(self) -> np.ndarray:
        """``[N, L]`` or ``[N, L+1]`` with the disambiguation token as last column."""
        return self.codes if self.dedup is None else np.column_stack([self.codes, self.dedup])

    def sid_strings(self) -> list[str]:
        """Readable SIDs like ``"12-7-200"`` (``"12-7-200-1"`` with a dedup token)."""
        return ["-".join(map(str, row)) for row in self.full_codes().tolist()]

    # --- Parquet -------------------------------------------------------------------------
    def to_parquet(self, path: str | Path) -> Path:
        cols: dict[str, pa.Array] = {"item_id": pa.array(self.item_ids.astype(str).tolist(), pa.string())}
        for level in range(self.n_levels):
            cols[f"sid_{level}"] = pa.array(self.codes[:, level], pa.int32())
        if self.dedup is not None:
            cols["sid_dedup"] = pa.array(self.dedup, pa.int32())
        cols["sid"] = pa.array(self.sid_strings(), pa.string())
        meta = {
            b"quasid.codebook_size": str(self.codebook_size).encode(),
            b"quasid.n_levels": str(self.n_levels).encode(),
        }
        table = pa.table(cols).replace_schema_metadata(meta)
        path = Path(path)
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return path

    @classmethod
    def from_parquet(cls, path: str | Path) -> SIDTable:
        path = Path(path)
        if not path.exists():
            raise DataError(f"no SID table at {path}")
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path} is not a readable Parquet SID table ({exc})") from exc
        names = table.column_names
        levels = sorted(int(n[4:]) for n in names if re.fullmatch(r"sid_\d+", n))
        if "item_id" not in names or not levels or levels != list(range(len(levels))):
            raise DataError(f"{path}: a SID table needs columns item_id, sid_0..sid_L-1 (found {names})")
        meta = table.schema.metadata or {}
        codes = np.column_stack([table.column(f"sid_{lv}").to_numpy() for lv in levels]).astype(np.int64)
        k = int(meta.get(b"quasid.codebook_size", str(int(codes.max()) + 1).encode()))
        dedup = table.column("sid_dedup").to_numpy().astype(np.int64) if "sid_dedup" in names else None
        return cls(np.asarray(table.column("item_id").to_pylist(), dtype=object), codes, k, dedup)

    # --- LC-Rec index.json --------------------------------------------------------------
    def to_lcrec_index(self, path: str | Path) -> Path:
        """Write ``{"row": ["<a_c0>", "<b_c1>", ...]}`` keyed by row index, as LC-Rec expects."""
        letters = string.ascii_lowercase
        full = self.full_codes()
        out = {
            str(i): [f"<{letters[lv]}_{c}>" for lv, c in enumerate(row)]
            for i, row in enumerate(full.tolist())
        }
        path = Path(path)
        with atomic_open(path) as fh:
            json.dump(out, fh)
        return path

    @classmethod
    def from_lcrec_index(
        cls,
        path: str | Path,
        item_ids: np.ndarray | None = None,
        codebook_size: int | None = None,
        semantic_levels: int | None = None,
    ) -> SIDTable:
        """Read LC-Rec tokens. Key = row index; ``item_ids[row]`` names the item (default: the key).

        ``semantic_levels``: how many leading levels are semantic; a trailing extra
        level becomes the dedup column (LC-Rec's 4th level is a tie-breaker).
        """
        path = Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"no LC-Rec index file at {path}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"{path} is not valid UTF-8 JSON ({exc})") from exc
        keys = sorted(raw, key=int)
        rows = []
        for key in keys:
            parsed = [_TOKEN.match(t) for t in raw[key]]
            if not all(parsed):
                raise DataError(f"{path}: item {key} has tokens {raw[key]} not of the form <a_12>")
            rows.append([int(m.group(2)) for m in parsed])  # type: ignore[union-attr]
        if len({len(r) for r in rows}) != 1:
            raise DataError(f"{path}: items have different numbers of tokens")
        codes = np.asarray(rows, dtype=np.int64)
        ids = (
            np.asarray(keys, dtype=object)
            if item_ids is None
            else np.asarray(item_ids, dtype=object)[np.asarray(keys, dtype=int)]
        )
        levels = semantic_levels or codes.shape[1]
        dedup = codes[:, levels] if codes.shape[1] > levels else None
        k = codebook_size or int(codes.max()) + 1
        return cls(ids, codes[:, :levels], k, dedup)
