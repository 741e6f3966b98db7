"""Shared plumbing for the readers: checked file access and id bookkeeping.

Every reader goes through these helpers so that a bad file always produces the
same kind of ``DataError``: it names the file, says where (line, byte, key) and
says what to do, instead of surfacing a bare ``UnicodeDecodeError`` or
``JSONDecodeError`` from deep inside the parser.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from quasid.data.catalog import Catalog
from quasid.data.interactions import Interactions
from quasid.errors import DataError, DataWarning

_INT_RE = re.compile(r"^[+-]?\d+$")


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else a ``DataError`` saying which file is missing."""
    if not path.is_file():
        where = path.parent if path.parent.is_dir() else "(folder does not exist)"
        raise DataError(
            f"{path}: required {what} file is missing (looked in {where}): add it or fix the path"
        )
    return path


def read_text(path: Path) -> str:
    """Read a UTF-8 text file; non-UTF-8 bytes raise a ``DataError`` with the byte offset and line.

    A leading UTF-8 byte-order mark is dropped (spreadsheet exports write one).
    """
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = data[exc.start : exc.start + 4]
        raise DataError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} (line {line}, bytes {bad!r}): "
            "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
        ) from None
    return text.removeprefix("\ufeff")


def _no_duplicate_keys(path: Path) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):
            seen: set[str] = set()
            dups = []
            for key, _ in pairs:
                if key in seen:
                    dups.append(key)
                seen.add(key)
            raise DataError(
                f"{path}: duplicate key(s) {dups[:5]} in one JSON object: "
                "each item / user / field may appear only once; merge or remove the repeats"
            )
        return out

    return hook


def load_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors name the file, line and column; duplicate keys are errors.

    JSON silently keeps the last of two equal keys, which would drop an item or
    a user without notice, so duplicates are rejected here.
    """
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: file is empty: it should hold a JSON object")
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys(path))
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}:{exc.lineno}:{exc.colno}: malformed JSON ({exc.msg}): "
            "fix the file (e.g. check it with `python -m json.tool`) or regenerate it"
        ) from None


def load_json_object(path: Path, what: str) -> dict[str, Any]:
    """``load_json`` for files whose top level must be an object (``{key: value}``)."""
    obj = load_json(path)
    if not isinstance(obj, dict):
        raise DataError(
            f"{path}: expected a JSON object mapping {what}, got a {type(obj).__name__}: "
            'wrap the entries as {"key": value, ...}'
        )
    return obj


def is_int_token(token: str) -> bool:
    return bool(_INT_RE.match(token.strip()))


def sorted_ids(ids: Iterable[str]) -> list[str]:
    """Distinct ids, numerically sorted when all are integers, else lexically.

    Used when the catalog is derived from an interaction log, so the row order
    does not depend on which user happened to come first in the file.
    """
    uniq = set(ids)
    if all(is_int_token(i) for i in uniq):
        return [str(v) for v in sorted(int(i) for i in uniq)]
    return sorted(uniq)


def factorize(values: Sequence[str] | pa.Array) -> tuple[np.ndarray, list[str]]:
    """Codes and distinct values in first-appearance order (pyarrow's C dictionary encoder)."""
    arr = values if isinstance(values, pa.Array) else pa.array(values, type=pa.string())
    enc = arr.dictionary_encode()
    codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return codes, enc.dictionary.to_pylist()


def check_unique(ids: Sequence[str], source: str, what: str = "item id") -> None:
    """Reject repeated ids naming up to five of them and the file they came from."""
    if len(set(ids)) == len(ids):
        return
    seen: set[str] = set()
    dups: list[str] = []
    for i in ids:
        if i in seen and i not in dups:
            dups.append(i)
        seen.add(i)
    raise DataError(
        f"{source}: duplicate {what}(s) {dups[:5]} ({len(dups)} in all): "
        f"each {what} must appear once; drop or merge the repeated rows"
    )


def item_rows(catalog: Catalog, item_ids: Sequence[str], source: str, catalog_source: str) -> np.ndarray:
    """Map external item ids to catalog rows; unknown ids are a ``DataError`` naming them and both files."""
    index = {k: i for i, k in enumerate(catalog.item_ids.tolist())}
    codes, uniq = factorize(item_ids)
    rows_of_uniq = np.fromiter((index.get(u, -1) for u in uniq), dtype=np.int64, count=len(uniq))
    missing = [u for u, r in zip(uniq, rows_of_uniq, strict=True) if r < 0]
    if missing:
        raise DataError(
            f"{source}: {len(missing)} item id(s) are not in the item file {catalog_source}, "
            f"e.g. {missing[:5]}: add them to the item file or drop those interactions"
        )
    return rows_of_uniq[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def log_from_sequences(
    user_ids: list[str], lengths: np.ndarray, rows: np.ndarray, n_items: int
) -> Interactions:
    """An ``Interactions`` from per-user runs laid end to end; the order key is the position in the run."""
    users = np.repeat(np.arange(len(user_ids), dtype=np.int64), lengths)
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    order = np.arange(len(rows), dtype=np.int64) - starts
    return build_interactions(users, user_ids, rows, order, n_items)


def build_interactions(
    user_codes: np.ndarray, user_ids: list[str], items: np.ndarray, order: np.ndarray, n_items: int
) -> Interactions:
    """Thin wrapper so all readers build the log the same way."""
    return Interactions(
        users=user_codes,
        items=items,
        order=order,
        user_ids=np.asarray(user_ids, dtype=object),
        n_items=n_items,
    )


# --- fallbacks: where a reader goes on with a default, it says so once (an error when strict) ----------


def warn_fallback(message: str) -> None:
    """One ``DataWarning`` for one kind of fallback, naming the count and an example id.

    Under ``quasid.errors.strict_data()`` (``quasid --strict``) it is raised, as a DataError.
    """
    warnings.warn(DataWarning(message), stacklevel=3)


def warn_items_without_text(path: Path, item_ids: Sequence[str], fields: dict[str, list[str]]) -> None:
    """Warn about items whose every text field is empty: they reach the tokenizer as missing content."""
    if not fields or not item_ids:
        return
    has_text = np.zeros(len(item_ids), dtype=bool)
    for values in fields.values():
        has_text |= np.fromiter((bool(v.strip()) for v in values), dtype=bool, count=len(item_ids))
    empty = np.flatnonzero(~has_text)
    if len(empty):
        warn_fallback(
            f"{path}: {len(empty)} item(s) have no text (every field of {sorted(fields)} empty), e.g. item "
            f"{item_ids[int(empty[0])]!r}: they are read as missing-content items; give them text, or give "
            "every item a vector with --embeddings FILE.npy"
        )


def warn_repeated_events(
    source: str,
    users: np.ndarray,
    items: np.ndarray,
    times: np.ndarray,
    user_ids: Sequence[str],
    item_ids: Sequence[str],
    time_name: str,
) -> None:
    """Warn about events equal to an earlier one in user, item and time (both are kept)."""
    if len(items) < 2:
        return
    order = np.lexsort((times, items, users))
    u, i, t = users[order], items[order], times[order]
    same = (u[1:] == u[:-1]) & (i[1:] == i[:-1]) & (t[1:] == t[:-1])
    count = int(same.sum())
    if count:
        k = int(order[1:][same][0])
        warn_fallback(
            f"{source}: {count} event(s) repeat an earlier one (same user, item and {time_name}), e.g. user "
            f"{user_ids[int(users[k])]!r}, item {item_ids[int(items[k])]!r} at {times[k]}: both are kept; "
            "drop the repeats if they are logging errors"
        )
