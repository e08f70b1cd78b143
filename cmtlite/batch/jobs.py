"""The jobs of a batch: every video of a folder or a manifest, with its music options and output locations.

Each video is one job whose music is :class:`~cmtlite.soundtrack.MusicOptions`
(the command's, with a seed derived from the video's relative path, so
reruns are reproducible) with a manifest row's values put over them.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cmtlite.batch.storage import filesystem, is_file, is_folder, join, normalize, read_text, relative_files
from cmtlite.errors import CmtliteError, ConfigError, OutputError
from cmtlite.outputs import check_not_inputs
from cmtlite.soundtrack import MixOptions, MusicOptions

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
EXTRA_SUFFIXES = (".mid", ".wav")  # what --midi / --wav add beside each video
ROW_OPTIONS = ("tempo", "original_audio")  # manifest columns besides the fields of MusicOptions


@dataclass(frozen=True)
class Job:
    """One video to soundtrack: ``video`` -> ``outputs`` (locations: local paths or URIs; the video file last)."""

    video: str
    outputs: tuple[str, ...]
    name: str
    music: MusicOptions
    mix: MixOptions
    tempo_bpm: float | None = None


def path_seed(name: str, base_seed: int = 0) -> int:
    """A reproducible seed for a video from its relative path."""
    return (zlib.crc32(name.encode()) + base_seed) % 2**31


def _manifest_rows(location: str) -> list[dict[str, Any]]:
    text = read_text(location)
    try:
        if location.lower().endswith(".csv"):
            return list(csv.DictReader(text.splitlines()))
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (ValueError, csv.Error) as err:
        msg = f"{location}: not a readable manifest ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def _typed(default: object, name: str, value: object) -> object:
    """A manifest value converted to the type of its option's default (CSV cells are strings)."""
    try:
        if isinstance(default, tuple):
            return tuple(part.strip() for part in value.split(",")) if isinstance(value, str) else tuple(value)
        if isinstance(default, bool):
            return str(value).lower() in {"1", "true", "yes"}
        if isinstance(default, (int, float)):
            return type(default)(value)
    except (TypeError, ValueError) as err:
        msg = f"manifest option {name}={value!r} is not a {type(default).__name__}"
        raise ConfigError(msg) from err
    return str(value)


def job_music(music: MusicOptions, row: dict[str, Any], seed: int) -> MusicOptions:
    """``music`` with the seed and a manifest row's values for any field of :class:`MusicOptions` put over it.

    Raises
    ------
    ConfigError
        A value of the wrong type or out of range.
    """
    changes = {"seed": seed}
    for option in dataclasses.fields(MusicOptions):
        if row.get(option.name) not in (None, ""):
            changes[option.name] = _typed(getattr(music, option.name), option.name, row[option.name])
    return dataclasses.replace(music, **changes)


def _row_name(row_path: str, root: str) -> str:
    """A row's output name: its path relative to the manifest's folder, else its URI or absolute path without the protocol."""
    if "://" not in row_path and not row_path.startswith("/"):
        return PurePosixPath(row_path).as_posix()
    _, path = filesystem(row_path)
    _, base = filesystem(root)
    if path.startswith(base.rstrip("/") + "/"):
        return path[len(base.rstrip("/")) + 1 :]
    return path.lstrip("/")


def _prefix_inside(out: str, source: str) -> str | None:
    """``out``'s path relative to ``source`` plus ``/`` when it lies inside it (on the same filesystem), else None."""
    src_fs, src_path = filesystem(source)
    out_fs, out_path = filesystem(out)
    src_path = src_path.rstrip("/") + "/"
    if type(src_fs) is not type(out_fs) or not out_path.startswith(src_path):
        return None
    return out_path[len(src_path) :].rstrip("/") + "/"


def _rows(source: str, out: str) -> tuple[list[dict[str, Any]], str]:
    """(rows with ``path``, the folder relative paths start from) of a folder or a manifest."""
    if is_folder(source):
        skip = _prefix_inside(out, source)  # an output folder inside the source is not scanned
        names = [n for n in relative_files(source) if n.lower().endswith(VIDEO_SUFFIXES) and not (skip and n.startswith(skip))]
        return [{"path": n} for n in names if not any(part.startswith(".") for part in PurePosixPath(n).parts)], source
    if source.lower().endswith((".csv", ".jsonl")) and is_file(source):
        return _manifest_rows(source), source.rsplit("/", 1)[0]
    msg = f"{source}: not a folder of videos or a .csv / .jsonl manifest"
    raise ConfigError(msg)


def find_jobs(
    source: str,
    out: str,
    *,
    music: MusicOptions = MusicOptions(),  # noqa: B008 - frozen, so one shared default is safe
    mix: MixOptions = MixOptions(),  # noqa: B008
    base_seed: int = 0,
    extras: tuple[str, ...] = (),
) -> list[Job]:
    """Jobs for every video under ``source`` (a folder, recursively) or listed in a CSV / JSONL manifest.

    Parameters
    ----------
    source, out : str
        Local paths or URIs (``s3://bucket/in``): the videos or a manifest, and the output folder.
    music, mix : MusicOptions, MixOptions
        Every video's options; a manifest row overrides any field of ``music`` and ``tempo`` / ``original_audio``.
    base_seed : int
        Added to each video's path-derived seed (a row's ``seed`` replaces both).
    extras : tuple of str
        Suffixes of further outputs beside each video (:data:`EXTRA_SUFFIXES`).

    A manifest row has ``path``: relative to the manifest's folder, absolute,
    or a URI (``s3://...``, its output is named by its path without the
    protocol).

    Raises
    ------
    ConfigError
        ``source`` is missing, an unreadable manifest, a row without ``path`` or with a bad option, or no videos.
    OutputError
        An output would overwrite an input, or two videos would share one output.
    """
    source, out = normalize(source), normalize(out)
    rows, root = _rows(source, out)
    jobs = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get("path"):
            msg = f"{source}: row {number} has no 'path'"
            raise ConfigError(msg)
        if ".." in PurePosixPath(str(row["path"])).parts:
            msg = f"{source}: row {number}: {row['path']!r} climbs out of the manifest's folder (give it absolute or as a URI)"
            raise ConfigError(msg)
        jobs.append(_job(row, root, out, music=music, mix=mix, base_seed=base_seed, extras=extras))
    if not jobs:
        msg = f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)})"
        raise ConfigError(msg)
    _check_outputs(jobs)
    return jobs


def _job(row: dict[str, Any], root: str, out: str, *, music: MusicOptions, mix: MixOptions, base_seed: int,
         extras: tuple[str, ...]) -> Job:
    name = _row_name(str(row["path"]), root)
    video = str(row["path"]) if "://" in str(row["path"]) or str(row["path"]).startswith("/") else join(root, name)
    seed = int(_typed(0, "seed", row["seed"])) if row.get("seed") not in (None, "") else path_seed(name, base_seed)
    try:
        tempo = _typed(0.0, "tempo", row["tempo"]) if row.get("tempo") not in (None, "") else None
        original_audio = row.get("original_audio") or mix.original_audio
        job_mix = dataclasses.replace(mix, original_audio=original_audio)
        job_music_options = job_music(music, row, seed)
    except CmtliteError as err:
        msg = f"{name}: {err}"
        raise ConfigError(msg) from err
    stem = str(PurePosixPath(name).with_suffix(""))
    outputs = tuple(join(out, stem + suffix) for suffix in (*extras, ".mp4"))
    return Job(video=video, outputs=outputs, name=name, music=job_music_options, mix=job_mix, tempo_bpm=tempo)


def _check_outputs(jobs: list[Job]) -> None:
    """No output is an input or another job's output."""
    outputs = [o for job in jobs for o in job.outputs]
    if len(set(outputs)) != len(outputs):
        twice = next(o for o in outputs if outputs.count(o) > 1)
        msg = f"{twice}: two videos would be written to this output (rename one of them)"
        raise OutputError(msg)
    videos = {job.video for job in jobs}
    clash = next((o for o in outputs if o in videos), None)
    if clash is not None:
        msg = f"{clash}: output would overwrite the input {clash} (choose another output folder)"
        raise OutputError(msg)
    if all("://" not in o for o in outputs):
        check_not_inputs([Path(o) for o in outputs], [Path(job.video) for job in jobs])
