"""The controls contract: :class:`VideoControls`, what ``controls.json`` holds and every later stage reads.

``cmtlite analyze`` writes it, a person may edit it, and ``generate``,
``evaluate``, the plots and ``batch`` take it. Its JSON keys are a public
contract (README, "cmtlite analyze"); each is one field below, with its type,
range and rounding, so reading, checking and writing a key live in one line.

Times are seconds of video time (0 = the first frame). The grid starts at
``grid_start_s`` (<= 0: a pickup before the video) and has ``n_bars`` 4/4
bars of 4 beats; ``bars`` and ``beats`` list them in order. The tempo is
``tempo_bpm`` (the analysed tempo) unless ``tempo_map`` changes it at some
bars; the bars' ``start_s`` and the beats' ``time_s`` are derived from
``grid_start_s`` and the tempo map (written for readers, recomputed on reading).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from cmtlite import __version__
from cmtlite.calibration import Calibration, load_calibration
from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT, USER_TEMPO_RANGE_BPM
from cmtlite.errors import ConfigError
from cmtlite.outputs import write_json
from cmtlite.records import Record, Spec, array, flag, integer, json_field, list_of, number, record, text
from cmtlite.timing import TempoMap
from cmtlite.tokens.chords import Key, chords_from_changes, parse_chord, parse_key

MAX_BARS = 100_000
MAX_STRENGTH_LEVEL = 1000


@dataclass(frozen=True, kw_only=True)
class Bar(Record):
    """One bar of the grid: start in seconds, mean motion speed (frame diagonals / s), density (onset ticks, 0..16)."""

    index: int | None = json_field(integer(low=0, high=MAX_BARS), default=None)
    start_s: float = json_field(number(digits=4))
    motion_speed: float | None = json_field(number(low=0.0, digits=5), default=None)
    density: int = json_field(integer(low=0, high=TICKS_PER_BAR))


@dataclass(frozen=True, kw_only=True)
class Beat(Record):
    """One grid beat: time in seconds and strength level (notes on its onset; 0 = left to the model)."""

    index: int | None = json_field(integer(low=0, high=MAX_BARS * BEATS_PER_BAR), default=None)
    time_s: float = json_field(number(digits=4))
    strength_level: int = json_field(integer(low=0, high=MAX_STRENGTH_LEVEL))


@dataclass(frozen=True, kw_only=True)
class TempoChange(Record):
    """The tempo (beats per minute) from bar ``bar`` on, until the next change: one entry of the tempo map."""

    bar: int = json_field(integer(low=0, high=MAX_BARS))
    tempo_bpm: float = json_field(number(low=USER_TEMPO_RANGE_BPM[0], high=USER_TEMPO_RANGE_BPM[1], digits=6))


@dataclass(frozen=True, kw_only=True)
class VisualBeat(Record):
    """A visual beat found in the picture: time in seconds, strength 0..1, and whether it is a scene cut."""

    time_s: float = json_field(number(digits=4))
    strength: float = json_field(number(low=0.0, high=1.0, digits=3))
    is_cut: bool = json_field(flag(), default=False)


@dataclass(frozen=True, kw_only=True)
class FrameTrace(Record):
    """Per analyzed frame, shape (N,) each: time (s), motion speed and saliency (frame diagonals / s)."""

    times_s: np.ndarray = json_field(array(digits=4))
    speed: np.ndarray = json_field(array(digits=5))
    saliency: np.ndarray = json_field(array(digits=5))

    def __post_init__(self) -> None:
        if not len(self.times_s) == len(self.speed) == len(self.saliency):
            msg = f"frame_motion lists must have one length (got {len(self.times_s)}, {len(self.speed)}, {len(self.saliency)})"
            raise ConfigError(msg)


@dataclass(frozen=True, kw_only=True)
class Mood(Record):
    """How the picture feels, 0..1 each: ``valence`` (pleasant), ``arousal`` (lively), from ``brightness`` and ``saturation``
    (mean luma and chroma of the frames) and motion (:mod:`cmtlite.music.plan`)."""

    valence: float = json_field(number(low=0.0, high=1.0, digits=3))
    arousal: float = json_field(number(low=0.0, high=1.0, digits=3))
    brightness: float | None = json_field(number(low=0.0, high=1.0, digits=3), default=None)
    saturation: float | None = json_field(number(low=0.0, high=1.0, digits=3), default=None)


@dataclass(frozen=True, kw_only=True)
class Section(Record):
    """A section of the music from bar ``start_bar`` to the next section; sections with one ``label`` share their chords."""

    start_bar: int = json_field(integer(low=0, high=MAX_BARS))
    label: str = json_field(text())


def _checked(parse: object, what: str) -> Spec:
    """A string that ``parse`` accepts, written back as given."""

    def read(value: object, where: str) -> str:
        if not isinstance(value, str):
            msg = f"{where} must be {what} (got {value!r})"
            raise ConfigError(msg)
        try:
            parse(value)
        except ValueError as err:
            msg = f"{where}: {err}"
            raise ConfigError(msg) from err
        return value

    return Spec(read, str)


@dataclass(frozen=True, kw_only=True)
class ChordChange(Record):
    """The chord ``label`` (``root:quality``, e.g. ``A:min``, or ``N``) from beat ``beat`` (0..3) of bar ``bar`` on."""

    bar: int = json_field(integer(low=0, high=MAX_BARS))
    beat: int = json_field(integer(low=0, high=BEATS_PER_BAR - 1), default=0)
    label: str = json_field(_checked(parse_chord, "a chord label"))

    @cached_property
    def value(self) -> int:
        """The chord value (:mod:`cmtlite.tokens.chords`) of ``label``, parsed once."""
        return parse_chord(self.label)


def _read_key(value: object, where: str) -> Key:
    """A key (``A:min``, ``Am``, ``C``), written back as ``tonic:mode``."""
    return Key.parse(_checked(parse_key, "a key such as A:min").read(value, where))


_KEY = Spec(_read_key, lambda key: key.label)


def _check_starts(name: str, starts: list[tuple[int, int]], n_bars: int) -> None:
    """(bar, beat) starts must increase strictly and lie inside the bars."""
    if starts != sorted(set(starts)) or (starts and starts[-1][0] >= n_bars):
        msg = f"{name} must start in increasing order inside the {n_bars} bars (got bar, beat {starts[:8]})"
        raise ConfigError(msg)


def _read_calibration(value: object, where: str) -> Calibration:
    """The calibration a controls file was made with; files that name only its version and source get the shipped one."""
    if not isinstance(value, dict):
        msg = f"{where} must be a JSON object"
        raise ConfigError(msg)
    if "probabilities" not in value:
        return load_calibration()
    try:
        return Calibration.from_json(value)
    except ConfigError as err:
        msg = f"{where}: {err}"
        raise ConfigError(msg) from err


_CALIBRATION = Spec(_read_calibration, lambda calibration: calibration.to_json())


@dataclass(frozen=True, kw_only=True)
class VideoControls(Record):
    """The music controls of one video (the ``controls.json`` contract).

    Required keys: ``tempo_bpm`` (30..300), ``duration_s`` (> 0),
    ``grid_start_s`` (-3600..0), ``n_bars`` (>= 1), ``bars`` (``n_bars``
    :class:`Bar`) and ``beats`` (4 per bar, :class:`Beat`). The rest is
    optional: the ``tempo_map`` (:class:`TempoChange` entries; without one
    every bar plays at ``tempo_bpm``), what the analysis found
    (``visual_beats``, ``scene_cuts_s``, ``frame_motion``), the video's
    metadata, the ``calibration`` used (files that carry only its version
    and source get the shipped tables), and the music plan: the picture's
    ``mood``, the ``key`` (``A:min``), the ``sections`` (:class:`Section`)
    and the ``chords`` (:class:`ChordChange` at every change). The bars' ``start_s`` and the beats'
    ``time_s`` are derived from ``grid_start_s`` and the tempo map.

    Raises
    ------
    ConfigError
        Any key missing, of the wrong type or out of range, or bars and beats that do not fit ``n_bars``.
    """

    cmtlite_version: str = json_field(text(), default=__version__)
    video_path: str | None = json_field(text(), default=None)
    duration_s: float = json_field(number(low=1e-3, digits=6))
    fps: float | None = json_field(number(low=0.0, digits=6), default=None)
    width: int | None = json_field(integer(low=0, high=1 << 20), default=None)
    height: int | None = json_field(integer(low=0, high=1 << 20), default=None)
    n_frames: int | None = json_field(integer(low=0, high=1 << 40), default=None)
    n_analyzed_frames: int | None = json_field(integer(low=0, high=1 << 40), default=None)
    has_audio: bool = json_field(flag(), default=False)
    tempo_bpm: float = json_field(number(low=USER_TEMPO_RANGE_BPM[0], high=USER_TEMPO_RANGE_BPM[1], digits=3))
    tempo_map: tuple[TempoChange, ...] = json_field(list_of(record(TempoChange)), default=())
    tempo_source: str | None = json_field(text(), default=None)
    tempo_confidence: float | None = json_field(number(digits=3), default=None)
    ticks_per_beat: int = json_field(integer(low=TICKS_PER_BEAT, high=TICKS_PER_BEAT), default=TICKS_PER_BEAT)
    beats_per_bar: int = json_field(integer(low=BEATS_PER_BAR, high=BEATS_PER_BAR), default=BEATS_PER_BAR)
    n_bars: int = json_field(integer(low=1, high=MAX_BARS))
    grid_start_s: float = json_field(number(low=-3600.0, high=0.0, digits=6))
    visual_beats: tuple[VisualBeat, ...] = json_field(list_of(record(VisualBeat)), default=())
    scene_cuts_s: tuple[float, ...] = json_field(list_of(number(digits=4)), default=())
    bars: tuple[Bar, ...] = json_field(list_of(record(Bar)))
    beats: tuple[Beat, ...] = json_field(list_of(record(Beat)))
    frame_motion: FrameTrace | None = json_field(record(FrameTrace), default=None)
    mood: Mood | None = json_field(record(Mood), default=None)
    key: Key | None = json_field(_KEY, default=None)
    sections: tuple[Section, ...] = json_field(list_of(record(Section)), default=())
    chords: tuple[ChordChange, ...] = json_field(list_of(record(ChordChange)), default=())
    calibration: Calibration = json_field(_CALIBRATION, default_factory=load_calibration)
    warnings: tuple[str, ...] = json_field(list_of(text()), default=())

    def __post_init__(self) -> None:
        if len(self.bars) != self.n_bars or len(self.beats) != self.n_bars * BEATS_PER_BAR:
            msg = f"need {self.n_bars} bars and {self.n_bars * BEATS_PER_BAR} beats (n_bars = {self.n_bars})"
            raise ConfigError(msg)
        changes = [change.bar for change in self.tempo_map]
        if changes != sorted(set(changes)) or (changes and changes[-1] >= self.n_bars):
            msg = f"tempo_map bars must increase and stay below n_bars = {self.n_bars} (got {changes})"
            raise ConfigError(msg)
        _check_starts("sections", [(s.start_bar, 0) for s in self.sections], self.n_bars)
        _check_starts("chords", [(c.bar, c.beat) for c in self.chords], self.n_bars)
        timing = self.timing()  # bar starts and beat times follow the tempo map: they are derived, not free
        bar_starts, beat_times = timing.bar_starts_s[:-1], timing.beat_times_s()
        bars = tuple(dataclasses.replace(bar, start_s=float(t)) for bar, t in zip(self.bars, bar_starts, strict=True))
        beats = tuple(dataclasses.replace(beat, time_s=float(t)) for beat, t in zip(self.beats, beat_times, strict=True))
        object.__setattr__(self, "bars", bars)
        object.__setattr__(self, "beats", beats)

    def bar_tempos_bpm(self) -> np.ndarray:
        """Tempo of each bar in beats per minute, shape (n_bars,): ``tempo_bpm`` until the first change of ``tempo_map``."""
        tempos = np.full(self.n_bars, self.tempo_bpm)
        for change in self.tempo_map:
            tempos[change.bar :] = change.tempo_bpm
        return tempos

    def timing(self) -> TempoMap:
        """The grid's bar lines in video time, from ``grid_start_s`` and the tempo map."""
        return TempoMap.from_tempos(self.grid_start_s, self.bar_tempos_bpm())

    def end_tick(self) -> float:
        """The video's end as a (fractional) grid tick."""
        return float(self.timing().seconds_to_ticks(self.duration_s))

    def bar_density(self) -> np.ndarray:
        """Density of each bar, shape (n_bars,), int."""
        return np.array([bar.density for bar in self.bars], int)

    def bar_start_s(self) -> np.ndarray:
        """Start of each bar in seconds, shape (n_bars,)."""
        return np.array([bar.start_s for bar in self.bars], float)

    def bar_motion_speed(self) -> np.ndarray:
        """Motion speed of each bar, shape (n_bars,); NaN where the file gives none."""
        return np.array([math.nan if bar.motion_speed is None else bar.motion_speed for bar in self.bars], float)

    def beat_time_s(self) -> np.ndarray:
        """Time of each grid beat in seconds, shape (n_bars * 4,)."""
        return np.array([beat.time_s for beat in self.beats], float)

    def beat_strength_level(self) -> np.ndarray:
        """Strength level of each grid beat, shape (n_bars * 4,), int (0: none forced)."""
        return np.array([beat.strength_level for beat in self.beats], int)

    def visual_beat_time_s(self) -> np.ndarray:
        """Time of each visual beat in seconds, shape (K,)."""
        return np.array([beat.time_s for beat in self.visual_beats], float)

    def visual_beat_strength(self) -> np.ndarray:
        """Strength 0..1 of each visual beat, shape (K,)."""
        return np.array([beat.strength for beat in self.visual_beats], float)

    def chord_per_tick(self) -> np.ndarray:
        """Chord value (:mod:`cmtlite.tokens.chords`) at every grid tick, shape (n_bars * 16,); none before the first change."""
        return chords_per_tick(self.chords, self.n_bars)

    def video_name(self) -> str:
        """The analyzed video's file name ('' when unknown)."""
        return Path(self.video_path or "").name


def chords_per_tick(chords: tuple[ChordChange, ...], n_bars: int) -> np.ndarray:
    """Chord value at every tick of ``n_bars`` bars, shape (n_bars * 16,), from the changes (none before the first)."""
    ticks = [change.bar * TICKS_PER_BAR + change.beat * TICKS_PER_BEAT for change in chords]
    return chords_from_changes(ticks, [change.value for change in chords], n_bars * TICKS_PER_BAR)


def read_controls(path: Path) -> VideoControls:
    """A ``controls.json`` (from ``cmtlite analyze``, maybe edited), checked so later stages can trust it.

    Raises
    ------
    ConfigError
        Unreadable, not JSON, or a key missing, of the wrong type, not finite or out of range (named).
    """
    try:
        obj = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        msg = f"{path}: not a controls.json from `cmtlite analyze` ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    try:
        return VideoControls.from_json(obj)
    except ConfigError as err:
        msg = f"{path}: bad controls.json: {err}"
        raise ConfigError(msg) from err


def write_controls(controls: VideoControls, path: Path, *, force: bool) -> Path:
    """Write ``controls`` as ``controls.json`` atomically; returns the absolute path."""
    return write_json(path, controls.to_json(), force=force)
