"""The CP vocabulary: token fields, their value ranges and the instrument families.

A token is one row of ``N_FIELDS`` integers, one per field (CPWord style).
Index 0 of every field except ``type`` is the ``ignore`` value; the musical
value v of a field is stored as ``v + 1`` (``beat``: 1 = bar marker, 2 + p =
position p). ``chord`` is the chord value (:mod:`cmtlite.tokens.chords`)
sounding at the token's tick, on every bar, position and note token.
"""

from __future__ import annotations

import numpy as np

from cmtlite.constants import TICKS_PER_BAR
from cmtlite.tokens.chords import N_CHORDS

FIELDS = ("type", "beat", "density", "strength", "pitch", "duration", "instrument", "beat_timing", "chord")
N_FIELDS = len(FIELDS)
TYPE, BEAT, DENSITY, STRENGTH, PITCH, DURATION, INSTRUMENT, BEAT_TIMING, CHORD = range(N_FIELDS)

IGNORE = 0
TYPE_EOS, TYPE_METRICAL, TYPE_NOTE = 0, 1, 2
TYPE_NAMES = ("eos", "metrical", "note")
BEAT_BAR = 1  # the bar marker in the ``beat`` field; positions p (0..15) are 2 + p
# Vocabulary index of a field's musical value v: v + OFFSETS[field] (index 0 is "ignore"; ``beat`` positions start after the
# bar marker; ``duration`` stores its ticks, 1..max, as they are; ``chord`` stores chord values, "none" = 0 included).
OFFSETS = (0, 2, 1, 1, 1, 0, 1, 1, 1)

MAX_DENSITY = TICKS_PER_BAR  # distinct onset ticks per bar, 0..16
STRENGTH_CAP = 16  # notes starting on one tick, all instruments, clipped to this
MAX_DURATION_TICKS = 64  # 4 bars of 16ths; longer notes are clipped (and counted)
BEAT_TIMING_BINS = 100  # M: beat_timing = round(M * beat index / total beats), 0..M

FAMILIES = ("drums", "piano", "guitar", "bass", "strings", "lead")
DRUMS, PIANO, GUITAR, BASS, STRINGS, LEAD = range(len(FAMILIES))
# General MIDI program written for each family on decode (drums: channel 10, program 0); a soundtrack's lead takes the
# program its mood calls for (:func:`~cmtlite.music.plan.lead_program`).
FAMILY_PROGRAMS = {DRUMS: 0, PIANO: 0, GUITAR: 25, BASS: 33, STRINGS: 48, LEAD: 73}
LEAD_TRACK_WORDS = ("melod", "vocal", "voice", "lead", "sing")  # a track whose name holds one of these is the tune
# General MIDI drum keys (the drums family's pitches) by role.
KICKS = (35, 36)  # acoustic / electric bass drum
SNARES = (37, 38, 40)  # side stick, acoustic / electric snare
HAND_CLAP = 39
HATS = (42, 44, 46)  # closed, pedal, open hi-hat
TOMS = (41, 43, 45, 47, 48, 50)
CRASHES = (49, 52, 55, 57)  # crash 1, Chinese, splash, crash 2

VOCAB_SIZES = (
    len(TYPE_NAMES),  # type
    2 + TICKS_PER_BAR,  # beat: ignore, bar, 16 positions
    2 + MAX_DENSITY,  # density: ignore, 0..16
    2 + STRENGTH_CAP,  # strength: ignore, 0..cap
    1 + 128,  # pitch: ignore, 0..127
    1 + MAX_DURATION_TICKS,  # duration: ignore, 1..max (stored as ticks)
    1 + len(FAMILIES),  # instrument
    2 + BEAT_TIMING_BINS,  # beat_timing: ignore, 0..M
    1 + N_CHORDS,  # chord: ignore, none, 12 roots x 9 qualities
)


def to_index(field: int, value: np.ndarray | int) -> np.ndarray | int:
    """Vocabulary index (or indices) of musical value(s) ``value`` of ``field``."""
    return value + OFFSETS[field]


def to_value(field: int, index: np.ndarray | int) -> np.ndarray | int:
    """Musical value(s) of vocabulary index (or indices) ``index`` of ``field``: the inverse of :func:`to_index`."""
    return index - OFFSETS[field]


def track_family(name: str, program: int, *, is_drum: bool) -> int | None:
    """Family index of a MIDI track: ``lead`` when its name says it carries the tune (``LEAD_TRACK_WORDS``: POP909's
    MELODY, a Lakh "Vocal" or "Melody" track, a cmtlite ``lead``), else by its program (:func:`program_to_family`)."""
    if not is_drum and any(word in name.lower() for word in LEAD_TRACK_WORDS):
        return LEAD
    return program_to_family(program, is_drum=is_drum)


def program_to_family(program: int, *, is_drum: bool) -> int | None:
    """Family index of a General MIDI program (0..127), or None when it fits no family (a tune is found by its track's
    name, :func:`track_family`).

    | programs | GM names | family |
    |---|---|---|
    | any, drum channel | drum kits | drums |
    | 0-7, 8-15, 16-23 | pianos, chromatic percussion, organs | piano |
    | 24-31 | guitars | guitar |
    | 32-39 | basses | bass |
    | 40-55 | strings, string/choir ensembles, orchestra hit | strings |
    | 88-95 | synth pads | strings |
    | 56-87, 96-127 | brass, reeds, pipes, synth leads, effects, ethnic, percussive, SFX | none (dropped) |
    """
    if is_drum:
        return DRUMS
    if 0 <= program <= 23:
        return PIANO
    if 24 <= program <= 31:
        return GUITAR
    if 32 <= program <= 39:
        return BASS
    if 40 <= program <= 55 or 88 <= program <= 95:
        return STRINGS
    return None
