"""Mux stage: put a soundtrack into a video with PyAV: video packets copied, AAC audio, exact length.

The original audio track (if any) is kept, ducked under the music or
dropped. *Ducking* here is a sidechain: the music is turned down by up to
``DUCK_DEPTH_DB`` where the original audio's short-term level is high
(speech, impacts), and left at full level where the original is quiet.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from scipy.ndimage import uniform_filter1d

from cmtlite.audio.render import SAMPLE_RATE, TRUE_PEAK_DBTP, fit_length, limit
from cmtlite.constants import MUX_SUFFIXES
from cmtlite.errors import ConfigError, VideoReadError
from cmtlite.outputs import atomic_output, check_outputs
from cmtlite.video.decode import probe_video

ORIGINAL_AUDIO_MODES = ("keep", "duck", "drop")
DUCK_DEPTH_DB = 12.0  # music reduction where the original is loud
DUCK_FLOOR_DB = -45.0  # original level (dBFS RMS) below which the music is not ducked
DUCK_RANGE_DB = 20.0  # ... and above floor + range it is ducked fully
DUCK_WINDOW_S = 0.4
AUDIO_BITRATE = 192_000
# FFmpeg's AAC encoder: the "fast" coder encodes in half the time of the default "twoloop" search; at 192 kb/s
# a background soundtrack loses nothing audible.
AAC_OPTIONS = {"aac_coder": "fast"}


def read_audio(path: Path, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray | None:
    """The first audio track of a media file as (n, 2) float32 at ``sample_rate``, or None when it has none."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                return None
            resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
            chunks = []
            for frame in container.decode(container.streams.audio[0]):
                chunks += [f.to_ndarray() for f in resampler.resample(frame)]
            chunks += [f.to_ndarray() for f in resampler.resample(None)]
    except av.FFmpegError as err:
        msg = f"{path}: cannot decode its audio ({err})"
        raise VideoReadError(msg) from err
    return np.concatenate(chunks, axis=1).T.astype(np.float32) if chunks else np.zeros((0, 2), np.float32)


def duck_gain(original: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Per-sample music gain (n,) in 0..1 that falls as the original audio's short-term level rises."""
    window = max(int(DUCK_WINDOW_S * sample_rate), 1)
    power = uniform_filter1d(np.mean(original.astype(np.float64) ** 2, axis=1), size=window)
    level_db = 10 * np.log10(np.maximum(power, 1e-12))
    amount = np.clip((level_db - DUCK_FLOOR_DB) / DUCK_RANGE_DB, 0.0, 1.0)
    return (10 ** (-DUCK_DEPTH_DB * amount / 20)).astype(np.float32)


def check_original_audio(mode: str | None) -> str | None:
    """``mode`` if it is None (the default rule) or one of ``ORIGINAL_AUDIO_MODES``.

    Raises
    ------
    ConfigError
        Another value.
    """
    if mode is not None and mode not in ORIGINAL_AUDIO_MODES:
        msg = f"the original audio mode must be one of {', '.join(ORIGINAL_AUDIO_MODES)} (got {mode!r})"
        raise ConfigError(msg)
    return mode


def mix(music: np.ndarray, original: np.ndarray | None, mode: str, *, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The soundtrack (same length as ``music``): music alone, or with the original kept or ducked under."""
    if check_original_audio(mode) is None:
        msg = "mix needs an original audio mode (keep, duck or drop)"
        raise ConfigError(msg)
    if original is None or mode == "drop" or len(original) == 0:
        return music
    base = np.zeros_like(music)
    base[: min(len(music), len(original))] = original[: len(music)]
    gain = duck_gain(base, sample_rate=sample_rate)[:, None] if mode == "duck" else 1.0
    return limit(base + music * gain, TRUE_PEAK_DBTP, sample_rate=sample_rate)


def mux(
    video: Path, music: np.ndarray, output: Path, *, original_audio: str | None = None, force: bool = False, sample_rate: int = SAMPLE_RATE
) -> None:
    """Write ``output``: the video's packets copied unchanged plus ``music`` (n, 2) as AAC, in one pass over the video.

    ``music`` should already be cut to the video's duration (see
    :func:`~cmtlite.audio.render.fit_length`). The video's own sound is mixed in as
    ``original_audio`` says (:func:`mix`; None: ``duck`` when it has sound,
    else ``drop``). Other streams are not copied.

    Raises
    ------
    VideoReadError
        The input video cannot be read.
    ConfigError
        ``output`` is not an .mp4, .m4v, .mov or .mkv file, or ``original_audio`` is not a known mode.
    OutputError
        ``output`` exists and ``force`` is not set.
    """
    if Path(output).suffix.lower() not in MUX_SUFFIXES:
        msg = f"{output}: the output video must end in {', '.join(MUX_SUFFIXES)} (AAC audio)"
        raise ConfigError(msg)
    check_original_audio(original_audio)
    with atomic_output(output, force=force) as tmp:
        try:
            with av.open(str(video)) as source, av.open(str(tmp), "w") as target:
                if not source.streams.video:
                    msg = f"{video}: no video stream"
                    raise VideoReadError(msg)
                mode = original_audio or ("duck" if source.streams.audio else "drop")
                in_video = source.streams.video[0]
                in_audio = source.streams.audio[0] if source.streams.audio and mode != "drop" else None
                out_video = target.add_stream_from_template(in_video)
                out_audio = target.add_stream("aac", rate=sample_rate, layout="stereo")
                out_audio.bit_rate = AUDIO_BITRATE
                out_audio.codec_context.options = dict(AAC_OPTIONS)
                original = _copy_video_decode_audio(source, target, in_video, out_video, in_audio, sample_rate)
                _encode_audio(target, out_audio, mix(music, original, mode, sample_rate=sample_rate), sample_rate)
        except av.FFmpegError as err:
            msg = f"{video}: cannot mux ({err})"
            raise VideoReadError(msg) from err


def _copy_video_decode_audio(
    source: object, target: object, in_video: object, out_video: object, in_audio: object | None, sample_rate: int
) -> np.ndarray | None:
    """Copy every video packet into ``target``; return ``in_audio`` decoded as (n, 2) float32 (None without it)."""
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=sample_rate)
    chunks = []
    for packet in source.demux(*(s for s in (in_video, in_audio) if s is not None)):
        if packet.stream is in_video:
            if packet.dts is not None:
                packet.stream = out_video
                target.mux(packet)
            continue
        for frame in packet.decode():
            chunks += [f.to_ndarray() for f in resampler.resample(frame)]
    if in_audio is None:
        return None
    chunks += [f.to_ndarray() for f in resampler.resample(None)]
    return np.concatenate(chunks, axis=1).T.astype(np.float32) if chunks else np.zeros((0, 2), np.float32)


def _encode_audio(target: object, stream: object, audio: np.ndarray, sample_rate: int) -> None:
    planar = np.ascontiguousarray(audio.T.astype(np.float32))
    step = sample_rate  # one-second frames; PyAV cuts them into the encoder's 1024-sample frames
    for start in range(0, planar.shape[1], step):
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planar[:, start : start + step]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = sample_rate, start
        target.mux(stream.encode(frame))
    target.mux(stream.encode(None))



def mux_audio_file(
    video: Path, audio: Path, output: Path, *, original_audio: str | None = None, fade_out_s: float = 0.0, force: bool = False
) -> Path:
    """``cmtlite mux``: an audio file cut (and faded) to the video's duration and muxed into it.

    Raises
    ------
    OutputError
        ``output`` is the video or the audio file, or exists without ``force``.
    ConfigError
        ``audio`` is missing, empty or has no audio stream.
    VideoReadError
        The video or the audio cannot be read.
    """
    check_outputs((output,), inputs=(video, audio), force=force)
    info = probe_video(video)
    if not Path(audio).is_file() or Path(audio).stat().st_size == 0:
        msg = f"{audio}: no such audio file (or empty)"
        raise ConfigError(msg)
    music = read_audio(audio)
    if music is None:
        msg = f"{audio}: no audio stream"
        raise ConfigError(msg)
    mux(video, fit_length(music, info.duration_s, fade_out_s=fade_out_s), output, original_audio=original_audio, force=force)
    return Path(output)
