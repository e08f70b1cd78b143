"""Training: windows of a prepared corpus -> a CP Transformer, checkpointed for exact resume.

Every random choice of step k (which windows, dropout) is seeded by
(seed, k), so a run interrupted at any checkpoint and resumed reproduces the
same loss curve on the CPU. A run directory holds::

    checkpoint.pt      model + optimizer state, step, configs (weights only, no pickled objects)
    model.safetensors  fp16 weights of the last checkpoint, loadable by ``cmtlite sample``
    metrics.jsonl      one line per logged step: lr, train loss, validation loss per field
    loss.png           the loss curves
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from cmtlite.calibration import load_calibration
from cmtlite.errors import ConfigError, OutputError
from cmtlite.model import CPTransformer, ModelConfig, resolve_device, save_model
from cmtlite.outputs import atomic_output, check_output_folder, check_outputs, write_json
from cmtlite.progress import progress_bar
from cmtlite.tokens.codec import carried_beat_timing
from cmtlite.tokens.corpus import CorpusSplit, load_corpus
from cmtlite.tokens.vocab import FIELDS
from cmtlite.training.distributed import (
    RANK_SEED_STRIDE,
    Rank,
    anyone,
    barrier,
    check_world,
    join_torchrun,
    spawn,
    total,
    under_torchrun,
    wrap,
)

CHECKPOINT, WEIGHTS, METRICS, LOSS_PLOT = "checkpoint.pt", "model.safetensors", "metrics.jsonl", "loss.png"


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings. Learning rate: linear warm-up, then cosine down to ``min_lr_ratio`` of ``lr``."""

    steps: int = 2400
    batch_size: int = 16
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    piece_start_fraction: float = 0.1  # share of windows that start at a piece's first token
    eval_every: int = 100
    eval_windows: int = 128
    log_every: int = 10
    checkpoint_every: int = 25
    seed: int = 0


def learning_rate(step: int, config: TrainConfig) -> float:
    """Learning rate at ``step``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = min((step - config.warmup_steps) / max(config.steps - config.warmup_steps, 1), 1.0)
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def sample_windows(split: CorpusSplit, rng: np.random.Generator, n: int, length: int, start_fraction: float) -> tuple[np.ndarray, ...]:
    """``n`` windows of ``length`` tokens: (tokens (n, length, fields), time (n, length), mask (n, length - 1)).

    Pieces are drawn in proportion to their length; a window starts at the
    piece's first token with probability ``start_fraction``, else anywhere.
    Short pieces are padded; ``mask`` marks real target tokens.
    """
    sizes = np.diff(split.offsets)
    pieces = rng.choice(len(sizes), size=n, p=sizes / sizes.sum())
    tokens = np.zeros((n, length, len(FIELDS)), np.int64)
    timing = np.zeros((n, length), np.int64)
    mask = np.zeros((n, length - 1), bool)
    for row, piece in enumerate(pieces):
        span = max(int(sizes[piece]) - length, 0)
        start = 0 if rng.random() < start_fraction else int(rng.integers(0, span + 1))
        full = split.piece(piece)
        window = full[start : start + length]
        tokens[row, : len(window)] = window
        timing[row, : len(window)] = carried_beat_timing(full)[start : start + length]
        mask[row, : len(window) - 1] = True
    return tokens, timing, mask


def _optimizer(model: CPTransformer, config: TrainConfig, *, fused: bool = False) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embed" not in n and "position" not in n and "time" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embed" not in n and "position" not in n and "time" not in n)]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.95), fused=fused or None)


@torch.no_grad()
def evaluate(model: CPTransformer, batches: list[tuple[np.ndarray, ...]], device: torch.device) -> np.ndarray:
    """Mean loss per field (fields,) over fixed validation batches."""
    model.eval()
    total = torch.zeros(len(model.config.vocab_sizes))
    for tokens, timing, mask in batches:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            _, per_field = model.loss(*(torch.from_numpy(a).to(device) for a in (tokens, timing, mask)))
        total += per_field.float().cpu()
    model.train()
    return (total / max(len(batches), 1)).numpy()


def _save_checkpoint(run_dir: Path, model: CPTransformer, optimizer: torch.optim.Optimizer, step: int, meta: dict) -> None:
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, **meta}
    partial = run_dir / f".{CHECKPOINT}.partial"
    torch.save(state, partial)
    partial.replace(run_dir / CHECKPOINT)
    weights = run_dir / f".{WEIGHTS}.partial"
    save_model(model, weights, metadata={"step": str(step), "train_config": meta["train_config"]})
    weights.replace(run_dir / WEIGHTS)


def _read_metrics(path: Path, last_step: int) -> list[dict]:
    """Logged rows up to ``last_step`` (those of the checkpoint a run resumes from)."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["step"] <= last_step]


class LossStep(nn.Module):
    """A training step's forward: the scaled loss of one batch, as DDP and ``torch.compile`` see it (they wrap ``forward``)."""

    def __init__(self, model: CPTransformer) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, timing: torch.Tensor, mask: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """``scale`` times the mean loss of tokens (B, T, fields), timing (B, T), mask (B, T - 1)."""
        return self.model.loss(tokens, timing, mask)[0] * scale


@dataclass(frozen=True)
class TrainRun:
    """One ``cmtlite train`` call, as every process of it sees it."""

    corpus_dir: Path
    run_dir: Path
    model_config: ModelConfig
    train_config: TrainConfig
    resume: bool = False
    quiet: bool = False
    stop_after_s: float | None = None
    stop_at_step: int | None = None
    init_from: Path | None = None
    compiled: bool = False

    def meta(self) -> dict[str, str]:
        """The configs as a checkpoint stores them."""
        return {"model_config": self.model_config.to_json(), "train_config": json.dumps(dataclasses.asdict(self.train_config))}


def train(
    corpus_dir: Path,
    run_dir: Path,
    *,
    model_config: ModelConfig,
    train_config: TrainConfig,
    device: str = "auto",
    resume: bool = False,
    quiet: bool = False,
    stop_after_s: float | None = None,
    stop_at_step: int | None = None,
    init_from: Path | None = None,
    nproc: int = 1,
    compiled: bool | None = None,
) -> list[dict]:
    """Train (or resume) a model on a prepared corpus, in ``nproc`` processes; returns the metrics rows.

    ``stop_after_s`` ends the run early (with a checkpoint) after that many
    seconds of wall time, ``stop_at_step`` after that step; neither changes
    the learning-rate schedule, so ``--resume`` continues exactly.
    ``init_from`` (a model file) warm-starts a new run: every weight whose
    name and shape match is copied, the rest keep their initialization.
    With ``nproc`` > 1 (or under ``torchrun``) the processes train with DDP
    on slices of the same global batch (:mod:`cmtlite.training.distributed`);
    only rank 0 writes. ``compiled`` runs the step through ``torch.compile``
    (None: on CUDA only).

    Raises
    ------
    ConfigError
        Bad corpus, device, process count, or a resume whose configs differ from the checkpoint's.
    OutputError
        ``run_dir`` already holds a run and ``resume`` is not set.
    """
    torch_device = resolve_device(device)
    run = TrainRun(Path(corpus_dir), Path(run_dir), model_config, train_config, resume, quiet, stop_after_s, stop_at_step, init_from,
                   torch_device.type == "cuda" if compiled is None else compiled)
    _check_run(run)
    if under_torchrun() and nproc > 1:
        msg = "under torchrun, the processes are torchrun's (--nproc-per-node): leave --nproc at 1"
        raise ConfigError(msg)
    check_world(int(os.environ["WORLD_SIZE"]) if under_torchrun() else nproc, batch_size=train_config.batch_size, device=torch_device)
    if under_torchrun():
        rank = join_torchrun(torch_device)
        try:
            train_rank(rank, run)
        finally:
            dist.destroy_process_group()
        if not rank.main:
            return []
    elif nproc > 1:
        spawn(train_rank, nproc, torch_device, run)
    else:
        train_rank(Rank(device=torch_device), run)
    return _read_metrics(run.run_dir / METRICS, train_config.steps)


def _check_run(run: TrainRun) -> None:
    """Refuse a bad corpus, an occupied run folder or a resume with other configs, before any process starts."""
    check_output_folder(run.run_dir, inputs=(run.corpus_dir, run.init_from))
    _, splits = load_corpus(run.corpus_dir)
    if len(splits["train"]) == 0:
        msg = f"{run.corpus_dir}: the training split is empty"
        raise ConfigError(msg)
    checkpoint_path = run.run_dir / CHECKPOINT
    if checkpoint_path.exists() and not run.resume:
        msg = f"{run.run_dir} already holds a run (use --resume to continue it, or another -o)"
        raise OutputError(msg)
    if checkpoint_path.exists():
        _load_checkpoint(checkpoint_path, run.meta())
    run.run_dir.mkdir(parents=True, exist_ok=True)


def train_rank(rank: Rank, run: TrainRun) -> None:
    """One process's training loop (all of it for one process); rank 0 writes checkpoints, metrics and the plot."""
    config = run.train_config
    _, splits = load_corpus(run.corpus_dir)
    model, optimizer, step = _start(run, rank.device)
    metrics = _read_metrics(run.run_dir / METRICS, step) if rank.main else []
    step_module = wrap(LossStep(model), rank, compiled=run.compiled)
    val_batches = _validation_batches(splits, run) if rank.main else []
    model.train()
    started = time.monotonic()
    meter = {"at": started, "tokens": 0}
    with progress_bar(total=config.steps, desc="train", unit="step", quiet=run.quiet or not rank.main) as bar:
        bar.update(step)
        while step < config.steps:
            share, targets = _step(step_module, optimizer, model, splits["train"], step, rank, run)
            step += 1
            meter["tokens"] += targets
            bar.update()
            if step % config.log_every == 0 or step == config.steps:
                row = _log_row(step, total(share, rank), meter, rank, config)
                bar.set_postfix(loss=f"{row['train_loss']:.3f}", tok_s_dev=f"{row['tokens_per_s_per_device']:.0f}")
                if rank.main and (step % config.eval_every == 0 or step == config.steps):
                    per_field = evaluate(model, val_batches, rank.device)
                    row["val_loss"] = round(float(per_field.sum()), 5)
                    row |= {f"val_{f}": round(float(v), 5) for f, v in zip(FIELDS, per_field, strict=True)}
                metrics.append(row)
            out_of_time = run.stop_after_s is not None and anyone(time.monotonic() - started > run.stop_after_s, rank)
            out_of_time |= run.stop_at_step is not None and step >= run.stop_at_step
            if rank.main and (step % config.checkpoint_every == 0 or step == config.steps or out_of_time):
                _save_checkpoint(run.run_dir, model, optimizer, step, run.meta())
                (run.run_dir / METRICS).write_text("".join(json.dumps(r) + "\n" for r in metrics))
            if out_of_time:
                break
    if rank.main:
        plot_losses(metrics, run.run_dir / LOSS_PLOT)
    barrier(rank)


def _start(run: TrainRun, device: torch.device) -> tuple[CPTransformer, torch.optim.AdamW, int]:
    """(model, optimizer, step): new (seeded, or warm-started), or from the run's checkpoint."""
    torch.manual_seed(run.train_config.seed)
    model = CPTransformer(run.model_config).to(device)
    checkpoint_path = run.run_dir / CHECKPOINT
    if run.init_from is not None and not checkpoint_path.exists():
        _warm_start(model, run.init_from)
    optimizer = _optimizer(model, run.train_config, fused=device.type == "cuda")
    if not (run.resume and checkpoint_path.exists()):
        return model, optimizer, 0
    state = _load_checkpoint(checkpoint_path, run.meta())
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return model, optimizer, int(state["step"])


def _validation_batches(splits: dict[str, CorpusSplit], run: TrainRun) -> list[tuple[np.ndarray, ...]]:
    """The fixed validation windows (seeded apart from the training ones)."""
    config = run.train_config
    val_split = splits["val"] if len(splits["val"]) else splits["train"]
    val_rng = np.random.default_rng([config.seed, 2**31 - 1])
    val_batch = min(config.batch_size, config.eval_windows)
    length = run.model_config.context + 1
    return [sample_windows(val_split, val_rng, val_batch, length, config.piece_start_fraction)
            for _ in range(max(config.eval_windows // val_batch, 1))]


def _step(step_module: nn.Module, optimizer: torch.optim.Optimizer, model: CPTransformer, split: CorpusSplit, step: int, rank: Rank,
          run: TrainRun) -> tuple[torch.Tensor, int]:
    """One optimizer step on this rank's rows of step ``step``'s global batch: (its share of the global loss, global targets).

    Each rank's loss is weighted by its share of the batch's target tokens
    (times the world size, as DDP averages gradients), so the gradient is
    the one of the whole batch's mean loss, whatever the number of processes.
    """
    config = run.train_config
    lr = learning_rate(step, config)
    for group in optimizer.param_groups:
        group["lr"] = lr
    rng = np.random.default_rng([config.seed, step])
    torch.manual_seed(config.seed * 1_000_003 + step + rank.rank * RANK_SEED_STRIDE)
    tokens, timing, mask = sample_windows(split, rng, config.batch_size, run.model_config.context + 1, config.piece_start_fraction)
    rows, targets = rank.rows(config.batch_size), int(mask.sum())
    scale = torch.tensor(rank.world * int(mask[rows].sum()) / max(targets, 1), device=rank.device)
    local = (torch.from_numpy(a[rows]).to(rank.device, non_blocking=True) for a in (tokens, timing, mask))
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=rank.device.type == "cuda"):
        loss = step_module(*local, scale)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss.detach().float() / rank.world, targets


def _log_row(step: int, loss: torch.Tensor, meter: dict[str, float], rank: Rank, config: TrainConfig) -> dict:
    """The metrics row of ``step``: learning rate, global train loss, tokens per second per device since the last row."""
    now = time.monotonic()
    speed = meter["tokens"] / max(now - meter["at"], 1e-9) / rank.world
    meter["at"], meter["tokens"] = now, 0
    return {"step": step, "lr": learning_rate(step - 1, config), "train_loss": round(loss.item(), 5),
            "tokens_per_s_per_device": round(speed, 1)}


def _warm_start(model: CPTransformer, path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            weights = {name: fh.get_tensor(name) for name in fh.keys()}  # noqa: SIM118 - safe_open has no iterator
    except (OSError, SafetensorError) as err:
        msg = f"warm start from {path}: cannot read weights ({err})"
        raise ConfigError(msg) from err
    state = model.state_dict()
    matching = {k: v.to(state[k].dtype) for k, v in weights.items() if k in state and state[k].shape == v.shape}
    if not matching:
        msg = f"warm start from {path}: no weight fits this model"
        raise ConfigError(msg)
    model.load_state_dict(matching, strict=False)


def _load_checkpoint(path: Path, meta: dict) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError) as err:
        msg = f"{path}: cannot read checkpoint ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    for key in ("model_config", "train_config"):
        if json.loads(state.get(key, "{}")) | {"steps": 0} != json.loads(meta[key]) | {"steps": 0}:
            msg = f"{path}: resuming with a different {key.replace('_', ' ')} than the checkpoint's"
            raise ConfigError(msg)
    return state


def plot_losses(metrics: list[dict], path: Path) -> None:
    """Write a PNG of the train and validation loss curves."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    steps = [r["step"] for r in metrics]
    ax.plot(steps, [r["train_loss"] for r in metrics], lw=0.8, label="train")
    val = [(r["step"], r["val_loss"]) for r in metrics if "val_loss" in r]
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (sum over token fields, nats)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def tokens_seen(corpus_dir: Path, model_config: ModelConfig, train_config: TrainConfig, steps: int) -> int:
    """Target tokens the first ``steps`` steps trained on (the seeded windows are replayed, not estimated)."""
    _, splits = load_corpus(corpus_dir)
    total, length = 0, model_config.context + 1
    for step in range(steps):
        rng = np.random.default_rng([train_config.seed, step])
        _, _, mask = sample_windows(splits["train"], rng, train_config.batch_size, length, train_config.piece_start_fraction)
        total += int(mask.sum())
    return total


def export_model(run_dir: Path, corpus_dir: Path, output: Path, *, force: bool) -> dict:
    """Copy a run's weights to ``output`` (fp16 safetensors) and write ``output`` with ``.json``: config, vocabulary,
    the shipped calibration and training summary. Returns that summary.

    Raises
    ------
    ConfigError
        ``run_dir`` holds no checkpoint.
    OutputError
        An output is the run's weights, or exists without ``force``.
    """
    from cmtlite.model import load_model
    from cmtlite.tokens.vocab import FAMILIES, FAMILY_PROGRAMS, VOCAB_SIZES

    run_dir = Path(run_dir)
    check_outputs((output, Path(output).with_suffix(".json")), inputs=(run_dir / WEIGHTS,), force=force)
    model, metadata = load_model(run_dir / WEIGHTS)
    train_config = TrainConfig(**json.loads(metadata["train_config"]))
    step = int(metadata["step"])
    metrics = _read_metrics(run_dir / METRICS, step)
    last_val = next((r for r in reversed(metrics) if "val_loss" in r), {})
    last_train = [r["train_loss"] for r in metrics if r["step"] > step - 50]
    summary = {
        "format": "cmtlite-model-card-1",
        "weights": Path(output).name,
        "parameters": model.n_params(),
        "config": dataclasses.asdict(model.config),
        "vocabulary": {
            "fields": list(FIELDS),
            "sizes": dict(zip(FIELDS, VOCAB_SIZES, strict=True)),
            "families": list(FAMILIES),
            "family_gm_programs": {FAMILIES[f]: p for f, p in FAMILY_PROGRAMS.items()},
        },
        "training": {
            **dataclasses.asdict(train_config),
            "steps_done": step,
            "tokens_seen": tokens_seen(corpus_dir, model.config, train_config, step),
            "train_loss_last_50_steps": round(float(np.mean(last_train)), 4) if last_train else None,
            "validation": {k.removeprefix("val_"): v for k, v in last_val.items() if k.startswith("val_")},
            "validation_step": last_val.get("step"),
        },
        "calibration": load_calibration().to_json(),
    }
    with atomic_output(Path(output), force=force) as tmp:
        save_model(model, tmp, metadata={"step": str(step), "train_config": metadata["train_config"]})
    write_json(Path(output).with_suffix(".json"), summary, force=force)
    return summary
