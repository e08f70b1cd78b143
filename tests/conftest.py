"""Shared fixtures: small procedural clips with known rhythm, written once per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cmtlite.clips import Scene, write_clip, write_frames

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
    from tests.tokens.test_corpus import random_score

    root = tmp_path_factory.mktemp("tiny_corpus")
    for i in range(12):
        write_midi(random_score(i), root / f"piece{i}.mid")
    prepare_corpus([root], root / "corpus", arrange="none", val_fraction=0.2, workers=1, quiet=True)
    return root / "corpus"
