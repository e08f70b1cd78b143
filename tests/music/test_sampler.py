"""Controlled sampling: grammar, forced controls, instrument masks, termination, determinism, CLI."""

from __future__ import annotations

import json

import miditoolkit
import numpy as np
import pytest

from cmtlite.errors import ConfigError
from cmtlite.music.grammar import FREE, SILENT_LIMIT_BARS, Controls, constant_controls
from cmtlite.music.plan import sample_plan
from cmtlite.music.sampler import SAMPLING, _sample, generate_tokens, harmony_bias
from cmtlite.tokens.chords import Key, chord_pitch_classes, parse_chord
from cmtlite.tokens.codec import bar_densities, beat_timing, decode, grammar_errors
from cmtlite.tokens.vocab import (
    BASS,
    BEAT,
    BEAT_BAR,
    BEAT_TIMING,
    CHORD,
    DENSITY,
    DRUMS,
    FAMILIES,
    INSTRUMENT,
    PIANO,
    PITCH,
    STRENGTH,
    TYPE,
    TYPE_METRICAL,
    TYPE_NOTE,
)
from tests.conftest import assert_bad_input, run


def bar_rows(tokens):
    return tokens[(tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] == BEAT_BAR)]


def test_forced_density_strength_and_timing_hold(model):
    n_bars = 6
    density = np.array([2, 5, 0, 8, 16, 3])
    strength = np.zeros(n_bars * 4, int)
    strength[[0, 5, 9, 22]] = [4, 2, 1, 3]
    tokens = generate_tokens(model, Controls(n_bars, density, strength), seed=1)
    assert grammar_errors(tokens) == 0
    bars = bar_rows(tokens)
    assert len(bars) == n_bars
    np.testing.assert_array_equal(bars[:, DENSITY] - 1, density)
    np.testing.assert_array_equal(bars[:, BEAT_TIMING] - 1, beat_timing(np.arange(n_bars) * 4, n_bars * 4))
    score = decode(tokens, tempo_bpm=100)
    np.testing.assert_array_equal(bar_densities(score), np.maximum(density, [1, 1, 1, 1, 1, 1]) * (density > 0) + [0, 0, 1, 0, 0, 0])
    for beat, level in zip([0, 5, 9, 22], [4, 2, 1, 3], strict=True):
        assert (score.notes[:, 2] == beat * 4).sum() == level  # a forced beat is played with that many notes


def test_instrument_mask_holds(model):
    controls = constant_controls(4, density=6, strength=None, instruments=("bass", "strings"))
    tokens = generate_tokens(model, controls, seed=2)
    played = {FAMILIES[i - 1] for i in tokens[tokens[:, TYPE] == TYPE_NOTE, INSTRUMENT]}
    assert played and played <= {"bass", "strings"}


@pytest.mark.parametrize("seed", range(4))
def test_always_terminates_with_every_bar(model, seed):
    controls = constant_controls(3 + seed, density=None, strength=None)
    tokens = generate_tokens(model, controls, seed=seed, temperature=2.0)
    assert len(bar_rows(tokens)) == 3 + seed and grammar_errors(tokens) == 0
    positions = tokens[(tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] > BEAT_BAR)]
    assert (positions[:, STRENGTH] > 1).all() or (positions[:, STRENGTH] >= 2).all()


def test_long_pieces_slide_past_the_context(model):
    tokens = generate_tokens(model, constant_controls(24, density=12, strength=2), seed=0)
    assert len(tokens) > 3 * model.config.context and len(bar_rows(tokens)) == 24


def test_same_seed_same_tokens_other_seed_differs(model):
    controls = constant_controls(4, density=8, strength=None)
    a, b, c = (generate_tokens(model, controls, seed=s) for s in (5, 5, 6))
    np.testing.assert_array_equal(a, b)
    assert a.shape != c.shape or (a != c).any()


def test_controls_are_checked():
    with pytest.raises(ConfigError, match="density"):
        constant_controls(4, density=17, strength=None)
    with pytest.raises(ConfigError, match="instruments"):
        Controls(2, np.full(2, FREE), np.full(8, FREE), instruments=("kazoo",))
    with pytest.raises(ConfigError, match="8 beat strengths"):
        Controls(2, np.full(2, FREE), np.full(5, FREE))


def test_cli_sample_writes_midi_and_tokens(model_file, tmp_path):
    out, tokens = tmp_path / "out.mid", tmp_path / "tokens.jsonl"
    args = ["sample", "-o", out, "--model", model_file, "--bars", 4, "--tempo", 87, "--density", 6, "--strength", 3]
    result = run(*args, "--instruments", "drums,bass", "--tokens", tokens, "--seed", 3, "-q")
    assert result.exit_code == 0, result.output
    midi = miditoolkit.MidiFile(str(out))
    assert midi.tempo_changes[0].tempo == pytest.approx(87)
    assert {t.is_drum or t.program == 33 for t in midi.instruments} == {True}
    rows = [json.loads(line) for line in tokens.read_text().splitlines()]
    densities = [r["density"] for r in rows[1:] if r.get("beat") == "bar"]
    assert rows[0]["tempo_bpm"] == 87 and densities[:3] == [6] * 3 and densities[3] <= 6  # the last bar holds the final chord
    assert min(r["strength"] for r in rows[1:] if r.get("beat") in (0, 4, 8, 12)) >= 3  # a forced beat sounds at least its strength
    again = tmp_path / "again.mid"
    run(*args[:2], again, *args[3:], "--instruments", "drums,bass", "--seed", 3, "-q")
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--bars", "0"], ["--bars"]),
        (["--density", "40"], ["--density"]),
        (["--strength", "-1"], ["--strength"]),
        (["--instruments", "drums,kazoo"], ["kazoo"]),
        (["--tempo", "0"], ["tempo"]),
        (["--temperature", "0"], ["--temperature"]),
        (["--key", "H"], ["--key", "tonic"]),
    ],
)
def test_cli_sample_bad_input(model_file, tmp_path, args, words):
    result = run("sample", "-o", tmp_path / "x.mid", "--model", model_file, *args, "-q")
    assert_bad_input(result, *words)
    assert not (tmp_path / "x.mid").exists()


def test_kv_cache_gives_the_same_tokens_as_full_recompute(model):
    controls = constant_controls(12, density=10, strength=2)  # longer than the tiny model's 128-token context
    cached = generate_tokens(model, controls, seed=3)
    full = generate_tokens(model, controls, seed=3, kv_cache=False)
    assert len(cached) > 2 * model.config.context
    np.testing.assert_array_equal(cached, full)


def test_max_tokens_stops_early(model):
    tokens = generate_tokens(model, constant_controls(8, density=8, strength=None), seed=0, max_tokens=50)
    assert len(tokens) == 51 and tokens[-1, TYPE] == 0


def test_time_budget_is_enforced(model):
    from cmtlite.errors import TimeBudgetError

    with pytest.raises(TimeBudgetError, match="budget"):
        generate_tokens(model, constant_controls(50, density=16, strength=4), seed=0, time_budget_s=0.05)


def test_sample_draws_from_the_allowed_nucleus_in_proportion():
    temperature, top_p = SAMPLING[PITCH]
    probs = np.array([0.4, 0.3, 0.2, 0.05, 0.05])  # after the field's temperature
    logits = (np.log(probs) * temperature).astype(np.float32)
    allowed = np.array([False, True, True, True, True])
    rng = np.random.default_rng(0)
    counts = np.bincount([_sample(logits, allowed, PITCH, 1.0, rng) for _ in range(4000)], minlength=5)
    renormalized = probs[1:] / probs[1:].sum()  # 0.5, 0.333, 0.083, 0.083
    nucleus = np.cumsum(renormalized) - renormalized < top_p
    assert counts[0] == 0 and (counts[1:][~nucleus] == 0).all()
    expected = renormalized[nucleus] / renormalized[nucleus].sum()
    np.testing.assert_allclose(counts[1:][nucleus] / counts.sum(), expected, atol=0.03)


def test_every_token_carries_the_planned_chord_and_the_bass_plays_its_tones(model):
    plan = sample_plan(8, key=Key.parse("Am"), seed=1)
    controls = constant_controls(8, density=10, strength=3, plan=plan)
    tokens = generate_tokens(model, controls, seed=4)
    assert grammar_errors(tokens) == 0
    score = decode(tokens, tempo_bpm=100)
    np.testing.assert_array_equal(score.chords, controls.chords)
    body = tokens[:-1]
    assert (body[:, CHORD] > 0).all()
    bass = score.notes[score.notes[:, 0] == BASS]
    lowest = bass[np.unique(bass[:, 2], return_index=True)[1]]  # higher bass notes at one tick may run out of chord tones
    assert len(lowest) > 8 and all(p % 12 in chord_pitch_classes(controls.chords[t]) for p, t in lowest[:, [1, 2]].tolist())


def test_harmony_bias():
    chord = parse_chord("C:maj")
    scale = np.zeros(12, bool)
    scale[[0, 2, 4, 5, 7, 9, 11]] = True
    assert harmony_bias(DRUMS, chord, scale) is None and harmony_bias(PIANO, 0, scale) is None
    bass = harmony_bias(BASS, chord, scale)
    assert np.isfinite(bass[1 + 60]) and np.isneginf(bass[1 + 62]) and np.isneginf(bass[0])
    piano = harmony_bias(PIANO, chord, scale)
    assert piano[1 + 64] > piano[1 + 62] > piano[1 + 61]  # chord tone > scale tone > outside the key


def test_silent_families_take_part(model):
    controls = constant_controls(16, density=6, strength=2, plan=sample_plan(16, key=None, seed=0))
    for seed in range(4):
        tokens = generate_tokens(model, controls, seed=seed)
        bar = np.cumsum((tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] == BEAT_BAR)) - 1
        notes = tokens[:, TYPE] == TYPE_NOTE
        for family in range(len(FAMILIES)):
            bars = sorted(set(bar[notes & (tokens[:, INSTRUMENT] == family + 1)].tolist()))
            gaps = np.diff([-1, *bars, 16]) - 1
            assert gaps.max() <= SILENT_LIMIT_BARS + 1, (seed, FAMILIES[family], bars)
