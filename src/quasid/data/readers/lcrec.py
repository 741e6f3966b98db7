"""LC-Rec / LETTER style folders: ``{name}.inter.json`` + ``{name}.item.json``.

These are the JSON dumps that the LLM-based generative recommenders publish;
they carry rich item text (title, description, brand, categories), which is
what text-based tokenizers need. A folder holding only ``items.json`` (same
item shape, no log) is accepted for catalogue-only sets such as
amazon-industrial.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.readers._common import (
    item_rows,
    load_json_object,
    log_from_sequences,
    sorted_ids,
    warn_items_without_text,
)
from quasid.errors import DataError

INTER_SUFFIX = ".inter.json"
ITEM_SUFFIX = ".item.json"
ITEMS_ONLY = "items.json"


def read_lcrec(path: str | os.PathLike[str], name: str | None = None) -> Dataset:
    """Read an LC-Rec folder into a ``Dataset``.

    ``name`` picks ``{name}.inter.json`` / ``{name}.item.json``; by default
    the folder name, else the single ``*.inter.json`` / ``*.item.json`` stem
    found there, else ``items.json``. Catalog rows follow the item file's key
    order; without an item file they are the items the log names, sorted.
    String fields (lists of strings are joined with ", ") become
    ``catalog.text_fields``, ``""`` where an item lacks the field.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder: an LC-Rec dataset is a folder with {{name}}{INTER_SUFFIX}")
    stem = name if name is not None else _guess_name(folder)
    inter_path = _existing(folder / f"{stem}{INTER_SUFFIX}") if stem else None
    item_path = _existing(folder / f"{stem}{ITEM_SUFFIX}") if stem else None
    if item_path is None:
        item_path = _existing(folder / ITEMS_ONLY)
    if inter_path is None and item_path is None:
        wanted = f"{stem or '{name}'}{INTER_SUFFIX} / {stem or '{name}'}{ITEM_SUFFIX}"
        raise DataError(
            f"{folder}: required LC-Rec file is missing: expected {wanted} or {ITEMS_ONLY} "
            f"(found {sorted(p.name for p in folder.iterdir())[:10]}): add it or pass the right name="
        )

    catalog: Catalog | None = None
    if item_path is not None:
        catalog = _read_items(item_path, name=stem or folder.resolve().name)
    interactions = None
    if inter_path is not None:
        user_ids, lengths, flat = _read_inter(inter_path)
        if catalog is None:
            if not flat:
                raise DataError(
                    f"{inter_path}: every user has an empty item list: the catalog would be empty"
                )
            catalog = Catalog(item_ids=sorted_ids(flat), name=stem or folder.resolve().name)
            source = f"(derived from {inter_path.name})"
        else:
            source = str(item_path)
        rows = item_rows(catalog, flat, str(inter_path), source)
        interactions = log_from_sequences(user_ids, lengths, rows, catalog.n_items)
    assert catalog is not None
    return Dataset(catalog, interactions)


def _existing(path: Path) -> Path | None:
    return path if path.is_file() else None


def _guess_name(folder: Path) -> str | None:
    """The dataset stem: the folder name when its files exist, else the single stem present."""
    own = folder.resolve().name
    if (folder / f"{own}{INTER_SUFFIX}").is_file() or (folder / f"{own}{ITEM_SUFFIX}").is_file():
        return own
    stems = {p.name[: -len(INTER_SUFFIX)] for p in folder.glob(f"*{INTER_SUFFIX}")}
    stems |= {p.name[: -len(ITEM_SUFFIX)] for p in folder.glob(f"*{ITEM_SUFFIX}")}
    if len(stems) > 1:
        raise DataError(f"{folder}: several LC-Rec datasets found {sorted(stems)}: pass name= to pick one")
    return stems.pop() if stems else None


def _read_items(path: Path, name: str) -> Catalog:
    raw = load_json_object(path, "item id -> {field: text}")
    if not raw:
        raise DataError(f"{path}: holds no items: the catalog would be empty")
    ids = [str(k) for k in raw]
    fields: dict[str, list[str]] = {}
    for row, (item, record) in enumerate(raw.items()):
        if not isinstance(record, dict):
            raise DataError(
                f"{path}: item {item!r}: expected an object of text fields like "
                f'{{"title": ..., "brand": ...}}, got {type(record).__name__}'
            )
        for key, value in record.items():
            text = _as_text(value)
            if text is None:
                continue
            column = fields.get(key)
            if column is None:
                column = fields[key] = [""] * len(raw)
            column[row] = text
    warn_items_without_text(path, ids, fields)
    return Catalog(item_ids=ids, text_fields=fields, name=name)


def _as_text(value: Any) -> str | None:
    """Strings as they are, lists of strings joined; numbers/objects are not text (None)."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return None


def _read_inter(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    raw = load_json_object(path, "user id -> [item id, ...]")
    if not raw:
        raise DataError(f"{path}: holds no users: it should map each user id to its item list")
    lengths: list[int] = []
    flat: list[str] = []
    for user, seq in raw.items():
        if not isinstance(seq, list) or not all(
            isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool)) for v in seq
        ):
            raise DataError(
                f"{path}: user {user!r}: expected a list of item ids (integers or strings) in time order"
            )
        lengths.append(len(seq))
        flat.extend(str(v) for v in seq)
    return [str(u) for u in raw], np.asarray(lengths, dtype=np.int64), flat
