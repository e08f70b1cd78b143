"""Musical time: ticks, beats and seconds at a tempo, and the tempo range cmtlite accepts.

Every stage converts grid ticks to seconds through :func:`ticks_to_seconds`
(or :func:`seconds_per_tick`), so the formula lives in one place.
"""

from __future__ import annotations

import math

import numpy as np

from cmtlite.constants import TICKS_PER_BEAT, USER_TEMPO_RANGE_BPM
from cmtlite.errors import ConfigError


def seconds_per_tick(tempo_bpm: float, *, ticks_per_beat: int = TICKS_PER_BEAT) -> float:
    """Duration of one tick in seconds at ``tempo_bpm`` beats per minute (``ticks_per_beat`` ticks a beat, default 4)."""
    return 60.0 / tempo_bpm / ticks_per_beat


def ticks_to_seconds(ticks: np.ndarray | float, *, tempo_bpm: float, ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray | float:
    """Ticks (any shape) to seconds at a constant tempo; tick 0 is second 0."""
    return ticks * seconds_per_tick(tempo_bpm, ticks_per_beat=ticks_per_beat)


def check_tempo_bpm(tempo_bpm: float) -> float:
    """A user-given tempo in beats per minute, as float.

    Raises
    ------
    ConfigError
        Not finite or outside ``USER_TEMPO_RANGE_BPM`` (30..300).
    """
    low, high = USER_TEMPO_RANGE_BPM
    if not (math.isfinite(tempo_bpm) and low <= tempo_bpm <= high):
        msg = f"tempo must be between {low:g} and {high:g} BPM (got {tempo_bpm:g})"
        raise ConfigError(msg)
    return float(tempo_bpm)


def seconds_to_ticks(seconds: np.ndarray | float, *, tempo_bpm: float, ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray | float:
    """Seconds (any shape) to ticks, not rounded, at a constant tempo: the inverse of :func:`ticks_to_seconds`."""
    return seconds * (ticks_per_beat * tempo_bpm / 60.0)
