"""Data containers, readers for the supported dataset layouts, and evaluation splits."""

from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.interactions import Interactions
from quasid.data.readers import (
    data_root,
    detect_format,
    load_dataset,
    read_embeddings,
    read_lcrec,
    read_recbole,
    read_s3rec,
    read_table,
    resolve_path,
)
from quasid.data.splits import ColdStart, LeaveOneOut, cold_start_split, leave_one_out

__all__ = [
    "Catalog",
    "ColdStart",
    "Dataset",
    "Interactions",
    "LeaveOneOut",
    "cold_start_split",
    "data_root",
    "detect_format",
    "leave_one_out",
    "load_dataset",
    "read_embeddings",
    "read_lcrec",
    "read_recbole",
    "read_s3rec",
    "read_table",
    "resolve_path",
]
