"""Controlled sampling: the CP Transformer writes N bars with forced density, strength and beat-timing.

The sampler walks the token grammar as a small state machine and masks every
choice the grammar forbids, so its output always decodes:

* every bar opens with a bar token carrying the forced density (or a sampled
  one) and the bar's beat-timing; positions rise within a bar; a position
  gets exactly its strength in notes, in (instrument, pitch) order, and a bar
  exactly its density in positions (plus forced beats);
* a beat with a forced strength (a visual beat) must be played: the bar
  cannot skip past it;
* EOS is masked until the last bar has begun, and the piece ends after
  exactly ``n_bars`` bars (the last bars cannot starve);
* only the requested instrument families can be chosen, and a family
  silent for ``SILENT_LIMIT_BARS`` bars takes the next note it may (so every
  family of the band plays, and a free sample is never drums alone);
* every token carries the planned chord at its tick; tonal notes follow it
  (:func:`harmony_bias`): the bass plays chord tones only, the other tonal
  families prefer chord tones and avoid pitches outside the key;
* where the plan says a tick echoes an earlier one (a returning section, a
  phrase later), the onset positions, instruments and pitches played there
  get ``ECHO_*_BONUS`` nats: the material returns, varied.

Each step runs one token through the model with a KV cache; when the
context is full the newest half is re-encoded as a fresh window, so the cost
stays linear in the number of tokens.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import chords_per_tick
from cmtlite.errors import ConfigError, TimeBudgetError
from cmtlite.model import CPTransformer, KVCache
from cmtlite.music.plan import Plan, echo_ticks, marker_ticks, scale_of
from cmtlite.outputs import atomic_output
from cmtlite.progress import progress_bar
from cmtlite.tokens.chords import NO_CHORD, chord_tone_table
from cmtlite.tokens.codec import beat_timing, carried_beat_timing, decode
from cmtlite.tokens.jsonl import token_lines
from cmtlite.tokens.midi import write_midi
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
    TYPE_NOTE,
)

FREE = -1  # a control value the model samples itself
REGENERATE_CANDIDATES = 3  # continuations sampled for a regenerated section; the best seam into the kept bars wins
PITCH_TOP = 128  # vocabulary index of pitch 127
SILENT_LIMIT_BARS = 4  # a family silent this many bars takes the next note it may
CHORD_TONE_BONUS = 1.5  # nats added to the logits of chord tones (piano, guitar, strings)
OUT_OF_KEY_PENALTY = 3.0  # nats taken from pitches outside the key's scale that are not chord tones
ECHO_ONSET_BONUS = 1.0  # nats added to a position whose echo tick had an onset
ECHO_INSTRUMENT_BONUS = 1.0  # ... to an instrument that played on the echo tick
ECHO_PITCH_BONUS = 2.0  # ... to a pitch the same instrument played on the echo tick
_CHORD_TONES = chord_tone_table()

# (temperature, top-p) per field. Pitch is sampled cooler: on 3 clips x 2 seeds, pitch (1.0, 0.9) gave scale
# consistency 0.76 / 0.83 (stage-2 / shipped stage-3 weights) and (0.8, 0.8) 0.89 / 0.94 (models/MODEL_CARD.md).
SAMPLING = {TYPE: (1.0, 0.95), BEAT: (1.0, 0.95), DENSITY: (1.0, 0.95), STRENGTH: (1.0, 0.95), PITCH: (0.8, 0.8), DURATION: (1.0, 0.9)}
SAMPLING |= {INSTRUMENT: (1.0, 0.95)}


@dataclass(frozen=True)
class Controls:
    """What the music must follow.

    Attributes
    ----------
    n_bars : int
        Bars to write (>= 1).
    bar_density : np.ndarray [shape=(n_bars,), dtype=int]
        Distinct onset ticks per bar, 0..16, or ``FREE`` (-1).
    beat_strength : np.ndarray [shape=(n_bars * 4,), dtype=int]
        Strength forced on the position at each beat (notes on that tick,
        1..cap); 0 or ``FREE`` leaves the beat to the model.
    instruments : tuple of str
        Families the model may play.
    hit_ticks : np.ndarray [shape=(H,), dtype=int]
        Grid ticks (16ths from bar 0) that must carry a note onset (hit points).
    hit_strength : np.ndarray [shape=(H,), dtype=int]
        Strength forced on each hit tick (1..cap); 0 or ``FREE`` leaves it to
        the model (a forced beat's strength on the same tick wins). Empty: all free.
    chords : np.ndarray [shape=(n_bars * 16,) or (0,), dtype=int]
        Chord value (:mod:`cmtlite.tokens.chords`) at every tick; empty: no chords.
    scale : np.ndarray [shape=(12,) or (0,), dtype=bool]
        Pitch classes of the key's scale; empty: no key.
    echo : np.ndarray [shape=(n_bars * 16,) or (0,), dtype=int]
        The earlier tick each tick echoes, -1 for none (:func:`~cmtlite.music.plan.echo_ticks`); empty: no echoes.
    """

    n_bars: int
    bar_density: np.ndarray
    beat_strength: np.ndarray
    instruments: tuple[str, ...] = FAMILIES
    hit_ticks: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    hit_strength: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chords: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    scale: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    echo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.n_bars < 1:
            msg = f"need at least one bar (got {self.n_bars})"
            raise ConfigError(msg)
        if np.shape(self.bar_density) != (self.n_bars,) or np.shape(self.beat_strength) != (self.n_bars * BEATS_PER_BAR,):
            msg = f"controls must have {self.n_bars} bar densities and {self.n_bars * BEATS_PER_BAR} beat strengths"
            raise ConfigError(msg)
        if np.any((np.asarray(self.hit_ticks) < 0) | (np.asarray(self.hit_ticks) >= self.n_bars * TICKS_PER_BAR)):
            msg = f"hit ticks must lie in the {self.n_bars} bars (0..{self.n_bars * TICKS_PER_BAR - 1})"
            raise ConfigError(msg)
        if len(self.hit_strength) not in (0, len(self.hit_ticks)):
            msg = f"need one hit strength per hit tick (got {len(self.hit_strength)} for {len(self.hit_ticks)})"
            raise ConfigError(msg)
        n_ticks = self.n_bars * TICKS_PER_BAR
        if len(self.chords) not in (0, n_ticks) or len(self.echo) not in (0, n_ticks) or len(self.scale) not in (0, 12):
            msg = f"chords and echoes must give one value per tick of the {self.n_bars} bars, and a scale 12 pitch classes"
            raise ConfigError(msg)
        check_instruments(self.instruments)

    def chord_at(self, tick: int) -> int:
        """Chord value at a grid tick (none without chords)."""
        return int(self.chords[tick]) if len(self.chords) else NO_CHORD

    def echo_of(self, tick: int) -> int:
        """The earlier tick ``tick`` echoes, -1 for none."""
        return int(self.echo[tick]) if len(self.echo) else -1


def harmony_bias(instrument: int, chord: int, scale: np.ndarray) -> np.ndarray | None:
    """Additive pitch-logit bias (129,) for a note of family ``instrument`` (family index) over ``chord``, or None (no bias).

    Bass: pitches outside the chord masked (-inf). Piano, guitar, strings:
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


def check_instruments(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names`` if they are a non-empty set of instrument families.

    Raises
    ------
    ConfigError
        Empty, or naming an unknown family.
    """
    if not names or any(name not in FAMILIES for name in names):
        msg = f"instruments must be a non-empty subset of {','.join(FAMILIES)} (got {','.join(names) or 'none'})"
        raise ConfigError(msg)
    return names


def constant_controls(
    n_bars: int, *, density: int | None, strength: int | None, instruments: tuple[str, ...] = FAMILIES, plan: Plan | None = None
) -> Controls:
    """Controls with one density for every bar and one strength on every beat (None: left to the model), and the ``plan``'s
    chords and key (None: no chords)."""
    for name, value, top in (("density", density, MAX_DENSITY), ("strength", strength, STRENGTH_CAP)):
        if value is not None and not 0 <= value <= top:
            msg = f"{name} must be in 0..{top} (got {value})"
            raise ConfigError(msg)
    return Controls(
        n_bars=n_bars,
        bar_density=np.full(n_bars, FREE if density is None else density),
        beat_strength=np.full(n_bars * BEATS_PER_BAR, FREE if strength is None else strength),
        instruments=tuple(instruments),
        chords=chords_per_tick(plan.chords, n_bars) if plan else np.zeros(0, np.int64),
        scale=scale_of(plan.key) if plan else np.zeros(0, bool),
        echo=echo_ticks(plan.sections, n_bars) if plan else np.zeros(0, np.int64),
    )


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


class _Grammar:
    """The sampler's position in the token grammar and the choices it allows.

    Density and strength are held exactly, as in the training data: a bar
    gets ``density`` positions (more only for forced beats) and a position
    gets ``strength`` notes.
    """

    def __init__(self, controls: Controls) -> None:
        self.controls = controls
        self.total_beats = controls.n_bars * BEATS_PER_BAR
        self.bar = -1  # index of the current bar
        self.position = -1  # tick in the bar of the last position token, -1 right after the bar token
        self.positions_in_bar = 0
        self.density = 0  # of the current bar
        self.strength = 0  # of the current position
        self.notes_at_position = 0
        self.last_note = (0, -1)  # (instrument index, pitch index) of the last note at this position
        self.last_bar_played = np.full(len(FAMILIES) + 1, -1)  # per instrument index: the last bar it played in
        self.played: dict[int, set[tuple[int, int]]] = {}  # tick -> (instrument index, pitch index) of its notes
        self.hits_by_bar: dict[int, list[int]] = {}
        for tick in np.asarray(controls.hit_ticks, np.int64).tolist():
            self.hits_by_bar.setdefault(tick // TICKS_PER_BAR, []).append(tick)
        levels = controls.hit_strength if len(controls.hit_strength) else np.zeros(len(controls.hit_ticks), np.int64)
        self.hit_level = dict(zip(np.asarray(controls.hit_ticks).tolist(), np.asarray(levels).tolist(), strict=True))

    def forced_strength(self, tick: int) -> int:
        """The strength forced on a tick of the current bar: its beat's, else its hit's; ``FREE`` (or 0) when none."""
        if tick % TICKS_PER_BEAT == 0 and self.controls.beat_strength[self.bar * BEATS_PER_BAR + tick // TICKS_PER_BEAT] > 0:
            return int(self.controls.beat_strength[self.bar * BEATS_PER_BAR + tick // TICKS_PER_BEAT])
        return int(self.hit_level.get(self.bar * TICKS_PER_BAR + tick, FREE))

    def required_ticks(self) -> list[int]:
        """Ticks in the current bar after the last position that must be played: beats with a forced strength, and hits."""
        first = self.bar * BEATS_PER_BAR
        levels = self.controls.beat_strength[first : first + BEATS_PER_BAR]
        required = {b * TICKS_PER_BEAT for b, level in enumerate(levels) if level > 0}
        required |= {int(t) - self.bar * TICKS_PER_BAR for t in self.hits_by_bar.get(self.bar, ())}
        return sorted(t for t in required if t > self.position)

    @property
    def tick(self) -> int:
        """Grid tick of the current bar or position."""
        return self.bar * TICKS_PER_BAR + max(self.position, 0)

    def allowed_instruments(self, base: np.ndarray) -> np.ndarray:
        """Instruments a next note at this position may use: not below the last one, nor the last one at its top pitch;
        only families silent for ``SILENT_LIMIT_BARS`` bars when one of them may play."""
        last_instrument, last_pitch = self.last_note
        allowed = base.copy()
        allowed[: last_instrument + int(last_pitch >= PITCH_TOP)] = False
        silent = allowed & (self.bar - self.last_bar_played - 1 >= SILENT_LIMIT_BARS)
        return silent if silent.any() else allowed

    def allowed_types(self, instruments: np.ndarray) -> list[int]:
        if self.bar < 0:
            return [TYPE_METRICAL]
        if self.position >= 0 and self.notes_at_position < self.strength and self.allowed_instruments(instruments).any():
            return [TYPE_NOTE]
        if self.bar == self.controls.n_bars - 1 and self.can_close_bar():
            return [TYPE_METRICAL, TYPE_EOS]
        return [TYPE_METRICAL]

    def can_close_bar(self) -> bool:
        no_room = self.position == TICKS_PER_BAR - 1
        return not self.required_ticks() and (self.positions_in_bar >= self.density or no_room)

    def allowed_beats(self, vocab: int) -> np.ndarray:
        allowed = np.zeros(vocab, dtype=bool)
        required = self.required_ticks()
        missing = self.density - self.positions_in_bar
        if self.bar >= 0 and (missing > 0 or required):
            if missing <= len(required):  # only the forced beats are left to play
                allowed[2 + required[0]] = True
            else:  # leave room for the positions still missing
                last = min(required[0] if required else TICKS_PER_BAR - 1, TICKS_PER_BAR - missing)
                allowed[2 + self.position + 1 : 2 + last + 1] = True
        if self.bar < 0 or self.can_close_bar() or not allowed.any():
            allowed[BEAT_BAR] = True
        return allowed

    def is_last_bar_closed(self, beat: int) -> bool:
        return beat == BEAT_BAR and self.bar == self.controls.n_bars - 1

    def advance(self, row: np.ndarray) -> None:
        if row[TYPE] == TYPE_METRICAL and row[BEAT] == BEAT_BAR:
            self.bar += 1
            self.position, self.positions_in_bar = -1, 0
            self.density = int(row[DENSITY]) - 1
        elif row[TYPE] == TYPE_METRICAL:
            self.position = int(row[BEAT]) - 2
            self.positions_in_bar += 1
            self.strength = int(row[STRENGTH]) - 1
            self.notes_at_position, self.last_note = 0, (0, -1)
        elif row[TYPE] == TYPE_NOTE:
            self.notes_at_position += 1
            self.last_note = (int(row[INSTRUMENT]), int(row[PITCH]))
            self.last_bar_played[int(row[INSTRUMENT])] = self.bar
            self.played.setdefault(self.tick, set()).add(self.last_note)

    def echo_onsets(self, vocab: int) -> np.ndarray:
        """Bool (vocab,) over the beat field: positions of the current bar whose echo tick had notes."""
        marked = np.zeros(vocab, bool)
        first = self.bar * TICKS_PER_BAR
        for position in range(TICKS_PER_BAR):
            marked[2 + position] = self.controls.echo_of(first + position) in self.played
        return marked

    def echo_notes(self) -> set[tuple[int, int]]:
        """(instrument index, pitch index) of the notes on the current position's echo tick."""
        return self.played.get(self.controls.echo_of(self.tick), set())


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
    grammar = _Grammar(controls)
    allowed_instruments = np.zeros(vocab[INSTRUMENT], dtype=bool)
    allowed_instruments[[FAMILIES.index(name) + 1 for name in controls.instruments]] = True
    cap = controls.n_bars * (1 + TICKS_PER_BAR * (1 + STRENGTH_CAP)) + 1
    max_tokens = cap if max_tokens is None else min(max_tokens, cap)
    window = _Window(model, kv_cache=kv_cache)
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


class _Window:
    """The model's view of the tokens so far: at most ``context`` tokens, from ``start`` on.

    When a new token would overflow the context, the window restarts at the
    newest half. With the KV cache only the new token is computed; without
    it the whole window is, with the same result.
    """

    def __init__(self, model: CPTransformer, *, kv_cache: bool) -> None:
        self.model = model
        self.device = next(model.parameters()).device
        self.rows: list[np.ndarray] = []
        self.times: list[int] = []  # carried beat-timing of each token
        self.start = 0
        self.cache: KVCache | None = model.new_cache() if kv_cache else None

    def _append(self, row: np.ndarray) -> None:
        self.rows.append(row)
        self.times.append(int(row[BEAT_TIMING]) if row[BEAT_TIMING] else (self.times[-1] if self.times else 0))

    def extend(self, rows: list[np.ndarray]) -> torch.Tensor:
        """Hidden state (d,) after ``rows`` appended at once (a prefix): the newest half context is read in one pass."""
        for row in rows:
            self._append(row)
        self.start = max(self.start, len(self.rows) - self.model.config.context // 2)
        if self.cache is not None:
            self.cache.length = 0
        x = torch.as_tensor(np.stack(self.rows[self.start :]), device=self.device).unsqueeze(0)
        t = torch.as_tensor(self.times[self.start :], device=self.device).unsqueeze(0)
        return self.model.hidden(x, t, self.cache)[0, -1]

    def push(self, row: np.ndarray) -> torch.Tensor:
        """Hidden state (d,) after ``row``."""
        self._append(row)
        context = self.model.config.context
        if len(self.rows) - self.start > context:
            self.start = len(self.rows) - context // 2
            if self.cache is not None:
                self.cache.length = 0
        first = self.start + (self.cache.length if self.cache is not None else 0)
        x = torch.as_tensor(np.stack(self.rows[first:]), device=self.device).unsqueeze(0)
        t = torch.as_tensor(self.times[first:], device=self.device).unsqueeze(0)
        return self.model.hidden(x, t, self.cache)[0, -1]


def _next_token(
    model: CPTransformer,
    h: torch.Tensor | None,
    grammar: _Grammar,
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
        row[DENSITY] = 1 + (density if density != FREE else MAX_DENSITY // 2)
        row[BEAT_TIMING] = 1 + beat_timing(0, grammar.total_beats)
        row[CHORD] = 1 + controls.chord_at(0)
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
            row[DENSITY] = 1 + density if density != FREE else pick(DENSITY, _from(vocab[DENSITY], 1))
            row[BEAT_TIMING] = 1 + beat_timing(bar * BEATS_PER_BAR, grammar.total_beats)
            row[CHORD] = 1 + controls.chord_at(bar * TICKS_PER_BAR)
        else:
            tick = int(row[BEAT]) - 2
            beat = grammar.bar * BEATS_PER_BAR + tick // TICKS_PER_BEAT
            level = grammar.forced_strength(tick)
            row[STRENGTH] = 1 + level if level > 0 else pick(STRENGTH, _from(vocab[STRENGTH], 2))
            row[BEAT_TIMING] = 1 + beat_timing(beat, grammar.total_beats)
            row[CHORD] = 1 + controls.chord_at(grammar.bar * TICKS_PER_BAR + tick)
        return row
    echoed = grammar.echo_notes()
    for instrument in {i for i, _ in echoed}:
        logits[INSTRUMENT][instrument] += ECHO_INSTRUMENT_BONUS
    row[INSTRUMENT] = pick(INSTRUMENT, grammar.allowed_instruments(allowed_instruments))
    chord = controls.chord_at(grammar.tick)
    row[CHORD] = 1 + chord
    logits = field_logits(int(row[INSTRUMENT]), (PITCH, DURATION))  # pitch and duration follow the instrument
    last_instrument, last_pitch = grammar.last_note
    allowed = _from(vocab[PITCH], last_pitch + 1 if row[INSTRUMENT] == last_instrument else 1)
    for instrument, pitch in echoed:
        if instrument == row[INSTRUMENT]:
            logits[PITCH][pitch] += ECHO_PITCH_BONUS
    bias = harmony_bias(int(row[INSTRUMENT]) - 1, chord, controls.scale)
    if bias is not None:
        logits[PITCH] = logits[PITCH] + np.where(np.isfinite(bias), bias, 0.0)
        in_chord = allowed & np.isfinite(bias)
        allowed = in_chord if in_chord.any() else allowed
    row[PITCH] = pick(PITCH, allowed)
    row[DURATION] = pick(DURATION, _from(vocab[DURATION], 1))
    return row


def _from(size: int, first: int) -> np.ndarray:
    """Mask allowing indices first..size-1."""
    allowed = np.zeros(size, dtype=bool)
    allowed[first:] = True
    return allowed


def bar_starts(tokens: np.ndarray) -> np.ndarray:
    """Row index of every bar token in ``tokens`` (T, N_FIELDS), shape (n_bars,)."""
    return np.nonzero((tokens[:, TYPE] == TYPE_METRICAL) & (tokens[:, BEAT] == BEAT_BAR))[0]


@torch.inference_mode()
def seam_loss(model: CPTransformer, tokens: np.ndarray, first: int, last: int) -> float:
    """Mean loss of the model predicting rows ``first..last - 1`` of ``tokens`` from the rows before them (its context at most).

    Low means the rows follow naturally: used to choose the regenerated bars
    that lead best into the bar kept after them.
    """
    context = model.config.context
    start = max(0, last - context - 1)
    window = tokens[start:last]
    time_index = carried_beat_timing(window)
    mask = np.zeros((1, len(window) - 1), bool)
    mask[0, first - start - 1 :] = True
    device = next(model.parameters()).device
    as_tensor = lambda a: torch.as_tensor(a, device=device).unsqueeze(0)  # noqa: E731
    loss, _ = model.loss(as_tensor(window), as_tensor(time_index), torch.as_tensor(mask, device=device))
    return float(loss)


def regenerate_bars(
    model: CPTransformer,
    controls: Controls,
    tokens: np.ndarray,
    bars: tuple[int, int],
    *,
    seed: int = 0,
    temperature: float = 1.0,
    candidates: int = REGENERATE_CANDIDATES,
) -> np.ndarray:
    """``tokens`` (a finished piece) with bars ``first..last`` (inclusive) sampled anew and every other bar kept token for token.

    The model continues from the kept prefix, so the first new bar follows
    what came before. A causal model cannot see the kept suffix, so the seam
    into it is made by choice: ``candidates`` continuations are sampled
    (seeds ``seed``, ``seed + 1``, ...) and the one under which the model
    finds the first kept bar after them most likely (lowest :func:`seam_loss`)
    wins. Deterministic for a seed.

    Raises
    ------
    ConfigError
        ``bars`` outside the piece, or ``tokens`` not a piece of ``controls.n_bars`` bars.
    """
    first, last = bars
    starts = bar_starts(tokens)
    if len(starts) != controls.n_bars or not 0 <= first <= last < controls.n_bars:
        msg = f"bars {first}..{last} are not inside a piece of {len(starts)} bars (controls: {controls.n_bars})"
        raise ConfigError(msg)
    prefix = tokens[: starts[first]]
    if last + 1 == len(starts):  # the new bars end the piece: generate_tokens closes it, no seam after them
        return generate_tokens(model, controls, seed=seed, temperature=temperature, prefix=prefix, last_bar=last)
    end = starts[last + 1]
    suffix = tokens[end:]
    best, best_loss = None, np.inf
    for k in range(max(candidates, 1)):
        middle = generate_tokens(model, controls, seed=seed + k, temperature=temperature, prefix=prefix, last_bar=last)
        spliced = np.concatenate([middle, suffix])
        next_bar_end = starts[last + 2] - end + len(middle) if last + 2 < len(starts) else len(spliced)
        loss = seam_loss(model, spliced, len(middle), next_bar_end)
        if loss < best_loss:
            best, best_loss = spliced, loss
    return best


def sample_to_midi(
    model: CPTransformer,
    controls: Controls,
    output: Path,
    *,
    tempo_bpm: float,
    tokens_path: Path | None = None,
    plan: Plan | None = None,
    seed: int = 0,
    temperature: float = 1.0,
    force: bool = False,
    quiet: bool = True,
) -> np.ndarray:
    """``cmtlite sample``: generate under ``controls``, write the MIDI at ``tempo_bpm`` (and the tokens as JSON lines).

    With the ``plan`` the controls were made from, the MIDI carries its
    ``section <label>`` and ``chord <label>`` markers. Returns the tokens (T, N_FIELDS).
    """
    tokens = generate_tokens(model, controls, seed=seed, temperature=temperature, quiet=quiet)
    score = decode(tokens, tempo_bpm=tempo_bpm)
    seconds_per_tick = 60.0 / tempo_bpm / TICKS_PER_BEAT
    markers = [] if plan is None else [(tick * seconds_per_tick, text) for tick, text in marker_ticks(plan.sections, plan.chords)]
    with atomic_output(output, force=force) as tmp:
        write_midi(score, tmp, markers=markers)
    if tokens_path is not None:
        with atomic_output(tokens_path, force=force) as tmp:
            tmp.write_text("\n".join(token_lines(tokens, tempo_bpm=tempo_bpm, n_bars=score.n_bars)) + "\n")
    return tokens
