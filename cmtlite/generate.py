"""Video -> soundtrack: analysis controls drive the sampler; the music is rendered and muxed back.

Controls (from a ``controls.json`` object, see ``cmtlite analyze``):

* bar density = the analysis' per-bar density + ``density_shift``, clipped to 0..16;
* beat strength = the analysis' per-beat level + ``strength_shift`` on beats
  with a visual beat (clipped to 1..16), and at least the strongest level on
  the beat nearest each scene cut; other beats are left to the model;
* beat-timing spans the grid's bars, which cover the whole video.

The grid starts at ``grid_start_s`` (<= 0), so the MIDI is shifted by it: its
time 0 is the video's first frame, and onsets land on the visual beats.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.io import wavfile

from cmtlite.constants import BEATS_PER_BAR, TICKS_PER_BEAT
from cmtlite.controls import load_calibration
from cmtlite.model import CPTransformer
from cmtlite.mux import mix_with_video, mux, video_duration_s
from cmtlite.outputs import atomic_output
from cmtlite.plots import plot_soundtrack
from cmtlite.render import SAMPLE_RATE, fit_length, loudness_lufs, normalize_loudness, render_midi
from cmtlite.sampler import FREE, Controls, generate_tokens
from cmtlite.tokens.codec import FAMILY_COL, Score, decode
from cmtlite.tokens.midi import write_midi
from cmtlite.tokens.vocab import FAMILIES, MAX_DENSITY, STRENGTH_CAP

GENERATION_BUDGET_S = 120.0  # sampling must finish within this
GENERATION_BUDGET_S_PER_VIDEO_S = 2.0  # ... plus this per second of video (it runs at ~0.1 s per video second)


@dataclass(frozen=True)
class Soundtrack:
    """Generated music for one video: tokens (T, fields), the score and where it sits in the video."""

    tokens: np.ndarray
    score: Score
    shift_s: float
    duration_s: float

    def notes_s(self) -> list[tuple[str, int, float, float]]:
        """(family, pitch, start s, duration s) of every note in video time, cut to the video."""
        tick_s = 60.0 / self.score.tempo_bpm / TICKS_PER_BEAT
        rows = []
        for family, pitch, start, duration in self.score.notes.tolist():
            start_s = self.shift_s + start * tick_s
            end_s = min(start_s + duration * tick_s, self.duration_s)
            if 0 <= start_s < self.duration_s:
                rows.append((FAMILIES[family], pitch, start_s, end_s - start_s))
        return rows


def video_controls(
    controls: dict[str, Any], *, density_shift: int = 0, strength_shift: int = 0, instruments: tuple[str, ...] = FAMILIES
) -> Controls:
    """Sampler controls from a ``controls.json`` object (see the module doc)."""
    density = np.array([bar["density"] for bar in controls["bars"]], int)
    levels = np.array([beat["strength_level"] for beat in controls["beats"]], int)
    n_bars = int(controls["n_bars"])
    strength = np.where(levels > 0, np.clip(levels + strength_shift, 1, STRENGTH_CAP), FREE)
    strongest = int(load_calibration().strength_to_level(np.array([1.0]))[0])
    beat_times = np.array([beat["time_s"] for beat in controls["beats"]], float)
    for cut_s in controls.get("scene_cuts_s", []):
        nearest = int(np.argmin(np.abs(beat_times - cut_s)))
        strength[nearest] = max(strength[nearest], np.clip(strongest + strength_shift, 1, STRENGTH_CAP))
    return Controls(
        n_bars=n_bars,
        bar_density=np.clip(density + density_shift, 0, MAX_DENSITY)[:n_bars],
        beat_strength=strength[: n_bars * BEATS_PER_BAR],
        instruments=instruments,
    )


def compose(
    model: CPTransformer,
    controls: dict[str, Any],
    *,
    density_shift: int = 0,
    strength_shift: int = 0,
    instruments: tuple[str, ...] = FAMILIES,
    seed: int = 0,
    temperature: float = 1.0,
    quiet: bool = True,
) -> Soundtrack:
    """The model's music for an analyzed video."""
    sampler_controls = video_controls(controls, density_shift=density_shift, strength_shift=strength_shift, instruments=instruments)
    budget_s = GENERATION_BUDGET_S + GENERATION_BUDGET_S_PER_VIDEO_S * float(controls["duration_s"])
    tokens = generate_tokens(model, sampler_controls, seed=seed, temperature=temperature, quiet=quiet, time_budget_s=budget_s)
    score = decode(tokens, tempo_bpm=float(controls["tempo_bpm"]))
    return Soundtrack(tokens=tokens, score=score, shift_s=float(controls["grid_start_s"]), duration_s=float(controls["duration_s"]))


def write_soundtrack_midi(track: Soundtrack, path: Path, *, families: tuple[str, ...] = FAMILIES) -> None:
    """The soundtrack's MIDI (only ``families``), aligned to the video and cut at its end."""
    keep = np.isin(track.score.notes[:, FAMILY_COL], [FAMILIES.index(f) for f in families])
    score = Score(notes=track.score.notes[keep], tempo_bpm=track.score.tempo_bpm, n_bars=track.score.n_bars)
    write_midi(score, path, shift_s=track.shift_s, end_s=track.duration_s)


def render_raw(
    track: Soundtrack, soundfont: Path, *, duration_s: float, fade_out_s: float, families: tuple[str, ...] = FAMILIES
) -> np.ndarray:
    """Audio (n, 2) of the soundtrack's ``families``, exactly ``duration_s`` long and faded out, not normalized."""
    with tempfile.TemporaryDirectory(prefix="cmtlite-") as tmp:
        midi = Path(tmp) / "soundtrack.mid"
        write_soundtrack_midi(track, midi, families=families)
        return fit_length(render_midi(midi, soundfont), duration_s, fade_out_s=fade_out_s)


def master(audio: np.ndarray, target_lufs: float) -> tuple[np.ndarray, float]:
    """(audio at ``target_lufs`` with true peak <= -1 dBTP, the loudness change in dB)."""
    before = loudness_lufs(audio)
    out = normalize_loudness(audio, target_lufs)
    after = loudness_lufs(out)
    return out, (after - before) if np.isfinite(before) and np.isfinite(after) else 0.0


def write_wav(audio: np.ndarray, path: Path, *, force: bool, float32: bool = False) -> None:
    """Write (n, 2) audio as a 44.1 kHz WAV: 16-bit PCM, or float32 (for stems that may exceed full scale)."""
    data = audio.astype(np.float32) if float32 else np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    with atomic_output(path, force=force) as tmp:
        wavfile.write(str(tmp), SAMPLE_RATE, data)


@dataclass(frozen=True)
class Outputs:
    """Files a soundtrack job writes (None: not wanted). ``stems`` is a folder of one WAV per family."""

    video: Path | None = None
    midi: Path | None = None
    wav: Path | None = None
    stems: Path | None = None
    plot: Path | None = None

    def files(self, families: tuple[str, ...]) -> list[Path]:
        """Every file path that will be written."""
        stems = [self.stems / f"{family}.wav" for family in families] if self.stems else []
        return [p for p in (self.video, self.midi, self.wav, self.plot) if p is not None] + stems

    def needs_audio(self) -> bool:
        """Whether anything is rendered."""
        return any(p is not None for p in (self.video, self.wav, self.stems))


@dataclass(frozen=True)
class MixOptions:
    """How the soundtrack sounds in the video: original audio mode (None: duck if the video has sound), fade, loudness."""

    original_audio: str | None = None
    fade_out_s: float = 2.0
    loudness_lufs: float = -16.0


def write_outputs(
    track: Soundtrack,
    controls: dict[str, Any],
    video: Path | None,
    outputs: Outputs,
    *,
    soundfont: Path | None,
    mix_options: MixOptions,
    families: tuple[str, ...],
    force: bool,
) -> list[Path]:
    """Render, master and write every requested output of a composed soundtrack; returns the paths written."""
    written = []
    if outputs.midi is not None:
        with atomic_output(outputs.midi, force=force) as tmp:
            write_soundtrack_midi(track, tmp)
        written.append(outputs.midi)
    if outputs.needs_audio():
        duration_s = video_duration_s(video) if outputs.video is not None else track.duration_s
        raw = render_raw(track, soundfont, duration_s=duration_s, fade_out_s=mix_options.fade_out_s)
        audio, gain_db = master(raw, mix_options.loudness_lufs)
        if outputs.wav is not None:
            write_wav(audio, outputs.wav, force=force)
            written.append(outputs.wav)
        if outputs.stems is not None:
            outputs.stems.mkdir(parents=True, exist_ok=True)
            for family in families:
                stem = render_raw(track, soundfont, duration_s=duration_s, fade_out_s=mix_options.fade_out_s, families=(family,))
                write_wav(stem * np.float32(10 ** (gain_db / 20)), outputs.stems / f"{family}.wav", force=force, float32=True)
                written.append(outputs.stems / f"{family}.wav")
        if outputs.video is not None:
            soundtrack = mix_with_video(audio, video, mix_options.original_audio, has_audio=bool(controls.get("has_audio")))
            mux(video, soundtrack, outputs.video, force=force)
            written.append(outputs.video)
    if outputs.plot is not None:
        plot_soundtrack(controls, track.notes_s(), outputs.plot, force=force)
        written.append(outputs.plot)
    return written
