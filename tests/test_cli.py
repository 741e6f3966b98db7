"""The CLI end to end on small synthetic data: run folders, resume, one-line errors."""

import json
import sys

import numpy as np
import pytest

from quasid.cli import main
from quasid.sid import SIDTable

SMALL = "synthetic:n_items=300,n_users=200"


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["quasid", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fit_writes_a_complete_run_folder_and_assign_evaluate_use_it(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    code, _out, err = run_cli(
        monkeypatch,
        capsys,
        "fit",
        SMALL,
        "-m",
        "rqvae",
        "-K",
        "16",
        "--epochs",
        "3",
        "-o",
        str(run),
        "--no-progress",
    )
    assert code == 0, err
    for name in ("config.toml", "tokenizer.pt", "sids.parquet", "metrics.json", "run.json", "checkpoint.pt"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["n_items"] == 300 and 0 <= metrics["harmful_collision_rate"] <= 1
    table = SIDTable.from_parquet(run / "sids.parquet")
    assert len(set(table.sid_strings())) == 300  # disambiguated: unique

    code, _, err = run_cli(
        monkeypatch,
        capsys,
        "assign",
        str(run),
        "-o",
        str(tmp_path / "a.parquet"),
        "--lcrec-index",
        str(tmp_path / "a.index.json"),
        "--no-progress",
    )
    assert code == 0, err
    np.testing.assert_array_equal(SIDTable.from_parquet(tmp_path / "a.parquet").codes, table.codes)
    assert json.loads((tmp_path / "a.index.json").read_text())["0"][0].startswith("<a_")

    code, _out, err = run_cli(
        monkeypatch,
        capsys,
        "evaluate",
        str(run / "sids.parquet"),
        "--data",
        SMALL,
        "--json",
        str(tmp_path / "m.json"),
    )
    assert code == 0, err
    assert json.loads((tmp_path / "m.json").read_text())["collision_rate"] == metrics["collision_rate"]


def test_finished_run_is_not_overwritten_and_resume_needs_a_run(tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    args = ["fit", SMALL, "-m", "rqkmeans", "-K", "8", "-o", str(run), "--no-progress"]
    assert run_cli(monkeypatch, capsys, *args)[0] == 0
    code, _, err = run_cli(monkeypatch, capsys, *args)
    assert code == 2 and "already holds a finished run" in err and "Traceback" not in err
    code, _, err = run_cli(
        monkeypatch, capsys, "fit", "--resume", "-o", str(tmp_path / "none"), "--no-progress"
    )
    assert code == 2 and "does not exist" in err


@pytest.mark.parametrize(
    "args,message",
    [
        (["fit", "/nonexistent/data", "-m", "rqkmeans"], "nonexistent"),
        (["fit", SMALL, "-m", "nope"], "unknown method 'nope'"),
        (["fit", SMALL, "-m", "rqkmeans", "-K", "1000"], "larger than the catalog"),
        (["fit", SMALL, "--set", "tokenizer.bogus=1", "-m", "rqkmeans"], "unknown RQKMeansConfig parameter"),
        (["evaluate", "/nonexistent.parquet"], "no SID table"),
    ],
)
def test_user_errors_are_one_line_with_exit_2(tmp_path, monkeypatch, capsys, args, message):
    code, _, err = run_cli(
        monkeypatch, capsys, *args, *(["-o", str(tmp_path / "r")] if args[0] == "fit" else [])
    )
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "r" / "run.json").exists()


def test_debug_flag_shows_the_exception(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["quasid", "--debug", "evaluate", "/nonexistent.parquet"])
    from quasid.errors import DataError

    with pytest.raises(DataError):
        main()


def test_demo_runs_every_method_and_writes_a_summary(tmp_path, monkeypatch, capsys):
    from quasid import demo

    monkeypatch.setitem(demo.DEMO_TOKENIZER, "rqvae", {"codebook_size": 16, "epochs": 2, "batch_size": 256})
    code, out, err = run_cli(
        monkeypatch, capsys, "demo", "--items", "400", "-o", str(tmp_path), "--no-progress"
    )
    assert code == 0, err
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert set(summary) >= {"rqkmeans", "rqvae", "quasid", "quasid_severity"}
    assert "harmful" in out
