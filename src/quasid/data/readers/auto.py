"""One entry point that recognises a dataset's layout, so callers (CLI, benchmarks) take any path or name."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quasid.data.dataset import Dataset
from quasid.data.readers.lcrec import INTER_SUFFIX, ITEM_SUFFIX, ITEMS_ONLY, read_lcrec
from quasid.data.readers.recbole import read_recbole
from quasid.data.readers.s3rec import SEQUENCES, read_s3rec
from quasid.data.readers.table import SUFFIXES, read_table
from quasid.data.text import attach_texts
from quasid.errors import ConfigError, DataError

FORMATS = ("auto", "s3rec", "lcrec", "recbole", "table")
DATA_ENV = "QUASID_DATA"


def data_root() -> Path:
    """Where bare dataset names are looked up: ``$QUASID_DATA``, else ``../shared/data`` from the cwd."""
    return Path(os.environ.get(DATA_ENV) or Path("..") / "shared" / "data")


def resolve_path(path: str | os.PathLike[str]) -> Path:
    """``path`` if it exists, else a bare name (``amazon-beauty``) looked up under ``data_root()``."""
    p = Path(path)
    if p.exists():
        return p
    root = data_root()
    if len(p.parts) == 1 and (root / p).exists():
        return root / p
    known = sorted(c.name for c in root.iterdir() if c.is_dir()) if root.is_dir() else []
    hint = f"datasets under {root}: {known}" if known else f"no data folder at {root} (set ${DATA_ENV})"
    raise DataError(
        f"{path}: no such file or folder, and not a dataset name ({hint}): "
        f"check the path, or point ${DATA_ENV} at the folder of named datasets"
    )


def detect_format(path: Path) -> str:
    """The reader a path needs, from the files it holds; a ``DataError`` lists what was found otherwise."""
    if path.is_file():
        name = path.name.lower()
        if name.endswith((INTER_SUFFIX, ITEM_SUFFIX)) or name == ITEMS_ONLY:
            return "lcrec"
        if path.suffix.lower() in (".inter", ".item"):
            return "recbole"
        if path.suffix.lower() in SUFFIXES:
            return "table"
        if name == SEQUENCES:
            return "s3rec"
    elif path.is_dir():
        if (path / SEQUENCES).is_file():
            return "s3rec"
        if (
            any(path.glob(f"*{INTER_SUFFIX}"))
            or any(path.glob(f"*{ITEM_SUFFIX}"))
            or (path / ITEMS_ONLY).is_file()
        ):
            return "lcrec"
        if any(path.glob("*.inter")):
            return "recbole"
    found = sorted(c.name for c in path.iterdir())[:10] if path.is_dir() else [path.name]
    raise DataError(
        f"{path}: cannot tell the dataset format (found {found}): expected a folder with {SEQUENCES} "
        f"(S3-Rec), *{INTER_SUFFIX} / *{ITEM_SUFFIX} / {ITEMS_ONLY} (LC-Rec), *.inter (RecBole), "
        f"or a {'/'.join(SUFFIXES)} file; or pass format="
    )


def load_dataset(path: str | os.PathLike[str], format: str = "auto", **kwargs: Any) -> Dataset:
    """Read any supported dataset and fill ``catalog.texts`` wherever the source has text.

    ``path`` is a folder, a file, or a bare dataset name under ``$QUASID_DATA``.
    ``format`` is one of ``auto``, ``s3rec``, ``lcrec``, ``recbole``, ``table``;
    ``kwargs`` go to the reader (e.g. ``name=``, ``time_col=``). A single file
    of a folder format reads its folder (and, for LC-Rec / RecBole, picks the
    dataset name from the file name); a table file is read as interactions.
    """
    if format not in FORMATS:
        raise ConfigError(f"unknown dataset format {format!r}: use one of {list(FORMATS)}")
    p = resolve_path(path)
    fmt = detect_format(p) if format == "auto" else format
    reader: Callable[..., Dataset]
    if fmt == "table":
        if not p.is_file():
            raise DataError(
                f"{p}: format 'table' needs a .parquet or .csv file, not a folder: use read_table()"
            )
        ds = read_table(interactions=p, **kwargs)
    else:
        folder = p
        if p.is_file():
            folder = p.parent
            stem = _stem(p.name, fmt)
            if stem is not None:
                kwargs.setdefault("name", stem)
        reader = {"s3rec": read_s3rec, "lcrec": read_lcrec, "recbole": read_recbole}[fmt]
        ds = reader(folder, **kwargs)
    attach_texts(ds.catalog)
    return ds


def _stem(filename: str, fmt: str) -> str | None:
    if fmt == "lcrec":
        for suffix in (INTER_SUFFIX, ITEM_SUFFIX):
            if filename.endswith(suffix):
                return filename[: -len(suffix)]
    if fmt == "recbole":
        return Path(filename).stem
    return None
