"""Precomputed content embeddings from a ``.npy`` file (what ``quasid embed`` writes).

Rows are in catalog order. The file is the one place a user hands quasid raw
vectors, so it is checked here, naming the file and the items: its shape
against the catalog, and NaN / inf rows.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from quasid.data.catalog import Catalog, validate_embeddings
from quasid.data.readers._common import require_file
from quasid.errors import DataError


def read_embeddings(path: str | os.PathLike[str], catalog: Catalog) -> np.ndarray:
    """The ``[n_items, dim]`` float32 matrix stored at ``path`` for ``catalog``'s items, validated."""
    path = require_file(Path(path), "embedding (.npy)")
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode="r")
    except (ValueError, OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())
        raise DataError(
            f"{path}: not a readable .npy embedding matrix ({reason}): write it with numpy.save "
            "or `quasid embed`"
        ) from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise DataError(f"{path}: is an .npz archive, not a .npy matrix: save the matrix with numpy.save")
    return validate_embeddings(arr, catalog.n_items, source=str(path), item_ids=catalog.item_ids)
