"""Batch stage: soundtrack a video library, in-process or on Ray (local or a cluster).

Each video is one job: analyze -> generate -> render -> mux, with a seed
derived from its path (so reruns are reproducible). The model is loaded once
per worker (a Ray actor, or the one in-process worker). Finished outputs are
skipped; every job's result is appended to ``OUT_DIR/batch_report.jsonl`` as
soon as it is known, so a crash or Ctrl-C loses at most the videos in flight;
outputs are written to temporary files and renamed, so no partial file
appears under ``OUT_DIR``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cmtlite.audio.render import resolve_soundfont
from cmtlite.constants import DEFAULT_VARIATION
from cmtlite.errors import CmtliteError, ConfigError, OutputError
from cmtlite.model import default_model_path, load_model, resolve_device
from cmtlite.outputs import check_not_inputs, remove_stale_partials
from cmtlite.progress import progress_bar
from cmtlite.soundtrack import MixOptions, MusicOptions, Outputs, make_soundtrack
from cmtlite.tokens.vocab import FAMILIES

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi")
REPORT = "batch_report.jsonl"
JOB_OPTIONS = ("seed", "density_shift", "strength_shift", "instruments", "tempo", "temperature", "original_audio", "key", "variation")


@dataclass(frozen=True)
class Job:
    """One video to soundtrack: ``video`` -> ``output``, with its generate ``options`` (seed always set)."""

    video: Path
    output: Path
    name: str
    options: dict[str, Any] = field(default_factory=dict)


def path_seed(name: str, base_seed: int = 0) -> int:
    """A reproducible seed for a video from its relative path."""
    return (zlib.crc32(name.encode()) + base_seed) % 2**31


def _manifest_rows(path: Path) -> list[dict[str, Any]]:
    try:
        text = path.read_text()
        if path.suffix.lower() == ".csv":
            return list(csv.DictReader(text.splitlines()))
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError, csv.Error) as err:
        msg = f"{path}: not a readable manifest ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def _option(name: str, value: object) -> object:
    """A manifest option value, typed (CSV cells are strings)."""
    if value in (None, ""):
        return None
    try:
        if name in {"seed", "density_shift", "strength_shift"}:
            return int(value)
        if name in {"tempo", "temperature", "variation"}:
            return float(value)
    except (TypeError, ValueError) as err:
        msg = f"manifest option {name}={value!r} is not a number"
        raise ConfigError(msg) from err
    return str(value)


def find_jobs(source: Path, out_dir: Path, *, defaults: dict[str, Any], base_seed: int = 0) -> list[Job]:
    """Jobs for every video under ``source`` (a folder, recursively) or listed in a CSV / JSONL manifest.

    A manifest row has ``path`` (relative to the manifest's folder) and any of
    :data:`JOB_OPTIONS`; they override ``defaults`` for that video.

    Raises
    ------
    ConfigError
        ``source`` is missing, an unreadable manifest, a row without ``path``, or no videos.
    """
    source, out_dir = Path(source), Path(out_dir)
    if source.is_dir():
        earlier_outputs = out_dir.resolve() if out_dir.resolve() != source.resolve() else None  # an output folder inside the source
        videos = sorted(
            p for p in source.rglob("*")
            if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file() and earlier_outputs not in p.resolve().parents
        )
        rows = [{"path": str(p.relative_to(source))} for p in videos]
        root = source
    elif source.is_file() and source.suffix.lower() in {".csv", ".jsonl"}:
        rows, root = _manifest_rows(source), source.parent
    else:
        msg = f"{source}: not a folder of videos or a .csv / .jsonl manifest"
        raise ConfigError(msg)
    jobs = []
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or not row.get("path"):
            msg = f"{source}: row {number} has no 'path'"
            raise ConfigError(msg)
        name = Path(row["path"]).as_posix()
        overrides = {k: _option(k, row.get(k)) for k in JOB_OPTIONS}
        options = {**defaults, **{k: v for k, v in overrides.items() if v is not None}}
        options.setdefault("seed", path_seed(name, base_seed))
        output = out_dir / Path(name).with_suffix(".mp4")
        jobs.append(Job(video=root / name, output=output, name=name, options=options))
    if not jobs:
        msg = f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)})"
        raise ConfigError(msg)
    check_not_inputs([job.output for job in jobs], [job.video for job in jobs])
    return jobs


class Worker:
    """Soundtracks videos with one loaded model; ``run`` never raises for a bad video."""

    def __init__(self, model_path: Path, device: str, soundfont: Path | None, mix: MixOptions, threads: int | None = None) -> None:
        import torch

        if threads:
            torch.set_num_threads(threads)
        self.model, _ = load_model(model_path, resolve_device(device))
        self.soundfont = resolve_soundfont(soundfont)
        self.mix = mix

    def run(self, job: Job) -> dict[str, Any]:
        """The job's report record: status ``ok`` or ``failed``, error message, seconds per stage."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        options = job.options
        try:
            music = MusicOptions(
                density_shift=options.get("density_shift", 0),
                strength_shift=options.get("strength_shift", 0),
                instruments=tuple(options.get("instruments", ",".join(FAMILIES)).split(",")),
                seed=options["seed"],
                temperature=options.get("temperature", 1.0),
                key=options.get("key"),
                variation=options.get("variation", DEFAULT_VARIATION),
            )
            mix = dataclasses.replace(self.mix, original_audio=options.get("original_audio"))
            job.output.parent.mkdir(parents=True, exist_ok=True)
            result = make_soundtrack(
                job.video, Outputs(video=job.output), model=self.model, soundfont=self.soundfont, music=music, mix=mix,
                tempo_bpm=options.get("tempo"), force=True, on_stage=lambda name, seconds: timings.update({name: round(seconds, 3)}),
            )
        except CmtliteError as err:
            return _record(job, "failed", str(err), timings, started)
        except Exception as err:  # noqa: BLE001 - one broken video must not stop the batch
            return _record(job, "failed", f"internal error: {err.__class__.__name__}: {err}", timings, started)
        return _record(job, "ok", None, timings, started) | {"video_s": round(result.controls.duration_s, 3)}


def _record(job: Job, status: str, error: str | None, timings: dict[str, float], started: float) -> dict[str, Any]:
    return {
        "path": job.name,
        "output": str(job.output),
        "status": status,
        "error": error,
        "seed": job.options.get("seed"),
        "seconds": {**timings, "total": round(time.perf_counter() - started, 3)},
    }


def run_local(jobs: list[Job], worker_args: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Run jobs one after another in this process (no Ray)."""
    worker = Worker(**worker_args)
    for job in jobs:
        yield worker.run(job)


def run_ray(jobs: list[Job], worker_args: dict[str, Any], *, workers: int, address: str | None) -> Iterator[dict[str, Any]]:
    """Run jobs on Ray actors (one model each); a dead actor fails its video and is replaced."""
    try:
        import ray
    except ImportError as err:
        msg = "Ray is not installed: pip install 'cmtlite[batch]' (or run with --workers 1)"
        raise ConfigError(msg) from err
    if address:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        actor_class = ray.remote(num_cpus=1, max_restarts=0)(Worker)

        def new_actor() -> Any:  # noqa: ANN401
            return actor_class.remote(**worker_args, threads=1)

        pending = list(reversed(jobs))
        running: dict[Any, tuple[Any, Job]] = {}
        actors = [new_actor() for _ in range(min(workers, len(jobs)))]
        for actor in actors:
            job = pending.pop()
            running[actor.run.remote(job)] = (actor, job)
        while running:
            (ref,), _ = ray.wait(list(running), num_returns=1)
            actor, job = running.pop(ref)
            try:
                yield ray.get(ref)
            except ray.exceptions.RayActorError as err:
                yield _record(job, "failed", f"worker died: {err.__class__.__name__}", {}, time.perf_counter())
                actor = new_actor()
            except ray.exceptions.RayTaskError as err:
                yield _record(job, "failed", f"worker error: {err.cause if hasattr(err, 'cause') else err}", {}, time.perf_counter())
            if pending:
                job = pending.pop()
                running[actor.run.remote(job)] = (actor, job)
    finally:
        ray.shutdown()


@dataclass
class BatchSummary:
    """Counts of one batch run."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    video_s: float = 0.0
    wall_s: float = 0.0
    records: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counts, without records."""
        return {k: v for k, v in asdict(self).items() if k != "records"}


def run_batch(
    jobs: list[Job],
    out_dir: Path,
    *,
    worker_args: dict[str, Any],
    workers: int = 1,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    use_ray: bool | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Run every job not finished yet and append each result to ``out_dir/batch_report.jsonl``.

    ``use_ray`` None runs on Ray when ``workers`` > 1 or an ``address`` is given, in-process otherwise.

    Raises
    ------
    OutputError
        ``out_dir`` already holds a batch report and neither ``resume`` nor ``force`` is set.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    report = out_dir / REPORT
    if report.exists() and not (resume or force):
        msg = f"{out_dir} already holds a batch ({REPORT}); use --resume to continue it or --force to redo every video"
        raise OutputError(msg)
    remove_stale_partials(out_dir)
    summary = BatchSummary()
    started = time.perf_counter()
    todo = [job for job in jobs if force or not job.output.exists()]
    todo_names = {job.name for job in todo}
    with report.open("a" if resume and not force else "w") as fh:

        def note(record: dict[str, Any]) -> None:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            summary.records.append(record)
            setattr(summary, record["status"], getattr(summary, record["status"]) + 1)
            summary.video_s += record.get("video_s", 0.0)
            if on_record is not None:
                on_record(record)

        for job in jobs:
            if job.name not in todo_names:
                note({"path": job.name, "output": str(job.output), "status": "skipped", "error": None, "seed": job.options.get("seed")})
        if not (use_ray if use_ray is not None else workers > 1 or address):
            results = run_local(todo, worker_args)
        else:
            results = run_ray(todo, worker_args, workers=workers, address=address)
        for record in results if todo else ():
            note(record)
    summary.wall_s = round(time.perf_counter() - started, 2)
    return summary


def plan_and_run_batch(
    source: Path,
    out_dir: Path,
    *,
    defaults: dict[str, Any],
    base_seed: int = 0,
    model_path: Path | None = None,
    device: str = "auto",
    soundfont: Path | None = None,
    mix: MixOptions = MixOptions(),  # noqa: B008 - frozen, so one shared default is safe
    workers: int = 1,
    address: str | None = None,
    resume: bool = False,
    force: bool = False,
    quiet: bool = True,
) -> BatchSummary:
    """``cmtlite batch``: check the model, soundfont and output folder, find the jobs, run them with a progress bar.

    ``defaults`` are the generate options of every video (:data:`JOB_OPTIONS`
    but ``seed``); a manifest row overrides them for its video.

    Raises
    ------
    ConfigError
        A bad source, manifest, model or soundfont (before any video is touched).
    OutputError
        ``out_dir`` is a file, outputs would land on inputs, or a batch is there without ``resume`` / ``force``.
    """
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        msg = f"{out_dir}: exists and is not a folder"
        raise OutputError(msg)
    model_path = model_path or default_model_path()
    load_model(model_path)  # a bad model is a bad argument, found before any video
    worker_args = {"model_path": model_path, "device": device, "soundfont": resolve_soundfont(soundfont), "mix": mix}
    jobs = find_jobs(source, out_dir, defaults=defaults, base_seed=base_seed)
    with progress_bar(total=len(jobs), desc="batch", unit="video", quiet=quiet) as bar:
        return run_batch(jobs, out_dir, worker_args=worker_args, workers=workers, address=address, resume=resume, force=force,
                         on_record=lambda record: bar.update())
