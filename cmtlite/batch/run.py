"""Running a batch: in this process, or on Ray (a local one or a cluster), with one report and one progress bar.

Finished outputs are skipped (a job is finished when all its outputs exist);
every job's result is written to ``OUT/batch_report.jsonl`` as soon as it is
known (:class:`~cmtlite.batch.storage.ReportLog`), so a crash or Ctrl-C
loses at most the videos in flight, and ``--resume`` finishes the rest.

On Ray the scheduling is Ray's: a pool of model-holding actors
(:class:`ray.util.ActorPool`), one CPU (and ``gpus_per_worker`` GPUs) each,
spread over the nodes; an actor that dies (a killed process, a lost node) is
restarted by Ray, which retries its video (:data:`RAY_RETRIES` times).
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cmtlite.audio.render import resolve_soundfont
from cmtlite.batch.jobs import Job, find_jobs
from cmtlite.batch.storage import ReportLog, filesystem, join, normalize, relative_files, remove_partials
from cmtlite.batch.worker import Shipment, Worker, placement, record
from cmtlite.errors import CmtliteError, ConfigError, OutputError
from cmtlite.model import default_model_path, load_model
from cmtlite.progress import progress_bar
from cmtlite.soundtrack import MixOptions, MusicOptions

REPORT = "batch_report.jsonl"
RAY_RETRIES = 3  # times Ray retries a video whose worker died
CONNECT_TIMEOUT_S = 5.0  # a cluster address must answer within this


def run_local(jobs: list[Job], shipment: Shipment) -> Iterator[dict[str, Any]]:
    """Run jobs one after another in this process (no Ray)."""
    worker = Worker(shipment)
    for job in jobs:
        yield worker.run(job)


class RayWorker:
    """A Ray actor holding one :class:`Worker`, made on its first job from the shipment (again after a restart).

    The shipment's reference comes with each job rather than to the
    constructor: Ray cannot promise a restarted actor its constructor's
    object-store arguments, while the driver keeps this one alive.
    """

    def __init__(self) -> None:
        self.worker: Worker | None = None

    def run(self, job: Job, shipment: list[Any]) -> dict[str, Any]:
        """:meth:`Worker.run`; ``shipment`` is [ObjectRef of the :class:`Shipment`] (a list, so Ray passes the reference).

        A node that cannot make a worker (no soundfont, say) fails the job with the reason and the node.
        """
        if self.worker is None:
            import ray

            try:
                self.worker = Worker(ray.get(shipment[0]))
            except CmtliteError as err:
                where = placement()
                return record(job, "failed", f"worker setup on {where['host']}: {err}", {}, time.perf_counter()) | where
        return self.worker.run(job)


def check_reachable(address: str, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Refuse a ``host:port`` or ``ray://host:port`` address whose port does not answer (Ray itself would retry for minutes).

    Raises
    ------
    ConfigError
        Nothing listens there within ``timeout_s``.
    """
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto", "local" and the like: Ray finds the cluster itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        msg = f"--address {address}: no Ray cluster answers there ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def _connect(address: str | None, workers: int | None) -> Any:  # noqa: ANN401
    """Ray, initialized: connected to ``address``, or a local instance of ``workers`` CPUs."""
    try:
        import ray
    except ImportError as err:
        msg = "Ray is not installed: pip install 'cmtlite[batch]' (or run with --workers 1)"
        raise ConfigError(msg) from err
    if address:
        check_reachable(address)
    quiet = {"log_to_driver": False, "logging_level": logging.ERROR}
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers or 1, include_dashboard=False, **quiet)
    except (ConnectionError, ValueError, RuntimeError) as err:
        msg = f"cannot start or reach Ray at {address or 'a local instance'} ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    return ray


def worker_slots(resources: dict[str, float], gpus_per_worker: float) -> int:
    """How many workers a cluster with ``resources`` holds: one per CPU, or per ``gpus_per_worker`` GPUs."""
    slots = int(resources.get("CPU", 0))
    if gpus_per_worker > 0:
        slots = min(slots, int(resources.get("GPU", 0) / gpus_per_worker + 1e-9))
    return slots


def run_ray(
    jobs: list[Job], shipment: Shipment, *, workers: int | None, address: str | None, gpus_per_worker: float = 0.0
) -> Iterator[dict[str, Any]]:
    """Run jobs on a pool of Ray actors, one model each (``workers`` None: as many as the cluster holds).

    Raises
    ------
    ConfigError
        Ray is missing or unreachable, or the cluster has no room for one worker.
    """
    ray = _connect(address, workers)
    try:
        slots = worker_slots(ray.cluster_resources(), gpus_per_worker)
        if slots < 1:
            msg = f"the Ray cluster has no room for a worker of 1 CPU and {gpus_per_worker:g} GPU"
            raise ConfigError(msg)
        size = min(workers or slots, len(jobs))
        options = {"num_cpus": 1, "num_gpus": gpus_per_worker, "max_restarts": -1, "max_task_retries": RAY_RETRIES,
                   "scheduling_strategy": "SPREAD"}
        actor_class = ray.remote(RayWorker).options(**options)
        refs = [ray.put(shipment)]  # one copy of the weights in the object store; each actor fetches it once
        pool = ray.util.ActorPool([actor_class.remote() for _ in range(size)])
        for job in jobs:
            pool.submit(lambda actor, job: actor.run.remote(job, refs), job)
        yield from _results(ray, pool, jobs)
    finally:
        ray.shutdown()


def _results(ray: Any, pool: Any, jobs: list[Job]) -> Iterator[dict[str, Any]]:  # noqa: ANN401
    """The pool's records as they finish; a video whose worker died more than :data:`RAY_RETRIES` times is failed."""
    lost = 0
    reported = set()
    while pool.has_next():
        try:
            result = pool.get_next_unordered()
        except ray.exceptions.RayError:
            lost += 1
            continue
        reported.add(result["path"])
        yield result
    error = f"its worker died {RAY_RETRIES + 1} times (out of memory?); --resume tries again"
    for job in (job for job in jobs if job.name not in reported):
        yield record(job, "failed", error, {}, time.perf_counter())
    assert lost == len(jobs) - len(reported), "every job is reported once"


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


def _finished(jobs: list[Job], out: str) -> set[str]:
    """Names of the jobs whose outputs all exist (one listing of ``out``)."""
    present = {join(out, name) for name in relative_files(out)}
    return {job.name for job in jobs if all(o in present for o in job.outputs)}


def run_batch(
    jobs: list[Job],
    out: str | Path,
    *,
    shipment: Shipment,
    workers: int | None = 1,
    address: str | None = None,
    gpus_per_worker: float = 0.0,
    resume: bool = False,
    force: bool = False,
    use_ray: bool | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Run every job not finished yet and write each result to ``out/batch_report.jsonl``.

    ``use_ray`` None runs on Ray when ``workers`` is not 1, an ``address`` or
    GPUs are given, in this process otherwise.

    Raises
    ------
    OutputError
        ``out`` already holds a batch report and neither ``resume`` nor ``force`` is set.
    """
    out = normalize(out)
    names = relative_files(out)
    if REPORT in names and not (resume or force):
        msg = f"{out} already holds a batch ({REPORT}); use --resume to continue it or --force to redo every video"
        raise OutputError(msg)
    remove_partials(out, names)
    fs, root = filesystem(out)
    fs.makedirs(root, exist_ok=True)
    summary = BatchSummary()
    started = time.perf_counter()
    done = set() if force else _finished(jobs, out)
    todo = [job for job in jobs if job.name not in done]
    log = ReportLog(join(out, REPORT), keep=resume and not force)
    try:
        for job in jobs:
            if job.name in done:
                _note(summary, log, record(job, "skipped", None, {}, started) | {"seconds": None}, on_record)
        if not todo:
            results: Iterator[dict[str, Any]] = iter(())
        elif use_ray if use_ray is not None else (workers != 1 or address or gpus_per_worker > 0):
            results = run_ray(todo, shipment, workers=workers, address=address, gpus_per_worker=gpus_per_worker)
        else:
            results = run_local(todo, shipment)
        for result in results:
            _note(summary, log, result, on_record)
    finally:
        log.close()
    summary.wall_s = round(time.perf_counter() - started, 2)
    return summary


def _note(summary: BatchSummary, log: ReportLog, result: dict[str, Any], on_record: Callable[[dict[str, Any]], None] | None) -> None:
    log.add(result)
    summary.records.append(result)
    setattr(summary, result["status"], getattr(summary, result["status"]) + 1)
    summary.video_s += result.get("video_s", 0.0)
    if on_record is not None:
        on_record(result)


def plan_and_run_batch(
    source: str | Path,
    out: str | Path,
    *,
    music: MusicOptions = MusicOptions(),  # noqa: B008 - frozen, so one shared default is safe
    mix: MixOptions = MixOptions(),  # noqa: B008
    base_seed: int = 0,
    extras: tuple[str, ...] = (),
    model_path: Path | None = None,
    device: str = "auto",
    soundfont: Path | None = None,
    workers: int | None = 1,
    address: str | None = None,
    gpus_per_worker: float = 0.0,
    resume: bool = False,
    force: bool = False,
    quiet: bool = True,
) -> BatchSummary:
    """``cmtlite batch``: check the model, soundfont and output folder, find the jobs, run them with one progress bar.

    ``source`` and ``out`` are local paths or URIs of any fsspec filesystem
    (``s3://bucket/in``); ``music`` and ``mix`` are every video's options
    (a manifest row overrides them for its video); ``extras`` adds outputs
    beside each video (``.mid``, ``.wav``).

    Raises
    ------
    ConfigError
        A bad source, manifest, model or soundfont (before any video is touched).
    OutputError
        ``out`` is a file, outputs would land on inputs, or a batch is there without ``resume`` / ``force``.
    """
    on_ray = workers != 1 or bool(address) or gpus_per_worker > 0
    if on_ray and device == "cuda" and gpus_per_worker == 0:
        msg = "--device cuda on Ray: give the workers GPUs with --gpus-per-worker"
        raise ConfigError(msg)
    if address:
        check_reachable(address)
    out = normalize(out)
    fs, root = filesystem(out)
    if fs.isfile(root):
        msg = f"{out}: exists and is not a folder"
        raise OutputError(msg)
    model_path = model_path or default_model_path()
    load_model(model_path)  # a bad model is a bad argument, found before any video
    if soundfont is not None:
        resolve_soundfont(soundfont)
    shipment = Shipment.build(model_path, soundfont=soundfont, ship_soundfont=on_ray, threads=1 if on_ray else None,
                              device="cuda" if gpus_per_worker > 0 else device)
    jobs = find_jobs(str(source), out, music=music, mix=mix, base_seed=base_seed, extras=extras)
    with progress_bar(total=len(jobs), desc="batch", unit="video", quiet=quiet) as bar:
        return run_batch(jobs, out, shipment=shipment, workers=workers, address=address, gpus_per_worker=gpus_per_worker,
                         resume=resume, force=force, on_record=lambda _: bar.update())
