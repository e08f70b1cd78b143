"""The soundtrack pipeline: video (or controls) -> music -> MIDI, audio, stems, plot and the muxed video.

:func:`make_soundtrack` is the one path through the product: ``cmtlite
generate``, ``cmtlite demo`` and ``cmtlite batch`` all call it, and a stage
hook reports the seconds of each stage (analyze, generate, render, mux).

How the controls drive the sampler (:func:`sampler_controls`):

* bar density = the controls' per-bar density + ``density_shift``, clipped to 0..16;
* beat strength = the per-beat level + ``strength_shift`` on beats with a
  visual beat (clipped to 1..16), and at least the calibration's strongest
  level on the beat nearest each scene cut; other beats are left to the model;
* beat-timing spans the grid's bars, which cover the whole video;
* hit points (:func:`hit_points`): the 16th nearest every strong visual beat
  and every cut must carry an onset, moved onto the picture by microtiming;
* the plan: every token carries the planned chord, and tonal notes follow
  it and the key (:func:`~cmtlite.music.sampler.harmony_bias`). A ``key`` option
  plans the chords anew in that key (:func:`~cmtlite.music.plan.with_plan`); returning
  sections and phrases echo earlier material (:func:`~cmtlite.music.plan.echo_ticks`).

The MIDI carries a marker ``chord <label>`` at every chord change,
``section <label>`` at every section start and ``cut`` at every scene cut.

The MIDI follows the controls' tempo map: its time 0 is the video's first
frame and its own beats and bar lines are the music's (see
:func:`~cmtlite.tokens.midi.write_midi`).
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmtlite.analysis import analyze_video
from cmtlite.audio.mux import check_original_audio, mux
from cmtlite.audio.render import fit_length, master, render_midi, write_wav
from cmtlite.constants import (
    BEATS_PER_BAR,
    DEFAULT_VARIATION,
    FADE_OUT_RANGE_S,
    HIT_MIN_STRENGTH,
    LOUDNESS_RANGE_LUFS,
    MUX_SUFFIXES,
    SHIFT_RANGE,
    TICKS_PER_BAR,
)
from cmtlite.controls import Section, VideoControls, read_controls, write_controls
from cmtlite.errors import ConfigError, OutputError
from cmtlite.model import CPTransformer
from cmtlite.music.composer import Form, compose_score
from cmtlite.music.grammar import FREE, Controls, check_instruments
from cmtlite.music.plan import echo_ticks, lead_program, marker_ticks, scale_of, with_plan
from cmtlite.music.regenerate import regenerate_bars
from cmtlite.music.sampler import generate_tokens
from cmtlite.outputs import atomic_output, check_outputs
from cmtlite.timing import TempoMap, check_tempo_bpm
from cmtlite.tokens.chords import Key
from cmtlite.tokens.codec import DURATION_COL, FAMILY_COL, START_COL, Score, decode, encode
from cmtlite.tokens.midi import write_midi
from cmtlite.tokens.vocab import FAMILIES, LEAD, MAX_DENSITY, STRENGTH_CAP
from cmtlite.video.clips import demo_scenes, write_clip

GENERATION_BUDGET_S = 120.0  # sampling must finish within this
GENERATION_BUDGET_S_PER_VIDEO_S = 2.0  # ... plus this per second of video (it runs at ~0.1 s per video second)

StageHook = Callable[[str, float], None]


def check_range(value: float, what: str, low: float, high: float) -> float:
    """``value`` if it lies in [low, high] (NaN never does).

    Raises
    ------
    ConfigError
        Outside the range, naming ``what``.
    """
    if not low <= value <= high:
        msg = f"{what} must be in {low:g}..{high:g} (got {value:g})"
        raise ConfigError(msg)
    return value


@dataclass(frozen=True)
class MusicOptions:
    """What the music does with the controls: shifts, instruments, seed, sampling temperature and key."""

    density_shift: int = 0  # added to every bar's density (onset ticks), -16..16
    strength_shift: int = 0  # added to every visual beat's strength level, -16..16
    instruments: tuple[str, ...] = FAMILIES  # families the model may play
    seed: int = 0
    temperature: float = 1.0  # multiplies every field's sampling temperature, > 0
    key: Key | None = None  # None: the controls' key (from the picture's mood); text (C, Am, F#:min ...) is parsed here
    variation: float = DEFAULT_VARIATION  # how much a returning section differs from its first time, 0..1

    def __post_init__(self) -> None:
        if isinstance(self.key, str):
            try:
                object.__setattr__(self, "key", Key.parse(self.key))
            except ValueError as err:
                raise ConfigError(str(err)) from err
        check_range(self.density_shift, "density shift", *SHIFT_RANGE)
        check_range(self.strength_shift, "strength shift", *SHIFT_RANGE)
        check_instruments(self.instruments)
        check_range(self.variation, "variation", 0.0, 1.0)
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            msg = f"temperature must be > 0 (got {self.temperature})"
            raise ConfigError(msg)


@dataclass(frozen=True)
class MixOptions:
    """How the soundtrack sounds in the video: original audio mode (None: duck if the video has sound), fade, loudness.

    ``gain_db`` fixes the mastering gain (:func:`~cmtlite.audio.render.master`):
    the studio keeps one per project, so a regenerated take is sample-identical
    to its parent before the new bars; None measures it to reach ``loudness_lufs``.
    """

    original_audio: str | None = None  # keep, duck or drop
    fade_out_s: float = 2.0  # linear fade at the end, 0..60 s
    loudness_lufs: float = -16.0  # integrated loudness target, -70..-1 LUFS
    gain_db: float | None = None  # fixed mastering gain, -100..100 dB; None: measured for loudness_lufs

    def __post_init__(self) -> None:
        check_original_audio(self.original_audio)
        check_range(self.fade_out_s, "fade-out", *FADE_OUT_RANGE_S)
        check_range(self.loudness_lufs, "loudness", *LOUDNESS_RANGE_LUFS)
        if self.gain_db is not None:
            check_range(self.gain_db, "mastering gain", -100.0, 100.0)


@dataclass(frozen=True)
class Outputs:
    """Files a soundtrack job writes (None: not wanted). ``stems`` is a folder of one WAV per family."""

    video: Path | None = None
    midi: Path | None = None
    wav: Path | None = None
    stems: Path | None = None
    plot: Path | None = None
    controls: Path | None = None

    def __post_init__(self) -> None:
        if not any((self.video, self.midi, self.wav, self.stems, self.controls)):
            msg = "nothing to write: ask for at least one of a video, MIDI, WAV or stems"
            raise ConfigError(msg)
        if self.video is not None and self.video.suffix.lower() not in MUX_SUFFIXES:
            msg = f"{self.video}: the output video must end in {', '.join(MUX_SUFFIXES)}"
            raise ConfigError(msg)
        if self.stems is not None and (self.stems.exists() and not self.stems.is_dir() or not self.stems.absolute().parent.is_dir()):
            msg = f"{self.stems}: stems must go to a folder (its parent must exist)"
            raise ConfigError(msg)

    def files(self, families: tuple[str, ...]) -> list[Path]:
        """Every file path that will be written (stems: one per family in ``families``)."""
        stems = [self.stems / f"{family}.wav" for family in families] if self.stems else []
        return [p for p in (self.video, self.midi, self.wav, self.plot, self.controls) if p is not None] + stems

    def needs_audio(self) -> bool:
        """Whether anything is rendered."""
        return any(p is not None for p in (self.video, self.wav, self.stems))


@dataclass(frozen=True)
class HitPoints:
    """Where the music must land: strong visual beats (and cuts) as grid ticks, with the offsets that put them on the picture.

    Attributes
    ----------
    ticks : np.ndarray [shape=(H,), dtype=int]
        Grid ticks (16ths from bar 0) nearest each strong visual beat, unique, increasing.
    offsets_s : np.ndarray [shape=(H,)]
        Seconds from each tick to its visual beat (at most half a 16th): the onset's microtiming.
    strengths : np.ndarray [shape=(H,)]
        Each visual beat's strength, 0..1 (a cut: 1).
    cut_ticks : np.ndarray [shape=(C,), dtype=int]
        The ticks of the scene cuts (accented with a crash).
    """

    ticks: np.ndarray
    offsets_s: np.ndarray
    strengths: np.ndarray
    cut_ticks: np.ndarray


def hit_points(controls: VideoControls) -> HitPoints:
    """Every visual beat of strength >= ``HIT_MIN_STRENGTH`` and every cut, on the grid (see :class:`HitPoints`)."""
    timing, n_ticks = controls.timing(), controls.n_bars * TICKS_PER_BAR
    strong = controls.visual_beat_strength() >= HIT_MIN_STRENGTH
    cuts_s = np.asarray(controls.scene_cuts_s, float)
    times_s = np.concatenate([cuts_s, controls.visual_beat_time_s()[strong]])
    strengths = np.concatenate([np.ones(len(cuts_s)), controls.visual_beat_strength()[strong]])
    ticks = np.rint(timing.seconds_to_ticks(times_s)).astype(np.int64)
    inside = (ticks >= 0) & (ticks < n_ticks) & (times_s >= 0) & (times_s < controls.duration_s)
    ticks, times_s, strengths = ticks[inside], times_s[inside], strengths[inside]
    ticks, first = np.unique(ticks, return_index=True)  # two beats on one 16th: a cut, else the first, sets the microtiming
    offsets = times_s[first] - timing.ticks_to_seconds(ticks)
    cut_ticks = np.rint(timing.seconds_to_ticks(cuts_s)).astype(np.int64)
    cut_ticks = cut_ticks[(cut_ticks >= 0) & (cut_ticks < n_ticks)]
    return HitPoints(ticks=ticks, offsets_s=offsets, strengths=strengths[first], cut_ticks=cut_ticks)


@dataclass(frozen=True)
class Soundtrack:
    """Generated music for one video: tokens (T, fields), the score, its timing in the video, hits and markers."""

    tokens: np.ndarray
    score: Score
    timing: TempoMap
    duration_s: float
    hits: HitPoints
    markers: tuple[tuple[float, str], ...] = ()
    programs: dict[int, int] = dataclasses.field(default_factory=dict)  # GM program per family index where not the default

    def onset_shift_s(self) -> dict[int, float]:
        """Microtiming: seconds each hit tick's onsets move to sound on their visual beat."""
        return dict(zip(self.hits.ticks.tolist(), self.hits.offsets_s.tolist(), strict=True))

    def notes_s(self) -> list[tuple[str, int, float, float]]:
        """(family, pitch, start s, duration s) of every note in video time, cut to the video."""
        notes = self.score.notes
        shift = np.array([self.onset_shift_s().get(int(t), 0.0) for t in notes[:, START_COL]])
        starts_s = self.timing.ticks_to_seconds(notes[:, START_COL]) + shift
        ends_s = np.minimum(self.timing.ticks_to_seconds(notes[:, START_COL] + notes[:, DURATION_COL]) + shift, self.duration_s)
        return [
            (FAMILIES[family], pitch, start_s, end_s - start_s)
            for (family, pitch, _, _), start_s, end_s in zip(notes.tolist(), starts_s.tolist(), ends_s.tolist(), strict=True)
            if 0 <= start_s < self.duration_s
        ]


def sampler_controls(controls: VideoControls, music: MusicOptions) -> Controls:
    """Sampler controls from a video's controls and the music options (see the module doc)."""
    n_bars = controls.n_bars
    levels = controls.beat_strength_level()
    strength = np.where(levels > 0, np.clip(levels + music.strength_shift, 1, STRENGTH_CAP), FREE)
    strongest = np.clip(controls.calibration.strongest_level() + music.strength_shift, 1, STRENGTH_CAP)
    beat_times = controls.beat_time_s()
    for cut_s in controls.scene_cuts_s:
        nearest = int(np.argmin(np.abs(beat_times - cut_s)))
        strength[nearest] = max(strength[nearest], strongest)
    hits = hit_points(controls)
    hit_levels = np.clip(controls.calibration.strength_to_level(hits.strengths) + music.strength_shift, 1, STRENGTH_CAP)
    return Controls(
        n_bars=n_bars,
        bar_density=np.clip(controls.bar_density() + music.density_shift, 0, MAX_DENSITY)[:n_bars],
        beat_strength=strength[: n_bars * BEATS_PER_BAR],
        instruments=music.instruments,
        hit_ticks=hits.ticks,
        hit_strength=hit_levels,
        chords=controls.chord_per_tick(),
        scale=scale_of(controls.key) if controls.key else np.zeros(0, bool),
        echo=echo_ticks(controls.sections, n_bars),
    )


def music_form(controls: VideoControls, music: MusicOptions) -> Form:
    """The composer's form of a video: the plan's sections, the cuts, the video's end on the grid, the variation and seed."""
    return Form(sections=controls.sections or (Section(start_bar=0, label="A"),), cut_ticks=hit_points(controls).cut_ticks,
                end_tick=controls.end_tick(), variation=music.variation, seed=music.seed)


def compose(model: CPTransformer, controls: VideoControls, music: MusicOptions, *, quiet: bool = True) -> Soundtrack:
    """The music for a video's controls: the model's bars (sampling bounded by a budget that grows with the video) made into
    a piece by the composer (:mod:`cmtlite.music.composer`).

    Every hit point gets an onset, moved by its microtiming onto the visual
    beat when written; the MIDI carries a ``cut`` marker at each cut.
    """
    budget_s = GENERATION_BUDGET_S + GENERATION_BUDGET_S_PER_VIDEO_S * controls.duration_s
    sampler = sampler_controls(controls, music)
    raw = generate_tokens(model, sampler, seed=music.seed, temperature=music.temperature, quiet=quiet, time_budget_s=budget_s)
    score = compose_score(decode(raw, tempo_bpm=controls.tempo_bpm), sampler, music_form(controls, music))
    return soundtrack_of(encode(score), controls, music)


def recompose(model: CPTransformer, controls: VideoControls, music: MusicOptions, tokens: np.ndarray, bars: tuple[int, int]) -> Soundtrack:
    """An earlier soundtrack's ``tokens`` with bars ``first..last`` (inclusive) made anew; every note starting outside them is kept.

    See :func:`~cmtlite.music.regenerate.regenerate_bars` for how the seams
    are made; the new bars are then composed as one section of their own
    (:func:`~cmtlite.music.composer.compose_score` with ``bars``).
    """
    sampler = sampler_controls(controls, music)
    new = regenerate_bars(model, sampler, tokens, bars, seed=music.seed, temperature=music.temperature)
    score = compose_score(decode(new, tempo_bpm=controls.tempo_bpm), sampler, music_form(controls, music), bars=bars)
    return soundtrack_of(encode(score), controls, music)


@dataclass(frozen=True)
class Regenerate:
    """A regenerate request: an earlier soundtrack's ``tokens`` with bars ``first..last`` (inclusive) made anew.

    ``linked``: the same bars of every other section with the same label
    (:func:`linked_bar_ranges`) are made anew too, so a returning section changes alike.
    """

    tokens: np.ndarray
    bars: tuple[int, int]
    linked: bool = False


def linked_bar_ranges(sections: tuple[Section, ...], n_bars: int, bars: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """``bars`` (first, last) and the bars at the same offsets in every other section with its section's label, in bar order.

    An occurrence too short to hold the offsets is left out.

    Raises
    ------
    ConfigError
        ``bars`` do not lie inside one section.
    """
    bounds = [s.start_bar for s in sections] + [n_bars]
    spans = [(s.label, start, end) for s, start, end in zip(sections, bounds[:-1], bounds[1:], strict=True)]
    holding = [(label, start) for label, start, end in spans if start <= bars[0] and bars[1] < end]
    if not holding:
        msg = f"bars {bars[0]}..{bars[1]} are not inside one section: a linked regenerate changes bars of one section"
        raise ConfigError(msg)
    label, start = holding[0]
    first, last = bars[0] - start, bars[1] - start
    return tuple((s + first, s + last) for name, s, end in spans if name == label and s + last < end)


def regenerate_soundtrack(model: CPTransformer, controls: VideoControls, music: MusicOptions, request: Regenerate) -> Soundtrack:
    """:func:`recompose` of the request's bars; ``linked``, every other range :func:`linked_bar_ranges` finds then replays
    them, re-voiced onto its own chords (:func:`~cmtlite.music.composer.compose_score` with ``source``): every occurrence alike."""
    tokens = recompose(model, controls, music, request.tokens, request.bars).tokens
    if request.linked:
        sampler, form = sampler_controls(controls, music), music_form(controls, music)
        for bars in linked_bar_ranges(controls.sections, controls.n_bars, request.bars):
            if bars != request.bars:
                score = compose_score(decode(tokens, tempo_bpm=controls.tempo_bpm), sampler, form, bars=bars, source=request.bars)
                tokens = encode(score)
    return soundtrack_of(tokens, controls, music)


def soundtrack_of(tokens: np.ndarray, controls: VideoControls, music: MusicOptions) -> Soundtrack:
    """The soundtrack of composed ``tokens``: the score, hits, markers and timing."""
    hits = hit_points(controls)
    score = decode(tokens, tempo_bpm=controls.tempo_bpm)
    markers = tuple(sorted(plan_markers(controls) + [(float(t), "cut") for t in controls.scene_cuts_s]))
    return Soundtrack(tokens=tokens, score=score, timing=controls.timing(), duration_s=controls.duration_s, hits=hits, markers=markers,
                      programs={LEAD: lead_program(controls.mood)})


def plan_markers(controls: VideoControls) -> list[tuple[float, str]]:
    """(video time s, text) markers of the plan (:func:`~cmtlite.music.plan.marker_ticks`); the section and chord in force
    when the video starts (a pickup starts the grid before it) are marked at 0 s."""
    ticks_and_texts = marker_ticks(controls.sections, controls.chords)
    times_s = controls.timing().ticks_to_seconds(np.array([tick for tick, _ in ticks_and_texts], float))
    markers, at_start = [], {}
    for time_s, (_, text) in zip(times_s.tolist(), ticks_and_texts, strict=True):
        if time_s <= 0:
            at_start[text.split(" ")[0]] = (0.0, text)
        else:
            markers.append((time_s, text))
    return list(at_start.values()) + markers


def write_soundtrack_midi(track: Soundtrack, path: Path, *, families: tuple[str, ...] = FAMILIES) -> None:
    """The soundtrack's MIDI (only ``families``): its grid is the music's, time 0 the video's first frame, cut at its end."""
    keep = np.isin(track.score.notes[:, FAMILY_COL], [FAMILIES.index(f) for f in families])
    score = dataclasses.replace(track.score, notes=track.score.notes[keep])
    write_midi(score, path, timing=track.timing, end_s=track.duration_s, onset_shift_s=track.onset_shift_s(), markers=list(track.markers),
               accent_ticks=set(track.hits.ticks.tolist()), programs=track.programs)


def render_raw(track: Soundtrack, soundfont: Path, *, fade_out_s: float, families: tuple[str, ...] = FAMILIES) -> np.ndarray:
    """Audio (n, 2) of the soundtrack's ``families``, exactly the video's duration and faded out, not normalized."""
    with tempfile.TemporaryDirectory(prefix="cmtlite-") as tmp:
        midi = Path(tmp) / "soundtrack.mid"
        write_soundtrack_midi(track, midi, families=families)
        return fit_length(render_midi(midi, soundfont), track.duration_s, fade_out_s=fade_out_s)


@contextmanager
def _timed(name: str, on_stage: StageHook | None) -> Iterator[None]:
    started = time.perf_counter()
    yield
    if on_stage is not None:
        on_stage(name, time.perf_counter() - started)


def write_outputs(
    track: Soundtrack,
    controls: VideoControls,
    video: Path | None,
    outputs: Outputs,
    *,
    soundfont: Path | None,
    mix: MixOptions,
    families: tuple[str, ...] = (),
    force: bool,
    on_stage: StageHook | None = None,
) -> tuple[list[Path], float | None]:
    """Render, master and write every requested output of a composed soundtrack; returns (the paths written, the mastering
    gain in dB, None when nothing was rendered).

    ``families`` are the stems to write (one WAV each into ``outputs.stems``).
    """
    written, gain_db = [], None
    if outputs.controls is not None:
        write_controls(controls, outputs.controls, force=force)
        written.append(outputs.controls)
    if outputs.midi is not None:
        with atomic_output(outputs.midi, force=force) as tmp:
            write_soundtrack_midi(track, tmp)
        written.append(outputs.midi)
    if outputs.needs_audio():
        with _timed("render", on_stage):
            audio, gain_db = master(render_raw(track, soundfont, fade_out_s=mix.fade_out_s), mix.loudness_lufs, gain_db=mix.gain_db)
        if outputs.wav is not None:
            write_wav(audio, outputs.wav, force=force)
            written.append(outputs.wav)
        if outputs.stems is not None:
            written += write_stems(track, soundfont, outputs.stems, families, gain_db=gain_db, mix=mix, force=force)
        if outputs.video is not None:
            with _timed("mux", on_stage):
                mux(video, audio, outputs.video, original_audio=mix.original_audio, force=force)
            written.append(outputs.video)
    if outputs.plot is not None:
        from cmtlite.plots import plot_soundtrack  # matplotlib only when a plot is asked for (0.2 s of the start-up)

        plot_soundtrack(controls, track.notes_s(), outputs.plot, force=force)
        written.append(outputs.plot)
    return written, gain_db


def write_stems(
    track: Soundtrack, soundfont: Path, folder: Path, families: tuple[str, ...], *, gain_db: float, mix: MixOptions, force: bool
) -> list[Path]:
    """One float32 WAV per family that plays, at the full mix's gain (so the stems add up to the mix before limiting)."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    playing = {family for family, *_ in track.notes_s()}
    for family in (f for f in families if f in playing):
        stem = render_raw(track, soundfont, fade_out_s=mix.fade_out_s, families=(family,))
        write_wav(stem * np.float32(10 ** (gain_db / 20)), folder / f"{family}.wav", force=force, float32=True)
        written.append(folder / f"{family}.wav")
    return written


def load_controls(
    source: Path, *, tempo_bpm: float | None, quiet: bool, needs_video: bool, key: str | None = None, seed: int = 0
) -> tuple[VideoControls, Path | None]:
    """(controls, video path) of a video, or of a ``controls.json`` and the video it names (re-analyzed when a tempo is given).

    A relative ``video_path`` in a controls file is looked up beside the file.
    The controls have a plan: a video's is made in ``key`` (None: the mood's)
    with ``seed``; a file's is kept unless it has none or ``key`` asks for
    another key (:func:`~cmtlite.music.plan.with_plan`).

    Raises
    ------
    ConfigError
        A bad controls file, or its video is missing while ``needs_video`` or a tempo asks for it.
    VideoReadError
        The video cannot be read.
    """
    if source.suffix.lower() != ".json":
        return analyze_video(source, tempo_bpm=tempo_bpm, quiet=quiet, key=key, seed=seed), source
    controls = read_controls(source)
    video = Path(controls.video_path or "")
    if not video.is_absolute() and not video.exists():
        video = source.parent / video
    if (needs_video or tempo_bpm is not None) and not video.is_file():
        msg = f"{source}: its video {controls.video_path!r} is not found (needed to write a video or change the tempo)"
        raise ConfigError(msg)
    if tempo_bpm is not None:
        return analyze_video(video, tempo_bpm=tempo_bpm, quiet=quiet, key=key, seed=seed), video
    return with_plan(controls, key, seed=seed), video


@dataclass(frozen=True)
class SoundtrackResult:
    """What :func:`make_soundtrack` did: the controls the music followed, the files it wrote, the music and its mastering gain."""

    controls: VideoControls
    written: tuple[Path, ...]
    track: Soundtrack | None = None
    gain_db: float | None = None  # None: nothing was rendered


def _in_background(load: Callable[[], CPTransformer]) -> Future:
    """``load()`` running in a daemon thread (Ctrl-C or an error in the analysis never waits for it), as a future."""
    future: Future = Future()

    def run() -> None:
        try:
            future.set_result(load())
        except BaseException as err:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(err)

    threading.Thread(target=run, name="cmtlite-model-load", daemon=True).start()
    return future


def make_soundtrack(
    source: Path,
    outputs: Outputs,
    *,
    model: CPTransformer | Callable[[], CPTransformer],
    soundfont: Path | None,
    music: MusicOptions = MusicOptions(),  # noqa: B008 - frozen, so one shared default is safe
    mix: MixOptions = MixOptions(),  # noqa: B008
    tempo_bpm: float | None = None,
    force: bool = False,
    quiet: bool = True,
    on_stage: StageHook | None = None,
    regenerate: Regenerate | None = None,
) -> SoundtrackResult:
    """Soundtrack a video (or a ``controls.json``): analyze, compose, render, master, mux; write ``outputs``.

    Every output is checked before any work (:func:`~cmtlite.outputs.check_outputs`):
    none may be an input (the video, the controls file, the soundfont), and
    existing files are replaced only with ``force``.

    Parameters
    ----------
    source : Path
        A video, or a ``controls.json`` from ``cmtlite analyze`` (its video is needed for ``outputs.video``).
    outputs : Outputs
        What to write.
    model : CPTransformer or callable () -> CPTransformer
        The loaded model, or its loader: then it loads in a thread while the
        video is analyzed (reading the weights, moving them to the GPU).
    soundfont : Path or None
        SoundFont for rendering (needed when ``outputs`` has audio).
    music, mix : MusicOptions, MixOptions
        Music and mix options.
    tempo_bpm : float or None
        Force this tempo (30..300 BPM; the video is analyzed again).
    force : bool
        Overwrite earlier outputs (never inputs).
    quiet : bool
        No progress bars.
    on_stage : callable (stage name, seconds) or None
        Called after each stage: ``analyze``, ``generate``, ``render``, ``mux``.
    regenerate : Regenerate or None
        Make only these bars of an earlier soundtrack anew (:func:`regenerate_soundtrack`); None: compose it all.

    Returns
    -------
    SoundtrackResult
        The controls the music followed, the files written, the music and its mastering gain.
    """
    if tempo_bpm is not None:
        check_tempo_bpm(tempo_bpm)
    if outputs.needs_audio() and soundfont is None:
        msg = "a soundfont is needed to render audio"
        raise ConfigError(msg)
    stems = music.instruments if outputs.stems is not None else ()
    files = outputs.files(stems if outputs.stems is not None and outputs.stems.is_dir() else ())  # a new stems folder is made later
    check_outputs(files, inputs=(source, soundfont), force=force)
    loading = _in_background(model) if not isinstance(model, CPTransformer) else None  # loads while the video is analyzed
    with _timed("analyze", on_stage):
        controls, video = load_controls(
            source, tempo_bpm=tempo_bpm, quiet=quiet, needs_video=outputs.video is not None, key=music.key, seed=music.seed
        )
    check_outputs(files, inputs=(video,), force=force)
    model = loading.result() if loading is not None else model
    with _timed("generate", on_stage):
        if regenerate is None:
            track = compose(model, controls, music, quiet=quiet)
        else:
            track = regenerate_soundtrack(model, controls, music, regenerate)
    written, gain_db = write_outputs(track, controls, video, outputs, soundfont=soundfont, mix=mix, families=stems, force=force,
                                     on_stage=on_stage)
    return SoundtrackResult(controls=controls, written=tuple(written), track=track, gain_db=gain_db)


def make_demo(
    output_dir: Path, *, model: CPTransformer, soundfont: Path, seed: int = 0, force: bool = False, quiet: bool = True
) -> list[Path]:
    """``cmtlite demo``: draw the 20 s procedural clip into ``output_dir`` and soundtrack it; returns every file written.

    Writes ``clip.mp4``, ``controls.json`` and ``demo.mp4`` / ``.mid`` / ``.wav`` / ``.png``.

    Raises
    ------
    OutputError
        ``output_dir`` is a file, or a file in it exists without ``force``.
    """
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        msg = f"{output_dir}: exists and is not a directory"
        raise OutputError(msg)
    output_dir.mkdir(parents=True, exist_ok=True)
    clip = output_dir / "clip.mp4"
    outputs = Outputs(*(output_dir / f"demo{suffix}" for suffix in (".mp4", ".mid", ".wav")), plot=output_dir / "demo.png",
                      controls=output_dir / "controls.json")
    check_outputs([clip, *outputs.files(())], force=force)
    write_clip(clip, demo_scenes(), force=force)
    result = make_soundtrack(clip, outputs, model=model, soundfont=soundfont, music=MusicOptions(seed=seed), force=force, quiet=quiet)
    return [clip, *result.written]
