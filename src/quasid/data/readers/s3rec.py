"""S3-Rec / TIGER style folders: ``sequences.txt`` + ``item_attributes.json`` (+ ``names.json``).

This is the layout of the standard 5-core Amazon, Yelp and Last.fm sets that
most generative-recommendation papers report on, so it is the reader the
benchmarks depend on; it must be exact (the protocol counts every event) and
fast (hundreds of thousands of events).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.readers._common import (
    is_int_token,
    load_json_object,
    log_from_sequences,
    read_text,
    require_file,
    warn_fallback,
)
from quasid.errors import DataError

SEQUENCES = "sequences.txt"
ATTRIBUTES = "item_attributes.json"
NAMES = "names.json"


def read_s3rec(path: str | os.PathLike[str]) -> Dataset:
    """Read an S3-Rec folder into a ``Dataset``.

    Catalog rows are the union of items in ``sequences.txt`` and
    ``item_attributes.json``, sorted numerically and kept as strings ("1",
    "2", ...). ``item_attributes.json`` and ``names.json`` are optional; the
    attribute lists are kept exactly as given (some sets repeat an attribute
    within one item). Event order is the position in the line.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder: an S3-Rec dataset is a folder holding {SEQUENCES}")
    seq_path = require_file(
        folder / SEQUENCES, "interaction sequences (`user_id item_id item_id ...` per line)"
    )
    user_ids, lengths, flat = _parse_sequences(seq_path)

    attr_path = folder / ATTRIBUTES
    attr_map = _parse_attributes(attr_path) if attr_path.is_file() else None

    seq_items = np.unique(flat)
    all_items = (
        seq_items if attr_map is None else np.union1d(seq_items, np.fromiter(attr_map, dtype=np.int64))
    )
    if len(all_items) == 0:
        raise DataError(
            f"{seq_path}: no items at all (every line holds only a user id): the catalog would be empty"
        )

    attributes = None
    if attr_map is not None:
        attributes = [attr_map.get(int(i), []) for i in all_items]
        _warn_missing_attributes(seq_path, attr_path, seq_items, attr_map)
    attribute_names: dict[int, str] = {}
    names_path = folder / NAMES
    if names_path.is_file():
        attribute_names = _parse_attribute_names(names_path)

    catalog = Catalog(
        item_ids=[str(i) for i in all_items.tolist()],
        attributes=attributes,
        attribute_names=attribute_names,
        name=folder.resolve().name,
    )
    rows = np.searchsorted(all_items, flat)
    interactions = log_from_sequences(user_ids, lengths, rows, catalog.n_items)
    return Dataset(catalog, interactions)


def _warn_missing_attributes(
    seq_path: Path, attr_path: Path, seq_items: np.ndarray, attr_map: dict[int, list[int]]
) -> None:
    """The two ways an item ends up without attributes, each one warning (errors under --strict)."""
    unlisted = np.setdiff1d(seq_items, np.fromiter(attr_map, dtype=np.int64, count=len(attr_map)))
    if len(unlisted):
        warn_fallback(
            f"{seq_path}: {len(unlisted)} item id(s) in the sequences have no entry in {attr_path.name}, "
            f"e.g. {int(unlisted[0])}: they are read as items without attributes (missing content); add "
            f"them to {attr_path.name}, or drop their events"
        )
    empty = [item for item, attrs in attr_map.items() if not attrs]
    if empty:
        warn_fallback(
            f"{attr_path}: {len(empty)} item(s) have no attributes (an empty list), e.g. item {min(empty)}: "
            "they are read as missing-content items; give them attributes, or give every item a vector "
            "with --embeddings FILE.npy"
        )


def _parse_sequences(path: Path) -> tuple[list[str], np.ndarray, np.ndarray]:
    """User ids, events per user and the flat item-id array; errors give ``file:line``."""
    text = read_text(path)
    user_ids: list[str] = []
    lengths: list[int] = []
    chunks: list[list[int]] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        try:
            values = list(map(int, tokens))
        except ValueError:
            bad = next(t for t in tokens if not is_int_token(t))
            col = tokens.index(bad) + 1
            raise DataError(
                f"{path}:{lineno}: token {col} is {bad!r}, not an integer: each line must be "
                "`user_id item_id item_id ...` with integer ids separated by spaces"
            ) from None
        user = str(values[0])
        if user in first_line:
            raise DataError(
                f"{path}:{lineno}: user {user} already has a line ({first_line[user]}): "
                "put each user's whole sequence on one line"
            )
        first_line[user] = lineno
        user_ids.append(user)
        lengths.append(len(values) - 1)
        chunks.append(values[1:])
    if not user_ids:
        raise DataError(f"{path}: file is empty: it needs one `user_id item_id ...` line per user")
    flat = np.fromiter((v for chunk in chunks for v in chunk), dtype=np.int64, count=sum(lengths))
    return user_ids, np.asarray(lengths, dtype=np.int64), flat


def _parse_attributes(path: Path) -> dict[int, list[int]]:
    """``{"item_id": [attr_id, ...]}`` with integer keys and integer lists, checked per item."""
    raw = load_json_object(path, "item id -> [attribute id, ...]")
    out: dict[int, list[int]] = {}
    for key, value in raw.items():
        if not is_int_token(key):
            raise DataError(
                f"{path}: item id {key!r} is not an integer: keys must be the item ids of {SEQUENCES}"
            )
        if not isinstance(value, list) or not all(_is_int(v) for v in value):
            raise DataError(
                f"{path}: item {key}: expected a list of integer attribute ids, got {_short(value)}: "
                "fix that entry"
            )
        item = int(key)
        if item in out:
            raise DataError(f"{path}: item id {key!r} appears twice (as {item}): each item may appear once")
        out[item] = [int(v) for v in value]
    return out


def _parse_attribute_names(path: Path) -> dict[int, str]:
    raw = load_json_object(path, "field -> mapping (attribute_names, item_original_ids)")
    names = raw.get("attribute_names", {})
    if not isinstance(names, dict):
        raise DataError(f"{path}: field 'attribute_names' must map attribute id -> name, got {_short(names)}")
    out: dict[int, str] = {}
    for key, value in names.items():
        if not is_int_token(key) or not isinstance(value, str):
            raise DataError(
                f"{path}: attribute_names entry {key!r}: {_short(value)}: keys must be integer "
                "attribute ids and values strings"
            )
        out[int(key)] = value
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
