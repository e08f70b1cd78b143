"""Controlled sampling: the CP Transformer writes N bars under the token grammar (:mod:`cmtlite.music.grammar`).

The grammar masks every choice it forbids, so the output always decodes and
holds density, strength, hit points and the bar count exactly. On top of it:

* every token carries the planned chord at its tick; tonal notes follow it
  (:func:`harmony_bias`): the bass plays chord tones only, the other tonal
  families prefer chord tones and avoid pitches outside the key;
* where the plan says a tick echoes an earlier one (a returning section, a
  phrase later), the onset positions, instruments and pitches played there
  get ``ECHO_*_BONUS`` nats: the material returns, varied.

Each step runs one token through the model with a KV cache (:class:`~cmtlite.music.window.Window`).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.errors import ConfigError, TimeBudgetError
from cmtlite.model import CPTransformer
from cmtlite.music.grammar import FREE, Controls, Grammar, mask_from
from cmtlite.music.window import Window
from cmtlite.progress import progress_bar
from cmtlite.tokens.chords import NO_CHORD, chord_tone_table
from cmtlite.tokens.codec import beat_timing
from cmtlite.tokens.vocab import (
    BASS,
    BEAT,
    BEAT_BAR,
    BEAT_TIMING,
    CHORD,
    DENSITY,
    DRUMS,
    DURATION,
    FAMILIES,
    INSTRUMENT,
    MAX_DENSITY,
    N_FIELDS,
    PITCH,
    STRENGTH,
    STRENGTH_CAP,
    TYPE,
    TYPE_EOS,
    TYPE_METRICAL,
    to_index,
    to_value,
)

CHORD_TONE_BONUS = 1.5  # nats added to the logits of chord tones (piano, guitar, strings, lead)
OUT_OF_KEY_PENALTY = 3.0  # nats taken from pitches outside the key's scale that are not chord tones
ECHO_ONSET_BONUS = 1.0  # nats added to a position whose echo tick had an onset
ECHO_INSTRUMENT_BONUS = 1.0  # ... to an instrument that played on the echo tick
ECHO_PITCH_BONUS = 2.0  # ... to a pitch the same instrument played on the echo tick
_CHORD_TONES = chord_tone_table()

# (temperature, top-p) per field. Pitch is sampled cooler: on 3 clips x 2 seeds, pitch (1.0, 0.9) gave scale
# consistency 0.76 / 0.83 (stage-2 / shipped stage-3 weights) and (0.8, 0.8) 0.89 / 0.94 (models/MODEL_CARD.md).
SAMPLING = {TYPE: (1.0, 0.95), BEAT: (1.0, 0.95), DENSITY: (1.0, 0.95), STRENGTH: (1.0, 0.95), PITCH: (0.8, 0.8), DURATION: (1.0, 0.9)}
SAMPLING |= {INSTRUMENT: (1.0, 0.95)}


def harmony_bias(instrument: int, chord: int, scale: np.ndarray) -> np.ndarray | None:
    """Additive pitch-logit bias (129,) for a note of family ``instrument`` (family index) over ``chord``, or None (no bias).

    Bass: pitches outside the chord masked (-inf). Piano, guitar, strings, lead:
    chord tones + ``CHORD_TONE_BONUS``, other pitches outside the ``scale``
    (12 bools; empty: no key) - ``OUT_OF_KEY_PENALTY``. Drums and no chord: None.
    """
    if instrument == DRUMS or chord == NO_CHORD:
        return None
    tones = np.concatenate([[False], np.resize(_CHORD_TONES[chord], 128)])  # index 1 + pitch
    if instrument == BASS:
        return np.where(tones, 0.0, -np.inf)
    bias = np.where(tones, CHORD_TONE_BONUS, 0.0)
    if len(scale):
        in_scale = np.concatenate([[True], np.resize(scale, 128)])
        bias -= np.where(in_scale | tones, 0.0, OUT_OF_KEY_PENALTY)
    return bias


def _sample(logits: np.ndarray, allowed: np.ndarray, field: int, temperature: float, rng: np.random.Generator) -> int:
    """One value from ``logits`` (vocab,) restricted to ``allowed`` (bool, vocab), by temperature and nucleus."""
    field_temperature, top_p = SAMPLING[field]
    scaled = np.where(allowed, logits / max(field_temperature * temperature, 1e-4), -np.inf)
    probs = np.exp(scaled - scaled.max())
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order] / probs.sum()
    kept = np.cumsum(sorted_probs)
    n_kept = max(1, int(np.count_nonzero(kept - sorted_probs < top_p)))  # the nucleus: a prefix of the sorted values
    choice = int(np.searchsorted(kept[:n_kept], rng.random() * kept[n_kept - 1], side="right"))
    return int(order[min(choice, n_kept - 1)])


@torch.inference_mode()
def generate_tokens(
    model: CPTransformer,
    controls: Controls,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    quiet: bool = True,
    kv_cache: bool = True,
    max_tokens: int | None = None,
    time_budget_s: float | None = None,
    prefix: np.ndarray | None = None,
    last_bar: int | None = None,
) -> np.ndarray:
    """Tokens (T, N_FIELDS) of ``controls.n_bars`` bars ending with EOS; deterministic for a seed on the CPU.

    ``kv_cache=False`` recomputes the whole window for every token (same
    result, for tests and benchmarks); ``max_tokens`` stops early.
    ``prefix`` (whole bars of earlier tokens, no EOS) is continued: the model
    reads it in one pass and the grammar starts after it; the result starts
    with it. ``last_bar`` stops after that bar (no EOS then, unless it is the last).

    Raises
    ------
    TimeBudgetError
        Sampling took longer than ``time_budget_s`` seconds.
    """
    if not temperature > 0:
        msg = f"temperature must be > 0 (got {temperature})"
        raise ConfigError(msg)
    vocab = model.config.vocab_sizes
    rng = np.random.default_rng(seed)
    grammar = Grammar(controls)
    allowed_instruments = np.zeros(vocab[INSTRUMENT], dtype=bool)
    allowed_instruments[[to_index(INSTRUMENT, FAMILIES.index(name)) for name in controls.instruments]] = True
    cap = controls.n_bars * (1 + TICKS_PER_BAR * (1 + STRENGTH_CAP)) + 1
    max_tokens = cap if max_tokens is None else min(max_tokens, cap)
    window = Window(model, kv_cache=kv_cache)
    rows: list[np.ndarray] = [] if prefix is None else list(prefix)
    for row in rows:
        grammar.advance(row)
    h = window.extend(rows) if rows else None
    max_tokens += len(rows)
    deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
    threads = torch.get_num_threads()
    if window.device.type == "cpu":
        torch.set_num_threads(1)  # one token at a time: threads only add overhead (6x slower on a busy 2-core machine)
    try:
        with progress_bar(total=controls.n_bars, desc="sample", unit="bar", quiet=quiet) as bar:
            while len(rows) < max_tokens:
                if deadline is not None and time.monotonic() > deadline:
                    msg = f"generation took longer than its budget of {time_budget_s:.0f} s ({len(rows)} tokens, bar {grammar.bar + 1})"
                    raise TimeBudgetError(msg)
                row = _next_token(model, h, grammar, controls, vocab, allowed_instruments, temperature, rng)
                if row is None:
                    break
                if last_bar is not None and row[TYPE] == TYPE_METRICAL and row[BEAT] == BEAT_BAR and grammar.bar == last_bar:
                    return np.stack(rows)
                rows.append(row)
                grammar.advance(row)
                if row[TYPE] == TYPE_METRICAL and row[BEAT] == BEAT_BAR:
                    bar.update()
                h = window.push(row)
    finally:
        torch.set_num_threads(threads)
    rows.append(np.zeros(N_FIELDS, np.int64))  # EOS
    return np.stack(rows)


def _next_token(
    model: CPTransformer,
    h: torch.Tensor | None,
    grammar: Grammar,
    controls: Controls,
    vocab: tuple[int, ...],
    allowed_instruments: np.ndarray,
    temperature: float,
    rng: np.random.Generator,
) -> np.ndarray | None:
    """The next token under the grammar, or None when the piece is complete."""
    row = np.zeros(N_FIELDS, np.int64)
    if h is None:  # the first token: the first bar, from its controls alone
        row[TYPE], row[BEAT] = TYPE_METRICAL, BEAT_BAR
        density = int(controls.bar_density[0])
        row[DENSITY] = to_index(DENSITY, density if density != FREE else MAX_DENSITY // 2)
        row[BEAT_TIMING] = to_index(BEAT_TIMING, beat_timing(0, grammar.total_beats))
        row[CHORD] = to_index(CHORD, controls.chord_at(0))
        return row
    types = np.zeros(vocab[TYPE], dtype=bool)
    types[grammar.allowed_types(allowed_instruments)] = True
    kind = _sample(model.type_logits(h).cpu().numpy(), types, TYPE, temperature, rng)
    if kind == TYPE_EOS:
        return None

    def field_logits(instrument: int, fields: tuple[int, ...]) -> list[np.ndarray | None]:
        kind_t, instrument_t = torch.tensor(kind, device=h.device), torch.tensor(instrument, device=h.device)
        return [lg.cpu().numpy() if lg is not None else None for lg in model.field_logits(h, kind_t, instrument_t, fields)]

    logits = field_logits(0, (BEAT, DENSITY, STRENGTH) if kind == TYPE_METRICAL else (INSTRUMENT,))

    def pick(field: int, allowed: np.ndarray) -> int:
        return _sample(logits[field], allowed, field, temperature, rng)

    row[TYPE] = kind
    if kind == TYPE_METRICAL:
        logits[BEAT] = logits[BEAT] + ECHO_ONSET_BONUS * grammar.echo_onsets(vocab[BEAT])
        row[BEAT] = pick(BEAT, grammar.allowed_beats(vocab[BEAT]))
        if grammar.is_last_bar_closed(int(row[BEAT])):
            return None
        if row[BEAT] == BEAT_BAR:
            bar = grammar.bar + 1
            density = int(controls.bar_density[bar])
            row[DENSITY] = to_index(DENSITY, density) if density != FREE else pick(DENSITY, mask_from(vocab[DENSITY], to_index(DENSITY, 0)))
            row[BEAT_TIMING] = to_index(BEAT_TIMING, beat_timing(bar * BEATS_PER_BAR, grammar.total_beats))
            row[CHORD] = to_index(CHORD, controls.chord_at(bar * TICKS_PER_BAR))
        else:
            tick = int(to_value(BEAT, row[BEAT]))
            beat = grammar.bar * BEATS_PER_BAR + tick // TICKS_PER_BEAT
            level = grammar.forced_strength(tick)
            row[STRENGTH] = to_index(STRENGTH, level) if level > 0 else pick(STRENGTH, mask_from(vocab[STRENGTH], to_index(STRENGTH, 1)))
            row[BEAT_TIMING] = to_index(BEAT_TIMING, beat_timing(beat, grammar.total_beats))
            row[CHORD] = to_index(CHORD, controls.chord_at(grammar.bar * TICKS_PER_BAR + tick))
        return row
    echoed = grammar.echo_notes()
    for instrument in {i for i, _ in echoed}:
        logits[INSTRUMENT][instrument] += ECHO_INSTRUMENT_BONUS
    row[INSTRUMENT] = pick(INSTRUMENT, grammar.allowed_instruments(allowed_instruments))
    chord = controls.chord_at(grammar.tick)
    row[CHORD] = to_index(CHORD, chord)
    logits = field_logits(int(row[INSTRUMENT]), (PITCH, DURATION))  # pitch and duration follow the instrument
    last_instrument, last_pitch = grammar.last_note
    allowed = mask_from(vocab[PITCH], last_pitch + 1 if row[INSTRUMENT] == last_instrument else 1)
    for instrument, pitch in echoed:
        if instrument == row[INSTRUMENT]:
            logits[PITCH][pitch] += ECHO_PITCH_BONUS
    bias = harmony_bias(int(to_value(INSTRUMENT, row[INSTRUMENT])), chord, controls.scale)
    if bias is not None:
        logits[PITCH] = logits[PITCH] + np.where(np.isfinite(bias), bias, 0.0)
        in_chord = allowed & np.isfinite(bias)
        allowed = in_chord if in_chord.any() else allowed
    row[PITCH] = pick(PITCH, allowed)
    row[DURATION] = pick(DURATION, mask_from(vocab[DURATION], 1))
    return row


