"""Streaming video decode with PyAV: one small grayscale frame at a time.

Frames are decoded in a background thread and handed over through a bounded
queue, so memory does not grow with the video's length and decoding overlaps
with the optical flow on the two cores of a small machine.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from cmtlite.constants import COLOUR_LAYOUT_PX
from cmtlite.errors import VideoReadError

try:
    import av

    _HAS_AV = True
except ImportError:  # pragma: no cover - av is a hard dependency of the package
    _HAS_AV = False

_PREFETCH_FRAMES = 32
# What the analysis does not need from an H.264 decoder: the in-loop deblocking filter smooths block edges the
# 256 px flow never sees (mean luma change 0.7 of 255 on 720p H.264), and "fast" skips spec-exact corner cases:
# about a fifth of the decoding time. (VP9 ignores the option; on VP8 it changes the picture more, 2.6 of 255,
# enough to lose a faint cut, so other codecs decode as they are.)
_ANALYSIS_DECODER_OPTIONS = {"h264": {"skip_loop_filter": "all", "flags2": "+fast"}}
_COLOUR_SAMPLES_PX = 64  # chroma columns sampled for the colour layout
_LUMA_FIRST_FORMATS = ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "gray")


@dataclass(frozen=True)
class VideoInfo:
    """What the container says about a video, before decoding it.

    Attributes
    ----------
    path : Path
        The video file, absolute.
    width, height : int
        Display size in pixels, after rotation metadata is applied.
    fps : float
        Average frame rate in frames per second (the stream's guess for VFR).
    duration_s : float
        Duration of the video stream in seconds (0 when the container gives none).
    n_frames_estimate : int
        Frame count the container reports or ``duration_s * fps``; a guess.
    has_audio : bool
        Whether the file has an audio stream.
    codec : str
        Name of the video codec.
    """

    path: Path
    width: int
    height: int
    fps: float
    duration_s: float
    n_frames_estimate: int
    has_audio: bool
    codec: str


def require_av() -> None:
    """Raise ImportError unless PyAV is installed."""
    if not _HAS_AV:
        msg = "PyAV is needed to read and write videos: pip install av"
        raise ImportError(msg)


def _check_file(path: Path) -> None:
    if not path.exists():
        msg = f"{path}: no such file"
        raise VideoReadError(msg)
    if path.is_dir():
        msg = f"{path}: is a directory, not a video"
        raise VideoReadError(msg)
    if path.stat().st_size == 0:
        msg = f"{path}: empty file (0 bytes)"
        raise VideoReadError(msg)


def _open(path: Path) -> av.container.InputContainer:
    _check_file(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as err:
        msg = f"{path}: not a readable video ({getattr(err, 'strerror', None) or err})"
        raise VideoReadError(msg) from err
    if not container.streams.video:
        container.close()
        msg = f"{path}: has no video stream"
        raise VideoReadError(msg)
    if container.format.name == "image2" or container.format.name.endswith("_pipe"):
        name = container.format.name
        container.close()
        msg = f"{path}: a still image ({name}), not a video"
        raise VideoReadError(msg)
    return container


def _first_frame(decoder: Iterator[av.VideoFrame], path: Path) -> av.VideoFrame:
    try:
        frame = next(decoder, None)
    except av.error.FFmpegError as err:
        msg = f"{path}: no frame could be decoded ({err})"
        raise VideoReadError(msg) from err
    if frame is None:
        msg = f"{path}: the video stream has no frames"
        raise VideoReadError(msg)
    return frame


def _info(container: av.container.InputContainer, path: Path, first: av.VideoFrame) -> VideoInfo:
    """The container's metadata; the duration is the video stream's, else the container's, else 0 (unknown)."""
    stream = container.streams.video[0]
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    if stream.duration is not None and stream.time_base is not None:
        duration_s = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration_s = container.duration / 1e6
    else:
        duration_s = 0.0
    width, height = stream.codec_context.width, stream.codec_context.height
    if int(getattr(first, "rotation", 0) or 0) % 180:
        width, height = height, width
    return VideoInfo(
        path=path,
        width=width,
        height=height,
        fps=fps,
        duration_s=duration_s,
        n_frames_estimate=stream.frames or int(round(duration_s * fps)),
        has_audio=bool(container.streams.audio),
        codec=stream.codec_context.name,
    )


class VideoReader:
    """An open video: its :class:`VideoInfo` and one pass over its frames, from a single opening of the file.

    Use as a context manager (:func:`open_video`); :meth:`frames` may be called once.
    """

    def __init__(self, path: Path) -> None:
        require_av()
        path = Path(path).absolute()
        self._container = _open(path)
        try:
            stream = self._container.streams.video[0]
            stream.thread_type = "AUTO"
            stream.codec_context.options = dict(_ANALYSIS_DECODER_OPTIONS.get(stream.codec_context.name, {}))
            self._decoder = self._container.decode(stream)
            self._first = _first_frame(self._decoder, path)
            self.info = _info(self._container, path, self._first)
        except BaseException:
            self._container.close()
            raise

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._container.close()

    def _decoded(self) -> Iterator[av.VideoFrame]:
        yield self._first
        yield from self._decoder

    def frames(self, *, size: tuple[int, int]) -> Iterator[tuple[float, np.ndarray, np.ndarray]]:
        """Yield ``(time_s, gray, colour)`` for each frame, decoded ahead in a thread.

        Parameters
        ----------
        size : (int, int)
            (width, height) of the returned frames in display orientation, in pixels.

        Yields
        ------
        time_s : float
            Presentation time in seconds, strictly increasing, from the first frame.
        gray : np.ndarray [shape=(h, w), dtype=uint8]
            The luma, downscaled, rotated to display orientation.
        colour : np.ndarray [shape=(4, 8, 3), dtype=uint8]
            The colour layout: mean Y, U, V (BT.601 range, grey = U = V = 128)
            of 4 x 8 cells (rows x columns), in display orientation.

        Raises
        ------
        VideoReadError
            The file cannot be decoded; frames already yielded stay valid.
        """
        fallback_dt = 1.0 / float(self._container.streams.video[0].average_rate or 25)
        frames: queue.Queue = queue.Queue(maxsize=_PREFETCH_FRAMES)
        stop = threading.Event()
        worker = threading.Thread(target=_decode_into, args=(self._decoded(), fallback_dt, size, frames, stop), daemon=True)
        worker.start()
        first_s, last_s = None, -math.inf
        try:
            while (item := frames.get()) is not None:
                if isinstance(item, Exception):
                    msg = f"{self.info.path}: decoding failed ({item})"
                    raise VideoReadError(msg) from item
                time_s, gray, colour = item
                first_s = time_s if first_s is None else first_s
                if time_s - first_s <= last_s:
                    continue  # duplicate or out-of-order timestamp
                last_s = time_s - first_s
                yield last_s, gray, colour
        finally:
            stop.set()
            worker.join(timeout=5)


def open_video(path: Path) -> VideoReader:
    """Open a video once for its metadata and frames (decodes the first frame to read its rotation).

    Raises
    ------
    VideoReadError
        Missing, empty, unreadable file, one with no video stream or no frame.

    Examples
    --------
    >>> with open_video(Path("clip.mp4")) as video:  # doctest: +SKIP
    ...     for time_s, gray, colour in video.frames(size=(256, 144)):
    ...         pass
    """
    return VideoReader(path)


def probe_video(path: Path) -> VideoInfo:
    """A video's metadata (see :func:`open_video`)."""
    with open_video(path) as video:
        return video.info


def analysis_size(width: int, height: int, *, long_side_px: int) -> tuple[int, int]:
    """(width, height) of the small analysis frame: long side ``long_side_px``, even sizes."""
    scale = long_side_px / max(width, height)
    return max(2 * round(width * scale / 2), 8), max(2 * round(height * scale / 2), 8)


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """The frame's luma plane as a (H, W) uint8 view, converting only if needed."""
    if frame.format.name in _LUMA_FIRST_FORMATS:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
        return rows[:, : plane.width]
    return frame.to_ndarray(format="gray")


def _chroma_planes(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray]:
    """The frame's U and V planes (uint8, any resolution): views of planar YUV, else a small conversion."""
    if frame.format.name in _LUMA_FIRST_FORMATS and len(frame.planes) == 3:
        u, v = frame.planes[1], frame.planes[2]
        return (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in (u, v))
    if frame.format.name == "gray":
        flat = np.full((2, 2), 128, np.uint8)
        return flat, flat
    small = frame.reformat(width=2 * COLOUR_LAYOUT_PX[0], height=2 * COLOUR_LAYOUT_PX[1], format="yuv444p")
    return (np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, : p.width] for p in small.planes[1:])


def _sparse(plane: np.ndarray) -> np.ndarray:
    """A contiguous copy of every k-th pixel of a plane, k such that about ``_COLOUR_SAMPLES_PX`` columns remain.

    The colour layout averages 4 x 8 cells: a cell's mean over a sparse
    sample of its pixels is as good, and copying a full chroma plane per
    frame cost a third of the analysis speed.
    """
    step = max(plane.shape[1] // _COLOUR_SAMPLES_PX, 1)
    return np.ascontiguousarray(plane[::step, ::step])


def _small_frame(frame: av.VideoFrame, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(gray (h, w) at ``size``, colour layout (rows, cols, 3) of Y, U, V cell means), both in display orientation."""
    luma = _luma(frame)
    turns = (int(getattr(frame, "rotation", 0) or 0) % 360) // 90
    if turns:
        luma = np.ascontiguousarray(np.rot90(luma, k=turns))
    gray = cv2.resize(luma, size, interpolation=cv2.INTER_LINEAR)
    cells = COLOUR_LAYOUT_PX if turns % 2 == 0 else COLOUR_LAYOUT_PX[::-1]
    chroma = [np.rot90(cv2.resize(_sparse(p), cells, interpolation=cv2.INTER_AREA), k=turns) for p in _chroma_planes(frame)]
    colour = np.stack([cv2.resize(gray, COLOUR_LAYOUT_PX, interpolation=cv2.INTER_AREA), *chroma], axis=-1)
    return gray, colour


def _decode_into(
    decoded: Iterator[av.VideoFrame], fallback_dt: float, size: tuple[int, int], out: queue.Queue, stop: threading.Event
) -> None:
    """Producer thread: put (time_s, small gray frame, colour layout) items for ``decoded`` frames, then None (or the error)."""
    item: object = None
    try:
        for index, frame in enumerate(decoded):
            time_s = frame.time if frame.time is not None else index * fallback_dt
            while not stop.is_set():
                try:
                    out.put((time_s, *_small_frame(frame, size)), timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
    except Exception as err:  # noqa: BLE001 - handed to the consumer, which raises it
        item = err
    finally:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
