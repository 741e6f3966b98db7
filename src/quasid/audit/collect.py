"""The audit of one SID table: every figure ``quasid audit`` reports, gathered in one pass over the codes.

``audit_sids`` takes the semantic codes, the catalog (for the benign rules and item text) and,
optionally, the training interactions (for popularity and behaviour alignment) and a second
table to compare with. It computes each grouping once and shares it: the full-SID key feeds the
collision groups, the prefix labels feed fan-out, popularity and alignment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from quasid.audit.alignment import behaviour_alignment, transitions
from quasid.audit.changes import compare_codes
from quasid.audit.groups import CollisionGroups, collision_groups, group_summary
from quasid.audit.usage import fan_out, popularity_allocation, prefix_keys
from quasid.data.catalog import Catalog
from quasid.data.interactions import Interactions
from quasid.errors import DataError
from quasid.metrics import sid_metrics
from quasid.metrics.collisions import benign_links, benign_rules, collision_breakdown, content_summary


@dataclass
class SIDAudit:
    """What ``quasid audit`` found; ``summary`` is JSON-ready, the arrays feed the report's listings."""

    summary: dict[str, Any]
    codes: np.ndarray
    radices: list[int]
    catalog: Catalog
    groups: CollisionGroups | None
    rules: dict[str, np.ndarray]


def audit_sids(
    codes: np.ndarray,
    codebook_size: int | Sequence[int],
    catalog: Catalog,
    train: Interactions | None = None,
    against: tuple[np.ndarray, np.ndarray] | None = None,
) -> SIDAudit:
    """Audit semantic codes ``[N, L]`` (catalog order) against the catalog and the training events.

    ``against``: (item ids, semantic codes) of another table of the same catalog to compare with.
    """
    metrics = sid_metrics(codes, codebook_size, None)  # codes only: the catalog part is done below
    codes = np.asarray(codes, dtype=np.int64)
    if catalog.n_items != len(codes):
        raise DataError(
            f"catalog '{catalog.name}' has {catalog.n_items} items but the SID table {len(codes)}: "
            "audit a table of this catalog's items"
        )
    radices = list(metrics["codebook_size"])
    prefixes = prefix_keys(codes, radices)
    sid_key = prefixes.labels[-1]
    sid_sizes = np.bincount(sid_key, minlength=prefixes.bounds[-1])[sid_key]  # labels are bounded: no sort
    rules, missing = benign_rules(catalog)
    links = benign_links(sid_key, sid_sizes, rules)
    metrics.update(collision_breakdown(sid_key, sid_sizes, rules, links))
    metrics.update(content_summary(rules, missing))
    groups = collision_groups(links)
    summary: dict[str, Any] = {
        "catalog": catalog.name,
        "metrics": metrics,
        "collisions": group_summary(groups),
        "fan_out": fan_out(prefixes),
        "popularity": None,
        "alignment": None,
        "comparison": None,
    }
    if train is not None and train.n_events:
        summary["popularity"] = popularity_allocation(prefixes, codes, train.item_counts())
        a, b = transitions(train.users, train.items)
        summary["alignment"] = behaviour_alignment(prefixes.labels, a, b, catalog)
    if against is not None:
        summary["comparison"] = compare_codes(catalog.item_ids, codes, against[0], against[1])
    return SIDAudit(summary, codes, radices, catalog, groups, rules)
