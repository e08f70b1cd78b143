"""The CP Transformer: cache equivalence, save/load, bad checkpoints, CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from cmtlite.errors import ConfigError
from cmtlite.model import CONFIGS, CPTransformer, load_model, save_model
from cmtlite.tokens.codec import carried_beat_timing, encode
from cmtlite.tokens.vocab import N_FIELDS
from tests.conftest import assert_bad_input, random_score, run


def tokens_of(seed: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = encode(random_score(seed))[:length]
    return torch.from_numpy(tokens).unsqueeze(0), torch.from_numpy(carried_beat_timing(tokens)).unsqueeze(0)


@pytest.fixture
def model():
    torch.manual_seed(0)
    return CPTransformer(CONFIGS["tiny"]).eval()


def test_cached_and_full_hidden_states_agree(model):
    tokens, time = tokens_of(1, 100)
    full = model.hidden(tokens, time)
    cache = model.new_cache()
    steps = [model.hidden(tokens[:, :60], time[:, :60], cache)]
    for start, stop in [(60, 67), (67, 74), *((i, i + 1) for i in range(74, 100))]:  # several tokens per call, then one
        steps.append(model.hidden(tokens[:, start:stop], time[:, start:stop], cache))
    assert cache.length == 100
    cached = torch.cat(steps, dim=1)
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(model.type_logits(cached), model.type_logits(full), atol=1e-4, rtol=1e-4)
    given = (tokens[..., 0], tokens[..., 6])  # next type and instrument
    for from_cache, from_full in zip(model.field_logits(cached, *given)[1:], model.field_logits(full, *given)[1:], strict=True):
        torch.testing.assert_close(from_cache, from_full, atol=1e-4, rtol=1e-4)


def test_cache_refuses_positions_beyond_the_context(model):
    tokens, time = tokens_of(1, 100)
    cache = model.new_cache()
    model.hidden(tokens, time, cache)
    with pytest.raises(ValueError, match="context"):
        model.hidden(tokens[:, :29], time[:, :29], cache)


def test_type_then_field_heads_shapes(model):
    tokens, time = tokens_of(2, 30)
    h = model.hidden(tokens, time)
    assert model.type_logits(h).shape == (1, 30, 3)
    logits = model.field_logits(h, tokens[..., 0], tokens[..., 6])
    assert logits[0] is None
    assert [lg.shape[-1] for lg in logits[1:]] == list(model.config.vocab_sizes[1:])
    drums, bass = (model.field_logits(h, torch.full_like(tokens[..., 0], 2), torch.full_like(tokens[..., 0], i)) for i in (1, 4))
    torch.testing.assert_close(drums[1], bass[1])  # beat does not depend on the instrument
    model.instrument_proj.weight.data.normal_()  # once trained: pitch does
    drums, bass = (model.field_logits(h, torch.full_like(tokens[..., 0], 2), torch.full_like(tokens[..., 0], i)) for i in (1, 4))
    assert not torch.allclose(drums[4], bass[4])


def test_loss_is_finite_and_masked(model):
    tokens, time = tokens_of(3, 64)
    mask = torch.ones(1, 63, dtype=torch.bool)
    loss, per_field = model.loss(tokens, time, mask)
    assert torch.isfinite(loss) and per_field.shape == (N_FIELDS,)
    mask[:, 32:] = False
    half, _ = model.loss(tokens, time, mask)
    short, _ = model.loss(tokens[:, :33], time[:, :33], mask[:, :32])
    torch.testing.assert_close(half, short, atol=1e-5, rtol=1e-5)


def test_save_load_gives_identical_outputs(model, tmp_path):
    save_model(model, tmp_path / "m.safetensors", dtype=torch.float32)
    loaded, metadata = load_model(tmp_path / "m.safetensors")
    assert loaded.config == model.config and "config" in metadata
    tokens, time = tokens_of(4, 50)
    torch.testing.assert_close(loaded.hidden(tokens, time), model.hidden(tokens, time), atol=0, rtol=0)


def test_fp16_file_is_half_the_size(model, tmp_path):
    save_model(model, tmp_path / "a.safetensors", dtype=torch.float32)
    save_model(model, tmp_path / "b.safetensors")
    assert (tmp_path / "b.safetensors").stat().st_size < 0.6 * (tmp_path / "a.safetensors").stat().st_size


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "])
def test_corrupt_checkpoint_is_a_config_error(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="bad.safetensors"):
        load_model(path)


def test_wrong_shaped_checkpoint(model, tmp_path):
    path = tmp_path / "m.safetensors"
    save_model(model, path)
    with safe_open(str(path), "pt") as fh:
        metadata = fh.metadata()
    weights = load_file(str(path))
    weights["in_proj.weight"] = weights["in_proj.weight"][:, :3].contiguous()
    save_file(weights, str(path), metadata=metadata)
    with pytest.raises(ConfigError, match="cannot load model"):
        load_model(path)
    result = run("sample", "-o", tmp_path / "x.mid", "--model", path, "-q")
    assert_bad_input(result, "cannot load model")
    assert not (tmp_path / "x.mid").exists()


def test_cli_sample_rejects_a_non_model(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert_bad_input(run("sample", "-o", tmp_path / "x.mid", "--model", path, "-q"), "notes.txt")


def test_parameter_counts():
    counts = {name: CPTransformer(config).n_params() for name, config in CONFIGS.items()}
    assert counts["tiny"] < counts["small"] < counts["cmt"]
    assert 2e6 < counts["small"] < 8e6 and counts["cmt"] > 30e6


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_cuda_bf16_matches_cpu(model):
    tokens, time = tokens_of(5, 80)
    cpu = model.hidden(tokens, time)
    gpu_model = CPTransformer(model.config).cuda().eval()
    gpu_model.load_state_dict(model.state_dict())
    with torch.autocast("cuda", dtype=torch.bfloat16):
        gpu = gpu_model.hidden(tokens.cuda(), time.cuda())
    assert np.allclose(gpu.float().cpu().numpy(), cpu.detach().numpy(), atol=0.1)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")
def test_generate_samples_on_cuda_when_present(bounce_clip, model_file, tmp_path):
    """``cmtlite generate``'s default device: the model loads (during the analysis) onto CUDA and every sampling step runs there."""
    from cmtlite.cli import _load_model
    from cmtlite.soundtrack import Outputs, make_soundtrack

    devices = []

    def loader():
        loaded = _load_model(model_file, "auto")
        hidden = loaded.hidden
        loaded.hidden = lambda tokens, *rest: (devices.append(tokens.device.type), hidden(tokens, *rest))[1]
        return loaded

    make_soundtrack(bounce_clip, Outputs(midi=tmp_path / "x.mid"), model=loader, soundfont=None)
    assert devices and set(devices) == {"cuda"}
    assert (tmp_path / "x.mid").stat().st_size > 0
