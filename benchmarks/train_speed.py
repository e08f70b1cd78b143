"""Training cost per token: one optimizer step (forward, backward, AdamW) of each model config on this machine's device.

    python benchmarks/train_speed.py [--configs small,cmt] [--device auto] [--batch-size B] [--steps N] [--compile auto|on|off|both]
                                     [--threads T]

Full windows of ``context + 1`` random tokens (the grammar does not change
the cost), every target counted. The step is the one ``cmtlite train``
runs (:class:`~cmtlite.training.train.LossStep`, bf16 autocast and fused
AdamW on CUDA, optionally ``torch.compile``); the first steps (compilation)
are not timed. Prints one line per config and compile setting (tokens/s and
microseconds per token, on one device) and one JSON line of them all.
Default batch: 16 windows on CUDA, 2 on the CPU (a ``cmt`` step of 16
windows takes minutes there and more memory than 23 GB). On a CPU shared
with other jobs give ``--threads 1``: torch's threads wait for each other at
every operation when another process holds a core (8x slower for ``small``
on a busy 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from cmtlite.model import CONFIGS, CPTransformer, resolve_device
from cmtlite.tokens.vocab import BEAT_TIMING
from cmtlite.training.train import LossStep, TrainConfig, _optimizer


def _batch(config, batch_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    rng = np.random.default_rng(0)
    length = config.context + 1
    tokens = np.stack([rng.integers(0, n, size=(batch_size, length)) for n in config.vocab_sizes], axis=-1)
    timing = rng.integers(0, config.vocab_sizes[BEAT_TIMING], size=(batch_size, length))
    mask = np.ones((batch_size, length - 1), bool)
    return tuple(torch.from_numpy(a).to(device) for a in (tokens, timing, mask))


def measure(name: str, device: torch.device, *, batch_size: int, steps: int, compiled: bool) -> dict:
    """Tokens per second and microseconds per token of ``steps`` timed training steps of config ``name``."""
    torch.manual_seed(0)
    model = CPTransformer(CONFIGS[name]).to(device).train()
    optimizer = _optimizer(model, TrainConfig(), fused=device.type == "cuda")
    step_module = torch.compile(LossStep(model)) if compiled else LossStep(model)
    batch = _batch(model.config, batch_size, device)
    scale = torch.tensor(1.0, device=device)

    def step() -> None:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            loss = step_module(*batch, scale)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    for _ in range(3):  # compilation, allocator and kernel warm-up
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - started
    tokens = steps * batch_size * model.config.context
    result = {"config": name, "parameters": model.n_params(), "device": str(device), "threads": torch.get_num_threads(),
              "compiled": compiled, "batch_size": batch_size,
              "tokens_per_s": round(tokens / seconds, 1), "us_per_token": round(1e6 * seconds / tokens, 2)}
    if device.type == "cuda":
        result["peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,cmt")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off", "both"])
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
    settings = {"auto": [cuda], "on": [True], "off": [False], "both": [False, True]}[args.compile]
    results = []
    for name in args.configs.split(","):
        for compiled in settings:
            result = measure(name, device, batch_size=args.batch_size or (16 if cuda else 2), steps=args.steps or (20 if cuda else 3),
                             compiled=compiled)
            results.append(result)
            print(f"{name:>6} on {result['device']} (compile {'on' if compiled else 'off'}, batch {result['batch_size']}): "
                  f"{result['tokens_per_s']:,.0f} tokens/s = {result['us_per_token']:.2f} us per token")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
