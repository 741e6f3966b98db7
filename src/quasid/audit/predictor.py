"""The cheap probes of a SID table, and the one that ranked the committed benches' tables best.

``cheap_probes`` reads probes straight off ``sid_metrics`` output (no interactions, no table), so
``quasid fit`` can print them for free. ``benchmarks/what_predicts.py`` measures, over every
committed bench, which probe ranks SID tables by their downstream SASRec NDCG@10; when one clears
its bar it writes ``quasid/audit/evidence.py``, and ``predictor_line`` quotes that finding next to
the new table's own value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: Probe -> what it measures; each is computed from ``sid_metrics`` output alone.
CHEAP_PROBES = {
    "collision_rate": "items sharing their semantic SID",
    "harmful_rate": "items in a harmful collision",
    "benign_rate": "items colliding only benignly",
    "unique_sid_share": "distinct SIDs / items",
    "utilisation": "codes used / K, mean over levels",
    "entropy": "code entropy / log K, mean over levels",
    "prefix_share_1": "distinct first codes / items",
    "prefix_share_2": "distinct 2-code prefixes / items",
    "close_pairs": "item pairs at Hamming distance <= 1",
    "max_items_per_sid": "largest SID group",
}


def cheap_probes(m: Mapping[str, Any]) -> dict[str, float | None]:
    """The ``CHEAP_PROBES`` of one ``sid_metrics`` result (None where the run lacks the figure)."""
    hist = m.get("hamming_distribution") or {}
    close = sum(f for h, f in zip(hist.get("h", []), hist.get("fraction", []), strict=True) if h <= 1)
    prefixes = m.get("prefix_diversity") or []
    return {
        "collision_rate": m.get("collision_rate"),
        "harmful_rate": m.get("harmful_collision_rate"),
        "benign_rate": m.get("benign_collision_rate"),
        "unique_sid_share": m.get("composition_diversity"),
        "utilisation": float(np.mean(m["utilisation"])) if m.get("utilisation") else None,
        "entropy": float(np.mean(m["entropy"])) if m.get("entropy") else None,
        "prefix_share_1": prefixes[0] if len(prefixes) > 0 else None,
        "prefix_share_2": prefixes[1] if len(prefixes) > 1 else None,
        "close_pairs": float(close) if hist else None,
        "max_items_per_sid": float(m["max_items_per_sid"])
        if m.get("max_items_per_sid") is not None
        else None,
    }


def predictor_line(metrics: Mapping[str, Any]) -> str | None:
    """One line for ``quasid fit``: the best cheap probe of the study and this table's value, if any."""
    from quasid.audit.evidence import EVIDENCE

    probe = EVIDENCE.get("probe")
    if not probe or probe not in CHEAP_PROBES:
        return None
    value = cheap_probes(metrics).get(probe)
    if value is None:
        return None
    better = "lower" if EVIDENCE["rho"] < 0 else "higher"
    return (
        f"downstream probe: {probe} ({CHEAP_PROBES[probe]}) = {value:.4f}; {better} ranked better on "
        f"{EVIDENCE['tables']} tables of {EVIDENCE['group']} (Spearman {EVIDENCE['rho']:+.2f}, "
        f"95 % interval [{EVIDENCE['ci95'][0]:+.2f}, {EVIDENCE['ci95'][1]:+.2f}]; docs/what-predicts.md)"
    )
