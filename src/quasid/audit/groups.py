"""Collision groups named: which items share a SID, whether the sharing is harmful, and why.

A collision group is the set of items behind one shared semantic SID. It is *benign* when
every pair in it is linked by a benign rule of ``quasid.metrics.collisions`` (same content,
same catalog group, both missing content) and *harmful* otherwise. For a harmful group the
audit says which rule did not fire: how many distinct content classes, group keys and
missing items the group holds. Everything is computed per item by grouping (no pair is
enumerated), so the table of every group of a 10M-item catalog is a handful of sorts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from quasid.metrics.collisions import BenignLinks

#: The paper's names (CAVPM's rules) for the benign rules of ``quasid.metrics.collisions``.
RULE_NAMES = {"content": "same_content", "group": "same_group", "missing": "missing"}


@dataclass
class CollisionGroups:
    """One row per colliding SID group, worst first (harmful before benign, most harmful pairs first).

    ``members`` / ``offsets``: item rows of group g are ``members[offsets[g]:offsets[g + 1]]``.
    ``harmful_pairs[g]``: pairs of the group that no rule links. ``classes[rule][g]``: distinct
    classes of that rule among the group's items (items a rule excludes, such as empty content,
    count as classes of their own). ``qualified_by[g]``: the rule whose single class holds the
    whole group, ``"mixed"`` when only a union of rules links every pair, ``""`` when harmful.
    """

    members: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    harmful_pairs: np.ndarray
    classes: dict[str, np.ndarray]
    qualified_by: np.ndarray

    @property
    def n_groups(self) -> int:
        return len(self.sizes)

    @property
    def n_harmful(self) -> int:
        return int(np.count_nonzero(self.harmful_pairs > 0))

    def items(self, g: int) -> np.ndarray:
        return self.members[self.offsets[g] : self.offsets[g + 1]]

    def is_harmful(self, g: int) -> bool:
        return bool(self.harmful_pairs[g] > 0)

    def why_harmful(self, g: int, rules: dict[str, np.ndarray]) -> str:
        """Which rule did not fire, in words: the classes each rule splits the group into."""
        size = int(self.sizes[g])
        parts = []
        for rule in self.classes:
            k = int(self.classes[rule][g])
            name = RULE_NAMES.get(rule, rule)
            if rule == "missing":
                linked = int(np.count_nonzero(rules[rule][self.items(g)] == 0))
                parts.append(f"{name}: {linked} of {size} items lack content")
            else:
                parts.append(f"{name}: {k} classes for {size} items")
        return "; ".join(parts) if parts else "no benign rule applies to this catalog"


def collision_groups(links: BenignLinks) -> CollisionGroups:
    """Every colliding SID group from the per-item rule links, worst first."""
    m = len(links.colliding)
    n_groups = links.n_groups
    sizes = np.bincount(links.group, minlength=n_groups).astype(np.int64)
    harmful_partners = links.sizes - links.linked
    harmful_pairs = np.bincount(links.group, weights=harmful_partners, minlength=n_groups)
    harmful_pairs = np.rint(harmful_pairs / 2).astype(np.int64)
    # distinct classes of a rule in a group = sum over its items of 1 / (their class size)
    classes = {
        rule: np.rint(np.bincount(links.group, weights=1.0 / cs, minlength=n_groups)).astype(np.int64)
        for rule, cs in links.class_sizes.items()
    }
    qualified = np.full(n_groups, "", dtype=object)
    benign = harmful_pairs == 0
    qualified[benign] = "mixed"
    for rule in reversed(list(classes)):  # the first rule in order wins where several hold the group
        qualified[benign & (classes[rule] == 1)] = RULE_NAMES.get(rule, rule)
    order = np.lexsort((np.arange(n_groups), -sizes, -harmful_pairs))
    rank = np.empty(n_groups, dtype=np.int64)
    rank[order] = np.arange(n_groups)
    # ``colliding`` is ascending, so a stable sort on the group rank keeps items in row order within a group
    by_item = np.argsort(rank[links.group], kind="stable") if m else np.zeros(0, np.int64)
    members = links.colliding[by_item]
    offsets = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(sizes[order], out=offsets[1:])
    return CollisionGroups(
        members=members,
        offsets=offsets,
        sizes=sizes[order],
        harmful_pairs=harmful_pairs[order],
        classes={rule: c[order] for rule, c in classes.items()},
        qualified_by=qualified[order],
    )


def group_summary(groups: CollisionGroups) -> dict[str, Any]:
    """Counts for audit.json: groups harmful / benign, and benign groups by the rule that qualified them."""
    harmful = groups.harmful_pairs > 0
    rules, counts = np.unique(groups.qualified_by[~harmful].astype(str), return_counts=True)
    return {
        "colliding_groups": groups.n_groups,
        "harmful_groups": int(np.count_nonzero(harmful)),
        "benign_groups": int(np.count_nonzero(~harmful)),
        "benign_groups_by_rule": {str(r): int(c) for r, c in zip(rules, counts, strict=True)},
        "largest_harmful_group": int(groups.sizes[harmful].max()) if harmful.any() else 0,
    }
