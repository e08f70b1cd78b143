"""Batch stage: soundtrack a video library, in this process or on Ray (local or a cluster), from and to any fsspec filesystem.

``jobs`` finds the videos and their options, ``storage`` reads and writes
locations (local paths, ``s3://``, ``gs://`` ...) atomically, ``worker``
soundtracks a job with one loaded model, ``run`` schedules the jobs (here or
on Ray) and keeps the report.
"""

from cmtlite.batch.jobs import EXTRA_SUFFIXES, VIDEO_SUFFIXES, Job, find_jobs, path_seed
from cmtlite.batch.run import REPORT, BatchSummary, plan_and_run_batch, run_batch
from cmtlite.batch.worker import Shipment, Worker

__all__ = [
    "EXTRA_SUFFIXES", "REPORT", "VIDEO_SUFFIXES", "BatchSummary", "Job", "Shipment", "Worker", "find_jobs", "path_seed",
    "plan_and_run_batch", "run_batch",
]
