"""Semantic ID tables: assignment results, disambiguation, export."""

from quasid.sid.incremental import DriftReport, assign_incremental, merge_new_items
from quasid.sid.table import SIDTable, disambiguation_tokens

__all__ = ["DriftReport", "SIDTable", "assign_incremental", "disambiguation_tokens", "merge_new_items"]
