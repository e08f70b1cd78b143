"""Procedurally drawn video clips with known rhythm: for the demo, the tests and benchmarks.

A clip is a list of :class:`Scene` objects separated by hard cuts. In each
scene a ball bounces between two walls, hitting one every ``bounce_s``
seconds (a visual beat), while a few soft shapes drift in the background.
The ground truth (impact and cut times) comes from the same description.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from cmtlite.outputs import atomic_output
from cmtlite.video.decode import require_av

try:
    import av
except ImportError:  # pragma: no cover - require_av() explains
    av = None

_CLOCK_HZ = 90_000  # timestamp clock of written videos (the MPEG clock; exact for 24, 25, 30, 60 fps)


@dataclass(frozen=True)
class Scene:
    """One shot of a procedural clip.

    Attributes
    ----------
    duration_s : float > 0
        Length of the shot in seconds.
    bounce_s : float > 0
        Seconds between two wall hits of the ball.
    travel : float in (0, 1]
        Distance between the walls as a fraction of the frame width; the
        ball's speed is ``travel / bounce_s`` frame widths per second.
    background : (int, int, int)
        Background colour, BGR 0..255.
    ball : (int, int, int)
        Ball colour, BGR 0..255.
    """

    duration_s: float
    bounce_s: float
    travel: float = 0.6
    background: tuple[int, int, int] = (40, 30, 30)
    ball: tuple[int, int, int] = (60, 200, 250)


def impact_times_s(scenes: Sequence[Scene]) -> np.ndarray:
    """Times (seconds) at which a ball hits a wall, over the whole clip."""
    times, start_s = [], 0.0
    for scene in scenes:
        k = np.arange(1, int(scene.duration_s / scene.bounce_s + 1e-9) + 1)
        hits = start_s + k * scene.bounce_s
        times.extend(hits[hits < start_s + scene.duration_s - 1e-6])
        start_s += scene.duration_s
    return np.asarray(times)


def cut_times_s(scenes: Sequence[Scene]) -> np.ndarray:
    """Times (seconds) of the hard cuts between scenes."""
    return np.cumsum([s.duration_s for s in scenes])[:-1]


def demo_scenes() -> list[Scene]:
    """The 20 s demo clip: calm, busy, fast and calm again, at 100 BPM (0.6 s impacts)."""
    return [
        Scene(duration_s=4.8, bounce_s=1.2, travel=0.3, background=(90, 60, 40), ball=(80, 180, 255)),
        Scene(duration_s=4.8, bounce_s=0.6, travel=0.4, background=(20, 40, 25), ball=(240, 200, 90)),
        Scene(duration_s=5.4, bounce_s=0.6, travel=0.6, background=(160, 110, 170), ball=(40, 90, 40)),
        Scene(duration_s=5.0, bounce_s=1.2, travel=0.25, background=(40, 45, 60), ball=(200, 120, 255)),
    ]


def _ball_x(t_s: float, scene: Scene) -> float:
    """Ball centre as a fraction of frame width at ``t_s`` seconds into the scene (triangle wave)."""
    phase = (t_s / scene.bounce_s) % 2.0
    along = phase if phase <= 1.0 else 2.0 - phase
    left = 0.5 - scene.travel / 2
    return left + scene.travel * along


def draw_frame(t_s: float, scene: Scene, *, scene_index: int, size: tuple[int, int]) -> np.ndarray:
    """One BGR frame, shape (height, width, 3), ``t_s`` seconds into ``scene``."""
    width, height = size
    frame = np.empty((height, width, 3), np.uint8)
    frame[:] = scene.background
    rng = np.random.default_rng(scene_index)
    for _ in range(4):  # slow drifting background shapes
        cx = (rng.uniform() + 0.02 * t_s * rng.uniform(-1, 1)) % 1.0
        cy = rng.uniform(0.1, 0.5)
        colour = tuple(int(c) for c in np.clip(np.asarray(scene.background) + rng.integers(20, 60, 3), 0, 255))
        cv2.circle(frame, (int(cx * width), int(cy * height)), int(rng.uniform(0.04, 0.1) * width), colour, -1)
    floor_y = int(0.8 * height)
    cv2.rectangle(frame, (0, floor_y), (width, height), tuple(int(c * 0.6) for c in scene.background), -1)
    radius = max(int(0.12 * height), 3)
    left = int((0.5 - scene.travel / 2) * width) - radius
    right = int((0.5 + scene.travel / 2) * width) + radius
    for wall_x in (left, right):
        cv2.rectangle(frame, (wall_x - 4, int(0.3 * height)), (wall_x, floor_y), (220, 220, 220), -1)
    centre = (int(_ball_x(t_s, scene) * width), floor_y - radius - int(0.05 * height))
    cv2.circle(frame, centre, radius, scene.ball, -1, lineType=cv2.LINE_AA)
    dark = tuple(int(c * 0.4) for c in scene.ball)
    cv2.circle(frame, centre, radius // 2, dark, max(radius // 6, 1), lineType=cv2.LINE_AA)  # texture for the flow
    cv2.line(frame, (centre[0], centre[1] - radius), (centre[0], centre[1] + radius), dark, max(radius // 8, 1))
    return frame


def scene_frames(scenes: Sequence[Scene], *, fps: float, size: tuple[int, int]) -> Iterator[tuple[float, np.ndarray]]:
    """Yield ``(time_s, bgr_frame)`` for a clip of ``scenes`` at a constant ``fps``."""
    start_s = 0.0
    for index, scene in enumerate(scenes):
        first, stop = int(round(start_s * fps)), int(round((start_s + scene.duration_s) * fps))
        for frame_index in range(first, stop):
            time_s = frame_index / fps
            yield time_s, draw_frame(time_s - start_s, scene, scene_index=index, size=size)
        start_s += scene.duration_s


def write_frames(
    path: Path,
    frames: Iterable[tuple[float, np.ndarray]],
    *,
    size: tuple[int, int],
    fps: float = 30.0,
    codec: str | None = None,
    force: bool = False,
) -> Path:
    """Encode ``(time_s, bgr_frame)`` pairs to a video file, timestamps kept (VFR allowed).

    Parameters
    ----------
    path : Path
        Output video (.mp4 or .mkv).
    frames : iterable of (float, np.ndarray [shape=(height, width, 3), dtype=uint8])
        Presentation time in seconds and BGR image of each frame, times increasing.
    size : (int, int)
        (width, height) in pixels.
    fps : float > 0
        Nominal frame rate in frames per second (default 30).
    codec : str or None
        Encoder name (default libx264, else mpeg4; use "ffv1" for odd sizes).
    force : bool
        Overwrite an existing file (default False).

    Returns
    -------
    Path
        The written file.
    """
    require_av()
    codec = codec or ("libx264" if "libx264" in av.codecs_available else "mpeg4")
    with atomic_output(Path(path), force=force) as tmp:
        container = av.open(str(tmp), mode="w")
        try:
            stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p" if codec in ("libx264", "mpeg4") else "yuv444p"
            stream.codec_context.time_base = Fraction(1, _CLOCK_HZ)
            stream.options = {"crf": "23", "preset": "veryfast"} if codec == "libx264" else {}
            for time_s, image in frames:
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts, frame.time_base = int(round(time_s * _CLOCK_HZ)), Fraction(1, _CLOCK_HZ)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        finally:
            container.close()
    return Path(path).absolute()


def write_clip(
    path: Path,
    scenes: Sequence[Scene],
    *,
    fps: float = 30.0,
    size: tuple[int, int] = (1280, 720),
    codec: str | None = None,
    force: bool = False,
) -> Path:
    """Render ``scenes`` at a constant frame rate to ``path`` (see :func:`write_frames`).

    Examples
    --------
    >>> write_clip(Path("clip.mp4"), demo_scenes(), size=(640, 360))  # doctest: +SKIP
    """
    frames = scene_frames(scenes, fps=fps, size=size)
    return write_frames(path, frames, size=size, fps=fps, codec=codec, force=force)
