"""Per-frame motion: dense optical flow, its speed and directogram, and thumbnail differences.

Optical flow is OpenCV's DIS (ultrafast preset) on frames whose long side is
256 px. It was picked by measurement (README, "Analysis speed"): Farneback at
the same size ran at 75 frames/s on this 2-core machine, DIS at 470 frames/s,
and both give the same beats on the synthetic test clips.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from cmtlite.constants import ANALYSIS_LONG_SIDE_PX, DIRECTOGRAM_BINS, HELD_FRAME_MAX_DIFF, MAX_HOLD_S, THUMB_SIZE_PX
from cmtlite.errors import VideoReadError
from cmtlite.progress import progress_bar
from cmtlite.video.decode import VideoReader, analysis_size

_FLOW_POOL = 4  # the directogram is taken on flow averaged over 4x4 pixel cells


@dataclass(frozen=True)
class FrameMotion:
    """Motion measured on the analyzed frames of a video.

    Every decoded frame is analyzed except held frames: a frame (nearly)
    identical to the last analyzed one, as in animation shot on twos or a
    slideshow, is skipped for up to ``MAX_HOLD_S`` seconds, so that the flow
    measures real movement over the real time it took.

    Attributes
    ----------
    n_decoded : int
        Frames decoded, held frames included.
    times_s : np.ndarray [shape=(N,)]
        Times of the analyzed frames in seconds from the first frame, increasing.
    speed : np.ndarray [shape=(N,)]
        Mean optical-flow magnitude between analyzed frame i-1 and i, in frame
        diagonals per second (0 for the first frame).
    directogram : np.ndarray [shape=(N, DIRECTOGRAM_BINS)]
        Flow energy per direction (bin k points at angle 2*pi*k/bins, image
        coordinates) relative to the camera's motion, in frame diagonals per second.
    camera : np.ndarray [shape=(N, 2)]
        The camera's motion (x, y): the median flow of the frame, in frame
        diagonals per second (0 for the first frame). Kept apart so that
        shake can be told from a pan (:func:`~cmtlite.video.rhythm.scene_directogram`).
    thumb_diff : np.ndarray [shape=(N,)]
        Mean absolute difference of 64x36 gray thumbnails to the previous
        frame, 0..255 (0 for the first frame).
    colour : np.ndarray [shape=(N, 4, 8, 3), dtype=uint8]
        Colour layout of each analyzed frame: mean Y, U, V of 4 x 8 cells
        (:meth:`~cmtlite.video.decode.VideoReader.frames`).
    """

    n_decoded: int
    times_s: np.ndarray
    speed: np.ndarray
    directogram: np.ndarray
    camera: np.ndarray
    thumb_diff: np.ndarray
    colour: np.ndarray


def direction_basis(bins: int) -> np.ndarray:
    """(2, bins) unit vectors the flow is projected on."""
    angles = 2 * np.pi * np.arange(bins) / bins
    return np.stack([np.cos(angles), np.sin(angles)]).astype(np.float32)


class _FlowMeter:
    """Turns consecutive small frames into (speed, directogram, thumb_diff) rows."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
        self.diag_px = float(np.hypot(*size))
        self.pool_size = (max(size[0] // _FLOW_POOL, 1), max(size[1] // _FLOW_POOL, 1))
        self.basis = direction_basis(DIRECTOGRAM_BINS)

    def measure(self, prev: np.ndarray, gray: np.ndarray, dt_s: float) -> tuple[float, np.ndarray, np.ndarray]:
        """Speed, directogram relative to the camera, and the camera's motion between two frames ``dt_s`` seconds apart."""
        flow = self.dis.calc(prev, gray, None)  # (h, w, 2) pixels per frame
        scale = 1.0 / (self.diag_px * dt_s)
        speed = float(cv2.magnitude(flow[..., 0], flow[..., 1]).mean()) * scale
        pooled = cv2.resize(flow, self.pool_size, interpolation=cv2.INTER_AREA).reshape(-1, 2)
        camera = np.median(pooled, axis=0)
        directogram = np.maximum((pooled - camera) @ self.basis, 0.0).mean(axis=0) * scale
        return speed, directogram, camera * scale


def measure_motion(video: VideoReader, *, long_side_px: int = ANALYSIS_LONG_SIDE_PX, quiet: bool = True) -> FrameMotion:
    """Stream a video once and measure its motion frame by frame.

    Parameters
    ----------
    video : VideoReader
        The open video (:func:`cmtlite.video.decode.open_video`); its frames are consumed.
    long_side_px : int > 16
        Long side of the frames the flow runs on, in pixels (default 256).
    quiet : bool
        No progress bar (default True).

    Returns
    -------
    FrameMotion
        One row per analyzed frame.

    Raises
    ------
    VideoReadError
        No frame could be decoded.
    """
    info = video.info
    size = analysis_size(info.width, info.height, long_side_px=long_side_px)
    meter = _FlowMeter(size)
    times, speeds, grams, cameras, diffs, colours = [], [], [], [], [], []
    prev = prev_thumb = None
    n_decoded = 0
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # decoding owns the other core
    try:
        with progress_bar(info.n_frames_estimate or None, desc="analyze", unit="frame", quiet=quiet) as bar:
            for time_s, gray, colour in video.frames(size=size):
                n_decoded += 1
                bar.update()
                thumb = cv2.resize(gray, THUMB_SIZE_PX, interpolation=cv2.INTER_AREA)
                if prev is None:
                    speed, gram, camera, diff = 0.0, np.zeros(DIRECTOGRAM_BINS, np.float32), np.zeros(2, np.float32), 0.0
                else:
                    change = cv2.absdiff(thumb, prev_thumb)
                    diff = float(change.mean())
                    if int(change.max()) <= HELD_FRAME_MAX_DIFF and time_s - times[-1] < MAX_HOLD_S:
                        continue
                    speed, gram, camera = meter.measure(prev, gray, time_s - times[-1])
                times.append(time_s)
                speeds.append(speed)
                grams.append(gram)
                cameras.append(camera)
                diffs.append(diff)
                colours.append(colour)
                prev, prev_thumb = gray, thumb
    finally:
        cv2.setNumThreads(threads)
    if not times:
        msg = f"{info.path}: no frame could be decoded"
        raise VideoReadError(msg)
    return FrameMotion(
        n_decoded=n_decoded,
        times_s=np.asarray(times, np.float64),
        speed=np.asarray(speeds, np.float64),
        directogram=np.asarray(grams, np.float64),
        camera=np.asarray(cameras, np.float64),
        thumb_diff=np.asarray(diffs, np.float64),
        colour=np.asarray(colours, np.uint8),
    )
