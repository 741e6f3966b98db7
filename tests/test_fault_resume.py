"""Killed trainings: a real ``quasid fit`` process is killed mid-way and resumed to the same SIDs.

SIGKILL gives the process no chance to clean up, so this is what a crash, an
OOM kill or a pre-empted node does to a run folder; SIGTERM (what schedulers
send first) must unwind and remove half-written files. Either way the folder
must not look finished, and ``quasid fit --resume`` must reach exactly the SIDs
of an uninterrupted run with the same seed (CPU, one thread). Below them: the
determinism the comparison rests on (same data + config + seed -> byte-identical
sids.parquet) and the atomic write every output goes through.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from quasid import pipeline
from quasid.cli import main
from quasid.config import RunConfig
from quasid.io import atomic_open, remove_stale_temps
from quasid.sid import SIDTable

EPOCHS = 40  # 25-60 ms each here: seconds between the first checkpoint and the end, to kill in
FIT = [
    "fit",
    "synthetic:n_items=300,n_users=100",
    "-m",
    "rqvae",
    "-K",
    "16",
    "--epochs",
    str(EPOCHS),
    "--set",
    "tokenizer.checkpoint_every=1",
    "--set",
    "tokenizer.batch_size=64",
    "--no-progress",
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}  # as the tests: one torch thread


def quasid_process(args: list[str], log: Path) -> subprocess.Popen:
    """``python -m quasid ARGS`` (the console script's entry point), output to ``log``."""
    with open(log, "w") as fh:
        return subprocess.Popen([sys.executable, "-m", "quasid", *args], stdout=fh, stderr=fh, env=ENV)


def run_cli(monkeypatch: pytest.MonkeyPatch, args: list[str]) -> int:
    monkeypatch.setattr(sys, "argv", ["quasid", *args])
    try:
        main()
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run, fitted in this process through the same CLI arguments."""
    run = tmp_path_factory.mktemp("reference") / "run"
    with pytest.MonkeyPatch.context() as mp:
        assert run_cli(mp, [*FIT, "-o", str(run)]) == 0
    return run


def at_first_checkpoint(run: Path, action: Callable[[], None], timeout: float = 120.0) -> threading.Thread:
    """A thread that runs ``action`` (sends the signal) as soon as ``run`` holds a checkpoint.

    A thread, so the test can do other work meanwhile and still hit the run early in its training.
    """

    def watch() -> None:
        deadline = time.monotonic() + timeout
        while not (run / "checkpoint.pt").exists():
            if time.monotonic() > deadline:
                return
            time.sleep(0.002)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def assert_unfinished_and_whole(run: Path) -> None:
    """A killed run: no run.json, no outputs of the finished stages, and what is there reads whole."""
    visible = {p.name for p in run.iterdir() if not p.name.startswith(".")}
    assert visible == {"config.toml", "checkpoint.pt"}, visible  # no run.json, sids.parquet, tokenizer.pt
    RunConfig.load(run / "config.toml")
    epoch = torch.load(run / "checkpoint.pt", weights_only=False)["epoch"]
    assert 1 <= epoch < EPOCHS, f"killed after epoch {epoch}: not mid-way"


def assert_resumed_to(run: Path, reference: Path) -> None:
    assert not list(run.glob(".*.tmp")), "temporary files survived the resumed run"
    assert (run / "run.json").exists()
    history = pipeline.load_run(run)[1].history_
    assert [h["epoch"] for h in history] == list(range(EPOCHS))
    got, want = SIDTable.from_parquet(run / "sids.parquet"), SIDTable.from_parquet(reference / "sids.parquet")
    np.testing.assert_array_equal(got.codes, want.codes)
    np.testing.assert_array_equal(got.full_codes(), want.full_codes())
    assert (run / "sids.parquet").read_bytes() == (reference / "sids.parquet").read_bytes()


@pytest.mark.slow
def test_sigkill_mid_training_then_resume_gives_the_uninterrupted_sids(tmp_path, request):
    run = tmp_path / "killed"
    killed = quasid_process([*FIT, "-o", str(run)], tmp_path / "killed.log")
    try:
        killer = at_first_checkpoint(run, lambda: killed.send_signal(signal.SIGKILL))
        reference = request.getfixturevalue("reference")  # trains here while the process imports torch
        killer.join(timeout=180)
        assert killed.wait(timeout=60) == -signal.SIGKILL, (tmp_path / "killed.log").read_text()
    finally:
        if killed.poll() is None:
            killed.kill()
    assert_unfinished_and_whole(run)

    resumed = quasid_process(["fit", "--resume", str(run), "--no-progress"], tmp_path / "resumed.log")
    assert resumed.wait(timeout=300) == 0, (tmp_path / "resumed.log").read_text()
    assert_resumed_to(run, reference)


def test_sigterm_removes_partial_files_and_resume_with_out_finishes(tmp_path, monkeypatch, capsys, reference):
    """SIGTERM in this process (the CLI's handler unwinds the training); resume through ``--resume -o``."""
    run = tmp_path / "terminated"
    previous = signal.getsignal(signal.SIGTERM)
    try:
        sender = at_first_checkpoint(run, lambda: os.kill(os.getpid(), signal.SIGTERM))
        assert run_cli(monkeypatch, [*FIT, "-o", str(run)]) == 128 + signal.SIGTERM
    finally:
        sender.join(timeout=60)
        signal.signal(signal.SIGTERM, previous)
        # the signal may have landed inside a torch no-grad context's __enter__, whose __exit__ then
        # never runs: a real process exits here, this one goes on to other tests
        torch.set_grad_enabled(True)
    assert "terminated" in capsys.readouterr().err
    assert not list(run.glob(".*.tmp")), "SIGTERM left temporary files"
    assert_unfinished_and_whole(run)

    assert run_cli(monkeypatch, ["fit", "--resume", "-o", str(run), "--no-progress"]) == 0
    assert_resumed_to(run, reference)


@pytest.mark.parametrize(
    "method,params", [("rqkmeans", []), ("rqvae", ["tokenizer.epochs=4", "tokenizer.batch_size=64"])]
)
def test_same_data_config_and_seed_give_byte_identical_sids(tmp_path, method, params):
    def fit(name: str, seed: int) -> Path:
        cfg = RunConfig(method=method, data="synthetic:n_items=300,n_users=100", seed=seed)
        pipeline.fit(cfg.override(["tokenizer.codebook_size=16", *params]), tmp_path / name, progress=False)
        return tmp_path / name / "sids.parquet"

    first, again, other = fit("a", 7), fit("b", 7), fit("c", 8)
    assert first.read_bytes() == again.read_bytes()
    assert not np.array_equal(SIDTable.from_parquet(first).codes, SIDTable.from_parquet(other).codes)


def test_atomic_write_leaves_the_old_file_or_the_new_one_never_a_part(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as fh:
        fh.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    with atomic_open(target) as fh:
        fh.write("new")
    assert target.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == ["metrics.json"]
    # what SIGKILL leaves (no cleanup ran): removed before the next write into the folder, nothing else is
    (tmp_path / ".sids.parquet.k3j9.tmp").write_bytes(b"PAR1 half")
    (tmp_path / ".keep").write_text("")
    assert [p.name for p in remove_stale_temps(tmp_path)] == [".sids.parquet.k3j9.tmp"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".keep", "metrics.json"]
