"""quasid audit: named collision groups, neighbours, code use, alignment, comparison, against brute force."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pyarrow.parquet as pq
import pytest

from quasid import pipeline
from quasid.audit import audit_sids
from quasid.audit.alignment import category_labels, shared_prefix_share, transitions
from quasid.audit.changes import compare_codes
from quasid.audit.neighbours import hamming_neighbours
from quasid.audit.usage import (
    cold_neighbour_agreement,
    cold_reach,
    fan_out,
    popularity_allocation,
    prefix_keys,
)
from quasid.data.catalog import Catalog
from quasid.data.dataset import Dataset
from quasid.data.interactions import Interactions
from quasid.sid import SIDTable
from test_cli import run_cli  # the CLI-in-process helper


def small_catalog(n: int = 60, seed: int = 0) -> tuple[np.ndarray, Catalog]:
    """Few codes (so many collisions), repeated texts, group keys and missing items."""
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, 3, n), rng.integers(0, 2, n), rng.integers(0, 2, n)], axis=1)
    texts = [f"text {rng.integers(0, 25)}" if rng.random() > 0.15 else "" for _ in range(n)]
    groups = [f"g{rng.integers(0, 6)}" if rng.random() > 0.5 else "" for _ in range(n)]
    return codes, Catalog(item_ids=np.arange(100, 100 + n), texts=texts, group_keys=groups, name="tiny")


def linked(catalog: Catalog, i: int, j: int) -> bool:
    """The benign rules, pair by pair (what ``quasid.metrics.collisions`` counts by grouping)."""
    ti, tj = catalog.texts[i], catalog.texts[j]
    gi, gj = catalog.group_keys[i], catalog.group_keys[j]
    return (ti != "" and ti == tj) or (gi != "" and gi == gj) or (ti == "" and tj == "")


def test_every_collision_group_is_named_with_its_harmful_pairs_worst_first():
    codes, catalog = small_catalog()
    audit = audit_sids(codes, [3, 2, 2], catalog)
    groups = audit.groups
    seen = set()
    expected_harmful = 0
    for g in range(groups.n_groups):
        rows = groups.items(g)
        assert len(rows) >= 2 and (codes[rows] == codes[rows[0]]).all()  # one SID per group
        seen.update(rows.tolist())
        bad = sum(not linked(catalog, int(i), int(j)) for i, j in combinations(rows, 2))
        assert groups.harmful_pairs[g] == bad
        assert groups.is_harmful(g) == (bad > 0)
        expected_harmful += bad > 0
        if bad == 0:
            texts = {catalog.texts[r] for r in rows}
            keys = {catalog.group_keys[r] for r in rows}
            if len(texts) == 1 and "" not in texts:
                assert groups.qualified_by[g] == "same_content"
            elif len(keys) == 1 and "" not in keys:
                assert groups.qualified_by[g] == "same_group"
            elif texts == {""}:
                assert groups.qualified_by[g] == "missing"
            else:
                assert groups.qualified_by[g] == "mixed"
    _, inverse, counts = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    assert seen == set(np.flatnonzero(counts[inverse.reshape(-1)] >= 2).tolist())
    assert groups.n_harmful == expected_harmful == audit.summary["collisions"]["harmful_groups"]
    # harmful groups first, most harmful pairs first
    assert np.all(np.diff(groups.harmful_pairs) <= 0)
    assert audit.summary["metrics"]["harmful_pairs"] == int(groups.harmful_pairs.sum())


def test_why_harmful_counts_the_classes_each_rule_splits_the_group_into():
    codes, catalog = small_catalog(seed=3)
    audit = audit_sids(codes, [3, 2, 2], catalog)
    groups = audit.groups
    g = 0
    rows = groups.items(g)
    texts = [catalog.texts[r] for r in rows]
    n_text_classes = len({t for t in texts if t}) + texts.count("")  # an empty text links to no one
    keys = [catalog.group_keys[r] for r in rows]
    n_group_classes = len({k for k in keys if k}) + keys.count("")
    why = groups.why_harmful(g, audit.rules)
    assert f"same_content: {n_text_classes} classes for {len(rows)} items" in why
    if "group" in audit.rules:
        assert f"same_group: {n_group_classes} classes" in why


def test_hamming_neighbours_are_the_items_one_code_away_at_each_level():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, (200, 3))
    asked = (0, 17, 123)
    for row, got in zip(asked, hamming_neighbours(codes, [4, 4, 4], asked, limit=500), strict=True):
        for level in range(3):
            diff = codes != codes[row]
            expected = np.flatnonzero(diff[:, level] & (diff.sum(axis=1) == 1))
            assert got[level]["items"] == len(expected)
            assert got[level]["rows"] == expected.tolist()


def test_fan_out_and_popularity_allocation_count_prefixes():
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 5, (300, 3))
    prefixes = prefix_keys(codes, [5, 5, 5])
    f = fan_out(prefixes)
    children = {}
    for row in codes.tolist():
        children.setdefault(row[0], set()).add(row[1])
    counts = [len(v) for v in children.values()]
    assert f[0]["prefixes"] == len(children) and f[0]["max_children"] == max(counts)
    assert f[0]["mean_children"] == pytest.approx(np.mean(counts))
    popularity = rng.zipf(1.5, 300).astype(np.int64)
    pop = popularity_allocation(prefixes, codes, popularity)
    head = np.lexsort((np.arange(300), -popularity))[:30]
    assert pop["head_items"] == 30
    assert pop["head_prefixes"][1] == len({tuple(r) for r in codes[head, :2].tolist()})
    assert pop["head_codes"][0] == len(set(codes[head, 0].tolist()))


def test_alignment_shares_and_baselines_match_pair_enumeration():
    rng = np.random.default_rng(4)
    n = 40
    labels = [rng.integers(0, 3, n), rng.integers(0, 9, n)]
    users = np.repeat(np.arange(30), 6)
    items = rng.integers(0, n, len(users))
    a, b = transitions(users, items)
    assert len(a) == sum(
        1 for k in range(len(users) - 1) if users[k] == users[k + 1] and items[k] != items[k + 1]
    )
    got = shared_prefix_share(labels, a, b)
    w = np.bincount(np.concatenate([a, b]), minlength=n)
    for d, lab in enumerate(labels):
        assert got["shared"][d] == pytest.approx(np.mean(lab[a] == lab[b]))
        pairs = list(combinations(range(n), 2))
        assert got["random_pairs"][d] == pytest.approx(np.mean([lab[i] == lab[j] for i, j in pairs]))
        num = sum(w[i] * w[j] for i in range(n) for j in range(n) if i != j and lab[i] == lab[j])
        den = sum(w[i] * w[j] for i in range(n) for j in range(n) if i != j)
        assert got["popularity_pairs"][d] == pytest.approx(num / den)


def test_category_control_reads_category_paths_and_keeps_uncategorised_items_apart():
    catalog = Catalog(
        item_ids=np.arange(4),
        text_fields={"categories": ["Makeup, Nails", "Makeup, Eyes", "", "Makeup, Nails"]},
    )
    depth1, depth2 = category_labels(catalog, 2)
    assert depth1[0] == depth1[1] == depth1[3] and depth1[2] not in (depth1[0],)
    assert depth2[0] == depth2[3] != depth2[1]
    assert category_labels(Catalog(item_ids=np.arange(3)), 2) is None


def test_compare_names_moved_items_and_their_first_changed_level():
    ids = np.array(["a", "b", "c", "d"], dtype=object)
    codes = np.array([[1, 2, 3], [1, 2, 3], [4, 5, 6], [7, 8, 9]])
    other = np.array([[1, 2, 3], [1, 9, 3], [0, 5, 6], [7, 8, 9]])
    out = compare_codes(ids, codes, np.array(["d", "c", "b", "a", "z"], dtype=object), other[[3, 2, 1, 0, 0]])
    assert out["changed_items"] == 2 and out["only_there"] == 1 and out["only_here"] == 0
    assert out["first_changed_level"] == [1, 1, 0]
    assert [(x["item_id"], x["level"]) for x in out["changed"]] == [("c", 0), ("b", 1)]


def _dataset() -> tuple[Dataset, np.ndarray]:
    codes, catalog = small_catalog(n=80, seed=5)
    rng = np.random.default_rng(5)
    seqs = [rng.integers(0, 80, 8).tolist() for _ in range(40)]
    return Dataset(catalog, Interactions.from_sequences(seqs, 80)), codes


def test_audit_folder_lists_every_harmful_group_and_every_colliding_item(tmp_path):
    ds, codes = _dataset()
    table = SIDTable.from_codes(ds.catalog.item_ids, codes, 3)
    moved = codes.copy()
    moved[:5, 0] = (moved[:5, 0] + 1) % 3
    result = pipeline.audit(
        table, ds, tmp_path / "a", against=SIDTable(ds.catalog.item_ids, moved, 3), max_groups=3
    )
    report = (tmp_path / "a" / "report.md").read_text()
    summary = json.loads((tmp_path / "a" / "audit.json").read_text())
    groups = result.groups
    for g in range(groups.n_groups):  # every group has its line: full entries, then one line each
        sid = "-".join(map(str, codes[groups.items(g)[0]]))
        assert sid in report
    assert len(summary["harmful_listed"]) == min(3, groups.n_harmful)
    colliding = pq.read_table(tmp_path / "a" / "collisions.parquet")
    assert colliding.num_rows == int(groups.sizes.sum())
    assert summary["alignment"]["pairs"] > 0 and len(summary["alignment"]["shared"]) == 3
    assert summary["comparison"]["changed_items"] == 5
    assert {"collision_groups.png", "code_use.png", "alignment.png"} <= {
        p.name for p in (tmp_path / "a" / "plots").iterdir()
    }


def test_cli_audit_on_a_fitted_run_and_a_clear_error_for_another_catalog(tmp_path, monkeypatch, capsys):
    data = "synthetic:n_items=300,n_users=200"
    run = tmp_path / "run"
    code, _, err = run_cli(
        monkeypatch, capsys, "fit", data, "-m", "rqkmeans", "-K", "8", "-o", str(run), "--no-progress"
    )
    assert code == 0, err
    code, out, err = run_cli(
        monkeypatch, capsys, "audit", str(run / "sids.parquet"), "--data", data, "-o", str(tmp_path / "au")
    )
    assert code == 0, err
    assert "harmful" in out and (tmp_path / "au" / "report.md").exists()
    other = SIDTable(np.array([f"x{i}" for i in range(3)], dtype=object), np.zeros((3, 3), np.int64), 8)
    other.to_parquet(tmp_path / "other.parquet")
    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "audit",
        str(tmp_path / "other.parquet"),
        "--data",
        data,
        "-o",
        str(tmp_path / "bad"),
    )
    assert code == 2 and "not in catalog" in err and len(err.strip().splitlines()) == 1


def test_fan_out_is_the_same_whether_prefixes_stay_packed_or_are_relabelled(monkeypatch):
    import quasid.audit.usage as usage

    rng = np.random.default_rng(6)
    codes = rng.integers(0, 50, (300, 3))
    packed = prefix_keys(codes, [50, 50, 50])
    monkeypatch.setattr(usage, "PACKED_BOUND", 1)  # 4 N = 1200 < 50 * 50: depths 2 and 3 relabelled
    dense = prefix_keys(codes, [50, 50, 50])
    assert packed.packed == [True, True, True] and dense.packed == [True, False, False]
    assert fan_out(packed) == fan_out(dense)
    for d in range(3):  # same equalities at every depth
        a, b = packed.labels[d], dense.labels[d]
        assert (a[:, None] == a[None, :]).tolist() == (b[:, None] == b[None, :]).tolist()
    second = {}
    for row in codes.tolist():
        second.setdefault(tuple(row[:2]), set()).add(row[2])
    assert fan_out(packed)[1]["mean_children"] == pytest.approx(np.mean([len(v) for v in second.values()]))


def test_cheap_probes_read_sid_metrics_and_the_fit_line_quotes_the_study(monkeypatch):
    import quasid.audit.evidence as evidence
    from quasid.audit.predictor import cheap_probes, predictor_line
    from quasid.metrics import sid_metrics

    codes, catalog = small_catalog()
    m = sid_metrics(codes, [3, 2, 2], catalog)
    probes = cheap_probes(m)
    assert probes["entropy"] == pytest.approx(np.mean(m["entropy"]))
    assert probes["harmful_rate"] == m["harmful_collision_rate"]
    hist = m["hamming_distribution"]
    assert probes["close_pairs"] == pytest.approx(hist["fraction"][0] + hist["fraction"][1])
    monkeypatch.setattr(evidence, "EVIDENCE", {"probe": None})
    assert predictor_line(m) is None  # no probe cleared the study's bar: nothing printed
    found = {"probe": "entropy", "rho": -0.8, "ci95": [-0.9, -0.5], "tables": 13, "group": "g"}
    monkeypatch.setattr(evidence, "EVIDENCE", found)
    line = predictor_line(m)
    assert "entropy" in line and f"{probes['entropy']:.4f}" in line and "lower ranked better" in line


def test_an_lcrec_index_is_audited_by_catalog_row_with_its_semantic_levels(tmp_path):
    ds, codes = _dataset()
    table = SIDTable.from_codes(ds.catalog.item_ids, codes, 3)  # + a disambiguation level
    table.to_lcrec_index(tmp_path / "t.index.json")
    result = pipeline.audit(tmp_path / "t.index.json", ds, semantic_levels=3)
    assert (result.codes == codes).all()
    assert result.summary["collisions"]["colliding_groups"] > 0  # the tie-breaking level is left out
    whole = pipeline.audit(tmp_path / "t.index.json", ds)
    assert whole.summary["collisions"]["colliding_groups"] == 0  # with it, every SID is unique


def test_cold_neighbour_agreement_compares_each_cold_prefix_with_its_nearest_warm_item_in_content():
    # rows 3 and 4 are cold; row 3's nearest warm item in content is row 0, row 4's is row 2
    codes = np.array([[0, 0], [1, 1], [2, 2], [0, 1], [2, 2]])
    x = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.9, 0.1], [-0.8, -0.1]]) * [[1], [3], [2], [5], [1]]
    agreement = cold_neighbour_agreement(prefix_keys(codes, [3, 3]), x, np.array([3, 4]))
    assert agreement == [1.0, 0.5]  # both share level 1; only row 4 shares its whole SID (2, 2)
    with pytest.raises(ValueError, match="both cold and warm"):
        cold_neighbour_agreement(prefix_keys(codes, [3, 3]), x, np.arange(5))
    with pytest.raises(ValueError, match="embeddings have 4 rows"):
        cold_neighbour_agreement(prefix_keys(codes, [3, 3]), x[:4], np.array([3]))


def test_cold_reach_counts_cold_items_on_codes_and_prefixes_no_warm_item_has():
    codes = np.array([[0, 0], [0, 1], [1, 0], [0, 2], [2, 0]])  # rows 3 and 4 are cold
    reach = cold_reach(prefix_keys(codes, [3, 3]), codes, np.array([3, 4]))
    assert reach["cold_items"] == 2
    assert reach["unseen_code"] == [0.5, 0.5]  # row 4's first code 2, row 3's second code 2
    assert reach["unseen_prefix"] == [0.5, 1.0]  # (2,) is new; both whole SIDs are new
    with pytest.raises(ValueError, match="both cold and warm"):
        cold_reach(prefix_keys(codes, [3, 3]), codes, np.arange(5))
