"""Distributed training: 2 CPU processes (torchrun, gloo) against the same config in one process.

The documented command (``torchrun -m quasid fit``) must finish a run folder whose SIDs are as good as a
single process's; through the Python API, replicas must stay identical, a killed run must resume to the
uninterrupted result, and with ``pairs_across_ranks`` the 2-process losses must equal the
single-process ones (the global batch's pairs and gradients are the same, up to float rounding).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist

from distributed_worker import QS, QS_DATA, RQ
from quasid import distributed
from quasid.config import RunConfig
from quasid.data.synthetic import make_synthetic
from quasid.errors import ConfigError
from quasid.pipeline import fit
from quasid.tokenizers import RQVAE, QuaSID
from quasid.tokenizers.rqvae import _shareable
from test_tokenizers import clustered

pytestmark = pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="torch.distributed with gloo unavailable"
)

WORLD = 2
DATA = "synthetic:n_items=600,n_users=400"
TOKENIZER = {**QS, "codebook_size": 16, "epochs": 6, "lr": 0.003}
# "As good as": the 2-process run (pairs within each process's half batch) may differ from one process,
# but not by more than this.
PIPES = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
COLLISION_TOLERANCE = 0.05  # absolute, on the collision rate
RECON_TOLERANCE = 0.05  # relative, on the last epoch's reconstruction loss


@pytest.fixture(scope="module")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One torchrun launch of ``WORLD`` CPU processes (free port, one torch thread each): the worker's
    Python-API fits, then ``quasid fit DATA --method quasid -o run`` (pairs within each process)."""
    out = tmp_path_factory.mktemp("ddp")
    sets = [arg for k, v in TOKENIZER.items() for arg in ("--set", f"tokenizer.{k}={json.dumps(v)}")]
    cli = ["fit", DATA, "--method", "quasid", "-o", str(out / "run"), "--no-progress", *sets]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).parent), env.get("PYTHONPATH", "")])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={WORLD}"]
    cmd += [str(Path(__file__).parent / "distributed_worker.py"), str(out), *cli]
    # a session of its own, so a hung launch is killed with its workers
    proc = subprocess.Popen(cmd, cwd=out, env=env, text=True, start_new_session=True, **PIPES)
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{stdout[-3000:]}\n{stderr[-3000:]}"
    return out


def test_torchrun_fit_writes_one_run_as_good_as_a_single_process(launched, tmp_path):
    run = launched / "run"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and len(record["history"]) == TOKENIZER["epochs"]
    replicas = record["distributed"]
    assert replicas["world_size"] == WORLD and replicas["backend"] == "gloo"
    assert replicas["replicas_identical"] and len(set(replicas["replica_digests"])) == 1
    assert not list(run.glob(".*.tmp"))  # rank 0 alone wrote, every file whole

    single = fit(RunConfig(method="quasid", data=DATA, tokenizer=TOKENIZER), tmp_path, progress=False)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["collision_rate"] <= single.metrics["collision_rate"] + COLLISION_TOLERANCE
    recon, recon_single = record["history"][-1]["recon"], single.tokenizer.history_[-1]["recon"]
    assert recon <= recon_single * (1 + RECON_TOLERANCE)


def test_replicas_match_resume_replays_and_pairs_across_ranks_equal_one_process(launched):
    result = json.loads((launched / "result.json").read_text())
    codebooks = [torch.load(launched / f"codebooks{r}.pt") for r in range(WORLD)]
    assert all(torch.equal(codebooks[0], c) for c in codebooks[1:])
    assert result["replicas"]["replicas_identical"] and result["across"]["replicas"]["replicas_identical"]

    # resumed from rank 0's epoch-2 checkpoint: the uninterrupted run, exactly
    full, resumed = result["full"], result["resumed"]
    assert [h["epoch"] for h in resumed["history"]] == list(range(RQ["epochs"]))
    np.testing.assert_array_equal(resumed["codes"], full["codes"])

    # the global batch is the single-process batch: same losses, same SIDs (up to float rounding)
    x = clustered()
    single = RQVAE(**RQ).fit(x)
    assert_same_losses(full["history"], single.history_)
    assert np.mean(np.all(np.asarray(full["codes"]) == single.encode(x), axis=1)) >= 0.98
    # pair losses over the whole global batch: HMR and the dual tower match one process too
    single_q = QuaSID(**QS).fit(make_synthetic(**QS_DATA))
    assert {"hmr", "cl"} <= set(result["across"]["history"][-1])
    assert_same_losses(result["across"]["history"], single_q.history_)


def test_tiny_batches_join_a_neighbour_so_every_process_gets_rows():
    batches = [torch.arange(0, 4), torch.arange(4, 5), torch.arange(5, 9), torch.arange(9, 10)]
    shared = _shareable(batches, WORLD)
    assert [len(b) for b in shared] == [5, 5] and torch.equal(torch.cat(shared), torch.arange(10))
    assert _shareable(batches, 1) is batches
    with pytest.raises(ConfigError, match="fewer items than the 2 training processes"):
        _shareable([torch.arange(1)], WORLD)


def test_helpers_are_the_identity_in_one_process():
    t = torch.arange(6.0).reshape(3, 2)
    assert not distributed.is_active() and distributed.world_size() == 1 and distributed.rank() == 0
    assert distributed.all_gather_rows(t, grad=True)[0] is t
    assert distributed.all_reduce_sum(t) is t and distributed.broadcast(t) is t
    assert len(distributed.replica_digests(torch.nn.Linear(2, 2))) == 1


def assert_same_losses(history: list[dict], reference: list[dict], rtol: float = 1e-3) -> None:
    for got, want in zip(history, reference, strict=True):
        for term in ("loss", "recon", "codebook", "commit", "hmr", "cl"):
            if term in want:
                assert got[term] == pytest.approx(want[term], rel=rtol), (got["epoch"], term)
