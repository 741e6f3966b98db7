"""Readers for the dataset layouts quasid understands; each returns a ``Dataset``.

One module per layout (S3-Rec, LC-Rec, RecBole, generic tables) plus
``load_dataset``, which detects the layout. All malformed input surfaces as a
``quasid.errors.DataError`` naming the file and the place in it.
"""

from quasid.data.readers.auto import data_root, detect_format, load_dataset, resolve_path
from quasid.data.readers.embeddings import read_embeddings
from quasid.data.readers.lcrec import read_lcrec
from quasid.data.readers.recbole import read_recbole
from quasid.data.readers.s3rec import read_s3rec
from quasid.data.readers.table import read_table

__all__ = [
    "data_root",
    "detect_format",
    "load_dataset",
    "read_embeddings",
    "read_lcrec",
    "read_recbole",
    "read_s3rec",
    "read_table",
    "resolve_path",
]
