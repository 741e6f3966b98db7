"""A killed recommender training resumes from its checkpoint, to the figures of an uninterrupted run.

The run is killed from the ``on_epoch`` hook, after the epoch's checkpoint is written: what a
SIGKILL between two epochs leaves. SASRec's dropout draws from torch's global generator, so the
resumed losses match only if the checkpoint restores it too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from quasid.bench import BenchConfig, run_bench
from quasid.bench import runner as bench_runner
from quasid.bench.config import parse_list_options
from quasid.data import leave_one_out
from quasid.errors import DataError
from quasid.rec import Checkpoint, EpochRecord, FitResult, SASRec, TrainConfig, fit_and_evaluate
from test_bench import DATA, TINY
from test_sasrec import N_ITEMS, cycle_interactions

CONFIG = TrainConfig(epochs=5, batch_size=16, patience=5, progress=False, seed=7)


class KilledError(Exception):
    """Stands in for the kill."""


def kill_after(epoch: int, seen: list[int]):
    def hook(record: EpochRecord) -> None:
        seen.append(record.epoch)
        if record.epoch == epoch:
            raise KilledError

    return hook


def fit(checkpoint: Checkpoint | None = None, on_epoch=None, **overrides) -> FitResult:
    split = leave_one_out(cycle_interactions(n_users=60))
    model = SASRec(N_ITEMS, hidden=16, layers=1, seed=3)
    return fit_and_evaluate(model, split, CONFIG, on_epoch, checkpoint=checkpoint, **overrides)


def same_run(a: FitResult, b: FitResult) -> None:
    assert [h.loss for h in a.history] == [h.loss for h in b.history]
    assert [h.valid for h in a.history] == [h.valid for h in b.history]
    assert (a.best_epoch, a.valid, a.test) == (b.best_epoch, b.valid, b.test)
    np.testing.assert_array_equal(a.test_ranks.higher, b.test_ranks.higher)


def test_a_killed_fit_resumes_after_its_last_epoch_to_the_uninterrupted_figures(tmp_path) -> None:
    whole = fit()
    checkpoint = Checkpoint(tmp_path / "cell.pt", key="run-a")
    seen: list[int] = []
    with pytest.raises(KilledError):
        fit(checkpoint, kill_after(2, seen))
    assert checkpoint.path.exists() and seen == [1, 2]
    resumed = fit(checkpoint, kill_after(-1, seen))
    assert seen == [1, 2, 3, 4, 5]  # epochs 1 and 2 were not trained again
    same_run(whole, resumed)
    assert resumed.seconds >= sum(h.train_seconds for h in resumed.history)  # the earlier time counts


def test_a_finished_fit_called_again_trains_nothing_and_gives_its_figures(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path / "cell.pt", key="run-a")
    first = fit(checkpoint)
    seen: list[int] = []
    again = fit(checkpoint, kill_after(-1, seen))
    assert seen == []
    same_run(first, again)


def test_a_patience_stop_is_kept_by_the_checkpoint(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path / "cell.pt", key="run-a")
    first = fit(checkpoint, epochs=30, patience=1)
    assert first.stopped_early and len(first.history) < 30
    again = fit(checkpoint, kill_after(-1, []), epochs=30, patience=1)
    assert again.stopped_early and len(again.history) == len(first.history)


def test_a_checkpoint_past_a_lowered_cap_is_trained_over(tmp_path) -> None:
    checkpoint = Checkpoint(tmp_path / "cell.pt", key="run-a")
    fit(checkpoint)
    seen: list[int] = []
    lowered = fit(checkpoint, kill_after(-1, seen), epochs=3)
    assert seen == [1, 2, 3]
    same_run(fit(epochs=3), lowered)


def test_another_runs_checkpoint_is_trained_over_and_a_corrupt_one_is_named(tmp_path) -> None:
    path = tmp_path / "cell.pt"
    with pytest.raises(KilledError):
        fit(Checkpoint(path, key="run-a"), kill_after(2, []))
    seen: list[int] = []
    fit(Checkpoint(path, key="run-b"), kill_after(-1, seen))
    assert seen == [1, 2, 3, 4, 5]
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(DataError, match=r"cell\.pt.*delete it"):
        fit(Checkpoint(path, key="run-b"))


def cells_test(results: dict) -> dict:
    return {c["recommender"]: c["test"] for c in results["cells"]}


def test_a_bench_cell_killed_mid_training_resumes_after_its_last_epoch(tmp_path, monkeypatch) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY.replace("[tiger.train]\nepochs = 1", "[tiger.train]\nepochs = 3"))
    options = ["--methods", "rqkmeans", "--seeds", "0", "--recommenders", "sasrec_sid", "tiger"]
    config = BenchConfig.from_cli(DATA, toml, parse_list_options(options))
    whole = run_bench(config, tmp_path / "whole", progress=False, plots=False)

    folder = tmp_path / "killed"
    seen: list[tuple[str, int]] = []
    real_logger = bench_runner.epoch_logger

    def logger(kill_tiger_at: int):
        def make(prefix: str):
            log = real_logger(prefix)
            judge = "tiger" if "tiger" in prefix else "sasrec_sid"

            def hook(record: EpochRecord) -> None:
                log(record)
                seen.append((judge, record.epoch))
                if judge == "tiger" and record.epoch == kill_tiger_at:
                    raise KilledError

            return hook

        return make

    monkeypatch.setattr(bench_runner, "epoch_logger", logger(2))
    with pytest.raises(KilledError):
        run_bench(config, folder, progress=False, plots=False)
    checkpoints = folder / "runs" / "cells"
    names = sorted(p.name for p in checkpoints.glob("*.pt"))
    assert names == ["sasrec_sid-rqkmeans-s0.pt", "tiger-rqkmeans-s0.pt"]  # one done, one killed
    seen.clear()
    monkeypatch.setattr(bench_runner, "epoch_logger", logger(-1))
    resumed = run_bench(config, folder, progress=False, plots=False)
    assert seen == [("tiger", 3)]  # the SASRec cell was done; TIGER went on from its epoch 2
    assert len(list(checkpoints.glob("*.pt"))) == 2  # both ran into their cap: kept for a raised one
    key = ("recommender", "method", "seed", "fingerprint", "valid", "test", "best_epoch", "test_top")
    cells = {c["recommender"]: {k: c[k] for k in key} for c in whole["cells"]}
    assert cells == {c["recommender"]: {k: c[k] for k in key} for c in resumed["cells"]}
    tiger = next(c for c in resumed["cells"] if c["recommender"] == "tiger")
    whole_tiger = next(c for c in whole["cells"] if c["recommender"] == "tiger")
    assert [h["loss"] for h in tiger["history"]] == [h["loss"] for h in whole_tiger["history"]]
    stored = json.loads((folder / "results.json").read_text())["cells"]
    assert {c["recommender"]: c["test"] for c in stored} == cells_test(whole)


def test_a_raised_epoch_cap_goes_on_from_the_capped_cells_checkpoint(tmp_path, monkeypatch) -> None:
    toml = tmp_path / "tiny.toml"
    toml.write_text(TINY)
    options = ["--methods", "rqkmeans", "--seeds", "0", "--recommenders", "sasrec_sid"]
    config = BenchConfig.from_cli(DATA, toml, parse_list_options(options))
    direct = run_bench(config.override(["train.epochs=4"]), tmp_path / "direct", progress=False, plots=False)
    folder = tmp_path / "raised"
    capped = run_bench(config, folder, progress=False, plots=False)
    assert capped["cells"][0]["stop"] == "epochs" and capped["cells"][0]["epochs_run"] == 2
    seen: list[int] = []
    real_logger = bench_runner.epoch_logger

    def logger(prefix: str):
        log = real_logger(prefix)

        def hook(record: EpochRecord) -> None:
            log(record)
            seen.append(record.epoch)

        return hook

    monkeypatch.setattr(bench_runner, "epoch_logger", logger)
    raised = run_bench(config.override(["train.epochs=4"]), folder, progress=False, plots=False)
    assert seen == [3, 4]  # epochs 1-2 came from the checkpoint
    (a,), (b,) = direct["cells"], raised["cells"]
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    key = ("fingerprint", "valid", "test", "best_epoch", "epochs_run", "stop", "test_top")
    assert {k: a[k] for k in key} == {k: b[k] for k in key}
