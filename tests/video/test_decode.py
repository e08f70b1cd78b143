"""Streaming decode: timestamps, sizes, odd inputs."""

from __future__ import annotations

import numpy as np
import pytest

from cmtlite.errors import VideoReadError
from cmtlite.video.clips import demo_scenes, draw_frame, write_clip, write_frames
from cmtlite.video.decode import analysis_size, open_video, probe_video
from cmtlite.video.motion import measure_motion
from tests.conftest import SMALL


def test_probe_reports_size_rate_duration(bounce_clip):
    info = probe_video(bounce_clip)
    assert (info.width, info.height) == SMALL
    assert info.fps == pytest.approx(30.0, abs=0.01)
    assert info.duration_s == pytest.approx(10.8, abs=0.05)
    assert not info.has_audio


def test_frames_stream_with_increasing_times(bounce_clip):
    with open_video(bounce_clip) as video:
        times = [t for t, frame, colour in video.frames(size=(64, 36)) if frame.shape == (36, 64) and colour.shape == (4, 8, 3)]
    assert len(times) == 324 and times[0] == 0.0  # the frame decoded for the metadata is not lost
    assert np.all(np.diff(times) > 0)


def test_one_opening_gives_metadata_and_frames(bounce_clip, monkeypatch):
    import av

    opened = []
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    measure_motion_info = None
    with open_video(bounce_clip) as video:
        measure_motion_info = measure_motion(video).n_decoded, video.info.width
    assert measure_motion_info == (324, SMALL[0]) and len(opened) == 1


def test_odd_size_video(tmp_path):
    path = write_clip(tmp_path / "odd.mkv", demo_scenes()[:1], size=(333, 211), codec="ffv1")
    info = probe_video(path)
    assert (info.width, info.height) == (333, 211)
    assert analysis_size(333, 211, long_side_px=256)[0] == 256


def test_variable_frame_rate_keeps_real_times(tmp_path):
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.uniform(0.02, 0.06, 120))
    scene = demo_scenes()[1]
    frames = ((t, draw_frame(t, scene, scene_index=0, size=SMALL)) for t in times)
    path = write_frames(tmp_path / "vfr.mkv", frames, size=SMALL)
    with open_video(path) as video:
        motion = measure_motion(video)
    assert motion.times_s[-1] == pytest.approx(times[-1] - times[0], abs=0.002)
    assert np.all(np.diff(motion.times_s) > 0)


def test_portrait_video(tmp_path):
    path = write_clip(tmp_path / "portrait.mp4", demo_scenes()[:1], size=(180, 320))
    info = probe_video(path)
    assert (info.width, info.height) == (180, 320)
    assert analysis_size(180, 320, long_side_px=256) == (144, 256)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "no such file"), (b"", "empty file"), (b"hello, not a video\n" * 20, "not a readable video")],
)
def test_unreadable_inputs(tmp_path, content, message):
    path = tmp_path / "clip.mp4"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoReadError, match=message):
        probe_video(path)


def test_directory_is_not_a_video(tmp_path):
    with pytest.raises(VideoReadError, match="is a directory"):
        probe_video(tmp_path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_a_still_image_is_not_a_video(tmp_path, suffix):
    import cv2

    image = tmp_path / f"still{suffix}"
    cv2.imwrite(str(image), np.full((90, 160, 3), 120, np.uint8))
    renamed = tmp_path / "still.mp4"
    image.rename(renamed)
    with pytest.raises(VideoReadError, match="a still image"):
        probe_video(renamed)
