"""Human-readable views of ``sid_metrics`` output: a CLI summary and a Markdown comparison.

Both accept the dict as ``sid_metrics`` returns it or as read back from JSON,
and print ``n/a`` for any figure a run did not produce (e.g. no catalog).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

_NA = "n/a"


def _pct(value: Any, digits: int = 2) -> str:
    return _NA if value is None else f"{100.0 * float(value):.{digits}f}%"


def _num(value: Any) -> str:
    return _NA if value is None else f"{int(value):,}"


def _mean(values: Sequence[float] | None) -> float | None:
    return None if not values else sum(values) / len(values)


def _levels(values: Sequence[float] | None, fmt: str = "{:.3f}") -> str:
    return _NA if values is None else " / ".join(fmt.format(v) for v in values)


def _hamming_line(label: str, hist: Mapping[str, Any] | None) -> str:
    if not hist:
        return f"hamming ({label}): {_NA}"
    parts = [f"h={h} {100.0 * f:.4g}%" for h, f in zip(hist["h"], hist["fraction"], strict=True)]
    return f"hamming ({label}, {hist['total_pairs']:,} pairs): " + ", ".join(parts)


def _close_pairs(hist: Mapping[str, Any] | None, max_h: int = 1) -> float | None:
    """Fraction of pairs at Hamming distance <= max_h ("overly similar compositions")."""
    if not hist:
        return None
    return float(sum(f for h, f in zip(hist["h"], hist["fraction"], strict=True) if h <= max_h))


def format_metrics(metrics: Mapping[str, Any]) -> str:
    """A short multi-line summary of one ``sid_metrics`` result, for the CLI."""
    sizes = metrics.get("codebook_size") or []
    k_text = str(sizes[0]) if sizes and len(set(sizes)) == 1 else "/".join(map(str, sizes))
    sem = metrics.get("semantic_levels", metrics.get("n_levels"))
    lines = [
        f"SIDs: {_num(metrics.get('n_items'))} items, {metrics.get('n_levels')} levels "
        f"({sem} semantic), K = {k_text}",
        f"collisions: {_pct(metrics.get('collision_rate'))} of items "
        f"({_num(metrics.get('colliding_items'))} items in {_num(metrics.get('n_colliding_sids'))} SIDs, "
        f"{_num(metrics.get('colliding_pairs'))} pairs); max {metrics.get('max_items_per_sid')} items/SID",
        f"unique SIDs: {_num(metrics.get('n_unique_sids'))} "
        f"(composition diversity {float(metrics.get('composition_diversity', 0.0)):.4f})",
    ]
    if metrics.get("harmful_collision_rate") is not None:
        lines.append(
            f"harmful: {_pct(metrics.get('harmful_collision_rate'))} of items "
            f"({_num(metrics.get('harmful_pairs'))} pairs); benign-only: "
            f"{_pct(metrics.get('benign_collision_rate'))} ({_num(metrics.get('benign_pairs'))} pairs); "
            f"content duplicates {_pct(metrics.get('content_duplicate_rate'))}, "
            f"missing {_pct(metrics.get('missing_rate'))}"
        )
    lines += [
        f"utilisation per level: {_levels(metrics.get('utilisation'))}",
        f"entropy per level: {_levels(metrics.get('entropy'))}",
        f"distinct prefixes: {_levels(metrics.get('distinct_prefixes'), '{:,}')} "
        f"({_levels(metrics.get('prefix_diversity'))} of items)",
        _hamming_line("all pairs", metrics.get("hamming_distribution")),
    ]
    if metrics.get("hamming_distribution_content_distinct") is not None:
        lines.append(_hamming_line("content-distinct", metrics.get("hamming_distribution_content_distinct")))
    return "\n".join(lines)


_COLUMNS = (
    "method",
    "items",
    "collision rate",
    "harmful rate",
    "benign rate",
    "unique SIDs",
    "max items/SID",
    "utilisation (mean)",
    "entropy (mean)",
    "pairs h<=1 (all pairs)",
)


def compare_metrics(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """A Markdown table of the headline figures, one row per method (``rows``: method -> metrics)."""
    align = ["---"] + ["---:"] * (len(_COLUMNS) - 1)
    lines = ["| " + " | ".join(_COLUMNS) + " |", "|" + "|".join(align) + "|"]
    for method, m in rows.items():
        util, ent = _mean(m.get("utilisation")), _mean(m.get("entropy"))
        close = _close_pairs(m.get("hamming_distribution"))
        cells = [
            str(method).replace("|", "\\|"),
            _num(m.get("n_items")),
            _pct(m.get("collision_rate")),
            _pct(m.get("harmful_collision_rate")),
            _pct(m.get("benign_collision_rate")),
            _num(m.get("n_unique_sids")),
            _num(m.get("max_items_per_sid")),
            _NA if util is None else f"{util:.3f}",
            _NA if ent is None else f"{ent:.3f}",
            _NA if close is None else f"{100.0 * close:.4g}%",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
