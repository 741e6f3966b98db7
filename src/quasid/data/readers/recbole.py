"""RecBole atomic files: ``{name}.inter`` (+ optional ``{name}.item``).

RecBole's dataset zoo ships dozens of public sets in this tab-separated
format with typed headers (``user_id:token  item_id:token  timestamp:float``),
so reading it directly gives access to them without conversion scripts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.readers._common import (
    build_interactions,
    check_unique,
    factorize,
    item_rows,
    read_text,
    require_file,
    sorted_ids,
    warn_items_without_text,
    warn_repeated_events,
)
from quasid.errors import DataError

TEXT_COLUMNS = ("title", "categories", "brand", "description")
TEXT_TYPES = ("token", "token_seq")


@dataclass
class _Table:
    """One parsed atomic file: column names, their RecBole types, and rows of raw strings."""

    path: Path
    names: list[str]
    types: list[str]
    rows: list[list[str]]
    linenos: list[int]

    def column(self, name: str) -> list[str]:
        if name not in self.names:
            found = [f"{n}:{t}" for n, t in zip(self.names, self.types, strict=True)]
            raise DataError(
                f"{self.path}: required column '{name}' is missing; columns found: {found}: "
                "rename the header field (the part before ':') or pass the column name"
            )
        j = self.names.index(name)
        return [r[j] for r in self.rows]


def read_recbole(
    path: str | os.PathLike[str],
    name: str | None = None,
    *,
    user_col: str = "user_id",
    item_col: str = "item_id",
    time_col: str = "timestamp",
) -> Dataset:
    """Read a RecBole atomic-file folder into a ``Dataset``.

    Events are ordered by ``time_col`` when the ``.inter`` file has it (ties
    in file order), else by file order. With a ``.item`` file, catalog rows
    follow its row order and every item of the log must be in it; its
    title / categories / brand / description and other ``token`` /
    ``token_seq`` columns become ``catalog.text_fields``. Without one, the
    catalog is the sorted set of items the log names.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder: a RecBole dataset is a folder with {{name}}.inter")
    stem = name if name is not None else _guess_name(folder)
    inter_path = require_file(folder / f"{stem}.inter", "RecBole interaction (.inter)")
    item_path = folder / f"{stem}.item"

    inter = _parse_atomic(inter_path)
    users_raw = inter.column(user_col)
    items_raw = inter.column(item_col)
    has_time = time_col in inter.names
    order = _floats(inter, time_col) if has_time else np.arange(len(items_raw), dtype=np.int64)

    if item_path.is_file():
        catalog = _read_item_file(item_path, item_col, stem)
        source = str(item_path)
    else:
        catalog = Catalog(item_ids=sorted_ids(items_raw), name=stem)
        source = f"(derived from {inter_path.name})"
    rows = item_rows(catalog, items_raw, str(inter_path), source)
    user_codes, user_ids = factorize(users_raw)
    if has_time:
        ids = catalog.item_ids
        warn_repeated_events(str(inter_path), user_codes, rows, order, user_ids, ids, f"'{time_col}'")
    interactions = build_interactions(user_codes, user_ids, rows, order, catalog.n_items)
    return Dataset(catalog, interactions)


def _guess_name(folder: Path) -> str:
    own = folder.resolve().name
    if (folder / f"{own}.inter").is_file():
        return own
    stems = sorted(p.stem for p in folder.glob("*.inter"))
    if len(stems) == 1:
        return stems[0]
    if not stems:
        raise DataError(
            f"{folder}: required RecBole file {own}.inter is missing (no *.inter file in the folder): "
            "add it or point at the right folder"
        )
    raise DataError(f"{folder}: several RecBole datasets found {stems}: pass name= to pick one")


def _parse_atomic(path: Path) -> _Table:
    """Split a tab-separated atomic file, checking the header and every row's field count."""
    lines = read_text(path).split("\n")
    header_idx = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_idx is None:
        raise DataError(f"{path}: file is empty: it needs a header like `user_id:token<TAB>item_id:token`")
    names: list[str] = []
    types: list[str] = []
    for field in lines[header_idx].rstrip("\r").split("\t"):
        fname, _, ftype = field.strip().partition(":")
        names.append(fname)
        types.append(ftype or "token")
    width = len(names)
    rows: list[list[str]] = []
    linenos: list[int] = []
    for i in range(header_idx + 1, len(lines)):
        line = lines[i].rstrip("\r")
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != width:
            raise DataError(
                f"{path}:{i + 1}: row has {len(parts)} tab-separated fields but the header has {width} "
                f"({names}): fix the row (fields must be separated by tabs, no tabs inside values)"
            )
        rows.append(parts)
        linenos.append(i + 1)
    if not rows:
        raise DataError(f"{path}: has a header but no rows: the file holds no data")
    return _Table(path, names, types, rows, linenos)


def _floats(table: _Table, name: str) -> np.ndarray:
    values = table.column(name)
    try:
        return np.asarray(values, dtype=np.float64)
    except ValueError:
        for k, v in enumerate(values):
            try:
                float(v)
            except ValueError:
                raise DataError(
                    f"{table.path}:{table.linenos[k]}: column '{name}' holds {v!r}, not a number: "
                    "timestamps must be numeric (e.g. Unix seconds)"
                ) from None
        raise


def _read_item_file(path: Path, item_col: str, name: str) -> Catalog:
    table = _parse_atomic(path)
    ids = table.column(item_col)
    check_unique(ids, str(path))
    fields: dict[str, list[str]] = {}
    for j, (col, ctype) in enumerate(zip(table.names, table.types, strict=True)):
        if col == item_col or not (col in TEXT_COLUMNS or ctype in TEXT_TYPES):
            continue
        fields[col] = [r[j] for r in table.rows]
    warn_items_without_text(path, ids, fields)
    return Catalog(item_ids=ids, text_fields=fields, name=name)
