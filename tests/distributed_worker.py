"""Run by tests/test_distributed.py under torchrun (one launch, as starting processes is most of the cost):

``distributed_worker.py OUT [quasid CLI args]``: distributed fits through the Python API, then, with
CLI args, ``python -m quasid ARGS`` in the same processes (what ``torchrun -m quasid ARGS`` runs).
Each process writes its trained codebooks (``codebooks<rank>.pt``); rank 0 writes ``result.json``
with the histories and codes of: an RQ-VAE run, the same run killed mid-training and resumed from
its rank-0 checkpoint, and a QuaSID run whose pair losses span the processes.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
from pathlib import Path

import torch

from quasid import distributed
from quasid.data.synthetic import make_synthetic
from quasid.io import atomic_path, write_json
from quasid.tokenizers import RQVAE, QuaSID
from test_tokenizers import Killer, clustered

# float32 MLPs: the test holds the data-parallel run to the single-process losses at 1e-3, and bf16's
# rounding (RQVAEConfig.bf16, on by default) of half batches vs whole ones moves them by ~2e-3
SMALL = {"batch_size": 128, "latent_dim": 8, "hidden_dims": [64, 32], "bf16": False}
# 600 items in global batches of 128: 5 steps an epoch; a checkpoint every 2 epochs
RQ = {**SMALL, "codebook_size": 16, "epochs": 6, "checkpoint_every": 2, "lr": 3e-3}
KILL_AT_STEP = 18  # in the 4th epoch: the run resumes from the checkpoint written after epoch 2
QS = {**SMALL, "codebook_size": 8, "epochs": 4, "warmup_epochs": 1}
QS_DATA = {"n_items": 300, "n_users": 250, "seed": 0}


def rqvae(kill_at: int | None = None) -> RQVAE:
    """RQ-VAE with a zero-weight loss that raises KeyboardInterrupt at step ``kill_at`` on every process."""
    return RQVAE(**RQ, auxiliary_losses={"k": (0.0, Killer(kill_at))})


def main(out: Path) -> None:
    torch.set_num_threads(1)
    distributed.init("cpu")
    x = clustered()
    full = rqvae().fit(x, checkpoint_dir=out / "full")
    with contextlib.suppress(KeyboardInterrupt):
        rqvae(kill_at=KILL_AT_STEP).fit(x, checkpoint_dir=out / "kill")
    resumed = rqvae().fit(x, checkpoint_dir=out / "kill", resume=True)
    data = make_synthetic(**QS_DATA)
    across = QuaSID(**QS, pairs_across_ranks=True).fit(data)
    assert full.model_ is not None
    with atomic_path(out / f"codebooks{distributed.rank()}.pt") as tmp:
        torch.save(full.model_.quantizer.codebooks.detach(), tmp)
    if distributed.is_main():
        write_json(
            out / "result.json",
            {
                "replicas": full.distributed_,
                "full": {"history": full.history_, "codes": full.encode(x)},
                "resumed": {"history": resumed.history_, "codes": resumed.encode(x)},
                "across": {"history": across.history_, "replicas": across.distributed_},
            },
        )
    distributed.barrier()


def run_cli(args: list[str]) -> None:
    """``python -m quasid ARGS`` in this process; raises if it exits with an error."""
    sys.argv = ["quasid", *args]
    try:
        runpy.run_module("quasid", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        if exc.code:
            raise


if __name__ == "__main__":
    main(Path(sys.argv[1]))
    if len(sys.argv) > 2:
        run_cli(sys.argv[2:])
