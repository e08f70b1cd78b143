"""Render stage: MIDI -> stereo audio with FluidSynth (in-process), trimmed, faded, mastered and written as WAV.

Audio arrays are float32, shape (n_samples, 2), at ``SAMPLE_RATE`` Hz.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import mido
import numpy as np
import pyloudnorm
from scipy.io import wavfile
from scipy.ndimage import maximum_filter1d, minimum_filter1d, uniform_filter1d
from scipy.signal import resample_poly

from cmtlite.constants import REPO_ROOT
from cmtlite.errors import ConfigError, MidiReadError
from cmtlite.outputs import atomic_output, check_outputs

SAMPLE_RATE = 44100
SOUNDFONT_ENV = "CMTLITE_SOUNDFONT"
SOUNDFONT_DIR = REPO_ROOT / "soundfonts"
SYSTEM_SOUNDFONTS = (Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"), Path("/usr/share/sounds/sf2/TimGM6mb.sf2"))
MAX_RENDER_S = 3 * 3600  # longer MIDI files are refused
TAIL_S = 2.0  # rendered after the last event so releases and reverb ring out
TRUE_PEAK_DBTP = -1.0
_LIMITER_WINDOW_S = 0.005
_LIMITER_RELEASE_S = 0.05


def _bundled_soundfont() -> Path | None:
    try:
        import pretty_midi
    except ImportError:
        return None
    path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    return path if path.is_file() else None


def check_soundfont(path: Path) -> Path:
    """``path`` if it is a readable SoundFont 2 file (RIFF/sfbk header).

    Raises
    ------
    ConfigError
        Missing, unreadable or not a SoundFont.
    """
    try:
        with Path(path).open("rb") as fh:
            header = fh.read(12)
    except OSError as err:
        msg = f"soundfont {path}: cannot read it ({err.strerror or err})"
        raise ConfigError(msg) from err
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        msg = f"soundfont {path}: not a SoundFont 2 file"
        raise ConfigError(msg)
    return Path(path)


def resolve_soundfont(explicit: Path | None = None) -> Path:
    """The soundfont to use: ``explicit``, ``$CMTLITE_SOUNDFONT``, ``soundfonts/*.sf2``, Debian's, pretty_midi's.

    Raises
    ------
    ConfigError
        The chosen file is not a soundfont, or none is found.
    """
    if explicit is not None:
        return check_soundfont(explicit)
    if os.environ.get(SOUNDFONT_ENV):
        return check_soundfont(Path(os.environ[SOUNDFONT_ENV]))
    candidates = [*sorted(SOUNDFONT_DIR.glob("*.sf2")), *SYSTEM_SOUNDFONTS, _bundled_soundfont()]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return check_soundfont(candidate)
    msg = "no soundfont found: run `make install` (fluid-soundfont-gm), or pass --soundfont / set CMTLITE_SOUNDFONT"
    raise ConfigError(msg)


def midi_events(path: Path) -> list[tuple[float, mido.Message]]:
    """(time in s, channel message) of every channel message of a MIDI file, in time order.

    Raises
    ------
    MidiReadError
        Unreadable file, or longer than ``MAX_RENDER_S``.
    """
    try:
        midi = mido.MidiFile(str(path))
        events, now = [], 0.0
        for message in midi:
            now += message.time
            if not message.is_meta and hasattr(message, "channel"):
                events.append((now, message))
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as err:
        msg = f"{path}: not a readable MIDI file ({err})"
        raise MidiReadError(msg) from err
    if events and events[-1][0] > MAX_RENDER_S:
        msg = f"{path}: lasts {events[-1][0] / 3600:.1f} h; cmtlite renders at most {MAX_RENDER_S // 3600} h"
        raise MidiReadError(msg)
    return events


def _write_float(synth: object, n: int, left: np.ndarray, right: np.ndarray, offset: int) -> None:
    import fluidsynth

    fluidsynth._fl.fluid_synth_write_float(  # noqa: SLF001 - pyfluidsynth wraps only the int16 writer
        ctypes.c_void_p(synth.synth),
        ctypes.c_int(n),
        left.ctypes.data_as(ctypes.c_void_p),
        ctypes.c_int(offset),
        ctypes.c_int(1),
        right.ctypes.data_as(ctypes.c_void_p),
        ctypes.c_int(offset),
        ctypes.c_int(1),
    )


def render_midi(path: Path, soundfont: Path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Audio (n, 2) float32 of a MIDI file, in-process with FluidSynth, ``TAIL_S`` past its last event.

    Notes left on at the end (no note-off) simply stop there: rendering time
    is bounded by the file's last event.
    """
    import fluidsynth

    events = midi_events(path)
    end_s = (events[-1][0] if events else 0.0) + TAIL_S
    n_total = int(round(end_s * sample_rate))
    left, right = np.zeros(n_total, np.float32), np.zeros(n_total, np.float32)
    synth = fluidsynth.Synth(gain=0.5, samplerate=float(sample_rate))
    try:
        if synth.sfload(str(soundfont)) == -1:
            msg = f"soundfont {soundfont}: FluidSynth cannot load it"
            raise ConfigError(msg)
        done = 0
        for time_s, message in events:
            target = min(int(round(time_s * sample_rate)), n_total)
            if target > done:
                _write_float(synth, target - done, left, right, done)
                done = target
            _send(synth, message)
        if n_total > done:
            _write_float(synth, n_total - done, left, right, done)
    finally:
        synth.delete()
    return np.stack([left, right], axis=1)


def _send(synth: object, message: mido.Message) -> None:
    kind, channel = message.type, message.channel
    if kind == "note_on" and message.velocity > 0:
        synth.noteon(channel, message.note, message.velocity)
    elif kind in {"note_on", "note_off"}:
        synth.noteoff(channel, message.note)
    elif kind == "program_change":
        synth.program_change(channel, message.program)
    elif kind == "control_change":
        synth.cc(channel, message.control, message.value)
    elif kind == "pitchwheel":
        synth.pitch_bend(channel, message.pitch)


def fit_length(audio: np.ndarray, duration_s: float, *, fade_out_s: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` cut or zero-padded to exactly round(duration_s * rate) samples, with a linear fade-out."""
    n = int(round(duration_s * sample_rate))
    out = np.zeros((n, audio.shape[1]), np.float32)
    out[: min(n, len(audio))] = audio[:n]
    fade = min(int(round(fade_out_s * sample_rate)), n)
    if fade > 0:
        out[n - fade :] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)[:, None]
    return out


def true_peak_db(audio: np.ndarray) -> float:
    """Approximate true peak in dBTP: the sample peak of a 4x oversampled signal."""
    if audio.size == 0:
        return -np.inf
    peak = float(np.max(np.abs(resample_poly(audio, 4, 1, axis=0))))
    return 20 * np.log10(peak) if peak > 0 else -np.inf


def limit(audio: np.ndarray, ceiling_db: float, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """A peak limiter: gain follows the inverse of the local peak, with a short release, so no sample exceeds the ceiling."""
    ceiling = 10 ** (ceiling_db / 20)
    peak = maximum_filter1d(np.max(np.abs(audio), axis=1), size=max(int(_LIMITER_WINDOW_S * sample_rate), 1))
    gain = np.minimum(1.0, ceiling / np.maximum(peak, 1e-9))
    release = max(int(_LIMITER_RELEASE_S * sample_rate), 1)
    gain = np.minimum(gain, uniform_filter1d(minimum_filter1d(gain, size=release), size=release))
    return (audio * gain[:, None]).astype(np.float32)


def loudness_lufs(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> float:
    """Integrated loudness (EBU R128) in LUFS; -inf for silence or under the 400 ms meter block."""
    if len(audio) < int(0.4 * sample_rate) or not np.any(audio):
        return float("-inf")
    return float(pyloudnorm.Meter(sample_rate).integrated_loudness(audio))


def normalize_loudness(audio: np.ndarray, target_lufs: float, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` at ``target_lufs`` integrated loudness (EBU R128) with true peak <= -1 dBTP.

    Silence and clips shorter than the 400 ms meter block are returned unchanged.
    """
    return _normalize(audio, target_lufs, sample_rate=sample_rate)[0]


def _normalize(audio: np.ndarray, target_lufs: float, *, sample_rate: int) -> tuple[np.ndarray, float, float]:
    """(normalized audio, loudness before, loudness after) in LUFS; each loudness is measured once."""
    out, before = audio, None
    for _ in range(3):  # limiting lowers loudness a little: measure again
        loudness = loudness_lufs(out, sample_rate=sample_rate)
        before = loudness if before is None else before
        if not np.isfinite(loudness) or abs(loudness - target_lufs) < 0.1:
            return out, before, loudness
        out = (out * 10 ** ((target_lufs - loudness) / 20)).astype(np.float32)
        out = limit(out, TRUE_PEAK_DBTP - 0.5, sample_rate=sample_rate)
    return out, before, loudness_lufs(out, sample_rate=sample_rate)


def master(audio: np.ndarray, target_lufs: float) -> tuple[np.ndarray, float]:
    """(audio at ``target_lufs`` with true peak <= -1 dBTP, the loudness change in dB; 0 for silence)."""
    out, before, after = _normalize(audio, target_lufs, sample_rate=SAMPLE_RATE)
    return out, (after - before) if np.isfinite(before) and np.isfinite(after) else 0.0


def write_wav(audio: np.ndarray, path: Path, *, force: bool, float32: bool = False) -> None:
    """Write (n, 2) audio as a 44.1 kHz WAV atomically: 16-bit PCM, or float32 (for stems that may exceed full scale)."""
    data = audio.astype(np.float32) if float32 else np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    with atomic_output(path, force=force) as tmp:
        wavfile.write(str(tmp), SAMPLE_RATE, data)


def render_to_wav(midi: Path, output: Path, *, soundfont: Path | None = None, loudness_lufs: float = -16.0, force: bool = False) -> Path:
    """``cmtlite render``: a MIDI file rendered, mastered to ``loudness_lufs`` and written as a WAV.

    Raises
    ------
    OutputError
        ``output`` is the MIDI file or the soundfont, or exists without ``force``.
    """
    check_outputs((output,), inputs=(midi, soundfont), force=force)
    sf2 = resolve_soundfont(soundfont)
    check_outputs((output,), inputs=(sf2,), force=force)
    audio, _ = master(render_midi(midi, sf2), loudness_lufs)
    write_wav(audio, output, force=force)
    return Path(output)
