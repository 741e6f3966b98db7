"""Semantic ID tables: assignment results, disambiguation, export."""

from quasid.sid.table import SIDTable, disambiguation_tokens

__all__ = ["SIDTable", "disambiguation_tokens"]
