"""quasid bench: a tiny end-to-end bench, resuming, gains against the best baseline, config errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quasid.bench import BenchConfig, run_bench
from quasid.bench import config as bench_config_module
from quasid.bench import figures as bench_figures
from quasid.bench import runner as bench_runner
from quasid.bench.config import FIRST_SOURCE_DEFAULTS, parse_list_options
from quasid.bench.methods import method_sids, read_peer_table
from quasid.bench.paired import compact_ranks, per_user_ndcg
from quasid.bench.recommenders import protocol_data
from quasid.bench.report import aggregate, gains, render_markdown, target_status
from quasid.data.dataset import Dataset
from quasid.errors import ConfigError, DataError
from quasid.pipeline import load_data
from quasid.rec.metrics import Ranks, ranking_metrics
from quasid.sid.table import SIDTable
from quasid.tokenizers import QuaSIDConfig, QuaSIDSeverityConfig
from quasid.tokenizers.rqvae import MLP_ENCODER
from test_cli import run_cli  # the CLI driver the CLI tests use

DATA = "synthetic:n_items=300,n_users=120"
TINY = """
threads = 1
[method.rqkmeans]
codebook_size = 16
[method.rqvae]
codebook_size = 16
epochs = 2
[train]
epochs = 2
[sasrec_sid.model]
hidden = 16
layers = 1
heads = 1
[sasrec_id.model]
hidden = 16
layers = 1
heads = 1
[tiger]
valid_users = 40
[tiger.model]
d_model = 32
num_encoder_layers = 1
num_decoder_layers = 1
num_heads = 2
d_kv = 16
d_ff = 64
beam_size = 10
[tiger.train]
epochs = 1
eval_every = 1
"""
METRICS = ("recall@5", "ndcg@5", "recall@10", "ndcg@10")


def test_tiny_bench_writes_the_report_folder_and_a_rerun_skips_finished_cells(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY)
    folder = tmp_path / "report"
    args = ["bench", DATA, "-c", str(toml), "--methods", "rqkmeans", "rqvae", "--seeds", "0", "1"]
    args += ["--recommenders", "sasrec_sid", "sasrec_id", "tiger", "-o", str(folder), "--no-progress"]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 0, err

    plots = {"metrics_sasrec_sid", "curves_sasrec_sid", "metrics_tiger", "curves_tiger", "sid_levels"}
    assert {p.stem for p in (folder / "plots").glob("*.png")} == plots
    for method in ("rqkmeans", "rqvae"):
        for seed in (0, 1):
            assert (folder / "runs" / f"{method}-s{seed}" / "sids.parquet").exists()
    results = json.loads((folder / "results.json").read_text())
    cells = results["cells"]
    assert len(cells) == 2 * 2 * 2 + 2  # methods x seeds x SID recommenders + the id reference per seed
    assert {(c["recommender"], c["method"]) for c in cells if c["method"] is None} == {("sasrec_id", None)}
    for c in cells:
        assert set(c["test"]) == set(METRICS) and all(0.0 <= v <= 1.0 for v in c["test"].values())
        assert 1 <= c["best_epoch"] <= c["epochs_run"] == len(c["history"]) <= 2
        assert c["history"][c["best_epoch"] - 1]["valid"]["ndcg@10"] == c["valid"]["ndcg@10"]
        per_user = per_user_ndcg(c)  # the stored per-user ranks give back the cell's own figure
        assert len(per_user) == c["n_test"] and per_user.mean() == pytest.approx(c["test"]["ndcg@10"])
        window = c["train"]["patience"] * c["train"]["eval_every"]
        assert c["capped_improving"] == (c["stop"] == "epochs" and c["best_epoch"] > c["epochs_run"] - window)
    tiger = [c for c in cells if c["recommender"] == "tiger"]
    assert all(c["n_valid"] == 40 and c["n_test"] == 120 for c in tiger)  # validation subsample, full test
    assert len(results["sids"]) == 4 and results["sessions"][0]["command"].startswith("quasid bench")
    assert results["sessions"][0]["threads"] == 1 and results["sessions"][0]["finished"]
    isa = results["sessions"][0]["bf16_matmul_isa"]
    assert isa == bench_runner.bf16_matmul_isa() and isa in ("AMX-BF16", "AVX512-BF16", "none")

    report = (folder / "report.md").read_text()
    agg = aggregate(cells)
    mean, std = agg["tiger"]["rqvae"]["test"]["ndcg@10"]
    assert f"{mean:.4f} ± {std:.4f}" in report  # the table is the JSON's figures, nothing typed
    assert "Cells done: 10 of 10. SID tables: 4 of 4." in report and "## Intrinsic SID metrics" in report
    assert "plots/metrics_tiger.png" in report and "quasid bench" in report
    assert f"x{results['sessions'][0]['cpu_count']} ({isa})" in report  # the machine's bf16 kind
    assert 'TIGER ranking (`rank_ties = "expected"`)' in report  # how a beam of several items ranks

    # a re-run on the same folder trains and fits nothing
    original_train_cell = bench_runner.train_cell

    def fail(*_args, **_kwargs):
        raise AssertionError("a finished cell was run again")

    monkeypatch.setattr(bench_runner, "train_cell", fail)
    monkeypatch.setattr(bench_runner, "method_sids", fail)
    config = BenchConfig.from_cli(DATA, toml, parse_list_options(args[4:-3]))
    again = run_bench(config, folder, progress=False, plots=False)
    assert len(again["cells"]) == 10 and len(again["sessions"]) == 2
    # a changed configuration is not mixed into the folder silently
    with pytest.raises(ConfigError, match="different configuration"):
        run_bench(config.override(["tiger.train.lr=0.01"]), folder, progress=False, plots=False)

    # a raised epoch cap re-runs, without --overwrite, the cells that ran into the old cap, and only those
    capped = {
        (c["method"], c["seed"]) for c in cells if c["recommender"] == "sasrec_sid" and c["stop"] == "epochs"
    }
    rerun: list[int] = []

    def count(model, train_config, *args, **kwargs):
        rerun.append(train_config.seed)
        return original_train_cell(model, train_config, *args, **kwargs)

    monkeypatch.undo()
    monkeypatch.setattr(bench_runner, "train_cell", count)
    raised = run_bench(config.override(["sasrec_sid.train.epochs=3"]), folder, progress=False, plots=False)
    assert len(rerun) == len(capped) > 0 and len(raised["cells"]) == 10
    assert all(
        c["train"]["epochs"] == 3
        for c in raised["cells"]
        if c["recommender"] == "sasrec_sid" and (c["method"], c["seed"]) in capped
    )


def _results(config: BenchConfig, figures: dict[tuple[str, str | None], list[float | Ranks]]) -> dict:
    """A results.json mapping with test NDCG@10 (and the other metrics) = the given per-seed values,
    or the figures of the given per-seed test ranks (stored per user, as the bench stores them)."""
    cells = []
    for (rec, method), values in figures.items():
        for seed, v in zip(config.seeds, values, strict=True):
            metrics = ranking_metrics(v) if isinstance(v, Ranks) else dict.fromkeys(METRICS, v)
            cells.append(
                {
                    "recommender": rec,
                    "method": method,
                    "seed": seed,
                    "fingerprint": config.cell_fingerprint(rec, method, seed),
                    "test": metrics,
                    "valid": metrics,
                    "best_epoch": 1,
                    "epochs_run": 1,
                    "stop": "epochs",
                    "train": {"patience": 5, "eval_every": 1},
                    "seconds": 60.0,
                    "history": [],
                    "test_top": compact_ranks(v, 10) if isinstance(v, Ranks) else None,
                }
            )
    return {
        "config": config.to_dict(),
        "methods": {s.label: s.to_dict() for s in config.method_specs()},
        "sids": {},
        "cells": cells,
        "sessions": [],
        "dataset": {"name": "synthetic", "items": 10},
    }


def test_gains_are_taken_against_the_best_baseline_per_metric():
    rows = {
        "rqkmeans": {"test": {"recall@5": (0.30, 0.0), "ndcg@5": (0.10, 0.0)}},
        "rqvae": {"test": {"recall@5": (0.20, 0.0), "ndcg@5": (0.12, 0.0)}},
        "rqvae_hmr": {
            "test": {"recall@5": (0.50, 0.0), "ndcg@5": (0.50, 0.0)}
        },  # an ablation: not a baseline
        "quasid": {"test": {"recall@5": (0.33, 0.0), "ndcg@5": (0.126, 0.0)}},
    }
    for r in rows.values():
        r["test"].update({"recall@10": (0.0, 0.0), "ndcg@10": r["test"]["ndcg@5"]})
    roles = {"rqkmeans": "baseline", "rqvae": "baseline", "rqvae_hmr": "ours", "quasid": "ours"}
    g = gains(rows, roles)
    assert g["best"]["recall@5"] == "rqkmeans" and g["best"]["ndcg@5"] == "rqvae"
    assert g["gain"]["quasid"]["recall@5"] == pytest.approx(0.10)
    assert g["gain"]["quasid"]["ndcg@5"] == pytest.approx(0.05)
    assert g["gain"]["rqkmeans"]["ndcg@5"] == pytest.approx(-1 / 6)
    assert g["gain"]["quasid"]["recall@10"] is None  # the best baseline scored 0: no relative gain
    assert "short by 0.9 percentage points" in target_status(rows, roles)
    rows["quasid"]["test"]["ndcg@10"] = (0.13, 0.0)
    assert "**met**" in target_status(rows, roles)


def test_report_means_spreads_and_gains_come_from_the_cells():
    config = BenchConfig.from_dict(
        {"data": "synthetic", "methods": ["rqkmeans", "rqvae", "quasid"], "seeds": [0, 1]}
    )
    results = _results(
        config,
        {
            ("sasrec_sid", "rqkmeans"): [0.10, 0.12],
            ("sasrec_sid", "rqvae"): [0.20, 0.22],
            ("sasrec_sid", "quasid"): [0.21, 0.23],
            ("sasrec_id", None): [0.30, 0.30],
        },
    )
    stale = {**results["cells"][0], "fingerprint": "stale", "test": dict.fromkeys(METRICS, 0.9)}
    results["cells"].append(stale)  # a cell of another configuration: left out of every figure
    md = render_markdown(results)
    assert "| rqvae | baseline | 2 | **0.2100 ± 0.0141**" in md  # mean and sample std; bold = best baseline
    assert "| SASRec on item ids | reference | 2 | 0.3000 ± 0.0000" in md
    assert "| quasid | +4.8% | +4.8% | +4.8% | +4.8% |" in md  # 0.22 / 0.21 - 1
    assert "short by 1.1 percentage points" in md
    assert "Not shown: 1 cell(s)" in md


def test_config_errors_name_the_problem(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        BenchConfig.from_dict({"methods": ["nope"]})
    with pytest.raises(ConfigError, match="unknown recommender 'bert4rec'"):
        BenchConfig.from_dict({"recommenders": ["bert4rec"]})
    with pytest.raises(ConfigError, match="cold_start is a protocol"):
        BenchConfig.from_dict({"recommenders": ["cold_start"]})
    with pytest.raises(ConfigError, match=r"unknown RQVAEConfig parameter"):
        BenchConfig.from_dict({"method": {"rqvae": {"epoch": 3}}})
    with pytest.raises(ConfigError, match=r"\[tiger.model\]"):
        BenchConfig.from_dict({"recommenders": ["tiger"], "tiger": {"model": {"layers": 2}}})
    with pytest.raises(ConfigError, match="lcrec:PATH"):
        BenchConfig.from_cli("synthetic", lists={"methods": ["lcrec"]})
    missing = BenchConfig.from_cli("synthetic", lists={"methods": [f"lcrec:{tmp_path / 'no.json'}"]})
    with pytest.raises(ConfigError, match=r"no LC-Rec index\.json file"):
        run_bench(missing, tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # checked before any work
    no_log = Dataset(load_data("synthetic:n_items=50,n_users=10").catalog)
    with pytest.raises(ConfigError, match="has no interactions"):
        protocol_data(no_log, BenchConfig(data="x"))
    args = ["bench", "synthetic", "--methods", "nope", "-o", str(tmp_path)]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "unknown method 'nope'" in err and "Traceback" not in err
    assert parse_list_options(["--seeds", "0,1", "2", "--methods=a,b"]) == {
        "seeds": ["0", "1", "2"],
        "methods": ["a", "b"],
    }


def test_lcrec_peer_sids_are_aligned_to_the_catalog_and_checked(tmp_path):
    dataset = load_data("synthetic:n_items=40,n_users=10")
    codes = np.random.default_rng(0).integers(0, 8, size=(40, 4))
    path = tmp_path / "index.json"
    SIDTable(np.arange(40), codes, 8).to_lcrec_index(path)
    config = BenchConfig.from_cli("synthetic", lists={"methods": [f"peer=lcrec:{path}"]})
    spec = config.method_spec("peer")
    assert spec.source == "lcrec" and spec.role == "baseline"
    sids = method_sids(spec, 0, dataset, config, tmp_path / "runs")
    np.testing.assert_array_equal(sids.table.codes, codes[:, :3])  # last level: LC-Rec's tie-breaker
    np.testing.assert_array_equal(sids.table.dedup, codes[:, 3])
    assert list(sids.table.item_ids) == list(dataset.catalog.item_ids)
    assert sids.metrics["n_items"] == 40 and sids.run_dir is None
    small = load_data("synthetic:n_items=30,n_users=10")
    with pytest.raises(DataError, match="catalog has 30 items"):
        read_peer_table(spec, small)


def test_a_finished_tokenizer_run_is_reused_and_a_changed_one_refitted(tmp_path):
    data = "synthetic:n_items=60,n_users=10"
    dataset = load_data(data)
    config = BenchConfig.from_dict(
        {
            "data": data,
            "methods": ["rqkmeans"],
            "method": {"rqkmeans": {"codebook_size": 8}},
            "recommenders": [],
        }
    )
    first = method_sids(config.method_spec("rqkmeans"), 0, dataset, config, tmp_path, progress=False)
    again = method_sids(config.method_spec("rqkmeans"), 0, dataset, config, tmp_path, progress=False)
    assert not first.reused and again.reused and first.run_dir == again.run_dir
    np.testing.assert_array_equal(first.table.full_codes(), again.table.full_codes())
    changed = config.override(["method.rqkmeans.codebook_size=4"])
    refit = method_sids(changed.method_spec("rqkmeans"), 0, dataset, changed, tmp_path, progress=False)
    assert not refit.reused and refit.table.codebook_size == 4 and refit.table.codes.max() < 4


def test_a_run_made_under_a_changed_default_is_not_reused_under_the_new_default(tmp_path):
    """embedding.pooling became ``fields``: a run folder fitted on joined text (written before the
    field existed, so its config.toml lacks it) is reused by a config that pins ``joined`` and
    refitted by one on the new default, though neither config writes the field out as changed."""
    data = "synthetic:n_items=60,n_users=10"
    dataset = load_data(data)
    base = {"data": data, "methods": ["rqkmeans"], "method": {"rqkmeans": {"codebook_size": 8}}}
    joined = BenchConfig.from_dict({**base, "recommenders": [], "embedding": {"pooling": "joined"}})
    method_sids(joined.method_spec("rqkmeans"), 0, dataset, joined, tmp_path, progress=False)
    saved = tmp_path / "rqkmeans-s0" / "config.toml"
    assert 'pooling = "joined"' in saved.read_text()
    saved.write_text(saved.read_text().replace('pooling = "joined"\n', ""))
    again = method_sids(joined.method_spec("rqkmeans"), 0, dataset, joined, tmp_path, progress=False)
    assert again.reused
    default = BenchConfig.from_dict({**base, "recommenders": []})
    refit = method_sids(default.method_spec("rqkmeans"), 0, dataset, default, tmp_path, progress=False)
    assert not refit.reused and 'pooling = "fields"' in saved.read_text()


def test_benches_run_in_parallel_folders_merge_into_one_report(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY)
    base = ["-c", str(toml), "--methods", "rqkmeans", "--recommenders", "sasrec_sid", "--no-progress"]
    for seed in (0, 1):
        args = ["bench", DATA, *base, "--seeds", str(seed), "-o", str(tmp_path / f"s{seed}")]
        code, _, err = run_cli(monkeypatch, capsys, *args)
        assert code == 0, err
    merged = tmp_path / "merged"
    sources = ["--merge", str(tmp_path / "s0"), "--merge", str(tmp_path / "s1")]
    code, _, err = run_cli(monkeypatch, capsys, "bench", *sources, "-o", str(merged))
    assert code == 0, err
    results = json.loads((merged / "results.json").read_text())
    assert sorted((c["seed"], c["session"]) for c in results["cells"]) == [(0, 0), (1, 1)]
    assert set(results["sids"]) == {"rqkmeans/s0", "rqkmeans/s1"} and len(results["sessions"]) == 2
    assert (merged / "runs" / "rqkmeans-s1" / "sids.parquet").exists()

    # the two-seed config over the merged folder finds every cell done: it trains and fits nothing
    def fail(*_args, **_kwargs):
        raise AssertionError("a merged cell was run again")

    monkeypatch.setattr(bench_runner, "train_cell", fail)
    monkeypatch.setattr(bench_runner, "method_sids", fail)
    config = BenchConfig.from_cli(DATA, toml, parse_list_options([*base[2:6], "--seeds", "0", "1"]))
    again = run_bench(config, merged, progress=False, plots=False)
    assert len(again["cells"]) == 2 and "Cells done: 2 of 2." in (merged / "report.md").read_text()

    # a folder whose cell ran another configuration is refused, and the target is left as it was
    other = json.loads((tmp_path / "s1" / "results.json").read_text())
    other["cells"][0]["fingerprint"] = "something-else"
    (tmp_path / "s1" / "results.json").write_text(json.dumps(other))
    before = (merged / "results.json").read_text()
    with pytest.raises(ConfigError, match="another configuration"):
        bench_runner.merge_folders(merged, [tmp_path / "s1"])
    assert (merged / "results.json").read_text() == before


def test_cold_start_protocol_hides_cold_items_from_tokenizers_and_tests_only_on_them():
    dataset = load_data(DATA)
    config = BenchConfig(data=DATA, protocol="cold_start", cold_frac=0.2)
    data = protocol_data(dataset, config)
    seen_by_tokenizers = set(data.tokenizer_data.interactions.items.tolist())
    trained_on = set(np.concatenate(data.train).tolist())
    targets = set(data.test.targets.tolist())
    assert targets and data.summary["cold_items"] > 0
    assert not targets & seen_by_tokenizers and not targets & trained_on  # no cold event leaks
    assert not targets & set(data.valid.targets.tolist())  # model selection on warm items only
    assert data.tokenizer_data.catalog is dataset.catalog  # cold items still get SIDs, from content


def test_a_method_can_set_its_own_shape_beside_the_benchs(tmp_path):
    data = "synthetic:n_items=60,n_users=10"
    dataset = load_data(data)
    config = BenchConfig.from_dict(
        {
            "data": data,
            "methods": ["rqkmeans", "flat"],
            "method": {
                "rqkmeans": {"codebook_size": 8},
                "flat": {"source": "rqkmeans", "codebook_size": 8, "n_levels": 4, "disambiguate": False},
            },
            "recommenders": [],
        }
    )
    tokened = method_sids(config.method_spec("rqkmeans"), 0, dataset, config, tmp_path, progress=False)
    flat = method_sids(config.method_spec("flat"), 0, dataset, config, tmp_path, progress=False)
    assert tokened.table.dedup is not None and tokened.table.n_levels == 3
    assert flat.table.dedup is None and flat.table.n_levels == 4  # the peers' shape: 4 levels, no token
    assert config.disambiguates("rqkmeans") and not config.disambiguates("flat")
    same = config.override(["method.rqkmeans.disambiguate=true"])  # spelled out: another fingerprint
    assert same.sid_fingerprint("rqkmeans") != config.sid_fingerprint("rqkmeans")
    with pytest.raises(ConfigError, match="disambiguate must be true or false"):
        config.override(["method.flat.disambiguate=1"])
    with pytest.raises(ConfigError, match="does not take"):
        BenchConfig.from_dict(
            {"methods": ["p"], "method": {"p": {"source": "lcrec", "path": "x", "disambiguate": False}}}
        )


def test_hybrid_judge_is_a_sasrec_on_ids_plus_sids_for_every_sid_method() -> None:
    cfg = BenchConfig.from_dict(
        {"data": "synthetic", "methods": ["rqkmeans"], "seeds": [0], "recommenders": ["sasrec_hybrid"]}
    )
    assert cfg.model_config("sasrec_hybrid", 0).item_repr == "hybrid"
    assert ("sasrec_hybrid", "rqkmeans", 0) in cfg.cells()


def test_later_seeds_can_be_spent_on_the_methods_that_decide():
    config = BenchConfig.from_dict(
        {
            "data": "synthetic",
            "methods": ["rqkmeans", "rqvae", "quasid"],
            "seeds": [0, 1],
            "recommenders": ["sasrec_sid", "sasrec_id", "tiger"],
            "sasrec_sid": {"seed_methods": {"1": ["quasid", "rqvae"]}},
            "tiger": {"methods": ["quasid"], "seeds": [0]},
        }
    )
    cells = config.cells()
    assert [c for c in cells if c[2] == 1] == [
        ("sasrec_sid", "rqvae", 1),
        ("sasrec_sid", "quasid", 1),
        ("sasrec_id", None, 1),
    ]
    assert ("sasrec_sid", "rqkmeans", 0) in cells and ("tiger", "quasid", 0) in cells
    # SIDs are fitted only where a cell trains on them: rqkmeans is not refitted for seed 1
    assert config.sid_plan() == [("rqkmeans", 0), ("rqvae", 0), ("quasid", 0), ("rqvae", 1), ("quasid", 1)]
    intrinsic = BenchConfig.from_dict(
        {"data": "synthetic", "methods": ["rqkmeans"], "seeds": [0, 1], "recommenders": []}
    )
    assert intrinsic.sid_plan() == [("rqkmeans", 0), ("rqkmeans", 1)]
    with pytest.raises(ConfigError, match="seed_methods has key 'one'"):
        config.override(['sasrec_sid.seed_methods={"one" = ["quasid"]}'])
    first_seed = config.override(["seeds=[0]"])  # a part of the bench: the later seeds' lists do nothing
    assert first_seed.cells() == [c for c in cells if c[2] == 0]
    with pytest.raises(ConfigError, match="not methods of the bench"):
        config.override(['sasrec_sid.seed_methods={"1" = ["lcrec"]}'])


def test_the_id_reference_runs_only_on_its_own_seeds(tmp_path):
    """``sasrec_id.seeds = [0]`` keeps a 3-seed join from training the id reference on seeds 1 and 2."""
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY)
    lists = parse_list_options(["--methods", "rqkmeans", "--seeds", "0", "1", "--recommenders", "sasrec_id"])
    config = BenchConfig.from_cli(DATA, toml, lists, ["sasrec_id.seeds=[0]"])
    results = run_bench(config, tmp_path / "r", progress=False, plots=False)
    assert [(c["recommender"], c["seed"]) for c in results["cells"]] == [("sasrec_id", 0)]


def test_lcrec_and_peer_sids_of_amazon_beauty_text_align_with_its_rows(shared_data):
    """LC-Rec's key is amazon-beauty's item id - 1, the peers' key the text folder's item row; both are
    the catalog row here: items sharing a 3-token prefix share title words, a shifted reading does not."""
    if not (shared_data / "amazon-beauty-text").is_dir():
        pytest.skip("amazon-beauty-text not in the shared data")
    dataset = load_data(str(shared_data / "amazon-beauty-text"))
    words = [set(t.lower().split()) for t in dataset.catalog.text_fields["title"]]

    def title_overlap(codes: np.ndarray, shift: int) -> float:
        groups: dict[tuple, list[int]] = {}
        for row, sid in enumerate(codes[:, :3].tolist()):
            groups.setdefault(tuple(sid), []).append((row + shift) % len(codes))
        pairs = [g[:2] for g in groups.values() if len(g) >= 2][:1000]
        return float(np.mean([len(words[a] & words[b]) / max(1, len(words[a] | words[b])) for a, b in pairs]))

    specs = {
        "lcrec": {"source": "lcrec", "path": "amazon-beauty/lcrec_sids.json", "semantic_levels": 3},
        "peer": {
            "source": "lcrec",
            "path": "amazon-beauty-text/peer_sids/quasid_zcr.index.json",
            "semantic_levels": 4,
        },
    }
    config = BenchConfig.from_dict({"data": "amazon-beauty-text", "methods": list(specs), "method": specs})
    for label in specs:
        table = read_peer_table(config.method_spec(label), dataset)
        assert list(table.item_ids) == list(dataset.catalog.item_ids)
        aligned, shifted = title_overlap(table.codes, 0), title_overlap(table.codes, 1)
        assert aligned > 0.3 and shifted < 0.1, (label, aligned, shifted)


def _legacy_digest(config: BenchConfig, method: dict, embedding: dict | None = None) -> str:
    """A SID digest as it was taken before a default changed: ``method`` as digested then."""
    return bench_config_module._digest(
        {
            "data": config.data,
            "protocol": [config.protocol, config.cold_frac, config.split_seed],
            "embedding": embedding or {},
            "disambiguate": config.disambiguate,
            "method": method,
        }
    )


def test_a_changed_library_default_changes_the_digest_and_pinning_the_first_value_keeps_it():
    """RQVAEConfig.bf16 and TIGER's training levers became defaults after benches were committed:
    a cell under the new default must not pass for one under the old, and a config that pins the
    old value must keep the digest its committed cells carry."""
    base = {
        "data": "synthetic",
        "methods": ["rqvae"],
        "seeds": [0],
        "recommenders": ["sasrec_sid", "tiger"],
        "embedding": {"pooling": "joined"},  # the first default (another field that changed since)
    }
    config = BenchConfig.from_dict(base)
    pinned = BenchConfig.from_dict({**base, "method": {"rqvae": {"bf16": False}}})
    legacy = config.method_spec("rqvae").to_dict()
    del legacy["disambiguate"]  # unset, as before
    legacy_digest = _legacy_digest(config, legacy)  # what the digest was before the default changed
    assert pinned.sid_fingerprint("rqvae") == legacy_digest
    assert config.sid_fingerprint("rqvae") != legacy_digest  # bf16 is on now: another digest
    explicit = BenchConfig.from_dict({**base, "method": {"rqvae": {"bf16": True}}})
    assert explicit.sid_fingerprint("rqvae") == config.sid_fingerprint("rqvae")  # the same config
    old_tiger = config.override(
        ["tiger.model.bf16=false", "tiger.model.fast_dropout=false", "tiger.model.sortish=false"]
    )
    assert old_tiger.cell_fingerprint("tiger", "rqvae", 0) != config.cell_fingerprint("tiger", "rqvae", 0)
    assert old_tiger.cell_fingerprint("sasrec_sid", "rqvae", 0) == config.cell_fingerprint(
        "sasrec_sid", "rqvae", 0
    )
    spelled = config.override(["tiger.model.bf16=true"])  # the new default written out: the same cell
    assert spelled.cell_fingerprint("tiger", "rqvae", 0) == config.cell_fingerprint("tiger", "rqvae", 0)


def test_the_micro_batch_default_keeps_the_digests_of_cells_made_before_it():
    """TIGER's micro_batch went from 256 (one pass per sortish batch) to 64 when sortish went off:
    a cell that set 64 keeps its digest, a cell made under 256 keeps its digest once 256 is pinned,
    and neither is taken for the other."""
    config = BenchConfig.from_dict(
        {"data": "synthetic", "methods": ["rqvae"], "seeds": [0], "recommenders": ["tiger"]}
    )
    first = bench_config_module.FIRST_DEFAULTS["tiger"]

    def digested(assignments: list[str]) -> dict:
        c = config.override(assignments)
        out = bench_config_module._against_first_defaults(c.tiger.model, c.model_config("tiger", 0), first)
        return {k: v for k, v in out.items() if k == "micro_batch"}  # the other levers aside

    assert digested(["tiger.model.micro_batch=64"]) == {"micro_batch": 64}  # as written before
    assert digested(["tiger.model.micro_batch=256"]) == {}  # as a cell under the old default was
    assert digested([]) == {"micro_batch": 64}  # today's default is not the old one
    pinned, today = config.override(["tiger.model.micro_batch=256"]), config
    assert pinned.cell_fingerprint("tiger", "rqvae", 0) != today.cell_fingerprint("tiger", "rqvae", 0)
    spelled = config.override(["tiger.model.micro_batch=64"])
    assert spelled.cell_fingerprint("tiger", "rqvae", 0) == today.cell_fingerprint("tiger", "rqvae", 0)


def test_the_fields_pooling_default_changes_fitted_sids_digests_but_not_published_ones():
    """embedding.pooling became ``fields`` after the joined cells were committed: pinning
    ``joined`` keeps their digest, the new default gets another one; a published SID file is read,
    not fitted, so no embedding setting but ``source`` enters its digest and its cells serve both."""
    base = {
        "data": "amazon-beauty-text",
        "methods": ["rqkmeans", "lcrec"],
        "method": {"lcrec": {"source": "lcrec", "path": "amazon-beauty/lcrec_sids.json"}},
        "embedding": {"source": "text"},
    }
    default = BenchConfig.from_dict(base)
    assert default.embedding.pooling == "fields"
    joined = default.override(["embedding.pooling=joined"])
    legacy = joined.method_spec("rqkmeans").to_dict()
    del legacy["disambiguate"]
    legacy_digest = _legacy_digest(joined, legacy, {"source": "text"})  # before the pooling field existed
    assert joined.sid_fingerprint("rqkmeans") == legacy_digest
    assert default.sid_fingerprint("rqkmeans") != legacy_digest
    assert default.override(["embedding.pooling=fields"]).sid_fingerprint("rqkmeans") == (
        default.sid_fingerprint("rqkmeans")
    )
    mpnet = joined.override(["embedding.model=all-mpnet-base-v2"])
    assert mpnet.sid_fingerprint("rqkmeans") != joined.sid_fingerprint("rqkmeans")
    for other in (joined, mpnet):
        assert other.sid_fingerprint("lcrec") == default.sid_fingerprint("lcrec")
        assert other.cell_fingerprint("sasrec_sid", "lcrec", 0) == default.cell_fingerprint(
            "sasrec_sid", "lcrec", 0
        )
    attributes = default.override(["embedding.source=attributes"])
    assert attributes.sid_fingerprint("lcrec") != default.sid_fingerprint("lcrec")


def test_the_reading_switch_keeps_our_readings_digests_under_its_new_name():
    """``quasid`` meant our reading until the public one became QuaSIDConfig's defaults: a
    ``quasid_severity`` row digests as the ``quasid`` row did (so committed cells still match), the
    new ``quasid`` gets another digest, and ``quasid_peer`` (the public reading's earlier name)
    keeps its own."""
    params = {"n_levels": 3, "codebook_size": 256, "epochs": 100, "lambda_hmr": 50.0, "bf16": False}
    base = {"data": "synthetic", "methods": ["q"], "seeds": [0], "embedding": {"pooling": "joined"}}
    severity = BenchConfig.from_dict({**base, "method": {"q": {"source": "quasid_severity", **params}}})
    default = BenchConfig.from_dict({**base, "method": {"q": {"source": "quasid", **params}}})
    legacy = severity.method_spec("q").to_dict()
    legacy["source"] = "quasid"
    legacy["params"] = {k: v for k, v in params.items() if k != "bf16"}  # bf16 = false: its first default
    del legacy["disambiguate"]
    legacy_digest = _legacy_digest(severity, legacy)  # what a `quasid` row digested to before the switch
    assert severity.sid_fingerprint("q") == legacy_digest
    assert default.sid_fingerprint("q") != legacy_digest
    assert severity.method_spec("q").role == "ours"
    # the first defaults of `quasid` are our reading's values, field by field
    ours = QuaSIDSeverityConfig()
    assert {k: getattr(ours, k) for k in FIRST_SOURCE_DEFAULTS["quasid"]} == FIRST_SOURCE_DEFAULTS["quasid"]
    peer = {**base, "method": {"q": {"source": "quasid_peer", "n_levels": 3, "bf16": False, **MLP_ENCODER}}}
    legacy_peer = BenchConfig.from_dict(peer).method_spec("q").to_dict()
    legacy_peer["params"] = {"n_levels": 3}
    del legacy_peer["disambiguate"]
    assert BenchConfig.from_dict(peer).sid_fingerprint("q") == _legacy_digest(severity, legacy_peer)


def test_the_linear_encoder_default_keeps_the_digests_of_methods_that_pin_the_mlp():
    """QuaSIDConfig's encoder became one linear map into 128-d after benches were committed with
    RQ-VAE's MLP: a method pinning the MLP digests as the unpinned method did before, the unpinned
    one now digests as the linear encoder, and our reading keeps the MLP."""
    assert (QuaSIDConfig().hidden_dims, QuaSIDConfig().latent_dim) == ([], 128)
    assert (QuaSIDSeverityConfig().hidden_dims, QuaSIDSeverityConfig().latent_dim) == ([512, 256, 128], 32)
    base = {"data": "synthetic", "methods": ["q"], "seeds": [0], "embedding": {"pooling": "joined"}}
    shape = {"n_levels": 3, "bf16": False}
    for source in ("quasid", "quasid_peer"):
        pinned = BenchConfig.from_dict({**base, "method": {"q": {"source": source, **shape, **MLP_ENCODER}}})
        legacy = pinned.method_spec("q").to_dict()
        # what the unpinned row digested to under the MLP default: the reading fields that differ from
        # their first defaults (the public reading's, for `quasid`), and no encoder field
        first = {k: v for k, v in FIRST_SOURCE_DEFAULTS.get(source, {}).items() if k not in MLP_ENCODER}
        public = QuaSIDConfig()
        reading = {k: getattr(public, k) for k, v in first.items() if getattr(public, k) != v}
        legacy["params"] = {"n_levels": 3, **reading}
        del legacy["disambiguate"]
        assert pinned.sid_fingerprint("q") == _legacy_digest(pinned, legacy)
        unpinned = BenchConfig.from_dict({**base, "method": {"q": {"source": source, **shape}}})
        linear = BenchConfig.from_dict(
            {**base, "method": {"q": {"source": source, **shape, "hidden_dims": [], "latent_dim": 128}}}
        )
        assert unpinned.sid_fingerprint("q") != pinned.sid_fingerprint("q")
        assert unpinned.sid_fingerprint("q") == linear.sid_fingerprint("q")


def test_raising_the_epoch_cap_keeps_cells_stopped_by_patience_and_reruns_capped_ones():
    base = {"data": "synthetic", "methods": ["rqkmeans"], "seeds": [0], "recommenders": ["sasrec_sid"]}
    old = BenchConfig.from_dict({**base, "train": {"epochs": 50, "patience": 5}})
    new = old.override(["train.epochs=100"])
    key = ("sasrec_sid", "rqkmeans", 0)

    def cell(stop: str, epochs_run: int, config: BenchConfig = old) -> dict:
        return {
            "recommender": key[0],
            "method": key[1],
            "seed": key[2],
            "fingerprint": config.cell_fingerprint(*key),
            "train": {"epochs": config.train_config(key[0], key[2]).epochs, "patience": 5},
            "stop": stop,
            "epochs_run": epochs_run,
        }

    assert old.cell_fingerprint(*key) != new.cell_fingerprint(*key)
    assert new.cell_matches(cell("patience", 40))  # ran the same 40 epochs under either cap
    assert not new.cell_matches(cell("epochs", 50))  # hit the old cap: might have gone on
    assert not old.override(["train.epochs=30"]).cell_matches(cell("patience", 40))  # past the new cap
    assert not new.override(["train.patience=3"]).cell_matches(cell("patience", 40))  # another setting
    assert new.cell_matches(cell("epochs", 100, new)) and old.cell_matches(cell("epochs", 50))
    assert new.cap_raised_only(cell("epochs", 50))  # re-run without --overwrite: the same protocol
    assert not old.cap_raised_only(cell("epochs", 50)) and not old.override(
        ["train.epochs=30"]
    ).cap_raised_only(cell("epochs", 50))
    assert not new.override(["train.patience=3"]).cap_raised_only(cell("epochs", 50))
    results = {"config": new.to_dict(), "cells": [cell("patience", 40)], "sids": {}}
    assert len(bench_figures.current(results)[1]) == 1  # the report shows the kept cell


def test_a_stored_config_means_the_defaults_its_cells_ran_with():
    """A results.json written before SASRecConfig.ce_bf16 existed leaves it unwritten, and its cells
    record no such field: read back, the config means the first default (float32), so its cells stay
    current; a folder whose cells ran both meanings keeps only today's."""
    config = BenchConfig.from_dict({"data": "synthetic", "methods": ["rqvae"], "seeds": [0, 1]})
    before = config.override(["sasrec_sid.model.ce_bf16=false"])  # what the config meant then
    results = _results(before, {("sasrec_sid", "rqvae"): [0.2, 0.3]})
    results["config"] = config.to_dict()  # as written: the field unset
    for cell in results["cells"]:
        cell["model"] = {"ce_chunk": 64, "seed": 0}  # no ce_bf16: it did not exist yet
    assert not config.cell_matches(results["cells"][0])  # today's default is another configuration
    assert BenchConfig.from_results(results).sasrec_sid.model == {"ce_bf16": False, "fast_dropout": False}
    assert len(bench_figures.current(results)[1]) == 2
    today = results["cells"][1] | {
        "fingerprint": config.cell_fingerprint("sasrec_sid", "rqvae", 1),
        "model": {"ce_chunk": 64, "ce_bf16": True, "seed": 0},
    }
    results["cells"][1] = today  # one cell re-run under today's default: no single meaning
    assert BenchConfig.from_results(results).sasrec_sid.model == {"fast_dropout": False}  # agreed on
    assert [c["seed"] for c in bench_figures.current(results)[1]] == [1]
