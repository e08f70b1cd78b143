"""Musical time: ticks, beats and seconds at a tempo or along a tempo map, and the tempo range cmtlite accepts.

Every stage converts grid ticks to seconds through a :class:`TempoMap` (a
tempo per bar), or :func:`seconds_to_ticks` at one tempo, so the formulas live in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT, USER_TEMPO_RANGE_BPM
from cmtlite.errors import ConfigError


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


def tempo_to_beat_s(tempo_bpm: np.ndarray | float) -> np.ndarray | float:
    """Seconds per beat at ``tempo_bpm`` beats per minute (any shape)."""
    return 60.0 / tempo_bpm


def beat_s_to_tempo(beat_s: np.ndarray | float) -> np.ndarray | float:
    """Tempo in beats per minute of beats ``beat_s`` seconds apart (any shape): the inverse of :func:`tempo_to_beat_s`."""
    return 60.0 / beat_s


def seconds_to_ticks(seconds: np.ndarray | float, *, tempo_bpm: float, ticks_per_beat: int = TICKS_PER_BEAT) -> np.ndarray | float:
    """Seconds (any shape) to ticks (``ticks_per_beat`` a beat, default 4), not rounded, at a constant tempo; second 0 is tick 0."""
    return seconds * (ticks_per_beat * tempo_bpm / 60.0)


@dataclass(frozen=True)
class TempoMap:
    """A 4/4 grid whose tempo may change at each bar line: bar i spans ``bar_starts_s[i]`` .. ``bar_starts_s[i + 1]``.

    Within a bar the tempo is constant, so its 4 beats and 16 ticks are evenly
    spaced. Times are seconds of video time; bar 0 may start before 0 (a pickup).

    Attributes
    ----------
    bar_starts_s : np.ndarray [shape=(n_bars + 1,)]
        Bar lines in seconds, strictly increasing; the last is the end of the last bar.
    """

    bar_starts_s: np.ndarray

    def __post_init__(self) -> None:
        edges = np.asarray(self.bar_starts_s, np.float64)
        if edges.ndim != 1 or len(edges) < 2 or not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            msg = "a tempo map needs at least two strictly increasing, finite bar lines"
            raise ConfigError(msg)
        object.__setattr__(self, "bar_starts_s", edges)

    @classmethod
    def from_tempos(cls, start_s: float, tempos_bpm: np.ndarray) -> TempoMap:
        """The map of bars with tempos ``tempos_bpm`` (shape (n_bars,), beats per minute), bar 0 starting at ``start_s``."""
        bar_s = BEATS_PER_BAR * 60.0 / np.asarray(tempos_bpm, np.float64)
        return cls(start_s + np.concatenate([[0.0], np.cumsum(bar_s)]))

    @property
    def n_bars(self) -> int:
        """Number of bars."""
        return len(self.bar_starts_s) - 1

    def bar_tempos_bpm(self) -> np.ndarray:
        """Tempo of each bar in beats per minute, shape (n_bars,)."""
        return BEATS_PER_BAR * 60.0 / np.diff(self.bar_starts_s)

    def ticks_to_seconds(self, ticks: np.ndarray | float) -> np.ndarray:
        """Grid ticks (16ths from bar 0's start, any shape, fractional allowed) to seconds; bars past the ends extend them."""
        ticks = np.asarray(ticks, np.float64)
        bar = np.clip(np.floor(ticks / TICKS_PER_BAR), 0, self.n_bars - 1).astype(int)
        bar_s = np.diff(self.bar_starts_s)[bar]
        return self.bar_starts_s[bar] + (ticks - bar * TICKS_PER_BAR) * bar_s / TICKS_PER_BAR

    def seconds_to_ticks(self, seconds: np.ndarray | float) -> np.ndarray:
        """Seconds (any shape) to fractional grid ticks: the inverse of :meth:`ticks_to_seconds`."""
        seconds = np.asarray(seconds, np.float64)
        bar = np.clip(np.searchsorted(self.bar_starts_s, seconds, side="right") - 1, 0, self.n_bars - 1)
        bar_s = np.diff(self.bar_starts_s)[bar]
        return bar * TICKS_PER_BAR + (seconds - self.bar_starts_s[bar]) / bar_s * TICKS_PER_BAR

    def beat_times_s(self) -> np.ndarray:
        """Time of every beat, shape (n_bars * 4,), in seconds."""
        return self.ticks_to_seconds(np.arange(self.n_bars * BEATS_PER_BAR) * TICKS_PER_BEAT)
