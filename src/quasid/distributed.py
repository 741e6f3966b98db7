"""Thin helpers over ``torch.distributed`` for data-parallel training launched by torchrun.

A process takes part in distributed training when torchrun started it (``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` in the environment) and :func:`init` (or the
caller's own ``init_process_group``) joined the group: gloo on CPU, NCCL on
CUDA, one GPU per process chosen by ``LOCAL_RANK``. Every helper is a no-op or
the identity in a single process, so training code calls them unconditionally.
No cluster logic lives here: rendezvous, ports and restarts are torchrun's.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn

from quasid.errors import ConfigError

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
TIMEOUT = timedelta(minutes=30)  # a collective waiting longer than this fails instead of hanging forever


def launched_by_torchrun() -> bool:
    """True when torchrun (or another launcher setting its variables) started this process."""
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def is_active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank in the process group (0 outside one)."""
    return dist.get_rank() if is_active() else 0


def world_size() -> int:
    """Processes in the group (1 outside one)."""
    return dist.get_world_size() if is_active() else 1


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Whether this process writes files and prints: rank 0 of the group, the only process, or, once
    the group is gone (e.g. the CLI reporting after a fit), the process torchrun started as rank 0."""
    if is_active():
        return rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def backend_for(device: str) -> str:
    """gloo for CPU training, NCCL for CUDA (one GPU per process)."""
    return "nccl" if device.startswith("cuda") else "gloo"


def init(device: str = "cpu") -> bool:
    """Join the torchrun process group for training on ``device``; True if this call created it.

    Does nothing outside torchrun or when the group already exists. The group then
    lives until the process exits (a destroyed group cannot be re-created under the
    same torchrun rendezvous), so several fits in one process share it. On CUDA the
    process's current GPU becomes ``cuda:LOCAL_RANK``, so ``device="cuda"`` means
    "this process's GPU" everywhere in the training code.
    """
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        return False
    if not dist.is_available():
        raise ConfigError("this torch build has no torch.distributed: run without torchrun")
    backend = backend_for(device)
    if backend == "nccl":
        if device != "cuda":
            raise ConfigError(
                f"device={device!r} under torchrun: use device='cuda', each process then takes GPU LOCAL_RANK"
            )
        if local_rank() >= torch.cuda.device_count():
            raise ConfigError(
                f"LOCAL_RANK={local_rank()} but this node has {torch.cuda.device_count()} GPU(s): "
                "pass --nproc_per_node <= the number of GPUs"
            )
        torch.cuda.set_device(local_rank())
    dist.init_process_group(backend=backend, timeout=TIMEOUT)
    atexit.register(cleanup)
    return True


def cleanup() -> None:
    """Leave the process group (safe to call when there is none); :func:`init` runs it at exit."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_active():
        dist.barrier()


@contextlib.contextmanager
def main_first() -> Iterator[None]:
    """Rank 0 runs the block first (e.g. to fill a cache); the others run it once rank 0 is done."""
    if not is_main():
        barrier()
    yield
    if is_main():
        barrier()


def all_reduce_sum(tensor: Tensor) -> Tensor:
    """Sum ``tensor`` over processes, in place; returns it."""
    if is_active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def broadcast(tensor: Tensor, src: int = 0) -> Tensor:
    """Overwrite ``tensor`` with rank ``src``'s copy, in place; returns it."""
    if is_active():
        dist.broadcast(tensor, src=src)
    return tensor


@torch.no_grad()
def broadcast_module(module: nn.Module, src: int = 0) -> None:
    """Give every process rank ``src``'s parameters and buffers (e.g. after rank-0-only k-means)."""
    if is_active():
        for tensor in [*module.parameters(), *module.buffers()]:
            dist.broadcast(tensor.data, src=src)


def all_gather_rows(tensor: Tensor, sizes: list[int] | None = None, grad: bool = False) -> list[Tensor]:
    """Every process's ``tensor`` (first dimensions may differ), in rank order.

    ``sizes``: the first dimension on each rank when the caller knows it (saves
    one collective). With ``grad``, the gathered pieces carry autograd: each
    process's rows receive the gradient summed over every process that used them.
    """
    if not is_active():
        return [tensor]
    if sizes is None:
        mine = torch.tensor([tensor.shape[0]], device=tensor.device)
        every = [torch.zeros_like(mine) for _ in range(world_size())]
        dist.all_gather(every, mine)
        sizes = [int(s) for s in every]
    longest = max(sizes)
    padded = tensor
    if tensor.shape[0] < longest:  # all_gather needs equal shapes
        padded = torch.cat([tensor, tensor.new_zeros((longest - tensor.shape[0], *tensor.shape[1:]))])
    gathered = _GatherRows.apply(padded) if grad else _gather(padded)
    return [piece[:size] for piece, size in zip(gathered.split(longest), sizes, strict=True)]


def _gather(tensor: Tensor) -> Tensor:
    """``[n, ...]`` on each process -> ``[world * n, ...]``, rank order."""
    pieces = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(pieces, tensor.contiguous())
    return torch.cat(pieces)


class _GatherRows(torch.autograd.Function):
    """all_gather with a backward: every process uses all rows, so each owner gets the summed gradient."""

    @staticmethod
    def forward(ctx: Any, tensor: Tensor) -> Tensor:
        return _gather(tensor)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        n = grad.shape[0] // world_size()
        return grad[rank() * n : (rank() + 1) * n]


def replica_digests(module: nn.Module) -> list[str]:
    """sha256 of ``module``'s state on every process (rank order): equal digests = identical replicas."""
    h = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    mine = h.hexdigest()
    if not is_active():
        return [mine]
    every: list[str | None] = [None] * world_size()
    dist.all_gather_object(every, mine)
    return [str(d) for d in every]
