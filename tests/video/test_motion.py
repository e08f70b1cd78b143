"""Per-frame motion: speed follows how fast things move; held frames are skipped; cuts show in thumbnails."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.video.clips import Scene, write_clip
from cmtlite.video.decode import open_video
from cmtlite.video.motion import measure_motion
from tests.conftest import SMALL


def _motion(path):
    with open_video(path) as video:
        return measure_motion(video)


def test_faster_travel_reads_as_higher_speed(tmp_path):
    slow = _motion(write_clip(tmp_path / "slow.mp4", [Scene(duration_s=3.0, bounce_s=1.0, travel=0.1)], size=SMALL))
    fast = _motion(write_clip(tmp_path / "fast.mp4", [Scene(duration_s=3.0, bounce_s=1.0, travel=0.6)], size=SMALL))
    assert np.median(fast.speed[1:]) > 3 * np.median(slow.speed[1:])
    assert slow.directogram.shape == (len(slow.times_s), 8) and (slow.directogram >= 0).all()


def test_a_still_video_has_no_motion_and_held_frames_are_skipped(static_clip):
    motion = _motion(static_clip)
    assert motion.n_decoded == 150
    assert len(motion.times_s) < motion.n_decoded  # held frames skipped, at most MAX_HOLD_S apart
    assert np.diff(motion.times_s).max() == pytest.approx(0.25, abs=0.04)
    assert motion.speed.max() < 1e-3 and motion.thumb_diff.max() < 1.0


def test_cuts_stand_out_in_the_thumbnail_difference(bounce_clip):
    motion = _motion(bounce_clip)
    top_two = np.sort(motion.times_s[np.argsort(motion.thumb_diff)[-2:]])
    np.testing.assert_allclose(top_two, [4.2, 7.8], atol=0.05)
