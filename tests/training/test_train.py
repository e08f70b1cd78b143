"""Training: the loss falls, resume is exact, schedules, metrics and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmtlite.model import CONFIGS, load_model
from cmtlite.tokens.corpus import load_corpus
from cmtlite.tokens.vocab import N_FIELDS
from cmtlite.training.train import TrainConfig, learning_rate, sample_windows, train
from tests.conftest import assert_bad_input, run

TINY = CONFIGS["tiny"]
FAST = TrainConfig(steps=40, batch_size=4, lr=3e-3, warmup_steps=5, eval_every=20, eval_windows=8, log_every=5, checkpoint_every=10)


def untimed(metrics):
    """Metrics rows without their speed (the one thing a rerun may change)."""
    return [{k: v for k, v in row.items() if k != "tokens_per_s_per_device"} for row in metrics]


@pytest.mark.slow
def test_loss_falls(tiny_corpus, tmp_path):
    metrics = train(tiny_corpus, tmp_path / "run", model_config=TINY, train_config=FAST, device="cpu", quiet=True)
    val = [r["val_loss"] for r in metrics if "val_loss" in r]
    assert metrics[-1]["step"] == 40 and len(val) == 2
    assert np.mean([r["train_loss"] for r in metrics[-2:]]) < 0.8 * metrics[0]["train_loss"]
    assert {"val_pitch", "val_beat_timing"} <= set(metrics[-1])
    for name in ("checkpoint.pt", "model.safetensors", "metrics.jsonl", "loss.png"):
        assert (tmp_path / "run" / name).exists()
    model, metadata = load_model(tmp_path / "run" / "model.safetensors")
    assert model.config == TINY and metadata["step"] == "40"


@pytest.mark.slow
def test_interrupted_run_resumes_exactly(tiny_corpus, tmp_path):
    config = TrainConfig(**{**FAST.__dict__, "steps": 20})
    straight = train(tiny_corpus, tmp_path / "a", model_config=TINY, train_config=config, device="cpu", quiet=True)
    train(tiny_corpus, tmp_path / "b", model_config=TINY, train_config=config, device="cpu", quiet=True, stop_after_s=0)
    first = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert first == []  # stopped (with a checkpoint) after its first step, before any log line
    resumed = train(tiny_corpus, tmp_path / "b", model_config=TINY, train_config=config, device="cpu", resume=True, quiet=True)
    assert untimed(resumed) == untimed(straight)
    train(tiny_corpus, tmp_path / "c", model_config=TINY, train_config=config, device="cpu", quiet=True, stop_at_step=10)
    again = train(tiny_corpus, tmp_path / "c", model_config=TINY, train_config=config, device="cpu", resume=True, quiet=True)
    assert untimed(again) == untimed(straight)


def test_run_directory_is_not_overwritten(tiny_corpus, tmp_path):
    config = TrainConfig(**{**FAST.__dict__, "steps": 2})
    train(tiny_corpus, tmp_path / "run", model_config=TINY, train_config=config, device="cpu", quiet=True)
    result = run("train", tiny_corpus, "-o", tmp_path / "run", "--config", "tiny", "--steps", 2, "-q")
    assert_bad_input(result, "--resume")


def test_resume_with_another_model_is_refused(tiny_corpus, tmp_path):
    run("train", tiny_corpus, "-o", tmp_path / "run", "--config", "tiny", "--steps", 2, "--batch-size", 2, "-q")
    result = run("train", tiny_corpus, "-o", tmp_path / "run", "--config", "small", "--steps", 4, "--resume", "-q")
    assert_bad_input(result, "different model config")


def test_learning_rate_warms_up_then_decays():
    config = TrainConfig(steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    rates = [learning_rate(s, config) for s in range(100)]
    assert rates[0] == pytest.approx(0.1) and max(rates) == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False)) and rates[-1] >= 0.1


def test_windows_are_seeded_and_padded(tiny_corpus):
    _, splits = load_corpus(tiny_corpus)
    a = sample_windows(splits["train"], np.random.default_rng(1), 3, 2000, 0.5)
    b = sample_windows(splits["train"], np.random.default_rng(1), 3, 2000, 0.5)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    tokens, _, mask = a
    assert tokens.shape == (3, 2000, N_FIELDS) and not mask.all()  # pieces are shorter than 2000 tokens: padded
    assert (tokens[~np.concatenate([mask, np.zeros((3, 1), bool)], axis=1)][:, 1:] == 0).all()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--steps", "0"], ["--steps"]),
        (["--config", "huge"], ["--config"]),
        (["--device", "tpu"], ["--device"]),
    ],
)
def test_train_bad_input(tiny_corpus, tmp_path, args, words):
    assert_bad_input(run("train", tiny_corpus, "-o", tmp_path / "run", *args, "-q"), *words)


def test_train_on_a_non_corpus(tmp_path):
    assert_bad_input(run("train", tmp_path, "-o", tmp_path / "run", "-q"), "not a prepared corpus")


def test_export_writes_weights_and_card(tiny_corpus, tmp_path):
    config = TrainConfig(**{**FAST.__dict__, "steps": 10})
    train(tiny_corpus, tmp_path / "run", model_config=TINY, train_config=config, device="cpu", quiet=True)
    out = tmp_path / "model.safetensors"
    result = run("export", tmp_path / "run", "--corpus", tiny_corpus, "-o", out)
    assert result.exit_code == 0, result.output
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["steps_done"] == 10
    assert 0 < card["training"]["tokens_seen"] <= 10 * config.batch_size * TINY.context
    assert card["calibration"]["density_quantiles"] and card["vocabulary"]["families"][0] == "drums"
    model, _ = load_model(out)
    assert model.config == TINY
    assert_bad_input(run("export", tmp_path / "run", "--corpus", tiny_corpus, "-o", out), "exists")
