"""Defaults shared by the pipeline stages. Units are in the names or the comments."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

# Musical grid: 4/4 with 16th-note ticks.
TICKS_PER_BEAT = 4
BEATS_PER_BAR = 4
TICKS_PER_BAR = TICKS_PER_BEAT * BEATS_PER_BAR

# Tempo search range and fallback.
MIN_TEMPO_BPM = 70.0
MAX_TEMPO_BPM = 150.0
DEFAULT_TEMPO_BPM = 100.0  # used when a video has no periodic motion ...
DEFAULT_TEMPO_AROUSAL_BPM = 30.0  # ... moved by this times (arousal - 0.5): calm pictures slower, lively ones faster
USER_TEMPO_RANGE_BPM = (30.0, 300.0)  # what --tempo accepts

# User options of the soundtrack.
SHIFT_RANGE = (-16, 16)  # density / strength shifts: the codec's scales are 0..16
FADE_OUT_RANGE_S = (0.0, 60.0)
LOUDNESS_RANGE_LUFS = (-70.0, -1.0)

MUX_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")  # containers the muxed video may have (AAC audio)

# Video analysis.
ANALYSIS_LONG_SIDE_PX = 256  # optical flow runs on frames scaled so the long side is this
THUMB_SIZE_PX = (64, 36)  # (width, height) of the thumbnails compared for scene cuts
COLOUR_LAYOUT_PX = (8, 4)  # (columns, rows) of the colour layout kept per frame: mood and shot similarity
DIRECTOGRAM_BINS = 8  # flow directions, 45 degrees apart
DECELERATION_SMOOTH_S = 0.05  # Gaussian sigma over time, seconds: tames frame jitter (a slow drift's stick and slip)
MIN_BEAT_GAP_S = 0.25  # visual beats closer than this are merged
BEAT_WINDOW_S = 1.0  # half-width of the window for the adaptive beat threshold
BEAT_THRESHOLD_MADS = 4.0  # a beat stands this many MADs above the local median
BEAT_MIN_SALIENCY = 0.001  # absolute floor, in frame diagonals per second (sensor noise on a still shot)
BEAT_MIN_LEVEL = 0.3  # ... and at least this fraction of the local motion level: a reversal scores about 1, at any speed
FLOW_GLITCH_S = 0.025  # half-width of the median filter over time that drops one-frame flow glitches (1 frame at 30 fps)
REVERSAL_WINDOW_S = 0.2  # a reversal compares the motion over this long before a frame with the motion after it
CAMERA_MIN_SPEED = 0.02  # ... and the steady camera motion below this (frame diagonals per second) is left-over shake
CAMERA_SHAKE_MIN_FPS = 20.0  # ... at lower frame rates the camera's jumps are the footage's own rhythm, kept
CAMERA_SMOOTH_S = 0.1  # sigma of the Gaussian that tells a camera's pan (kept) from its shake (dropped), seconds
MOTION_LEVEL_WINDOW_S = 0.5  # half-width of the window the local motion level is averaged over
REGULAR_BEAT_MADS = 2.0  # a weak peak on the fitted periodic grid needs only this many local MADs ...
REGULAR_BEAT_MIN_LEVEL = 0.15  # ... and this fraction of the local motion level
HELD_FRAME_MAX_DIFF = 6  # a frame whose thumbnail differs from the last analyzed one by at most this (0..255) anywhere
# is a held frame (animation on twos, a slideshow): skipped; a small slow object still moves pixels by more
MAX_HOLD_S = 0.25  # ... but never more than this long, so the analysis keeps its time resolution
CUT_WINDOW_FRAMES = 10  # neighbours on each side for the adaptive cut threshold
CUT_MIN_DIFF = 12.0  # mean absolute thumbnail difference (0..255) a cut must exceed
CUT_MEDIAN_RATIO = 3.0  # ... and this multiple of the local median difference
CUT_MEDIAN_OFFSET = 5.0  # ... plus this offset (0..255)
TEMPO_MIN_CONFIDENCE = 0.15  # normalized autocorrelation below which tempo falls back
TEMPO_MIN_BEATS = 4  # fewer visual beats than this: tempo falls back
PHASE_TOLERANCE_S = 0.04  # width of the Gaussian that scores grid-beat alignment
DEFAULT_VARIATION = 0.3  # how much a returning section differs from its first time (0..1): still heard as the same theme
HIT_MIN_STRENGTH = 0.5  # visual beats at least this strong (0..1) are hit points: the music must land on them

# The shipped model, its card and the calibration: the top-level models/ folder, installed as the package
# data of ``cmtlite.models`` (pyproject.toml maps it), so they are found in a checkout and in a wheel alike.
REPO_ROOT = Path(__file__).resolve().parent.parent  # a checkout's root: soundfonts/ and ../shared live beside it
MODELS_DIR = Path(str(resources.files("cmtlite.models")))
CALIBRATION_PATH = MODELS_DIR / "calibration.json"
PROGRESSIONS_PATH = MODELS_DIR / "progressions.json"  # the chord progressions mined from POP909
MODEL_PATH = MODELS_DIR / "cmtlite-small.safetensors"  # the shipped CP Transformer
MODEL_ENV = "CMTLITE_MODEL"  # environment variable naming another default model file
