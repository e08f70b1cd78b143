"""Shared fixtures and helpers: procedural clips with known rhythm, a tiny model, the CLI runner, broken inputs."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import miditoolkit
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from cmtlite.audio.mux import mux
from cmtlite.audio.render import SAMPLE_RATE, _bundled_soundfont
from cmtlite.cli import cli
from cmtlite.model import CONFIGS, CPTransformer, save_model
from cmtlite.tokens.codec import make_score
from cmtlite.video.clips import Scene, write_clip, write_frames
from cmtlite.video.decode import probe_video

SMALL = (320, 180)
SHARED_DIR = Path(__file__).resolve().parent.parent.parent / "shared"

# Three shots of a ball hitting a wall every 0.6 s (100 BPM), cut at 4.2 s and 7.8 s.
BOUNCE_SCENES = [
    Scene(duration_s=4.2, bounce_s=0.6, travel=0.45, background=(90, 60, 40)),
    Scene(duration_s=3.6, bounce_s=0.6, travel=0.55, background=(20, 40, 25), ball=(240, 200, 90)),
    Scene(duration_s=3.0, bounce_s=0.6, travel=0.4, background=(160, 110, 170), ball=(40, 90, 40)),
]


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="session")
def bounce_clip(clip_dir: Path) -> Path:
    return write_clip(clip_dir / "bounce.mp4", BOUNCE_SCENES, size=SMALL)


@pytest.fixture(scope="session")
def slow_fast_clip(clip_dir: Path) -> Path:
    """6 s of slow motion, then 6 s of fast motion, at the same wall rhythm."""
    scenes = [Scene(duration_s=6.0, bounce_s=1.2, travel=0.15), Scene(duration_s=6.0, bounce_s=1.2, travel=0.75)]
    return write_clip(clip_dir / "slow_fast.mp4", scenes, size=SMALL)


@pytest.fixture(scope="session")
def static_clip(clip_dir: Path) -> Path:
    still = np.full((SMALL[1], SMALL[0], 3), 128, np.uint8)
    still[60:120, 100:200] = (30, 200, 90)
    return write_frames(clip_dir / "static.mp4", ((i / 30, still) for i in range(150)), size=SMALL)


@pytest.fixture(scope="session")
def shared_videos() -> Path:
    videos = SHARED_DIR / "videos"
    if not videos.is_dir():
        pytest.skip("../shared/videos is not available")
    return videos


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A prepared corpus of 12 random eight-bar pieces (plain MIDI, no arranging)."""
    from cmtlite.tokens.corpus import prepare_corpus
    from cmtlite.tokens.midi import write_midi

    root = tmp_path_factory.mktemp("tiny_corpus")
    for i in range(12):
        write_midi(random_score(i), root / f"piece{i}.mid")
    prepare_corpus([root], root / "corpus", arrange="none", val_fraction=0.2, workers=1, quiet=True)
    return root / "corpus"


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_bad_input(result, *words):
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0]


def _audio_only(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        samples = (0.1 * np.sin(np.arange(44100) / 10)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(np.repeat(samples, 2, axis=0).reshape(1, -1), format="flt", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = 44100, 0, Fraction(1, 44100)
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def bad_video(kind: str, path: Path, clip: Path) -> Path:
    """A broken input of ``kind`` at ``path`` (an audio-only file gets the .m4a suffix); returns its path."""
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is a text file renamed to mp4\n")
    elif kind == "truncated":
        data = clip.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "audio_only":
        path = path.with_suffix(".m4a")
        _audio_only(path)
    return path


SMALL_SOUNDFONT = _bundled_soundfont()
needs_soundfont = pytest.mark.skipif(SMALL_SOUNDFONT is None, reason="pretty_midi's TimGM6mb.sf2 is missing")


@pytest.fixture(scope="session")
def model():
    torch.manual_seed(0)
    return CPTransformer(CONFIGS["tiny"]).eval()  # untrained: the grammar alone must hold


@pytest.fixture(scope="session")
def model_file(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(model, path)
    return path


def tone(duration_s: float, hz: float, level: float) -> np.ndarray:
    t = np.arange(round(duration_s * SAMPLE_RATE)) / SAMPLE_RATE
    wave = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.stack([wave, wave], axis=1)


@pytest.fixture(scope="session")
def sound_clip(bounce_clip, clip_dir):
    """The bounce clip with a 220 Hz tone as its own audio for its first half, silence after."""
    duration = probe_video(bounce_clip).duration_s
    audio = tone(duration, 220, 0.3)
    audio[len(audio) // 2 :] = 0
    path = clip_dir / "bounce_sound.mp4"
    mux(bounce_clip, audio, path, force=True)
    return path


def packets(path):
    with av.open(str(path)) as container:
        return [(bytes(p), p.pts, p.dts) for p in container.demux(container.streams.video[0]) if p.dts is not None]


def audio_duration_s(path):
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return float(stream.duration * stream.time_base)


needs_mma = pytest.mark.skipif(shutil.which("mma") is None, reason="mma is not installed")

BEAT_S = 60 / 90
OFFSET_S = 0.3
PROGRESSION = ["C:maj", "A:min7", "F:maj/3", "G:sus4(b7)"]


def write_song(folder: Path) -> Path:
    """A POP909-like song at 90 BPM whose beats start 0.3 s in: melody on every beat, chords every bar."""
    folder.mkdir(parents=True, exist_ok=True)
    midi = miditoolkit.MidiFile(ticks_per_beat=480)
    midi.tempo_changes = [miditoolkit.TempoChange(90.0, 0)]
    melody = miditoolkit.Instrument(0, name="MELODY")
    piano = miditoolkit.Instrument(0, name="PIANO")
    bridge = miditoolkit.Instrument(0, name="BRIDGE")
    tick_of = lambda s: round(s / BEAT_S * 480)  # noqa: E731
    lines = []
    for bar in range(8):
        start = OFFSET_S + 4 * bar * BEAT_S
        lines.append(f"{start:.6f}\t{start + 4 * BEAT_S:.6f}\t{PROGRESSION[bar % 4]}")
        for beat in range(4):
            t = start + beat * BEAT_S
            melody.notes.append(miditoolkit.Note(80, 72 + beat, tick_of(t), tick_of(t + BEAT_S / 2)))
            bridge.notes.append(miditoolkit.Note(80, 90, tick_of(t), tick_of(t + BEAT_S / 2)))
        piano.notes.append(miditoolkit.Note(70, 48, tick_of(start), tick_of(start + 2 * BEAT_S)))
    midi.instruments = [melody, bridge, piano]
    midi.dump(str(folder / "song.mid"))
    (folder / "chord_midi.txt").write_text("\n".join(["0.000000\t0.300000\tN", *lines]) + "\n")
    return folder / "song.mid"


EDGE_NOTES = [
    [0, 36, 0, 1],  # drums on the first tick
    [1, 0, 0, 16],  # pitch 0
    [1, 127, 0, 16],  # pitch 127, a chord across families on tick 0
    [3, 40, 0, 8],
    [4, 60, 63, 64],  # the last tick of bar 3, longest duration
    [2, 64, 20, 4],
    [2, 64, 22, 4],  # overlapping same-pitch notes
]


def random_score(seed: int, n_bars: int = 8):
    rng = np.random.default_rng(seed)
    n = 20 * n_bars
    notes = np.stack([rng.integers(0, 5, n), rng.integers(30, 90, n), rng.integers(0, 16 * n_bars, n), rng.integers(1, 9, n)], axis=1)
    return make_score(notes, tempo_bpm=100 + seed)[0]


def minimal_controls(n_bars: int = 2, **extra) -> dict:
    """A hand-written controls.json: only the required keys."""
    return {
        "tempo_bpm": 120.0,
        "duration_s": 4.0,
        "grid_start_s": -0.25,
        "n_bars": n_bars,
        "bars": [{"start_s": -0.25 + 2 * b, "density": 4} for b in range(n_bars)],
        "beats": [{"time_s": -0.25 + 0.5 * k, "strength_level": k % 3} for k in range(4 * n_bars)],
        **extra,
    }


def write_tracks(path: Path, tracks: list[tuple[str, int, bool, list[tuple]]], *, markers: tuple[tuple[float, str], ...] = ()) -> Path:
    """A MIDI file at 120 BPM (480 ticks per beat): tracks of (name, GM program, is drum, notes), a note
    (pitch, start beat, end beat[, velocity = 90]); markers (beat, text) such as ``chord C:maj`` or ``section A``."""
    midi = miditoolkit.MidiFile(ticks_per_beat=480)
    midi.tempo_changes = [miditoolkit.TempoChange(120.0, 0)]
    for name, program, is_drum, notes in tracks:
        track = miditoolkit.Instrument(program, is_drum=is_drum, name=name)
        track.notes = [miditoolkit.Note(int((note[3:] or (90,))[0]), note[0], round(note[1] * 480), round(note[2] * 480)) for note in notes]
        midi.instruments.append(track)
    midi.markers = [miditoolkit.Marker(text, round(beat * 480)) for beat, text in markers]
    midi.dump(str(path))
    return path


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory):
    """(python, site-packages, checkout root) of a fresh venv with cmtlite installed from its wheel (`pip wheel .`, not
    editable), built from a copy of the checkout so it stays clean; the dependencies are this venv's."""
    import subprocess
    import sys
    import sysconfig
    import venv

    tmp = tmp_path_factory.mktemp("wheel")
    root, source = Path(__file__).resolve().parent.parent, tmp / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, source / name)
    for name in ("cmtlite", "models"):
        shutil.copytree(root / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "--no-build-isolation", "-v", "-w", str(wheels)]
    built = subprocess.run(build, check=True, capture_output=True, text=True, cwd=tmp)  # noqa: S603
    warnings = [line for line in (built.stdout + built.stderr).splitlines() if "Warning" in line and "setuptools" in line.lower()]
    assert not warnings, warnings  # no deprecated license table, no package left out of `packages`
    (wheel,) = wheels.glob("cmtlite-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, with_pip=False)
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the dependencies of this venv, not its cmtlite
    install = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, capture_output=True, cwd=tmp)  # noqa: S603
    return str(env_dir / "bin" / "python"), site, root


# Held-out "style" clips: none of the analyzer's settings were tuned on the package's own bouncing-ball clips' look.
@dataclass(frozen=True)
class StyleClip:
    """A square moving back and forth on its own background: a bounce (constant speed, sudden reversals) or a pendulum.

    ``speeds_px_s`` holds one speed per leg block: the bounce's speed, the pendulum's peak speed, each for ``block_s``
    seconds (a leg straddling two blocks takes the first). Turns (the truth) fall every ``period_s`` seconds.
    """

    motion: str = "bounce"  # or "pendulum"
    period_s: float = 0.6
    speeds_px_s: tuple[float, ...] = (120.0, 520.0)
    block_s: float = 6.0
    size: tuple[int, int] = (640, 360)
    fps: float = 30.0
    square_px: int = 40
    background: str = "stripes"  # "stripes", "flat", "checker" or "texture"
    noise: float = 0.0  # sigma of per-pixel Gaussian noise, 0..255
    shake_px: float = 0.0  # sigma of a random whole-frame jitter, pixels
    vertical: bool = False  # move up and down instead of left and right
    seed: int = 0

    @property
    def duration_s(self) -> float:
        return self.block_s * len(self.speeds_px_s)

    def turns_s(self) -> np.ndarray:
        k = np.arange(1, int(self.duration_s / self.period_s + 1e-9))
        return k * self.period_s

    def offsets_px(self, times_s: np.ndarray) -> np.ndarray:
        """The square's displacement from its start along its axis at ``times_s``, pixels."""
        legs = np.floor(times_s / self.period_s + 1e-9).astype(int)
        n_legs = int(self.duration_s / self.period_s) + 2
        block = np.minimum((np.arange(n_legs) * self.period_s / self.block_s + 1e-9).astype(int), len(self.speeds_px_s) - 1)
        speed = np.asarray(self.speeds_px_s)[block]
        sign = np.where(np.arange(n_legs) % 2 == 0, 1.0, -1.0)
        travel = sign * speed * self.period_s if self.motion == "bounce" else sign * speed * self.period_s * 2 / np.pi
        starts = np.concatenate([[0.0], np.cumsum(travel)])
        into = times_s / self.period_s - legs
        along = into if self.motion == "bounce" else (1 - np.cos(np.pi * into)) / 2
        return starts[legs] + travel[legs] * along

    def frames(self):
        width, height = self.size
        rng = np.random.default_rng(self.seed)
        yy, xx = np.mgrid[0:height, 0:width]
        if self.background == "stripes":
            base = np.where((xx // 16 + yy // 64) % 2 == 0, 90, 150)
        elif self.background == "checker":
            base = np.where((xx // 24 + yy // 24) % 2 == 0, 70, 170)
        elif self.background == "texture":  # blurred noise: texture without a period
            base = 128 + 60 * cv2.GaussianBlur(rng.normal(0, 1, (height, width)), (0, 0), 6) / 0.05
        else:
            base = np.full((height, width), 110)
        pad = 16
        canvas = np.pad(np.stack([base, base * 0.8 + 20, base * 0.6 + 40], axis=-1), ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
        times = np.arange(int(round(self.duration_s * self.fps))) / self.fps
        offsets = self.offsets_px(times)
        span = offsets.max() - offsets.min()
        long_side = height if self.vertical else width
        start = (long_side - span) / 2 - offsets.min()
        half = self.square_px // 2
        for t, off in zip(times, offsets, strict=True):
            image = canvas.copy()
            along, across = int(round(start + off)) + pad, (width if self.vertical else height) // 2 + pad
            cy, cx = (along, across) if self.vertical else (across, along)
            image[cy - half : cy + half, cx - half : cx + half] = (40, 200, 240)
            image[cy - half // 2 : cy + half // 2, cx - 2 : cx + 2] = (20, 60, 90)  # texture for the flow
            dy, dx = (rng.normal(0, self.shake_px, 2).round().astype(int) if self.shake_px else (0, 0))
            frame = image[pad + dy : pad + dy + height, pad + dx : pad + dx + width]
            if self.noise:
                frame = frame + rng.normal(0, self.noise, frame.shape)
            yield float(t), np.clip(frame, 0, 255).astype(np.uint8)

    def write(self, path: Path) -> Path:
        return write_frames(path, self.frames(), size=self.size, fps=self.fps)


def f_measure(found: np.ndarray, truth: np.ndarray, tolerance_s: float = 0.07) -> float:
    """Beat F-measure: a found beat within ``tolerance_s`` of a true one counts for precision, and vice versa."""
    if not len(found) or not len(truth):
        return 0.0
    recall = np.mean([np.abs(found - t).min() <= tolerance_s for t in truth])
    precision = np.mean([np.abs(truth - f).min() <= tolerance_s for f in found])
    return 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)


def recall(found: np.ndarray, truth: np.ndarray, tolerance_s: float = 0.07) -> float:
    return float(np.mean([len(found) > 0 and np.abs(found - t).min() <= tolerance_s for t in truth]))
