"""Generic tables (Parquet or CSV) for catalogues and logs that follow no published layout.

Industrial catalogues usually arrive as a dataframe dump: an item table with
text, a product-family key and perhaps a precomputed embedding column, plus an
event table. This reader maps their columns onto ``Catalog`` / ``Interactions``
by name.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quasid.data.catalog import Catalog, validate_embeddings
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

SUFFIXES = (".parquet", ".pq", ".csv")


def read_table(
    items: str | os.PathLike[str] | None = None,
    interactions: str | os.PathLike[str] | None = None,
    item_col: str = "item_id",
    user_col: str = "user_id",
    time_col: str | None = None,
    text_cols: Sequence[str] | None = None,
    group_col: str | None = None,
    embedding_col: str | None = None,
    name: str | None = None,
) -> Dataset:
    """Read an item table and/or an interaction table into a ``Dataset``.

    Files are Parquet (``.parquet`` / ``.pq``) or CSV (``.csv``). Items:
    ``item_col`` is required; ``text_cols`` become ``catalog.text_fields``
    (default: every string column other than the id / group columns);
    ``group_col`` -> ``catalog.group_keys``; ``embedding_col`` (a list-of-floats
    column) -> ``catalog.embeddings``. Interactions: ``user_col`` and
    ``item_col`` required; events are ordered by ``time_col`` (numeric or
    timestamp) when given, else by file order. With only an interaction table
    the catalog is the sorted set of items it names.
    """
    if items is None and interactions is None:
        raise DataError(
            "read_table: give an item table (items=), an interaction table (interactions=), or both"
        )
    item_path = Path(items) if items is not None else None
    inter_path = Path(interactions) if interactions is not None else None
    ds_name = name or (item_path or inter_path).stem  # type: ignore[union-attr]

    catalog: Catalog | None = None
    if item_path is not None:
        table = _load(item_path, "item table")
        catalog = _catalog_from_table(
            table, item_path, item_col, text_cols, group_col, embedding_col, ds_name
        )

    log = None
    if inter_path is not None:
        table = _load(inter_path, "interaction table")
        users = _id_column(table, user_col, inter_path)
        item_ids = _id_column(table, item_col, inter_path)
        if catalog is None:
            catalog = Catalog(item_ids=sorted_ids(item_ids), name=ds_name)
            source = f"(derived from {inter_path.name})"
        else:
            source = str(item_path)
        rows = item_rows(catalog, item_ids, str(inter_path), source)
        if time_col is not None:
            order = _time_column(table, time_col, inter_path)
        else:
            order = np.arange(table.num_rows, dtype=np.int64)
        user_codes, user_ids = factorize(users)
        if time_col is not None:
            ids = catalog.item_ids
            warn_repeated_events(str(inter_path), user_codes, rows, order, user_ids, ids, f"'{time_col}'")
        log = build_interactions(user_codes, user_ids, rows, order, catalog.n_items)
    assert catalog is not None
    return Dataset(catalog, log)


def _load(path: Path, what: str) -> pa.Table:
    """Parquet or CSV by suffix; parser failures become ``DataError`` naming the file."""
    require_file(path, what)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise DataError(f"{path}: unsupported {what} format {suffix!r}: use one of {list(SUFFIXES)}")
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            table = pacsv.read_csv(path)
            if _has_non_utf8(table):
                read_text(path)  # report the exact non-UTF-8 offset
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowException, OSError) as exc:
        if suffix == ".csv" and "utf8" in str(exc).lower():
            read_text(path)  # raises the exact diagnosis (byte offset, line)
        if "Empty CSV file" in str(exc):
            raise DataError(f"{path}: file is empty: it needs a header row and data rows") from None
        where, reason = (_csv_error(path) if suffix == ".csv" else None) or ("", " ".join(str(exc).split()))
        fix = (
            "fix that row (quote values that contain commas) or re-export the table"
            if suffix == ".csv"
            else "the file is truncated or not Parquet: re-export it"
        )
        raise DataError(
            f"{path}{where}: cannot be read as the {what} ({suffix[1:]}: {reason}): {fix}"
        ) from None
    if table.num_rows == 0:
        raise DataError(f"{path}: has columns {table.column_names} but no rows: the {what} holds no data")
    return table


def _has_non_utf8(table: pa.Table) -> bool:
    """pyarrow keeps non-UTF-8 CSV cells as bytes, and header names undecodable until first used."""
    try:
        table.schema.names  # noqa: B018 - decoding the names is the check
    except UnicodeDecodeError:
        return True
    return any(pa.types.is_binary(t) for t in table.schema.types)


def _csv_error(path: Path) -> tuple[str, str] | None:
    """``(":line", reason)`` of the first malformed CSV row; pyarrow numbers rows only single-threaded."""
    import pyarrow.csv as pacsv

    bad: list[pacsv.InvalidRow] = []

    def record(row: pacsv.InvalidRow) -> str:
        bad.append(row)
        return "error"

    with contextlib.suppress(pa.ArrowException, OSError):
        pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=record),
        )
    if not bad:
        return None
    row = bad[0]
    line = f":{row.number}" if row.number is not None and row.number > 0 else ""
    reason = f"row has {row.actual_columns} fields but the header has {row.expected_columns}: {row.text!r}"
    return line, reason


def _require(table: pa.Table, col: str, path: Path) -> pa.ChunkedArray:
    if col not in table.column_names:
        raise DataError(
            f"{path}: required column '{col}' is missing; columns found: {table.column_names}: "
            "rename the column or pass its name (item_col=, user_col=, ...)"
        )
    return table.column(col)


def _id_column(table: pa.Table, col: str, path: Path) -> list[str]:
    """An id column as strings; integral floats (CSV columns with gaps) lose their '.0'."""
    arr = _require(table, col, path).combine_chunks()
    if arr.null_count:
        first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{path}: column '{col}' is empty at row {first + 1}: every row needs an id")
    if pa.types.is_floating(arr.type):
        values = arr.to_numpy()
        if np.all(values == np.round(values)):
            arr = pa.array(values.astype(np.int64))
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return arr.to_pylist()


def _time_column(table: pa.Table, col: str, path: Path) -> np.ndarray:
    arr = _require(table, col, path).combine_chunks()
    if arr.null_count:
        first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(f"{path}: column '{col}' is empty at row {first + 1}: every event needs a time")
    if pa.types.is_timestamp(arr.type) or pa.types.is_date(arr.type):
        return arr.cast(pa.int64()).to_numpy()
    if pa.types.is_integer(arr.type) or pa.types.is_floating(arr.type):
        return arr.to_numpy()
    if pa.types.is_string(arr.type):
        try:
            return pc.strptime(arr, format="%Y-%m-%dT%H:%M:%S", unit="s").cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:
            pass
    raise DataError(
        f"{path}: time column '{col}' has type {arr.type}: it must be numeric (e.g. Unix seconds), "
        "a timestamp / date, or an ISO 'YYYY-MM-DDTHH:MM:SS' string"
    )


def _catalog_from_table(
    table: pa.Table,
    path: Path,
    item_col: str,
    text_cols: Sequence[str] | None,
    group_col: str | None,
    embedding_col: str | None,
    name: str,
) -> Catalog:
    ids = _id_column(table, item_col, path)
    check_unique(ids, str(path))
    if text_cols is None:
        skip = {item_col, group_col, embedding_col}
        text_cols = [
            c
            for c, t in zip(table.column_names, table.schema.types, strict=True)
            if c not in skip and (pa.types.is_string(t) or pa.types.is_large_string(t))
        ]
    fields = {}
    for col in text_cols:
        arr = _require(table, col, path).combine_chunks()
        fields[col] = ["" if v is None else str(v) for v in arr.to_pylist()]
    group_keys = None
    if group_col is not None:
        group_keys = np.asarray(
            ["" if v is None else str(v) for v in _require(table, group_col, path).to_pylist()], dtype=object
        )
    embeddings = None
    if embedding_col is not None:
        embeddings = _embeddings(
            _require(table, embedding_col, path).combine_chunks(), embedding_col, ids, path
        )
    if embeddings is None:
        warn_items_without_text(path, ids, fields)
    return Catalog(item_ids=ids, text_fields=fields, group_keys=group_keys, embeddings=embeddings, name=name)


def _embeddings(arr: pa.Array, col: str, ids: list[str], path: Path) -> np.ndarray:
    """A list-of-floats column as an ``[n_items, dim]`` matrix; ragged or missing rows are errors."""
    if not (
        pa.types.is_list(arr.type)
        or pa.types.is_large_list(arr.type)
        or pa.types.is_fixed_size_list(arr.type)
    ):
        raise DataError(
            f"{path}: embedding column '{col}' has type {arr.type}: it must hold one list of floats per item"
        )
    if arr.null_count:
        first = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise DataError(
            f"{path}: item {ids[first]!r} has no embedding in column '{col}': give every item a vector "
            "(all zeros marks it as missing content)"
        )
    lengths = pc.list_value_length(arr).to_numpy()
    if len(set(lengths.tolist())) > 1:
        dim = int(np.bincount(lengths).argmax())
        bad = int(np.flatnonzero(lengths != dim)[0])
        raise DataError(
            f"{path}: embedding column '{col}' is ragged: item {ids[bad]!r} has {lengths[bad]} values, "
            f"most items have {dim}: every vector must have the same length"
        )
    flat = arr.flatten()
    if flat.null_count:
        raise DataError(f"{path}: embedding column '{col}' holds null values inside vectors: fill them")
    if not (pa.types.is_floating(flat.type) or pa.types.is_integer(flat.type)):
        raise DataError(f"{path}: embedding column '{col}' holds {flat.type} values, not numbers")
    matrix = flat.to_numpy(zero_copy_only=False).astype(np.float32).reshape(len(ids), int(lengths[0]))
    return validate_embeddings(matrix, len(ids), source=f"{path}: column '{col}'", item_ids=ids)
