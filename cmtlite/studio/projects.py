"""Studio projects: one video each, its analysis, edited controls and takes, kept under a work folder.

Layout of the work folder (everything the studio serves lies inside it)::

    projects/<id>/project.json      name, status (analyzing | ready | failed), error
    projects/<id>/video<.ext>       a copy of the video (uploaded, or copied from a path)
    projects/<id>/controls.json     the analysis, then the user's edits
    projects/<id>/takes/<take>/     take.json, controls.json (the grid it used), tokens.npy,
                                    soundtrack.mid, soundtrack.wav; soundtrack.mp4 and stems/
                                    are made on first request

One worker thread runs the jobs (analyses, takes) in the order they come, so a
project never generates two takes at once and the model is used by one job at
a time; every job reports its progress. Ids are 12 hex digits chosen here: a
request can name nothing else.
"""

from __future__ import annotations

import json
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from cmtlite.analysis import analyze_video
from cmtlite.audio.mux import mux, read_audio
from cmtlite.audio.render import master, write_wav
from cmtlite.controls import VideoControls, read_controls, write_controls
from cmtlite.errors import CmtliteError, ConfigError
from cmtlite.model import CPTransformer
from cmtlite.outputs import atomic_output, write_json
from cmtlite.progress import reporting_to
from cmtlite.soundtrack import (
    MixOptions,
    MusicOptions,
    Soundtrack,
    compose,
    recompose,
    render_raw,
    soundtrack_of,
    write_soundtrack_midi,
)
from cmtlite.tokens.vocab import FAMILIES

ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")
TAKE_FILES = ("soundtrack.mp4", "soundtrack.mid", "soundtrack.wav")
DEFAULT_MAX_UPLOAD_BYTES = 2 << 30  # 2 GiB
_COPY_CHUNK = 1 << 20


class NotFoundError(CmtliteError):
    """No such project, take or file (or one that may not be served)."""


class TooLargeError(CmtliteError):
    """An upload is over the size limit."""


def new_id() -> str:
    """A fresh project or take id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class TakeRequest:
    """A take to make: the music options, and optionally an earlier take whose bars ``bars`` (inclusive) are made anew."""

    music: MusicOptions
    from_take: str | None = None
    bars: tuple[int, int] | None = None

    @classmethod
    def from_json(cls, obj: object) -> TakeRequest:
        """Read ``{"seed", "from_take"?, "bars"?: [first, last], "density_shift"?, "strength_shift"?, "instruments"?}``.

        Raises
        ------
        ConfigError
            A key of the wrong type or out of range.
        """
        if not isinstance(obj, dict):
            msg = "a take request must be a JSON object"
            raise ConfigError(msg)
        seed = obj.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
            msg = f"seed must be an integer in [0, 2**32) (got {seed!r})"
            raise ConfigError(msg)
        instruments = obj.get("instruments", list(FAMILIES))
        if not isinstance(instruments, list) or not all(isinstance(name, str) for name in instruments):
            msg = f"instruments must be a list of family names (got {instruments!r})"
            raise ConfigError(msg)
        music = MusicOptions(
            seed=seed,
            density_shift=_integer(obj, "density_shift"),
            strength_shift=_integer(obj, "strength_shift"),
            instruments=tuple(instruments),
        )
        bars, from_take = obj.get("bars"), obj.get("from_take")
        if (bars is None) != (from_take is None):
            msg = "give both from_take and bars to regenerate a section, or neither"
            raise ConfigError(msg)
        if bars is not None:
            if not (isinstance(bars, list) and len(bars) == 2 and all(isinstance(b, int) and not isinstance(b, bool) for b in bars)):
                msg = f"bars must be [first, last], two integers (got {bars!r})"
                raise ConfigError(msg)
            if not 0 <= bars[0] <= bars[1]:
                msg = f"bars must satisfy 0 <= first <= last (got {bars!r})"
                raise ConfigError(msg)
            if not isinstance(from_take, str) or not ID_PATTERN.match(from_take):
                msg = "from_take must be a take id"
                raise ConfigError(msg)
        return cls(music=music, from_take=from_take, bars=tuple(bars) if bars is not None else None)


def _integer(obj: dict, key: str) -> int:
    value = obj.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{key} must be an integer (got {value!r})"
        raise ConfigError(msg)
    return value


class ProjectStore:
    """The projects under ``workdir`` and the one worker that analyzes videos and makes takes."""

    def __init__(
        self,
        workdir: Path,
        *,
        model: CPTransformer,
        soundfont: Path,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        mix: MixOptions = MixOptions(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> None:
        self.root = Path(workdir).resolve() / "projects"
        self.root.mkdir(parents=True, exist_ok=True)
        self.model, self.soundfont, self.max_upload_bytes, self.mix = model, soundfont, max_upload_bytes, mix
        self._lock = threading.RLock()
        self._progress: dict[str, dict[str, Any]] = {}
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="cmtlite-studio-worker", daemon=True)
        self._worker.start()

    def close(self) -> None:
        """Let the worker finish the job in hand and stop."""
        self._jobs.put(None)
        self._worker.join(timeout=30)

    def wait_idle(self, timeout_s: float = 600.0) -> None:
        """Block until every queued job is done (for tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        while self._jobs.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.05)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            finally:
                self._jobs.task_done()

    # --- paths -------------------------------------------------------------------------------

    def project_dir(self, project: str) -> Path:
        """The folder of an existing project.

        Raises
        ------
        NotFoundError
            Not a project id, or no such project.
        """
        if not isinstance(project, str) or not ID_PATTERN.match(project) or not (self.root / project / "project.json").is_file():
            msg = "no such project"
            raise NotFoundError(msg)
        return self.root / project

    def take_dir(self, project: str, take: str) -> Path:
        """The folder of an existing take (:class:`NotFoundError` otherwise)."""
        folder = self.project_dir(project) / "takes" / take
        if not ID_PATTERN.match(take) or not (folder / "take.json").is_file():
            msg = "no such take"
            raise NotFoundError(msg)
        return folder

    def _inside(self, path: Path) -> Path:
        """``path`` if it is a regular file that resolves inside the work folder (no link leads out)."""
        resolved = path.resolve()
        if not resolved.is_relative_to(self.root) or not resolved.is_file():
            msg = "no such file"
            raise NotFoundError(msg)
        return resolved

    # --- projects ----------------------------------------------------------------------------

    def create_from_path(self, video: Path) -> str:
        """A new project whose video is a copy of ``video`` (a path on this machine); analysis is queued.

        Raises
        ------
        ConfigError
            ``video`` is not a readable file.
        """
        video = Path(video)
        if not video.is_file():
            msg = f"{video}: no such video file"
            raise ConfigError(msg)
        with video.open("rb") as source:
            return self._create(source, video.name, limit=None)

    def create_from_upload(self, source: BinaryIO, filename: str) -> str:
        """A new project from an uploaded file (at most ``max_upload_bytes``); analysis is queued.

        Raises
        ------
        TooLargeError
            The upload is over the limit (nothing is kept).
        """
        return self._create(source, filename, limit=self.max_upload_bytes)

    def _create(self, source: BinaryIO, filename: str, *, limit: int | None) -> str:
        project = new_id()
        folder = self.root / project
        folder.mkdir()
        suffix = Path(filename).suffix.lower()
        video = folder / ("video" + (suffix if _SUFFIX.fullmatch(suffix) else ".bin"))
        try:
            with atomic_output(video, force=False) as tmp, tmp.open("wb") as target:
                copied = 0
                while chunk := source.read(_COPY_CHUNK):
                    copied += len(chunk)
                    if limit is not None and copied > limit:
                        msg = f"upload is over the limit of {limit} bytes"
                        raise TooLargeError(msg)
                    target.write(chunk)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        self._write(folder / "project.json", {"id": project, "name": Path(filename).name, "video": video.name, "status": "analyzing",
                                              "error": None, "created": time.time()})
        self._jobs.put(lambda: self._analyze(project))
        return project

    def _analyze(self, project: str) -> None:
        folder = self.root / project
        meta = self._read(folder / "project.json")
        try:
            with reporting_to(self._reporter(project)):
                controls = analyze_video(folder / meta["video"], quiet=True)
            write_controls(controls, folder / "controls.json", force=True)
            meta |= {"status": "ready", "error": None}
        except Exception as err:  # noqa: BLE001 - a bad video makes a failed project, the server keeps serving
            meta |= {"status": "failed", "error": _message(err)}
        self._progress.pop(project, None)
        self._write(folder / "project.json", meta)

    def list(self) -> list[dict[str, Any]]:
        """Every project's summary (id, name, status, error, number of takes), newest first."""
        rows = []
        for meta_path in self.root.glob("*/project.json"):
            meta = self._read(meta_path)
            rows.append({**{k: meta.get(k) for k in ("id", "name", "status", "error", "created")},
                         "takes": len(list((meta_path.parent / "takes").glob("*/take.json")))})
        return sorted(rows, key=lambda r: -(r["created"] or 0))

    def get(self, project: str) -> dict[str, Any]:
        """``{"id", "name", "status", "error", "progress", "controls", "takes"}`` of a project."""
        folder = self.project_dir(project)
        meta = self._read(folder / "project.json")
        controls = json.loads((folder / "controls.json").read_text()) if (folder / "controls.json").is_file() else None
        takes = sorted((self.take(project, p.parent.name) for p in (folder / "takes").glob("*/take.json")), key=lambda t: t["created"])
        return {**{k: meta.get(k) for k in ("id", "name", "status", "error")}, "progress": self._progress.get(project),
                "controls": controls, "takes": takes}

    def put_controls(self, project: str, obj: object) -> VideoControls:
        """Replace a ready project's controls with an edited controls object.

        Raises
        ------
        ConfigError
            The project is not ready, or the object is not valid controls (named).
        """
        folder = self.project_dir(project)
        if self._read(folder / "project.json")["status"] != "ready":
            msg = "the project has no analysis to edit (it is analyzing or failed)"
            raise ConfigError(msg)
        controls = VideoControls.from_json(obj)
        write_controls(controls, folder / "controls.json", force=True)
        return controls

    def video(self, project: str) -> Path:
        """The video of a ready project (a failed one's file is not served: it may not be a video)."""
        folder = self.project_dir(project)
        meta = self._read(folder / "project.json")
        if meta["status"] != "ready":
            msg = "no video to serve (the project is not ready)"
            raise NotFoundError(msg)
        return self._inside(folder / meta["video"])

    # --- takes -------------------------------------------------------------------------------

    def create_take(self, project: str, request: TakeRequest) -> str:
        """Queue a take of a ready project; returns its id.

        Raises
        ------
        ConfigError
            The project is not ready, or the earlier take is unknown, unfinished or has other bars.
        """
        folder = self.project_dir(project)
        if self._read(folder / "project.json")["status"] != "ready":
            msg = "the project is not ready for takes"
            raise ConfigError(msg)
        if request.from_take is not None:
            if self.take(project, request.from_take)["status"] != "ready":
                msg = f"take {request.from_take} is not ready: a section can be regenerated from a finished take only"
                raise ConfigError(msg)
            n_bars = read_controls(self.take_dir(project, request.from_take) / "controls.json").n_bars
            if request.bars[1] >= n_bars:
                msg = f"bars {list(request.bars)} are not inside the {n_bars} bars of take {request.from_take}"
                raise ConfigError(msg)
        take = new_id()
        take_dir = folder / "takes" / take
        take_dir.mkdir(parents=True)
        self._write(take_dir / "take.json", {"id": take, "status": "queued", "error": None, "seed": request.music.seed,
                                             "from_take": request.from_take, "bars": list(request.bars) if request.bars else None,
                                             "instruments": list(request.music.instruments), "created": time.time(), "seconds": None})
        self._jobs.put(lambda: self._make_take(project, take, request))
        return take

    def _make_take(self, project: str, take: str, request: TakeRequest) -> None:
        folder, take_dir = self.root / project, self.root / project / "takes" / take
        meta = self._read(take_dir / "take.json")
        self._write(take_dir / "take.json", meta | {"status": "running"})
        started = time.perf_counter()
        try:
            with reporting_to(self._reporter(take)):
                track, controls = self._compose(folder, request)
            write_controls(controls, take_dir / "controls.json", force=True)
            np.save(take_dir / "tokens.npy", track.tokens)
            write_soundtrack_midi(track, take_dir / "soundtrack.mid")
            audio, gain_db = master(render_raw(track, self.soundfont, fade_out_s=self.mix.fade_out_s), self.mix.loudness_lufs)
            write_wav(audio, take_dir / "soundtrack.wav", force=True)
            meta |= {"status": "ready", "error": None, "seconds": round(time.perf_counter() - started, 3), "gain_db": gain_db,
                     "families": sorted({family for family, *_ in track.notes_s()}, key=FAMILIES.index)}
        except Exception as err:  # noqa: BLE001 - a failed take is reported, the server keeps serving
            meta |= {"status": "failed", "error": _message(err)}
        self._progress.pop(take, None)
        self._write(take_dir / "take.json", meta)

    def _compose(self, folder: Path, request: TakeRequest) -> tuple[Soundtrack, VideoControls]:
        """The take's music and the controls it follows (a section keeps its earlier take's grid unless the grid is unchanged)."""
        controls = read_controls(folder / "controls.json")
        if request.from_take is None:
            return compose(self.model, controls, request.music), controls
        earlier = folder / "takes" / request.from_take
        grid = read_controls(earlier / "controls.json")
        if grid.timing().bar_starts_s.tolist() != controls.timing().bar_starts_s.tolist():
            controls = grid  # the grid was edited since: the kept bars must stay where they were
        tokens = np.load(earlier / "tokens.npy")
        return recompose(self.model, controls, request.music, tokens, request.bars), controls

    def take(self, project: str, take: str) -> dict[str, Any]:
        """A take's ``{"id", "status", "error", "progress", "seed", "from_take", "bars", "families", ...}``."""
        meta = self._read(self.take_dir(project, take) / "take.json")
        return {**meta, "progress": self._progress.get(take)}

    def take_file(self, project: str, take: str, name: str) -> Path:
        """One of a ready take's files (``soundtrack.mp4`` is muxed on first request).

        Raises
        ------
        NotFoundError
            Not a take file name, or the take is not ready.
        """
        take_dir = self.take_dir(project, take)
        if name not in TAKE_FILES or self._read(take_dir / "take.json")["status"] != "ready":
            msg = "no such file"
            raise NotFoundError(msg)
        path = take_dir / name
        if name == "soundtrack.mp4":
            with self._lock:
                if not path.exists():
                    audio = read_audio(take_dir / "soundtrack.wav")
                    mux(self.video(project), audio, path, original_audio=self.mix.original_audio, force=False)
        return self._inside(path)

    def stem(self, project: str, take: str, family: str) -> Path:
        """One family's stem of a ready take, at the mix's gain (rendered on first request; only families that play have one)."""
        take_dir = self.take_dir(project, take)
        meta = self._read(take_dir / "take.json")
        if meta["status"] != "ready" or family not in (meta.get("families") or []):
            msg = "no such stem"
            raise NotFoundError(msg)
        path = take_dir / "stems" / f"{family}.wav"
        with self._lock:
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                stem = render_raw(self._take_soundtrack(project, take), self.soundfont, fade_out_s=self.mix.fade_out_s, families=(family,))
                write_wav(stem * np.float32(10 ** (meta["gain_db"] / 20)), path, force=False, float32=True)  # at the mix's gain
        return self._inside(path)

    def _take_soundtrack(self, project: str, take: str) -> Soundtrack:
        take_dir = self.take_dir(project, take)
        meta = self._read(take_dir / "take.json")
        music = MusicOptions(seed=meta["seed"], instruments=tuple(meta.get("instruments") or FAMILIES))
        return soundtrack_of(np.load(take_dir / "tokens.npy"), read_controls(take_dir / "controls.json"), music)

    # --- helpers -----------------------------------------------------------------------------

    def _reporter(self, key: str) -> Callable[[str, int, int | None], None]:
        def report(stage: str, done: int, total: int | None) -> None:
            self._progress[key] = {"stage": stage, "done": done, "total": total}

        return report

    def _read(self, path: Path) -> dict[str, Any]:
        with self._lock:
            return json.loads(path.read_text())

    def _write(self, path: Path, obj: dict[str, Any]) -> None:
        with self._lock:
            write_json(path, obj, force=True)


def _message(err: Exception) -> str:
    return str(err) if isinstance(err, CmtliteError) else f"internal error: {err.__class__.__name__}: {err}"
