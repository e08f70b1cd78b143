"""Training on several processes: torch.distributed (DDP) on this machine, or one rank of a ``torchrun`` launch.

``cmtlite train --nproc N`` spawns N processes here (gloo on the CPU, NCCL
with one GPU per process on CUDA) that meet through a file store; under
``torchrun`` (``RANK`` / ``WORLD_SIZE`` / ``MASTER_ADDR`` set, any number of
nodes) each ``cmtlite train`` process is one rank. Every rank draws the same
global batch of each step (seeded by the step) and trains on its slice of
rows, so the data, the schedule and the global batch do not depend on N.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cmtlite.errors import ConfigError

RANK_SEED_STRIDE = 1 << 40  # the dropout seed of rank r is the step's seed + r * this (rank 0: the single-process seed)


@dataclass(frozen=True)
class Rank:
    """This process's place in a run: rank, number of processes, device."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")  # noqa: RUF009 - a constant default

    @property
    def main(self) -> bool:
        """Whether this process writes checkpoints, metrics and progress."""
        return self.rank == 0

    def rows(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n`` (``n`` divisible by the world size)."""
        per_rank = n // self.world
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def under_torchrun() -> bool:
    """Whether this process was started by ``torchrun`` (or another launcher that sets ``RANK`` and ``WORLD_SIZE``)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def check_world(nproc: int, *, batch_size: int, device: torch.device) -> None:
    """Refuse a world that cannot split the global batch, or more CUDA processes than GPUs here.

    Raises
    ------
    ConfigError
        Naming the option to change.
    """
    if batch_size % nproc:
        msg = f"--batch-size {batch_size} does not split into {nproc} processes (--nproc): choose a multiple"
        raise ConfigError(msg)
    if device.type == "cuda" and not under_torchrun() and nproc > torch.cuda.device_count():
        msg = f"--nproc {nproc} on CUDA needs {nproc} GPUs ({torch.cuda.device_count()} here)"
        raise ConfigError(msg)


def join_torchrun(device: torch.device) -> Rank:
    """Join the process group a ``torchrun`` launch describes (``env://``); this process's :class:`Rank`."""
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method="env://")
    return Rank(dist.get_rank(), dist.get_world_size(), device)


def spawn(fn: Callable[..., None], nproc: int, device: torch.device, *args: Any) -> None:  # noqa: ANN401
    """Run ``fn(rank, *args)`` in ``nproc`` new processes that form one process group; wait for all of them."""
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory(prefix="cmtlite-ddp-") as tmp:
        store = Path(tmp) / "store"
        mp.start_processes(_spawned, args=(fn, nproc, device.type, str(store), args), nprocs=nproc, start_method="spawn")


def _spawned(rank: int, fn: Callable[..., None], nproc: int, device_type: str, store: str, args: tuple) -> None:
    device = torch.device("cuda", rank) if device_type == "cuda" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))  # the processes share the cores
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", init_method=f"file://{store}", rank=rank, world_size=nproc)
    try:
        fn(Rank(rank, nproc, device), *args)
    finally:
        dist.destroy_process_group()


def wrap(module: nn.Module, rank: Rank, *, compiled: bool) -> nn.Module:
    """``module`` as the training step runs it: in DDP when in a process group (even of one), then compiled if asked."""
    if dist.is_initialized():
        ids = [rank.device.index] if rank.device.type == "cuda" else None
        module = nn.parallel.DistributedDataParallel(module, device_ids=ids)
    return torch.compile(module) if compiled else module


def total(value: torch.Tensor, rank: Rank) -> torch.Tensor:
    """The sum of ``value`` over the processes (``value`` itself for one)."""
    if rank.world > 1:
        value = value.detach().clone()
        dist.all_reduce(value)
    return value


def anyone(flag: bool, rank: Rank) -> bool:
    """Whether ``flag`` is set in any process (all of them must call this)."""
    return bool(total(torch.tensor([float(flag)], device=rank.device), rank).item())


def barrier(rank: Rank) -> None:
    """Wait for every process (a no-op for one)."""
    if rank.world > 1:
        dist.barrier()
