"""Benchmarks of SID methods: methods x seeds x recommenders on one dataset, into one report folder.

``config``: ``BenchConfig`` (TOML + ``--set``); ``methods``: where each method's SIDs come from;
``recommenders``: one cell (train + evaluate a downstream model); ``runner``: the resumable loop
(``run_bench``); ``report`` / ``plots``: report.md and plots/*.png, rendered from results.json only.
"""

from quasid.bench.config import BenchConfig, MethodSpec, RecommenderSettings
from quasid.bench.report import render
from quasid.bench.runner import merge_folders, run_bench

__all__ = ["BenchConfig", "MethodSpec", "RecommenderSettings", "merge_folders", "render", "run_bench"]
