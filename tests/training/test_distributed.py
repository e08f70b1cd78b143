"""Training on several processes: 2 CPU processes (gloo) match one at the same global batch, resume across N, CUDA (gpu marker)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cmtlite.model import CONFIGS, load_model
from cmtlite.training.distributed import Rank
from cmtlite.training.train import TrainConfig, train
from tests.conftest import assert_bad_input, run
from tests.training.test_train import untimed

# Without dropout, a step on two processes computes the gradient of the same global batch as one process: the losses
# differ only by the order of float sums (gloo's all-reduce of the gradients), measured at < 1e-5 after 10 steps.
TINY = dataclasses.replace(CONFIGS["tiny"], dropout=0.0)
TEN = TrainConfig(steps=10, batch_size=4, lr=3e-3, warmup_steps=5, eval_every=10, eval_windows=8, log_every=5, checkpoint_every=5)
REPO = Path(__file__).resolve().parents[2]
LOSS_TOLERANCE = 1e-3  # relative, on the train and validation losses


def losses(metrics):
    return [row[key] for row in metrics for key in ("train_loss", "val_loss") if key in row]


def test_rows_split_the_global_batch():
    assert [Rank(r, 4).rows(16) for r in range(4)] == [slice(0, 4), slice(4, 8), slice(8, 12), slice(12, 16)]
    assert Rank().rows(16) == slice(0, 16)


def test_nproc_must_split_the_batch(tiny_corpus, tmp_path):
    result = run("train", tiny_corpus, "-o", tmp_path / "run", "--config", "tiny", "--batch-size", 4, "--nproc", 3, "-q")
    assert_bad_input(result, "--batch-size 4", "3 processes")
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.slow
def test_two_processes_match_one_and_resume_with_one(tiny_corpus, tmp_path):
    one = train(tiny_corpus, tmp_path / "one", model_config=TINY, train_config=TEN, device="cpu", quiet=True)
    two = train(tiny_corpus, tmp_path / "two", model_config=TINY, train_config=TEN, device="cpu", quiet=True, nproc=2)
    assert [r["step"] for r in two] == [5, 10] and "val_loss" in two[-1]
    assert losses(two) == pytest.approx(losses(one), rel=LOSS_TOLERANCE)
    assert two[-1]["tokens_per_s_per_device"] > 0
    again = train(tiny_corpus, tmp_path / "again", model_config=TINY, train_config=TEN, device="cpu", quiet=True, nproc=2)
    assert untimed(again) == untimed(two)  # same seed and N: the same run
    train(tiny_corpus, tmp_path / "switch", model_config=TINY, train_config=TEN, device="cpu", quiet=True, nproc=2, stop_at_step=5)
    resumed = train(tiny_corpus, tmp_path / "switch", model_config=TINY, train_config=TEN, device="cpu", quiet=True, resume=True)
    assert losses(resumed) == pytest.approx(losses(one), rel=LOSS_TOLERANCE)  # 5 steps on 2 processes, then 5 on one
    model, metadata = load_model(tmp_path / "two" / "model.safetensors")
    assert model.config == TINY and metadata["step"] == "10"
    result = run("sample", "-o", tmp_path / "two.mid", "--model", tmp_path / "two" / "model.safetensors", "--bars", 2, "-q")
    assert result.exit_code == 0, result.output


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own compile internals
@pytest.mark.skipif(shutil.which("g++") is None, reason="torch.compile on the CPU needs a C++ compiler")
def test_compiled_training_matches_eager_on_the_cpu(tiny_corpus, tmp_path):
    """The step through ``torch.compile`` (CUDA's default) is the same step: same losses, a checkpoint that samples."""
    eager = train(tiny_corpus, tmp_path / "eager", model_config=TINY, train_config=TEN, device="cpu", quiet=True, compiled=False)
    compiled = train(tiny_corpus, tmp_path / "compiled", model_config=TINY, train_config=TEN, device="cpu", quiet=True, compiled=True)
    assert losses(compiled) == pytest.approx(losses(eager), rel=LOSS_TOLERANCE)
    result = run("sample", "-o", tmp_path / "c.mid", "--model", tmp_path / "compiled" / "model.safetensors", "--bars", 2, "-q")
    assert result.exit_code == 0, result.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_bf16_compiled_training_and_nccl_under_torchrun(tiny_corpus, tmp_path):
    config = dataclasses.replace(TEN, steps=20)
    metrics = train(tiny_corpus, tmp_path / "cuda", model_config=TINY, train_config=config, device="cuda", quiet=True, compiled=True)
    assert metrics[-1]["train_loss"] < metrics[0]["train_loss"] and metrics[-1]["tokens_per_s_per_device"] > 0
    result = run("sample", "-o", tmp_path / "cuda.mid", "--model", tmp_path / "cuda" / "model.safetensors", "--bars", 2, "--device",
                 "cuda", "-q")
    assert result.exit_code == 0, result.output
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "cmtlite", "train",
               str(tiny_corpus), "-o", str(tmp_path / "nccl"), "--config", "tiny", "--steps", "10", "--batch-size", "4", "--device",
               "cuda", "-q"]
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))  # keep what the caller's environment adds
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": path})  # noqa: S603
    assert done.returncode == 0, done.stdout + done.stderr
    assert "step 10" in done.stdout and (tmp_path / "nccl" / "model.safetensors").exists()
