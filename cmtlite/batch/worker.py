"""A batch worker: one loaded model that soundtracks jobs, reading and writing through their filesystems.

What a worker needs travels as one :class:`Shipment` (on Ray: one
``ray.put``): the model's weights as bytes, and an explicit soundfont's
bytes. So a node needs only the package and FluidSynth, never the driver's
files; without ``--soundfont`` each node finds its own (the Debian
``fluid-soundfont-gm`` package, ``$CMTLITE_SOUNDFONT`` ...).
"""

from __future__ import annotations

import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cmtlite.audio.render import resolve_soundfont
from cmtlite.batch.jobs import Job
from cmtlite.batch.storage import fetch, put_atomic
from cmtlite.errors import CmtliteError
from cmtlite.model import load_model, resolve_device
from cmtlite.soundtrack import Outputs, make_soundtrack


@dataclass(frozen=True)
class Shipment:
    """Everything a worker loads once: the model file's bytes, an explicit soundfont (bytes or a path every node has), the device."""

    model: bytes
    device: str = "auto"
    soundfont: bytes | Path | None = None  # None: each node's default soundfont
    threads: int | None = None  # torch threads (None: torch's default)

    @classmethod
    def build(cls, model_path: Path, *, soundfont: Path | None, ship_soundfont: bool, device: str, threads: int | None) -> Shipment:
        """A shipment of the files at ``model_path`` and ``soundfont`` (its bytes with ``ship_soundfont``, else its path)."""
        font: bytes | Path | None = soundfont
        if soundfont is not None and ship_soundfont:
            font = Path(soundfont).read_bytes()
        return cls(model=Path(model_path).read_bytes(), device=device, soundfont=font, threads=threads)


class Worker:
    """Soundtracks jobs with one loaded model; :meth:`run` never raises for a bad video."""

    def __init__(self, shipment: Shipment) -> None:
        import torch

        if shipment.threads:
            torch.set_num_threads(shipment.threads)
        self.files = tempfile.TemporaryDirectory(prefix="cmtlite-worker-")  # removed when the worker ends
        model_file = Path(self.files.name) / "model.safetensors"
        model_file.write_bytes(shipment.model)
        self.model, _ = load_model(model_file, resolve_device(shipment.device))
        model_file.unlink()
        if isinstance(shipment.soundfont, bytes):
            (Path(self.files.name) / "soundfont.sf2").write_bytes(shipment.soundfont)
            self.soundfont = resolve_soundfont(Path(self.files.name) / "soundfont.sf2")
        else:
            self.soundfont = resolve_soundfont(shipment.soundfont)
        self.where = placement()

    def run(self, job: Job) -> dict[str, Any]:
        """The job's report record: status ``ok`` or ``failed``, error message, seconds per stage, node and host."""
        timings: dict[str, float] = {}
        started = time.perf_counter()
        where = self.where

        def on_stage(name: str, seconds: float) -> None:
            timings[name] = round(seconds, 3)

        try:
            with tempfile.TemporaryDirectory(prefix="cmtlite-job-") as tmp:
                result = self._make(job, Path(tmp), on_stage)
        except CmtliteError as err:
            return record(job, "failed", str(err), timings, started) | where
        except Exception as err:  # noqa: BLE001 - one broken video must not stop the batch
            return record(job, "failed", f"internal error: {err.__class__.__name__}: {err}", timings, started) | where
        return record(job, "ok", None, timings, started) | where | {"video_s": round(result.controls.duration_s, 3)}

    def _make(self, job: Job, tmp: Path, on_stage: Any) -> Any:  # noqa: ANN401
        """Fetch the video, soundtrack it into ``tmp``, upload every output (the video last)."""
        (tmp / "in").mkdir()
        (tmp / "out").mkdir()
        started = time.perf_counter()
        video = fetch(job.video, tmp / "in")
        if video.parent == tmp / "in":
            on_stage("fetch", time.perf_counter() - started)
        local = {PurePosixPath(location).suffix: tmp / "out" / f"soundtrack{PurePosixPath(location).suffix}" for location in job.outputs}
        outputs = Outputs(video=local.get(".mp4"), midi=local.get(".mid"), wav=local.get(".wav"))
        result = make_soundtrack(video, outputs, model=self.model, soundfont=self.soundfont, music=job.music, mix=job.mix,
                                 tempo_bpm=job.tempo_bpm, force=True, on_stage=on_stage)
        started = time.perf_counter()
        for location in job.outputs:
            put_atomic(local[PurePosixPath(location).suffix], location)
        on_stage("store", time.perf_counter() - started)
        return result


def placement() -> dict[str, str | None]:
    """Where this process runs, as a report record says it: ``node_id`` (Ray's, hex; None outside Ray) and ``host``."""
    try:
        import ray
    except ImportError:
        node_id = None
    else:
        node_id = ray.get_runtime_context().get_node_id() if ray.is_initialized() else None
    return {"node_id": node_id, "host": socket.gethostname()}


def record(job: Job, status: str, error: str | None, timings: dict[str, float], started: float) -> dict[str, Any]:
    """A report record of ``job``."""
    return {
        "path": job.name,
        "output": job.outputs[-1],
        "status": status,
        "error": error,
        "seed": job.music.seed,
        "seconds": {**timings, "total": round(time.perf_counter() - started, 3)},
    }
