"""Intrinsic Semantic ID metrics: collisions (benign / harmful), codebook usage, Hamming distances."""

from quasid.metrics.intrinsic import sid_metrics
from quasid.metrics.report import compare_metrics, format_metrics

__all__ = ["compare_metrics", "format_metrics", "sid_metrics"]
