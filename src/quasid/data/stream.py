"""Embedding streams: catalogs whose vectors do not fit in memory, read in row chunks.

A 10M-item catalog of 384-d float32 vectors is 15 GB; encoding it needs only a
chunk of rows at a time, because each item's Semantic ID depends on its own
vector alone. ``EmbeddingStream`` yields ``[<= chunk_size, D]`` float32 chunks
from a ``.npy`` file (read with plain file reads at the array's offset, so
neither the heap nor the mapped-page count grows with the file), a Parquet file
(``pyarrow`` ``iter_batches`` over a list / fixed-size-list column or over float
columns) or an in-memory array.

What is bounded by the chunk size: the embedding rows held at once while
encoding (``max_rows_read`` records the largest chunk ever materialised).
What is not: the output (item ids and ``[N, L]`` codes, a few bytes per item),
and fitting, which trains on a uniform ``sample`` of rows held in memory
(``SIDTokenizer.fit`` draws at most ``sample_size`` rows from a stream).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from quasid.errors import ConfigError, DataError
from quasid.progress import advance, progress_bar

DEFAULT_CHUNK_SIZE = 65536
NPY_SUFFIXES = (".npy",)
PARQUET_SUFFIXES = (".parquet", ".pq")
ID_COLUMN = "item_id"
EMBEDDING_COLUMN = "embedding"


class EmbeddingStream:
    """Row chunks of an ``[n_rows, dim]`` embedding matrix, with one item id per row.

    Build one with ``open_embeddings`` (a file) or ``EmbeddingStream.from_array``.
    Ids come from the file's id column, from ``ids``, or are the row numbers.
    """

    def __init__(
        self,
        source: _Source,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        ids: Sequence[object] | np.ndarray | None = None,
        progress: bool = False,
    ) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1 rows, got {chunk_size}")
        self.source = source
        self.chunk_size = int(chunk_size)
        self.progress = progress
        self.max_rows_read = 0
        self._ids = None if ids is None else _checked_ids(ids, source.n_rows, source.name)

    @classmethod
    def from_array(
        cls, x: np.ndarray, chunk_size: int = DEFAULT_CHUNK_SIZE, ids: Sequence[object] | None = None
    ) -> EmbeddingStream:
        """A stream over an in-memory or memory-mapped matrix; float32 chunks are views, not copies."""
        return cls(_ArraySource(x), chunk_size, ids)

    @property
    def n_rows(self) -> int:
        return self.source.n_rows

    @property
    def dim(self) -> int:
        return self.source.dim

    @property
    def name(self) -> str:
        return self.source.name

    def __len__(self) -> int:
        return self.n_rows

    def item_ids(self) -> np.ndarray:
        """``[n_rows]`` string ids (object array): the id column, the given ids, else ``"0".."N-1"``."""
        if self._ids is None:
            found = self.source.read_ids()
            rows = pa.array(np.arange(self.n_rows, dtype=np.int64)).cast(pa.large_string())
            self._ids = _checked_ids(found if found is not None else rows, self.n_rows, self.name)
        return self._ids

    def chunks(self, description: str = "encode") -> Iterator[tuple[int, np.ndarray]]:
        """``(first_row, rows)`` for consecutive chunks; rows are float32 ``[<= chunk_size, dim]``, finite."""
        n_chunks = -(-self.n_rows // self.chunk_size)
        with progress_bar(n_chunks, f"{description} {self.name}", self.progress) as bar:
            for start, rows in self.source.iter_chunks(self.chunk_size):
                self.max_rows_read = max(self.max_rows_read, len(rows))
                yield start, self._checked(start, rows)
                advance(bar, f"{start + len(rows):,} rows")

    def sample(self, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """A uniform sample of ``min(size, n_rows)`` rows (in file order) and their row numbers.

        One pass over the chunks; memory is the sample plus one chunk.
        """
        if size < 1:
            raise ConfigError(f"sample size must be >= 1 rows, got {size}")
        n = self.n_rows
        if size >= n:
            rows = np.arange(n, dtype=np.int64)
        else:
            rows = np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False, shuffle=False))
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        for start, chunk in self.chunks("sample"):
            lo, hi = np.searchsorted(rows, [start, start + len(chunk)])
            out[lo:hi] = chunk[rows[lo:hi] - start]
        return out, rows

    def _checked(self, start: int, rows: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(rows).all(axis=1)
        if bad.any():
            first = start + int(np.flatnonzero(bad)[0])
            ident = (
                f" (item {self.item_ids()[first]!r})" if self._ids is not None or self.source.has_ids else ""
            )
            raise DataError(
                f"{self.name}: embedding row {first}{ident} contains NaN or inf ({int(bad.sum())} such rows "
                f"in rows {start}..{start + len(rows) - 1}): fix the feature pipeline or write zeros to mark "
                "the item as missing"
            )
        return rows


def open_embeddings(
    path: str | os.PathLike[str],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    column: str | None = None,
    id_column: str | None = None,
    ids: Sequence[object] | np.ndarray | None = None,
) -> EmbeddingStream:
    """Open a ``.npy`` matrix or a Parquet embedding table as a stream of row chunks.

    Parquet: ``column`` names a list / fixed-size-list column of numbers (default: the
    ``embedding`` column, else the only such column, else every floating-point column
    in order); ``id_column`` (default ``item_id`` where present) gives the item ids.
    ``.npy``: ids are ``ids`` (one per row) or the row numbers.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no embedding file there: give a .npy matrix or a Parquet embedding table")
    suffix = p.suffix.lower()
    if suffix in NPY_SUFFIXES:
        if column is not None or id_column is not None:
            raise ConfigError(f"{p}: column / id_column apply to Parquet files, not .npy: drop them")
        return EmbeddingStream(_NpySource(p), chunk_size, ids)
    if suffix in PARQUET_SUFFIXES:
        return EmbeddingStream(_ParquetSource(p, column, id_column), chunk_size, ids)
    raise DataError(f"{p}: embeddings must be a .npy or .parquet file, got {suffix or 'no suffix'!r}")


def is_embedding_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``.npy`` file, or a Parquet file holding a list-of-numbers column (an embedding table).

    Parquet item / interaction tables without such a column are datasets, not embedding files.
    """
    p = Path(path)
    if not p.is_file():
        return False
    suffix = p.suffix.lower()
    if suffix in NPY_SUFFIXES:
        return True
    if suffix in PARQUET_SUFFIXES:
        try:
            schema = pq.read_schema(p)
        except (pa.ArrowInvalid, OSError):
            return False
        return any(_is_vector_type(t) for t in schema.types)
    return False


def unique_ids(ids: Sequence[object] | np.ndarray | pa.Array, what: str) -> pa.Array:
    """Ids as a pyarrow string array (hashed in C++, no Python loop for strings); duplicates are a
    ``DataError`` naming a few of them and ``what`` holds them."""
    if isinstance(ids, pa.Array):
        arr = ids
    elif isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
        arr = pa.array(ids).cast(pa.large_string())
    else:
        try:
            arr = pa.array(ids, pa.large_string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError):
            arr = pa.array([str(i) for i in ids], pa.large_string())
    if pc.count_distinct(arr).as_py() != len(arr):
        counts = pc.value_counts(arr)
        dup = pc.filter(counts.field("values"), pc.greater(counts.field("counts"), 1))[:5].to_pylist()
        raise DataError(f"{what} has duplicate item ids {dup}: every item id must be unique")
    return arr


def _checked_ids(ids: Sequence[object] | np.ndarray | pa.Array, n_rows: int, name: str) -> np.ndarray:
    """Ids as an object array of ``str``, one per row and unique."""
    arr = unique_ids(ids, name)
    if len(arr) != n_rows:
        raise DataError(f"{name}: {len(arr)} item ids for {n_rows} embedding rows: give one id per row")
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


def _is_vector_type(t: pa.DataType) -> bool:
    is_list = pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)
    return is_list and (pa.types.is_floating(t.value_type) or pa.types.is_integer(t.value_type))


# --- sources: where the rows come from -------------------------------------------------------
class _Source:
    name: str
    n_rows: int
    dim: int
    has_ids: bool = False

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
        raise NotImplementedError

    def read_ids(self) -> pa.Array | None:
        return None


class _ArraySource(_Source):
    def __init__(self, x: np.ndarray) -> None:
        arr = np.asarray(x) if not isinstance(x, np.memmap) else x
        if arr.ndim != 2 or arr.shape[1] == 0 or not np.issubdtype(arr.dtype, np.number):
            raise DataError(
                f"embeddings must be a numeric [n_items, dim] matrix, got {arr.dtype} {arr.shape}"
            )
        self.x, self.name, (self.n_rows, self.dim) = arr, "array", arr.shape

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
        for start in range(0, self.n_rows, chunk_size):
            yield start, np.asarray(self.x[start : start + chunk_size], dtype=np.float32)


class _NpySource(_Source):
    """Plain reads at the array's byte offset: resident memory is one chunk, not the mapped file."""

    def __init__(self, path: Path) -> None:
        try:
            arr = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            reason = " ".join(str(exc).split())
            raise DataError(
                f"{path}: not a readable .npy matrix ({reason}): write it with numpy.save"
            ) from None
        if arr.ndim != 2 or arr.shape[1] == 0 or not np.issubdtype(arr.dtype, np.number):
            raise DataError(f"{path}: must hold a numeric [n_items, dim] matrix, got {arr.dtype} {arr.shape}")
        self.path, self.name = path, str(path)
        self.n_rows, self.dim = arr.shape
        self.dtype, self.offset = arr.dtype, int(arr.offset)
        self.fortran = not arr.flags.c_contiguous  # column-major files are sliced through the mapping
        self._mapped = arr if self.fortran else None
        del arr

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
        if self._mapped is not None:
            for start in range(0, self.n_rows, chunk_size):
                yield start, np.array(self._mapped[start : start + chunk_size], dtype=np.float32)
            return
        row_bytes = self.dim * self.dtype.itemsize
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            for start in range(0, self.n_rows, chunk_size):
                rows = min(chunk_size, self.n_rows - start)
                buf = np.empty((rows, self.dim), dtype=self.dtype)
                if fh.readinto(memoryview(buf).cast("B")) != rows * row_bytes:
                    raise DataError(
                        f"{self.path}: file ends inside row {start}..{start + rows}: it is truncated"
                    )
                yield start, buf.astype(np.float32, copy=False)


class _ParquetSource(_Source):
    """``iter_batches`` over the vector column(s): pyarrow decodes one batch of rows at a time."""

    def __init__(self, path: Path, column: str | None, id_column: str | None) -> None:
        try:
            self.file = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{path}: not a readable Parquet file ({exc}): re-export it") from None
        self.path, self.name = path, str(path)
        schema = self.file.schema_arrow
        names = schema.names
        self.n_rows = self.file.metadata.num_rows
        if self.n_rows == 0:
            raise DataError(f"{path}: has no rows")
        if id_column is not None and id_column not in names:
            raise DataError(f"{path}: id column '{id_column}' not found; columns: {names}")
        self.id_column = id_column if id_column is not None else (ID_COLUMN if ID_COLUMN in names else None)
        self.has_ids = self.id_column is not None
        vectors = [n for n, t in zip(names, schema.types, strict=True) if _is_vector_type(t)]
        if column is not None:
            if column not in names:
                raise DataError(f"{path}: embedding column '{column}' not found; columns: {names}")
            if column not in vectors:
                raise DataError(
                    f"{path}: column '{column}' has type {schema.field(column).type}: "
                    "an embedding column holds one list of numbers per row"
                )
            self.columns = [column]
        elif EMBEDDING_COLUMN in vectors or len(vectors) == 1:
            self.columns = [EMBEDDING_COLUMN if EMBEDDING_COLUMN in vectors else vectors[0]]
        elif vectors:
            raise DataError(f"{path}: several vector columns {vectors}: pass the one to use (column=)")
        else:
            self.columns = [
                n
                for n, t in zip(names, schema.types, strict=True)
                if pa.types.is_floating(t) and n != self.id_column
            ]
            if not self.columns:
                raise DataError(
                    f"{path}: no embedding column (a list of numbers per row) and no float columns; "
                    f"columns: {names}"
                )
        self.vector = len(self.columns) == 1 and self.columns[0] in vectors
        if self.vector:
            vtype = schema.field(self.columns[0]).type
            if pa.types.is_fixed_size_list(vtype):
                self.dim = vtype.list_size
            else:
                first = next(self.file.iter_batches(batch_size=1, columns=self.columns)).column(0)
                self.dim = int(pc.list_value_length(first)[0].as_py() or 0)
        else:
            self.dim = len(self.columns)
        if self.dim < 1:
            raise DataError(f"{path}: the first embedding in '{self.columns[0]}' is empty")

    def iter_chunks(self, chunk_size: int) -> Iterator[tuple[int, np.ndarray]]:
        start = 0
        for batch in self.file.iter_batches(batch_size=chunk_size, columns=self.columns):
            rows = self._vectors(batch.column(0), start) if self.vector else self._floats(batch, start)
            yield start, rows
            start += len(rows)

    def _vectors(self, arr: pa.Array, start: int) -> np.ndarray:
        col = self.columns[0]
        if arr.null_count:
            row = start + int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.path}: row {row} has no vector in '{col}': give every item one")
        if not pa.types.is_fixed_size_list(arr.type):
            lengths = pc.list_value_length(arr).to_numpy()
            if (lengths != self.dim).any():
                row = start + int(np.flatnonzero(lengths != self.dim)[0])
                raise DataError(
                    f"{self.path}: row {row} of '{col}' has {lengths[row - start]} values, "
                    f"the first row has {self.dim}: every vector must have the same length"
                )
        flat = arr.flatten()
        if flat.null_count:
            raise DataError(
                f"{self.path}: column '{col}' holds nulls inside vectors (rows {start}..): fill them"
            )
        return flat.to_numpy(zero_copy_only=False).astype(np.float32, copy=False).reshape(len(arr), self.dim)

    def _floats(self, batch: pa.RecordBatch, start: int) -> np.ndarray:
        out = np.empty((batch.num_rows, self.dim), dtype=np.float32)
        for j, col in enumerate(batch.columns):
            if col.null_count:
                row = start + int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
                raise DataError(f"{self.path}: column '{self.columns[j]}' is empty at row {row}: fill it")
            out[:, j] = col.to_numpy(zero_copy_only=False)
        return out

    def read_ids(self) -> pa.Array | None:
        if self.id_column is None:
            return None
        arr = self.file.read(columns=[self.id_column]).column(0).combine_chunks()
        if arr.null_count:
            row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
            raise DataError(f"{self.path}: id column '{self.id_column}' is empty at row {row}")
        return arr.cast(pa.large_string())
