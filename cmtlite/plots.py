"""Pictures a person reads at a glance: the controls of a video, and its soundtrack over them."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BAR, TICKS_PER_BEAT  # noqa: E402
from cmtlite.controls import VideoControls  # noqa: E402
from cmtlite.outputs import atomic_output  # noqa: E402
from cmtlite.timing import tempo_to_beat_s


def _mark_bars(axes: list[plt.Axes], bar_times_s: np.ndarray) -> None:
    for ax in axes:
        for t in bar_times_s:
            ax.axvline(t, color="0.85", lw=0.8, zorder=0)


def _bar_edges_s(controls: VideoControls) -> np.ndarray:
    """Bar start times plus the end of the last bar, shape (n_bars + 1,), in seconds."""
    return controls.timing().bar_starts_s


def plot_analysis(controls: VideoControls, path: Path, *, force: bool) -> Path:
    """Write a PNG of motion, saliency, visual beats, cuts, bars and control levels.

    Parameters
    ----------
    controls : VideoControls
        From :func:`cmtlite.analysis.analyze_video` or a ``controls.json`` (the frame
        curves are drawn when it has ``frame_motion``).
    path : Path
        Output PNG.
    force : bool
        Overwrite an existing file.

    Returns
    -------
    Path
        The written file.
    """
    bar_times, bar_edges = controls.bar_start_s(), _bar_edges_s(controls)
    fig, (ax_speed, ax_sal, ax_beat) = plt.subplots(3, 1, figsize=(12, 7.5), sharex=True, height_ratios=[3, 3, 2])
    _mark_bars([ax_speed, ax_sal, ax_beat], bar_times)

    trace = controls.frame_motion
    if trace is not None:
        ax_speed.plot(trace.times_s, trace.speed, color="tab:blue", lw=0.8, label="motion speed (per frame)")
        ax_sal.plot(trace.times_s, trace.saliency, color="0.3", lw=0.8, label="saliency (deceleration)")
    ax_speed.stairs(controls.bar_motion_speed(), bar_edges, color="tab:blue", lw=2, label="mean per bar")
    ax_speed.set_ylabel("speed\n(diagonals / s)")
    ax_density = ax_speed.twinx()
    ax_density.stairs(controls.bar_density(), bar_edges, color="tab:orange", lw=2, label="density level")
    ax_density.set_ylim(0, 17)
    ax_density.set_ylabel("density\n(onset ticks / bar)", color="tab:orange")
    ax_speed.legend(loc="upper left", fontsize=8)

    top = trace.saliency.max(initial=1e-9) if trace is not None else 1.0
    beat_times_s = controls.visual_beat_time_s()
    ax_sal.vlines(beat_times_s, 0, controls.visual_beat_strength() * top, color="tab:green", lw=2, label="visual beats (height = strength)")
    for k, t in enumerate(controls.scene_cuts_s):
        ax_sal.axvline(t, color="tab:red", ls="--", lw=1.2, label="scene cut" if k == 0 else None)
        ax_speed.axvline(t, color="tab:red", ls="--", lw=1.2)
    ax_sal.set_ylabel("saliency\n(diagonals / s)")
    ax_sal.legend(loc="upper left", fontsize=8)

    grid_beats_s = controls.beat_time_s()
    downbeat = np.arange(len(grid_beats_s)) % BEATS_PER_BAR == 0
    colors = np.where(downbeat, "tab:purple", "tab:pink")
    ax_beat.bar(grid_beats_s, controls.beat_strength_level(), width=0.35 * tempo_to_beat_s(controls.tempo_bpm), color=colors)
    ax_beat.set_ylabel("strength level\nper beat")
    ax_beat.set_xlabel("time (s)   |   grey lines: bars (purple: downbeats)")
    for ax in (ax_speed, ax_sal, ax_beat):
        ax.axvspan(min(bar_times[0], 0.0), 0.0, color="0.92", zorder=0)
        ax.axvspan(controls.duration_s, bar_edges[-1], color="0.92", zorder=0)
    ax_beat.set_xlim(bar_edges[0], bar_edges[-1])
    fig.suptitle(
        f"{controls.video_name()}: {controls.tempo_bpm:.1f} BPM ({controls.tempo_source or 'given'}), "
        f"{controls.n_bars} bars, {len(beat_times_s)} visual beats, {len(controls.scene_cuts_s)} cuts"
    )
    fig.tight_layout()
    with atomic_output(Path(path), force=force) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return Path(path).absolute()


FAMILY_COLORS = {"drums": "0.35", "piano": "tab:blue", "guitar": "tab:orange", "bass": "tab:green", "strings": "tab:purple",
                 "lead": "tab:red"}


def _mark_plan(ax: plt.Axes, controls: VideoControls) -> None:
    """Sections as shaded spans labelled at the bottom, chord labels along the top of ``ax`` (video time)."""
    timing = controls.timing()
    edges = [s.start_bar for s in controls.sections] + [controls.n_bars]
    labels = sorted({s.label for s in controls.sections})
    for section, end in zip(controls.sections, edges[1:], strict=True):
        start_s, end_s = timing.bar_starts_s[section.start_bar], timing.bar_starts_s[end]
        ax.axvspan(start_s, end_s, color=f"C{labels.index(section.label) % 10}", alpha=0.07, zorder=0)
        ax.text(max(start_s, 0.0), 0.01, f" {section.label}", transform=ax.get_xaxis_transform(), fontsize=10, weight="bold", va="bottom")
    for change in controls.chords:
        time_s = float(timing.ticks_to_seconds(np.array([change.bar * TICKS_PER_BAR + change.beat * TICKS_PER_BEAT]))[0])
        if 0 <= time_s < controls.duration_s:
            ax.text(time_s, 0.99, change.label, transform=ax.get_xaxis_transform(), fontsize=6, rotation=90, va="top", color="0.25")


def plot_soundtrack(controls: VideoControls, notes_s: list[tuple[str, int, float, float]], path: Path, *, force: bool) -> Path:
    """Write a PNG of a video's controls above the piano roll of its soundtrack, with its sections and chords.

    Parameters
    ----------
    controls : VideoControls
        The controls the music was made for.
    notes_s : list of (family, pitch, start s, duration s)
        The soundtrack's notes in video time.
    path : Path
        Output PNG.
    force : bool
        Overwrite an existing file.
    """
    fig, (top, roll) = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [1, 2]})
    bar_times = controls.bar_start_s()
    top.bar(bar_times, controls.bar_density(), width=np.diff(_bar_edges_s(controls)), align="edge", color="0.8", label="bar density")
    levels = controls.beat_strength_level()
    forced = levels > 0
    if np.any(forced):
        top.stem(controls.beat_time_s()[forced], levels[forced], linefmt="tab:red", markerfmt="r.", basefmt=" ", label="beat strength")
    for cut in controls.scene_cuts_s:
        for ax in (top, roll):
            ax.axvline(cut, color="k", ls="--", lw=0.8)
    top.set_ylabel("density / strength")
    top.legend(loc="upper right", fontsize=8)
    for family, color in FAMILY_COLORS.items():
        rows = [n for n in notes_s if n[0] == family]
        if rows:
            _, pitches, starts, durations = zip(*rows, strict=True)
            roll.barh(pitches, durations, left=starts, height=0.8, color=color, label=family)
    _mark_bars([roll], bar_times)
    _mark_plan(roll, controls)
    roll.set_xlim(0, controls.duration_s)
    roll.set_xlabel("video time (s)")
    roll.set_ylabel("MIDI pitch")
    roll.legend(loc="upper right", fontsize=8, ncol=5)
    fig.suptitle(f"{controls.video_name()}  {controls.tempo_bpm:.1f} BPM" + (f"  key {controls.key}" if controls.key else ""))
    fig.tight_layout()
    with atomic_output(path, force=force) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return path
