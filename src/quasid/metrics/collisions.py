"""Benign versus harmful collisions, counted exactly by grouping.

A fully colliding pair (same semantic SID) is *benign* when the tokenizer could
not or should not tell the two items apart (QUASID.md section 1): same
non-empty content key, same non-empty catalog group key, or both items missing
content. Otherwise it is *harmful*.

Each rule is an equivalence relation on items ("same label", with excluded
items given labels of their own), and so is any intersection of rules
("same label under each rule"). For item i in a colliding SID group, the set of
its group mates linked to it by at least one rule is a union of rule classes,
whose size follows from inclusion-exclusion over the class sizes of every
non-empty rule subset, each a ``group_sizes`` call on (SID, labels...). So the
counts are exact, vectorised and O(2^R N log N) for R <= 3 rules, for SID groups
of any size; no pair is ever enumerated.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from quasid.data.catalog import Catalog
from quasid.metrics.grouping import combine_keys, densify, factorize, group_sizes, pair_count


def benign_rules(catalog: Catalog) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-rule item labels (linked by a rule iff labels are equal), and the missing mask.

    Labels lie in ``0..2N-1``. Rules that link no pair at all are left out
    (they cannot change any count), except ``content``, which is always present
    because the content-distinct Hamming distribution needs it.
    """
    n = catalog.n_items
    content = catalog.content_labels()
    rules: dict[str, np.ndarray] = {"content": factorize(content, exclude=content < 0)}
    if catalog.group_keys is not None:
        groups = np.asarray(catalog.group_keys, dtype=object)
        labels = factorize(groups, exclude=groups == "")
        if pair_count(labels)[1] > 0:
            rules["group"] = labels
    missing = np.asarray(catalog.missing_mask(content), dtype=bool)
    if missing.sum() >= 2:
        labels = np.arange(1, n + 1, dtype=np.int64)
        labels[missing] = 0
        rules["missing"] = labels
    return rules, missing


@dataclass
class BenignLinks:
    """Per colliding item: its SID group, how many group mates each rule links to it, and in all.

    ``colliding`` are the item rows whose SID is shared; ``group`` their SID group (``0..n_groups-1``);
    ``linked`` the size of the union of their rule classes inside the group (itself included), so
    ``sizes - linked`` is the item's harmful partners; ``class_sizes[rule]`` the size of its class
    under that rule alone (1 when the rule links it to no mate).
    """

    colliding: np.ndarray
    group: np.ndarray
    n_groups: int
    sizes: np.ndarray
    linked: np.ndarray
    class_sizes: dict[str, np.ndarray]


def benign_links(sid_key: np.ndarray, sid_sizes: np.ndarray, rules: dict[str, np.ndarray]) -> BenignLinks:
    """Rule links among items that share their SID, by inclusion-exclusion over rule subsets."""
    label_radix = 2 * len(sid_key)
    colliding = np.flatnonzero(sid_sizes >= 2)
    m = len(colliding)
    sid_sub, n_sids = densify(sid_key[colliding]) if m else (np.zeros(0, np.int64), 0)
    linked = np.ones(m, dtype=np.int64)
    class_sizes = {name: np.ones(m, dtype=np.int64) for name in rules}
    if m and rules:
        sub_labels = {name: labels[colliding] for name, labels in rules.items()}
        linked[:] = 0
        names = list(rules)
        for r in range(1, len(names) + 1):
            sign = 1 if r % 2 else -1
            for subset in combinations(names, r):
                key = combine_keys([sid_sub, *(sub_labels[s] for s in subset)], [n_sids] + [label_radix] * r)
                sizes = group_sizes(key)
                linked += sign * sizes
                if r == 1:
                    class_sizes[subset[0]] = sizes
    return BenignLinks(colliding, sid_sub, n_sids, sid_sizes[colliding], linked, class_sizes)


def collision_breakdown(
    sid_key: np.ndarray,
    sid_sizes: np.ndarray,
    rules: dict[str, np.ndarray],
    links: BenignLinks | None = None,
) -> dict[str, object]:
    """Benign / harmful pair counts and item rates for items that share their SID.

    ``sid_key`` is one int64 key per item (equal iff the semantic SIDs are
    equal), ``sid_sizes`` the size of each item's SID group. Returned rates:
    ``harmful_collision_rate`` = items colliding with at least one item not
    benign-linked to them; ``benign_collision_rate`` = items that collide but
    only benignly (so the two add up to ``collision_rate``). ``links``: the
    ``benign_links`` of the same arguments, when the caller already has them.
    """
    n = len(sid_key)
    links = benign_links(sid_key, sid_sizes, rules) if links is None else links
    m = len(links.colliding)
    by_rule = {name: int((sizes - 1).sum() // 2) for name, sizes in links.class_sizes.items()}
    harmful_partners = links.sizes - links.linked
    benign_partners = links.linked - 1
    harmful_items = int(np.count_nonzero(harmful_partners > 0))
    return {
        "benign_pairs": int(benign_partners.sum() // 2),
        "harmful_pairs": int(harmful_partners.sum() // 2),
        "benign_pairs_by_rule": by_rule,
        "harmful_colliding_items": harmful_items,
        "harmful_collision_rate": harmful_items / n,
        "benign_collision_rate": (m - harmful_items) / n,
    }


def content_summary(rules: dict[str, np.ndarray], missing: np.ndarray) -> dict[str, object]:
    """Catalog-only floors: content duplicates (what any content-only tokenizer must collide) and missing."""
    n = len(missing)
    dup = int(np.count_nonzero(group_sizes(rules["content"]) >= 2))
    n_missing = int(np.count_nonzero(missing))
    return {
        "content_duplicate_rate": dup / n,
        "content_duplicate_items": dup,
        "missing_rate": n_missing / n,
    }
