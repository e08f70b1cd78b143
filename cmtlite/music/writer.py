"""``cmtlite sample``: a piece from the model alone (no video), written as MIDI and token lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cmtlite.constants import DEFAULT_VARIATION, TICKS_PER_BEAT
from cmtlite.controls import Section
from cmtlite.model import CPTransformer
from cmtlite.music.composer import Form, compose_score
from cmtlite.music.grammar import Controls
from cmtlite.music.plan import Plan, marker_ticks
from cmtlite.music.sampler import generate_tokens
from cmtlite.outputs import atomic_output
from cmtlite.timing import tempo_to_beat_s
from cmtlite.tokens.codec import decode, encode
from cmtlite.tokens.jsonl import token_lines
from cmtlite.tokens.midi import write_midi


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
    variation: float = DEFAULT_VARIATION,
    force: bool = False,
    quiet: bool = True,
) -> np.ndarray:
    """``cmtlite sample``: generate under ``controls``, compose (:mod:`cmtlite.music.composer`, the ``plan``'s sections,
    ``variation``), write the MIDI at ``tempo_bpm`` (and the tokens as JSON lines).

    With the ``plan`` the controls were made from, the MIDI carries its
    ``section <label>`` and ``chord <label>`` markers. Returns the composed tokens (T, N_FIELDS).
    """
    raw = generate_tokens(model, controls, seed=seed, temperature=temperature, quiet=quiet)
    sections = plan.sections if plan is not None else (Section(start_bar=0, label="A"),)
    form = Form(sections=sections, variation=variation, seed=seed)
    score = compose_score(decode(raw, tempo_bpm=tempo_bpm), controls, form)
    tokens = encode(score)
    seconds_per_tick = tempo_to_beat_s(tempo_bpm) / TICKS_PER_BEAT
    markers = [] if plan is None else [(tick * seconds_per_tick, text) for tick, text in marker_ticks(plan.sections, plan.chords)]
    with atomic_output(output, force=force) as tmp:
        write_midi(score, tmp, markers=markers, seed=seed)
    if tokens_path is not None:
        with atomic_output(tokens_path, force=force) as tmp:
            tmp.write_text("\n".join(token_lines(tokens, tempo_bpm=tempo_bpm, n_bars=score.n_bars)) + "\n")
    return tokens
