"""Analysis stage: a video's motion, visual beats, cuts and tempo, turned into its :class:`VideoControls`.

One pass over the frames (:func:`~cmtlite.video.motion.measure_motion`)
gives speed, directogram and thumbnail differences; the rhythm functions
find cuts, saliency, visual beats and tempo; the tempo map is fitted to the
cuts and beats (:func:`~cmtlite.video.grid.fit_tempo_map`; a user's tempo only in
phase), and a periodic video's faint beats on it are added; the calibration
maps bar speeds to densities and beat strengths to levels; the frames'
colours and motion give the mood, the shots the sections, and the plan its
key and chords (:mod:`cmtlite.music.plan`). The result is exactly what
``controls.json`` stores.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from cmtlite import __version__
from cmtlite.calibration import Calibration, load_calibration
from cmtlite.constants import DEFAULT_TEMPO_AROUSAL_BPM, DEFAULT_TEMPO_BPM, TICKS_PER_BAR
from cmtlite.controls import Bar, Beat, FrameTrace, Mood, Section, TempoChange, VideoControls, VisualBeat, write_controls
from cmtlite.music.plan import make_plan, mood_key, picture_mood, shot_sections
from cmtlite.outputs import check_outputs
from cmtlite.timing import TempoMap, check_tempo_bpm
from cmtlite.video.decode import VideoInfo, open_video
from cmtlite.video.grid import bar_speeds, beat_strength_levels, fit_grid, fit_tempo_map
from cmtlite.video.motion import FrameMotion, measure_motion
from cmtlite.video.rhythm import (
    VisualBeats,
    add_regular_beats,
    detect_cuts,
    detect_visual_beats,
    estimate_tempo,
    frame_rate,
    motion_level,
    saliency_envelope,
    scene_directogram,
)


def video_duration_s(info: VideoInfo, times_s: np.ndarray) -> float:
    """The video's duration in seconds: the container's, or the last analyzed frame's end when it gives none.

    The mux cuts the soundtrack to this length, so music and picture end together.
    """
    if info.duration_s > 0:
        return info.duration_s
    frame_s = float(np.median(np.diff(times_s))) if len(times_s) > 1 else 1.0 / (info.fps or 25.0)
    return float(times_s[-1]) + frame_s


def _tempo(
    times_s: np.ndarray, saliency: np.ndarray, beats: VisualBeats, tempo_bpm: float | None, mood: Mood
) -> tuple[str, float, float, list[str]]:
    """(source, confidence, tempo in BPM, warnings): the user's tempo, the estimate, or the default nudged by arousal."""
    if tempo_bpm is not None:
        return "user", 1.0, tempo_bpm, []
    estimate = estimate_tempo(times_s, saliency, n_beats=len(beats.times_s))
    if estimate.bpm is None:
        default = round(DEFAULT_TEMPO_BPM + DEFAULT_TEMPO_AROUSAL_BPM * (mood.arousal - 0.5))
        return "default", estimate.confidence, default, [
            f"no periodic motion found: tempo set to {default:g} BPM (the default {DEFAULT_TEMPO_BPM:g}, nudged by the picture's arousal)"
        ]
    return "analysis", estimate.confidence, estimate.bpm, []


def _sections(timing: TempoMap, motion: FrameMotion, cut_frames: np.ndarray) -> tuple[Section, ...]:
    """Phrase sections over the shots (cuts snapped to bar lines), labelled by look (:func:`~cmtlite.music.plan.shot_sections`)."""
    bounds = np.concatenate([[0], cut_frames, [len(motion.times_s)]]).astype(int).tolist()
    looks = []
    for first, end in zip(bounds[:-1], bounds[1:], strict=True):
        frames = motion.colour[min(first, len(motion.colour) - 1) : max(end, first + 1)]
        looks.append(np.median(frames.reshape(len(frames), -1), axis=0))
    cut_bars = np.rint(timing.seconds_to_ticks(motion.times_s[cut_frames]) / TICKS_PER_BAR).astype(int)
    return shot_sections(cut_bars, looks, timing.n_bars)


def analyze_video(
    path: Path,
    *,
    tempo_bpm: float | None = None,
    calibration: Calibration | None = None,
    quiet: bool = True,
    key: str | None = None,
    seed: int = 0,
) -> VideoControls:
    """Analyze a video's rhythm and derive its music controls and plan.

    Parameters
    ----------
    path : Path
        The video file.
    tempo_bpm : float or None
        Force this tempo (beats per minute, 30..300) instead of estimating it.
    calibration : Calibration or None
        Density and strength mapping (default: the shipped ``models/calibration.json``).
    quiet : bool
        No progress bar (default True).
    key : Key or None
        The key (None: from the picture's mood).
    seed : int
        Seed of the chord plan.

    Returns
    -------
    VideoControls
        Rounded as ``controls.json`` stores it, so a written and re-read file gives the same music.

    Raises
    ------
    VideoReadError
        The video cannot be read or has no frames.
    ConfigError
        Bad tempo or calibration.
    """
    if tempo_bpm is not None:
        tempo_bpm = check_tempo_bpm(tempo_bpm)
    calibration = calibration or load_calibration()
    with open_video(Path(path)) as video:
        motion = measure_motion(video, quiet=quiet)
    cut_frames = detect_cuts(motion.times_s, motion.thumb_diff)
    speed = motion.speed.copy()
    speed[cut_frames] = speed[np.maximum(cut_frames - 1, 0)]  # flow across a cut is meaningless
    motion = dataclasses.replace(motion, speed=speed)
    fps = frame_rate(motion.times_s)
    directogram = scene_directogram(motion.directogram, motion.camera, cut_frames, fps=fps)
    saliency = saliency_envelope(directogram, cut_frames, fps=fps)
    level = motion_level(directogram, fps=fps)
    beats = detect_visual_beats(motion.times_s, saliency, cut_frames, level=level)
    mood = picture_mood(motion.colour, motion.speed)
    source, confidence, bpm, warnings = _tempo(motion.times_s, saliency, beats, tempo_bpm, mood)
    duration_s = video_duration_s(video.info, motion.times_s)
    cuts_s = motion.times_s[cut_frames]
    if source == "user":
        timing = fit_grid(beats, tempo_bpm=bpm, duration_s=duration_s)
    else:
        timing = fit_tempo_map(beats, cuts_s, tempo_bpm=bpm, duration_s=duration_s)
    if source == "analysis":  # the motion is periodic: faint beats on its grid count too
        beats = add_regular_beats(motion.times_s, saliency, beats, timing.beat_times_s(), level=level)
    end_tick = float(timing.seconds_to_ticks(duration_s))
    plan = make_plan(key or mood_key(mood), _sections(timing, motion, cut_frames), timing.n_bars, seed=seed, end_tick=end_tick)
    draft = VideoControls(
        cmtlite_version=__version__,
        video_path=str(video.info.path),
        duration_s=duration_s,
        fps=video.info.fps,
        width=video.info.width,
        height=video.info.height,
        n_frames=motion.n_decoded,
        n_analyzed_frames=len(motion.times_s),
        has_audio=video.info.has_audio,
        tempo_bpm=bpm,
        tempo_map=_tempo_changes(timing),
        tempo_source=source,
        tempo_confidence=confidence,
        n_bars=timing.n_bars,
        grid_start_s=float(timing.bar_starts_s[0]),
        visual_beats=tuple(
            VisualBeat(time_s=t, strength=s, is_cut=bool(c)) for t, s, c in zip(beats.times_s, beats.strengths, beats.is_cut, strict=True)
        ),
        scene_cuts_s=tuple(cuts_s),
        bars=_bars(timing, motion, calibration),
        beats=tuple(
            Beat(index=k, time_s=t, strength_level=int(s))
            for k, (t, s) in enumerate(zip(timing.beat_times_s(), beat_strength_levels(timing, beats, calibration), strict=True))
        ),
        frame_motion=FrameTrace(times_s=motion.times_s, speed=motion.speed, saliency=saliency),
        mood=mood,
        key=plan.key,
        sections=plan.sections,
        chords=plan.chords,
        calibration=calibration,
        warnings=tuple(warnings),
    )
    return VideoControls.from_json(draft.to_json())  # the values exactly as controls.json stores them


def _bars(timing: TempoMap, motion: FrameMotion, calibration: Calibration) -> tuple[Bar, ...]:
    speeds = bar_speeds(timing, motion.times_s, motion.speed)
    densities = calibration.speed_to_density(speeds)
    return tuple(
        Bar(index=b, start_s=t, motion_speed=float(v), density=int(d))
        for b, (t, v, d) in enumerate(zip(timing.bar_starts_s[:-1], speeds, densities, strict=True))
    )


def _tempo_changes(timing: TempoMap) -> tuple[TempoChange, ...]:
    """The tempo map as changes: bar 0's tempo, then every bar whose tempo differs from the one before."""
    tempos = timing.bar_tempos_bpm()
    changed = np.concatenate([[True], np.abs(np.diff(tempos)) > 1e-6 * tempos[1:]])
    return tuple(TempoChange(bar=int(b), tempo_bpm=float(tempos[b])) for b in np.nonzero(changed)[0])


def analyze_to_files(
    video: Path,
    output: Path,
    *,
    plot: Path | None = None,
    tempo_bpm: float | None = None,
    calibration_path: Path | None = None,
    key: str | None = None,
    seed: int = 0,
    force: bool = False,
    quiet: bool = True,
) -> VideoControls:
    """``cmtlite analyze``: check the outputs, analyze ``video``, write ``output`` (controls.json) and the ``plot`` PNG.

    ``key`` (None: from the mood) and ``seed`` make the plan (:func:`analyze_video`).

    Raises
    ------
    OutputError
        An output is the video or the calibration, or exists without ``force``.
    """
    check_outputs((output, plot), inputs=(video, calibration_path), force=force)
    if tempo_bpm is not None:
        check_tempo_bpm(tempo_bpm)
    calibration = load_calibration(calibration_path) if calibration_path is not None else None
    controls = analyze_video(video, tempo_bpm=tempo_bpm, calibration=calibration, quiet=quiet, key=key, seed=seed)
    if plot is not None:
        from cmtlite.plots import plot_analysis  # matplotlib only when a plot is asked for: a third of the start-up

        plot_analysis(controls, plot, force=force)
    write_controls(controls, output, force=force)
    return controls
