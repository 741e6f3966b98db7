"""Tests for quasid.metrics: hand-checked cases, brute-force O(N^2) references, real LC-Rec SIDs."""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid.data.catalog import Catalog
from quasid.errors import ConfigError, DataError
from quasid.metrics import compare_metrics, format_metrics, sid_metrics
from quasid.metrics.grouping import combine_keys, pair_count

DATA = Path(os.environ.get("QUASID_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))

# Five items, written out: a=b share the full SID; c differs from a only at level 3;
# d differs from a only at level 1; e differs from everything everywhere.
FIVE = np.array([[0, 1, 2], [0, 1, 2], [0, 1, 3], [1, 1, 2], [2, 0, 0]])


def brute_force(codes: np.ndarray, catalog: Catalog | None, sem: int) -> dict[str, Any]:
    """Reference figures by looping over every pair: slow, obviously right."""
    n = len(codes)
    sem_codes = codes[:, :sem]
    hist = [0] * (sem + 1)
    hist_cd = [0] * (sem + 1)
    benign = harmful = 0
    partners: list[set[int]] = [set() for _ in range(n)]
    harmful_items: set[int] = set()
    keys = catalog.content_keys() if catalog is not None else None
    groups = catalog.group_keys if catalog is not None else None
    missing = catalog.missing_mask() if catalog is not None else None
    for i, j in itertools.combinations(range(n), 2):
        h = int(sum(sem_codes[i, lvl] != sem_codes[j, lvl] for lvl in range(sem)))
        hist[h] += 1
        same_content = keys is not None and keys[i] != "" and keys[i] == keys[j]
        if not same_content:
            hist_cd[h] += 1
        if h == 0:
            partners[i].add(j)
            partners[j].add(i)
            if catalog is not None:
                same_group = groups is not None and groups[i] != "" and groups[i] == groups[j]
                both_missing = bool(missing[i] and missing[j])
                if same_content or same_group or both_missing:
                    benign += 1
                else:
                    harmful += 1
                    harmful_items.update((i, j))
    colliding = sum(1 for p in partners if p)
    out: dict[str, Any] = {
        "hamming": hist,
        "collision_rate": colliding / n,
        "colliding_pairs": hist[0],
        "n_unique_sids": len({tuple(row) for row in sem_codes.tolist()}),
    }
    if catalog is not None:
        dup = sum(1 for i in range(n) if keys[i] != "" and sum(keys[i] == k for k in keys) >= 2)
        out.update(
            hamming_cd=hist_cd,
            benign_pairs=benign,
            harmful_pairs=harmful,
            harmful_collision_rate=len(harmful_items) / n,
            benign_collision_rate=(colliding - len(harmful_items)) / n,
            content_duplicate_rate=dup / n,
        )
    return out


def assert_matches_brute_force(
    codes: np.ndarray, k: int | list[int], catalog: Catalog | None, sem: int
) -> None:
    got = sid_metrics(codes, k, catalog, semantic_levels=sem)
    ref = brute_force(codes, catalog, sem)
    assert got["hamming_distribution"]["pairs"] == ref["hamming"]
    assert got["colliding_pairs"] == ref["colliding_pairs"]
    assert got["collision_rate"] == pytest.approx(ref["collision_rate"])
    assert got["n_unique_sids"] == ref["n_unique_sids"]
    if catalog is not None:
        assert got["hamming_distribution_content_distinct"]["pairs"] == ref["hamming_cd"]
        for key in ("benign_pairs", "harmful_pairs"):
            assert got[key] == ref[key], key
        for key in ("harmful_collision_rate", "benign_collision_rate", "content_duplicate_rate"):
            assert got[key] == pytest.approx(ref[key]), key


def assert_plain_json(value: Any) -> None:
    """Only built-in JSON types, recursively (np.float64 passes json.dumps but is not plain)."""
    assert type(value) in (dict, list, int, float, str, bool, type(None)), type(value)
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            assert_plain_json(item)


def test_five_items_by_hand() -> None:
    m = sid_metrics(FIVE, 4)
    # pairs: ab h0; ac ad bc bd h1; cd h2; ae be ce de h3
    assert m["hamming_distribution"]["pairs"] == [1, 4, 1, 4]
    assert m["hamming_distribution"]["fraction"] == [0.1, 0.4, 0.1, 0.4]
    assert m["hamming_distribution"]["total_pairs"] == 10
    assert m["collision_rate"] == 0.4
    assert m["n_unique_sids"] == 4
    assert m["n_colliding_sids"] == 1
    assert m["colliding_pairs"] == 1
    assert m["max_items_per_sid"] == 2
    assert m["items_per_sid_hist"] == {"1": 3, "2": 1}
    assert m["distinct_prefixes"] == [3, 3, 4]
    assert m["prefix_diversity"] == [0.6, 0.6, 0.8]
    assert m["composition_diversity"] == 0.8
    assert m["codes_used"] == [3, 2, 3]
    assert m["utilisation"] == [0.75, 0.5, 0.75]
    # level 2 holds codes {1: 4 items, 0: 1 item}
    h2 = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2))
    assert m["entropy"][1] == pytest.approx(h2 / math.log(4))
    assert m["harmful_pairs"] is None and m["hamming_distribution_content_distinct"] is None
    assert_plain_json(m)
    json.dumps(m)


def test_five_items_with_catalog_by_hand() -> None:
    # a, b collide. Same text -> benign; different text, no other link -> harmful.
    texts = ["lipstick red", "lipstick red", "x", "y", "z"]
    m = sid_metrics(FIVE, 4, Catalog(item_ids=list("abcde"), texts=texts))
    assert (m["benign_pairs"], m["harmful_pairs"]) == (1, 0)
    assert m["harmful_collision_rate"] == 0.0 and m["benign_collision_rate"] == 0.4
    assert m["content_duplicate_rate"] == 0.4
    # the a-b pair is gone from the content-distinct distribution, the rest stay
    assert m["hamming_distribution_content_distinct"]["pairs"] == [0, 4, 1, 4]
    texts[1] = "lipstick pink"
    m = sid_metrics(FIVE, 4, Catalog(item_ids=list("abcde"), texts=texts))
    assert (m["benign_pairs"], m["harmful_pairs"]) == (0, 1)
    assert m["harmful_collision_rate"] == 0.4 and m["benign_collision_rate"] == 0.0
    assert m["content_duplicate_rate"] == 0.0
    # same non-empty group key makes it benign again; an empty group key does not
    groups = ["fam1", "fam1", "", "", ""]
    m = sid_metrics(FIVE, 4, Catalog(item_ids=list("abcde"), texts=texts, group_keys=groups))
    assert (m["benign_pairs"], m["harmful_pairs"]) == (1, 0)
    assert m["benign_pairs_by_rule"] == {"content": 0, "group": 1}
    m = sid_metrics(FIVE, 4, Catalog(item_ids=list("abcde"), texts=texts, group_keys=["", "", "", "", ""]))
    assert m["harmful_pairs"] == 1


def test_pair_benign_by_several_rules_counted_once() -> None:
    # four items, one SID; every rule links 0-1; 2-3 both missing; 0-2 only harmful
    codes = np.zeros((4, 2), dtype=np.int64)
    catalog = Catalog(
        item_ids=["0", "1", "2", "3"],
        texts=["same", "same", "", ""],
        group_keys=["g", "g", "", ""],
        missing=[True, True, True, True],
    )
    m = sid_metrics(codes, 3, catalog)
    # all 6 pairs are both-missing, so all benign even though only 0-1 share content
    assert (m["benign_pairs"], m["harmful_pairs"]) == (6, 0)
    catalog.missing = np.array([True, True, False, False])
    m = sid_metrics(codes, 3, catalog)
    # 0-1 benign (content + group + missing, counted once); the other 5 pairs harmful
    assert (m["benign_pairs"], m["harmful_pairs"]) == (1, 5)
    assert m["harmful_collision_rate"] == 1.0
    assert_matches_brute_force(codes, 3, catalog, 2)


def test_empty_content_is_not_a_duplicate() -> None:
    # items without text get no shared content key; derived missing mask links them instead
    codes = np.zeros((3, 1), dtype=np.int64)
    catalog = Catalog(item_ids=["a", "b", "c"], texts=["", "", "t"])
    m = sid_metrics(codes, 2, catalog)
    assert m["content_duplicate_rate"] == 0.0
    assert m["missing_rate"] == pytest.approx(2 / 3)
    assert (m["benign_pairs"], m["harmful_pairs"]) == (1, 2)
    assert m["benign_pairs_by_rule"] == {"content": 0, "missing": 1}


def test_uniform_and_degenerate_codebooks() -> None:
    k = 8
    uniform = np.stack([np.arange(k), (np.arange(k) * 3) % k], axis=1)
    m = sid_metrics(uniform, k)
    assert m["utilisation"] == [1.0, 1.0]
    assert m["entropy"] == pytest.approx([1.0, 1.0])
    assert m["perplexity"] == pytest.approx([8.0, 8.0])
    assert m["collision_rate"] == 0.0
    degenerate = np.zeros((10, 2), dtype=np.int32)
    m = sid_metrics(degenerate, [k, 4])
    assert m["utilisation"] == [1 / k, 1 / 4]
    assert m["entropy"] == [0.0, 0.0]
    assert m["collision_rate"] == 1.0 and m["max_items_per_sid"] == 10
    assert m["colliding_pairs"] == 45 and m["hamming_distribution"]["pairs"] == [45, 0, 0]
    assert m["items_per_sid_hist"] == {"10": 1}


def test_semantic_levels_exclude_disambiguation_column() -> None:
    disambig = np.array([[0], [1], [0], [0], [0]])
    codes = np.hstack([FIVE, disambig])
    full = sid_metrics(codes, [4, 4, 4, 2])
    assert full["collision_rate"] == 0.0 and full["n_unique_sids"] == 5
    assert len(full["hamming_distribution"]["pairs"]) == 5
    sem = sid_metrics(codes, [4, 4, 4, 2], semantic_levels=3)
    assert sem["collision_rate"] == 0.4 and sem["n_unique_sids"] == 4
    assert sem["hamming_distribution"]["pairs"] == [1, 4, 1, 4]
    # per-level and prefix figures still cover the disambiguation column
    assert len(sem["utilisation"]) == 4 and sem["distinct_prefixes"] == [3, 3, 4, 5]


def test_codebooks_too_large_to_pack_fall_back_exactly() -> None:
    # 3 levels of K = 2^40 cannot be packed into one int64; the densifying fallback must agree
    rng = np.random.default_rng(3)
    small = rng.integers(0, 3, size=(200, 3))
    big_k = 1 << 40
    spread = small * (big_k // 3)
    a = sid_metrics(small, 3)
    b = sid_metrics(spread, big_k)
    keys_to_compare = ("hamming_distribution", "collision_rate", "n_unique_sids", "distinct_prefixes")
    for key in keys_to_compare:
        assert a[key] == b[key], key
    keys = combine_keys([spread[:, 0], spread[:, 1], spread[:, 2]], [big_k] * 3)
    assert pair_count(keys) == pair_count(combine_keys([small[:, 0], small[:, 1], small[:, 2]], [3] * 3))


def test_large_sid_group_matches_brute_force() -> None:
    # one SID group of ~150 items with mixed content / group / missing links
    rng = np.random.default_rng(7)
    n = 300
    codes = rng.integers(0, 2, size=(n, 2))
    texts = [rng.choice(["", "a", "b", "c", "d"]) for _ in range(n)]
    groups = [rng.choice(["", "g1", "g2"]) for _ in range(n)]
    missing = rng.random(n) < 0.2
    catalog = Catalog(item_ids=[str(i) for i in range(n)], texts=texts, group_keys=groups, missing=missing)
    assert sid_metrics(codes, 2, catalog)["max_items_per_sid"] > 64
    assert_matches_brute_force(codes, 2, catalog, 2)


@st.composite
def coded_catalogs(draw: st.DrawFn) -> tuple[np.ndarray, list[int], Catalog | None, int]:
    n = draw(st.integers(1, 30))
    n_levels = draw(st.integers(1, 4))
    ks = [draw(st.integers(1, 3)) for _ in range(n_levels)]
    codes = np.array([[draw(st.integers(0, k - 1)) for k in ks] for _ in range(n)], dtype=np.int64)
    sem = draw(st.integers(1, n_levels))
    if not draw(st.booleans()):
        return codes, ks, None, sem
    texts = draw(st.lists(st.sampled_from(["", "a", "b", "c"]), min_size=n, max_size=n))
    groups = draw(st.one_of(st.none(), st.lists(st.sampled_from(["", "g", "h"]), min_size=n, max_size=n)))
    missing = draw(st.one_of(st.none(), st.lists(st.booleans(), min_size=n, max_size=n)))
    catalog = Catalog(item_ids=[str(i) for i in range(n)], texts=texts, group_keys=groups, missing=missing)
    return codes, ks, catalog, sem


@settings(max_examples=150, deadline=None)
@given(coded_catalogs())
def test_matches_brute_force_property(case: tuple[np.ndarray, list[int], Catalog | None, int]) -> None:
    codes, ks, catalog, sem = case
    assert_matches_brute_force(codes, ks, catalog, sem)
    m = sid_metrics(codes, ks, catalog, semantic_levels=sem)
    assert_plain_json(m)
    assert sum(m["hamming_distribution"]["pairs"]) == len(codes) * (len(codes) - 1) // 2
    if catalog is not None:
        assert m["benign_pairs"] + m["harmful_pairs"] == m["colliding_pairs"]
        assert m["harmful_collision_rate"] + m["benign_collision_rate"] == pytest.approx(m["collision_rate"])


@pytest.mark.parametrize(
    ("codes", "k", "kwargs", "error", "match"),
    [
        (np.array([1, 2, 3]), 4, {}, DataError, "2-D"),
        (np.zeros((0, 3), dtype=int), 4, {}, DataError, "at least one item"),
        (np.array([[0.0, 1.0]]), 4, {}, DataError, "integers"),
        (np.array([[0, 1], [2, -1]]), 4, {}, DataError, "level 1 has negative code -1"),
        (np.array([[0, 1], [7, 1]]), 4, {}, DataError, "level 0 has code 7"),
        (np.array([[0, 1], [3, 5]]), [4, 5], {}, DataError, "level 1 has code 5 .*codebook size is 5"),
        (np.array([[0, 1]]), [4, 4, 4], {}, ConfigError, "3 entries but codes have 2 levels"),
        (np.array([[0, 1]]), 0, {}, ConfigError, "level 0 must be a positive integer"),
        (np.array([[0, 1]]), "256", {}, ConfigError, "codebook_size"),
        (np.array([[0, 1]]), 4, {"semantic_levels": 0}, ConfigError, "semantic_levels"),
        (np.array([[0, 1]]), 4, {"semantic_levels": 3}, ConfigError, "semantic_levels"),
    ],
)
def test_validation_errors(
    codes: np.ndarray, k: Any, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        sid_metrics(codes, k, **kwargs)


def test_catalog_length_must_match() -> None:
    with pytest.raises(DataError, match="4 items but codes have 5 rows"):
        sid_metrics(FIVE, 4, Catalog(item_ids=list("abcd")))


def test_format_and_compare() -> None:
    plain = sid_metrics(FIVE, 4)
    with_cat = sid_metrics(FIVE, 4, Catalog(item_ids=list("abcde"), texts=["t", "u", "v", "w", "x"]))
    text = format_metrics(with_cat)
    assert "40.00% of items" in text and "harmful: 40.00%" in text and "h=1 40%" in text
    assert "harmful" not in format_metrics(plain)
    # survives a JSON round trip, as the CLI reads saved metrics back
    table = compare_metrics({"rq|vae": json.loads(json.dumps(plain)), "quasid": with_cat})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("| method |")
    assert lines[2].startswith("| rq\\|vae | 5 | 40.00% | n/a |")
    assert lines[3].startswith("| quasid | 5 | 40.00% | 40.00% | 0.00% | 4 | 2 |")


def _lcrec_codes() -> np.ndarray:
    raw = json.loads((DATA / "amazon-beauty" / "lcrec_sids.json").read_text())
    return np.array(
        [[int(re.fullmatch(r"<[a-z]_(\d+)>", t).group(1)) for t in raw[str(i)]] for i in range(len(raw))]
    )


@pytest.mark.integration
@pytest.mark.skipif(not (DATA / "amazon-beauty" / "lcrec_sids.json").exists(), reason="no QUASID_DATA")
def test_lcrec_beauty_sids() -> None:
    codes = _lcrec_codes()
    attrs = json.loads((DATA / "amazon-beauty" / "item_attributes.json").read_text())
    n = len(codes)
    catalog = Catalog(
        item_ids=[str(i + 1) for i in range(n)],
        attributes=[attrs.get(str(i + 1), []) for i in range(n)],
        name="amazon-beauty",
    )
    m3 = sid_metrics(codes[:, :3], 256, catalog)
    m4 = sid_metrics(codes, 256, catalog)
    print(f"\nLC-Rec Beauty, 3 levels:\n{format_metrics(m3)}\nLC-Rec Beauty, 4 levels:\n{format_metrics(m4)}")
    # cross-check against plain Python counting and a row-by-row numpy Hamming histogram
    for m, sids in ((m3, codes[:, :3]), (m4, codes)):
        counts: dict[tuple[int, ...], int] = {}
        for row in map(tuple, sids.tolist()):
            counts[row] = counts.get(row, 0) + 1
        assert m["n_unique_sids"] == len(counts)
        assert m["colliding_items"] == sum(c for c in counts.values() if c > 1)
    hist = np.zeros(4, dtype=np.int64)
    for i in range(n - 1):
        hist += np.bincount((codes[i + 1 :, :3] != codes[i, :3]).sum(axis=1), minlength=4)
    assert m3["hamming_distribution"]["pairs"] == hist.tolist()
    # the 4th level (added to break ties) leaves only a residue of collisions
    assert m4["collision_rate"] < 0.01 < m3["collision_rate"]
    assert m4["n_unique_sids"] > m3["n_unique_sids"]
    assert m3["content_duplicate_rate"] > 0.8  # the data README: ~86 % share their attribute set
    assert m3["benign_pairs"] + m3["harmful_pairs"] == m3["colliding_pairs"]
