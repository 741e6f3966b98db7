"""Incremental assignment: existing SIDs never change, new collisions get fresh tokens, drift is counted."""

import json
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quasid import pipeline
from quasid.cli import main
from quasid.config import EmbeddingConfig, RunConfig
from quasid.data.catalog import Catalog
from quasid.errors import DataError
from quasid.sid import SIDTable, assign_incremental, merge_new_items
from quasid.tokenizers import RQKMeans


@st.composite
def tables_and_new_items(draw):
    """A random existing table (dedup token or none, gaps allowed) and data overlapping it."""
    n_levels = draw(st.integers(1, 3))
    k = draw(st.integers(2, 4))
    n_old = draw(st.integers(0, 25))
    old_codes = np.array(
        draw(
            st.lists(
                st.lists(st.integers(0, k - 1), min_size=n_levels, max_size=n_levels),
                min_size=n_old,
                max_size=n_old,
            )
        ),
        dtype=np.int64,
    ).reshape(n_old, n_levels)
    mode = draw(st.sampled_from(["ranked", "gappy", "none"]))
    dedup = None
    if mode == "ranked":
        dedup = SIDTable.from_codes(np.arange(n_old), old_codes, k).dedup
    elif mode == "gappy":  # as left by removed items: unique full SIDs, tokens with holes
        ranked = SIDTable.from_codes(np.arange(n_old), old_codes, k).dedup
        dedup = ranked * 2 + np.array(
            draw(st.lists(st.integers(0, 1), min_size=n_old, max_size=n_old)), dtype=np.int64
        )
    old_ids = [f"old{i}" for i in range(n_old)]
    keep = draw(st.lists(st.booleans(), min_size=n_old, max_size=n_old))
    n_new = draw(st.integers(0, 20))
    data_ids = [i for i, kept in zip(old_ids, keep, strict=True) if kept] + [f"new{i}" for i in range(n_new)]
    data_ids = draw(st.permutations(data_ids))
    codes = np.array(
        draw(
            st.lists(
                st.lists(st.integers(0, k - 1), min_size=n_levels, max_size=n_levels),
                min_size=len(data_ids),
                max_size=len(data_ids),
            )
        ),
        dtype=np.int64,
    ).reshape(len(data_ids), n_levels)
    return SIDTable(old_ids, old_codes, k, dedup), data_ids, codes


@settings(max_examples=150, deadline=None)
@given(tables_and_new_items())
def test_existing_sids_are_all_kept_and_new_full_sids_never_clash(case):
    existing, data_ids, codes = case
    table, report = merge_new_items(existing, data_ids, codes)
    n_old = existing.n_items
    # 100 % of existing items keep their codes and token, in their order
    assert table.item_ids[:n_old].tolist() == existing.item_ids.tolist()
    np.testing.assert_array_equal(table.codes[:n_old], existing.codes)
    if existing.dedup is None:
        assert table.dedup is None
    else:
        np.testing.assert_array_equal(table.dedup[:n_old], existing.dedup)
    # new items are appended in data order with the tokenizer's codes
    old = set(existing.item_ids.tolist())
    new_rows = [i for i, item in enumerate(data_ids) if item not in old]
    assert table.item_ids[n_old:].tolist() == [data_ids[i] for i in new_rows]
    np.testing.assert_array_equal(table.codes[n_old:], codes[new_rows].reshape(-1, existing.n_levels))
    if existing.dedup is not None:  # no new full SID equals any other full SID
        full = [tuple(r) for r in table.full_codes().tolist()]
        assert len(set(full[n_old:])) == len(new_rows)
        assert not set(full[n_old:]) & set(full[:n_old])
    # drift, brute force
    where = {item: i for i, item in enumerate(existing.item_ids.tolist())}
    moved, first = 0, [0] * existing.n_levels
    for row, item in enumerate(data_ids):
        if item in where:
            diff = np.flatnonzero(codes[row] != existing.codes[where[item]])
            if len(diff):
                moved += 1
                first[diff[0]] += 1
    assert (report.moved, report.moved_by_first_level) == (moved, first)
    assert report.n_overlap + report.n_new == len(data_ids) and report.n_new == len(new_rows)
    assert report.n_absent == n_old - report.n_overlap


def test_appending_with_an_unchanged_tokenizer_equals_disambiguating_everything_at_once():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 3, size=(400, 2))
    ids = [f"i{i}" for i in range(400)]
    existing = SIDTable.from_codes(ids[:250], codes[:250], 3)
    table, report = merge_new_items(existing, ids, codes)
    whole = SIDTable.from_codes(ids, codes, 3)
    assert table.sid_strings() == whole.sid_strings()
    assert report.moved == 0 and report.n_new == 150 and report.new_sharing_existing_sid > 0


def test_drift_on_a_hand_case():
    existing = SIDTable.from_codes(
        ["a", "b", "c", "d"], np.array([[1, 2, 3], [1, 2, 3], [0, 0, 0], [2, 2, 2]]), 4
    )
    # a: unchanged; b: level 2 differs; c: levels 0 and 2 differ (first: 0); d: absent; e, f: new
    data = ["c", "a", "e", "b", "f"]
    codes = np.array([[3, 0, 1], [1, 2, 3], [1, 2, 3], [1, 2, 0], [0, 1, 1]])
    table, report = merge_new_items(existing, data, codes)
    assert (report.n_overlap, report.n_new, report.n_absent) == (3, 2, 1)
    assert report.moved == 2 and report.moved_fraction == pytest.approx(2 / 3)
    assert report.moved_by_first_level == [1, 0, 1]
    assert report.changed_per_level == [1, 0, 2]
    assert {e["item_id"] for e in report.moved_examples} == {"b", "c"}
    # e takes SID 1-2-3, held by a (token 0) and b (token 1): it gets token 2
    assert table.sid_strings() == ["1-2-3-0", "1-2-3-1", "0-0-0-0", "2-2-2-0", "1-2-3-2", "0-1-1-0"]
    assert report.new_sharing_existing_sid == 1 and report.new_colliding == 1


def test_retrained_tokenizer_keeps_existing_sids_and_reports_its_drift():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(600, 8)).astype(np.float32)
    ids = np.array([f"p{i}" for i in range(600)])
    first = RQKMeans(codebook_size=8, seed=0).fit(x[:500])
    existing = SIDTable.from_codes(ids[:500], first.encode(x[:500]), 8)
    retrained = RQKMeans(codebook_size=8, seed=5).fit(x)
    table, report = assign_incremental(existing, retrained, Catalog(item_ids=ids, embeddings=x))
    assert table.sid_strings()[:500] == existing.sid_strings()
    assert report.n_new == 100 and report.moved > 0 and sum(report.moved_by_first_level) == report.moved
    same, same_report = assign_incremental(existing, first, Catalog(item_ids=ids, embeddings=x))
    assert same_report.moved == 0
    assert len(set(same.sid_strings())) == 600


def test_mismatched_tables_are_clear_errors():
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    tok = RQKMeans(codebook_size=4, n_levels=2).fit(x)
    catalog = Catalog(item_ids=np.arange(50), embeddings=x)
    with pytest.raises(DataError, match="3 levels x 4 codes but the tokenizer makes 2 x 4"):
        assign_incremental(SIDTable.from_codes(["a"], [[0, 0, 0]], 4), tok, catalog)
    with pytest.raises(DataError, match="2 levels x 8 codes"):
        assign_incremental(SIDTable.from_codes(["a"], [[0, 0]], 8), tok, catalog)
    with pytest.raises(DataError, match=r"existing SID table has duplicate item ids \['a'\]"):
        merge_new_items(SIDTable(["a", "a"], [[0, 0], [1, 1]], 4), ["b"], [[0, 0]])
    with pytest.raises(DataError, match=r"row 1 has codes \[4, 0\] outside 0\.\.3"):
        merge_new_items(SIDTable(["a", "b"], [[0, 0], [4, 0]], 4), ["c"], [[0, 0]])


def run_cli(monkeypatch, capsys, *args):
    monkeypatch.setattr(sys, "argv", ["quasid", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out + out.err


def test_cli_assign_existing_round_trip(tmp_path, monkeypatch, capsys):
    data = "synthetic:n_items=400,n_users=50"
    run = tmp_path / "run"
    cfg = RunConfig(method="rqkmeans", data=data, tokenizer={"codebook_size": 8}, embedding=EmbeddingConfig())
    result = pipeline.fit(cfg, run, progress=False)
    catalog = pipeline.load_data(data).catalog
    rng = np.random.default_rng(3)
    fresh = catalog.embeddings[:60] + rng.normal(scale=0.01, size=(60, catalog.embeddings.shape[1]))
    vectors = np.concatenate([catalog.embeddings, fresh]).astype(np.float32)
    ids = [*catalog.item_ids.tolist(), *(f"new-{i}" for i in range(60))]
    pq.write_table(pa.table({"item_id": ids, "embedding": pa.array(list(vectors))}), tmp_path / "new.parquet")

    out = tmp_path / "out.parquet"
    code, text = run_cli(
        monkeypatch,
        capsys,
        "assign",
        str(run),
        "--existing",
        str(run / "sids.parquet"),
        "--data",
        str(tmp_path / "new.parquet"),
        "-o",
        str(out),
        "--drift-json",
        str(tmp_path / "drift.json"),
        "--chunk-size",
        "64",
        "--no-progress",
    )
    assert code == 0, text
    table = SIDTable.from_parquet(out)
    assert table.sid_strings()[:400] == result.sids.sid_strings()  # 100 % kept
    assert table.item_ids[400:].tolist() == ids[400:] and len(set(table.sid_strings())) == 460
    drift = json.loads((tmp_path / "drift.json").read_text())
    assert drift["moved"] == 0 and drift["n_new"] == 60 and drift["n_overlap"] == 400
    assert (
        drift["new_sharing_existing_sid"] > 0
    )  # near-copies land on existing SIDs, fresh tokens tell them apart

    code, text = run_cli(monkeypatch, capsys, "assign", str(run), "--drift-json", "d.json", "--no-progress")
    assert code == 2 and "pass --existing" in text
    SIDTable.from_codes(["x"], [[0, 0]], 8).to_parquet(tmp_path / "two.parquet")
    code, text = run_cli(
        monkeypatch, capsys, "assign", str(run), "--existing", str(tmp_path / "two.parquet"), "--no-progress"
    )
    assert code == 2 and "2 levels x 8 codes but the tokenizer makes 3 x 8" in text


def test_assign_streams_a_npy_file(tmp_path):
    data = "synthetic:n_items=300,n_users=50"
    cfg = RunConfig(method="rqkmeans", data=data, tokenizer={"codebook_size": 8}, embedding=EmbeddingConfig())
    result = pipeline.fit(cfg, tmp_path / "run", progress=False)
    np.save(tmp_path / "emb.npy", pipeline.load_data(data).catalog.embeddings)
    table = pipeline.assign(
        tmp_path / "run", tmp_path / "emb.npy", tmp_path / "a.parquet", progress=False, chunk_size=50
    )
    np.testing.assert_array_equal(table.codes, result.sids.codes)
    assert table.item_ids[:2].tolist() == ["0", "1"]  # a bare matrix: items are its rows
