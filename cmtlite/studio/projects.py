"""Studio projects: one video each, its analysis, edited controls and takes, kept under a work folder.

Layout of the work folder (everything the studio serves lies inside it)::

    projects/<id>/project.json      name, status (importing | analyzing | ready | failed), error, gain_db
    projects/<id>/video<.ext>       the video (uploaded; or a hard link to, else a copy of, a path)
    projects/<id>/controls.json     the analysis, then the user's edits
    projects/<id>/takes/<take>/     take.json (name, starred, parent, bars ...), controls.json (the grid it used),
                                    tokens.npy, notes.json, soundtrack.mid, soundtrack.wav; soundtrack.mp4,
                                    stems/ and mixes/ (some families only) are made on first request

A path import answers at once: the link or copy runs in its own thread with
progress, then the analysis is queued. One worker thread runs the jobs
(analyses, takes) in the order they come, so the model is used by one job at
a time. Every take goes through :func:`~cmtlite.soundtrack.make_soundtrack`,
mastered with the project's one gain (measured on its first take, kept after),
so a regenerated take is sample-identical to its parent before the new bars.
Ids are 12 hex digits chosen here: a request can name nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import queue
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cmtlite.analysis import analyze_video
from cmtlite.audio.mux import mux, read_audio
from cmtlite.controls import VideoControls, read_controls, write_controls
from cmtlite.errors import CmtliteError, ConfigError
from cmtlite.model import CPTransformer
from cmtlite.outputs import write_json
from cmtlite.progress import reporting_to
from cmtlite.soundtrack import (
    MixOptions,
    MusicOptions,
    Outputs,
    Regenerate,
    Soundtrack,
    linked_bar_ranges,
    make_soundtrack,
    soundtrack_of,
    write_outputs,
    write_stems,
)
from cmtlite.studio.edits import apply_edit
from cmtlite.tokens.codec import FAMILY_COL
from cmtlite.tokens.vocab import FAMILIES

ID_PATTERN = re.compile(r"^[0-9a-f]{12}$")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,5}")
TAKE_FILES = ("soundtrack.mp4", "soundtrack.mid", "soundtrack.wav")
DEFAULT_MAX_UPLOAD_BYTES = 2 << 30  # 2 GiB
MAX_NAME_CHARS = 200
_COPY_CHUNK = 8 << 20
LOG = logging.getLogger("cmtlite.studio")


class NotFoundError(CmtliteError):
    """No such project, take or file (or one that may not be served)."""


class TooLargeError(CmtliteError):
    """An upload or a request body is over the size limit."""


def new_id() -> str:
    """A fresh project or take id: 12 hex digits."""
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class TakeRequest:
    """A take to make: the music options, and optionally a parent take whose bars ``bars`` (inclusive) are made anew
    (``linked``: in every section with the same label too)."""

    music: MusicOptions
    from_take: str | None = None
    bars: tuple[int, int] | None = None
    linked: bool = False

    @classmethod
    def from_json(cls, obj: object) -> TakeRequest:
        """Read ``{"seed", "from_take"?, "bars"?: [first, last], "linked"?, "density_shift"?, "strength_shift"?, "instruments"?}``.

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
        bars, from_take, linked = obj.get("bars"), obj.get("from_take"), obj.get("linked", False)
        if (bars is None) != (from_take is None):
            msg = "give both from_take and bars to regenerate a section, or neither"
            raise ConfigError(msg)
        if not isinstance(linked, bool) or (linked and bars is None):
            msg = "linked must be true or false, and true only with from_take and bars"
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
        return cls(music=music, from_take=from_take, bars=tuple(bars) if bars is not None else None, linked=linked)


def _integer(obj: dict, key: str) -> int:
    value = obj.get(key, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        msg = f"{key} must be an integer (got {value!r})"
        raise ConfigError(msg)
    return value


def take_patch(obj: object) -> dict[str, Any]:
    """The checked changes of ``PATCH takes/{take}``: ``{"name"?: text, "starred"?: bool}``.

    Raises
    ------
    ConfigError
        Another key, or a value of the wrong type or too long.
    """
    if not isinstance(obj, dict) or not obj or set(obj) - {"name", "starred"}:
        msg = 'send {"name": text} and/or {"starred": true or false}'
        raise ConfigError(msg)
    if "name" in obj and not (isinstance(obj["name"], str) and len(obj["name"]) <= MAX_NAME_CHARS):
        msg = f"name must be a text of at most {MAX_NAME_CHARS} characters"
        raise ConfigError(msg)
    if "starred" in obj and not isinstance(obj["starred"], bool):
        msg = "starred must be true or false"
        raise ConfigError(msg)
    return {**obj, **({"name": " ".join(obj["name"].split())} if "name" in obj else {})}


def check_families(names: str) -> tuple[str, ...]:
    """Family names joined by ``+`` (``bass+drums``), as a tuple in :data:`FAMILIES` order.

    Raises
    ------
    NotFoundError
        An unknown or repeated name, or none.
    """
    families = tuple(names.split("+"))
    if not families or len(set(families)) != len(families) or not set(families) <= set(FAMILIES):
        msg = "no such mix"
        raise NotFoundError(msg)
    return tuple(f for f in FAMILIES if f in families)


class ProjectStore:
    """The projects under ``workdir/projects``, the worker that analyzes and makes takes, and the import threads.

    Parameters
    ----------
    workdir : Path
        The studio's work folder (made if missing).
    model : CPTransformer
        The loaded model (used by the worker only).
    soundfont : Path
        The soundfont takes are rendered with.
    max_upload_bytes : int
        The largest upload.
    mix : MixOptions
        Fade and loudness of the takes (its ``gain_db`` is set per project).
    link_imports : bool
        Import a path as a hard link where the file system allows (False: always copy).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        model: CPTransformer,
        soundfont: Path,
        max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        mix: MixOptions = MixOptions(),  # noqa: B008 - frozen, so one shared default is safe
        link_imports: bool = True,
    ) -> None:
        self.root = Path(workdir).resolve() / "projects"
        self.root.mkdir(parents=True, exist_ok=True)
        self.model, self.soundfont, self.max_upload_bytes, self.mix = model, soundfont, max_upload_bytes, mix
        self.link_imports = link_imports
        self._lock = threading.RLock()  # guards the small JSON files: held for milliseconds only
        self._making: dict[Path, threading.Lock] = {}  # one lock per file made on request (mux, stems, mixes)
        self._progress: dict[str, dict[str, Any]] = {}
        self._imports: set[threading.Thread] = set()
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._work, name="cmtlite-studio-worker", daemon=True)
        self._worker.start()

    def close(self) -> None:
        """Let the worker finish the job in hand and stop."""
        self._jobs.put(None)
        self._worker.join(timeout=30)

    def wait_idle(self, timeout_s: float = 600.0) -> None:
        """Block until every import and queued job is done (for tests and scripts)."""
        deadline = time.monotonic() + timeout_s
        while (self._jobs.unfinished_tasks or any(t.is_alive() for t in list(self._imports))) and time.monotonic() < deadline:
            time.sleep(0.05)

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                job()
            except Exception:  # a job whose project was deleted under it: the worker goes on
                LOG.exception("a studio job failed")
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
        """A new project of ``video`` (a path on this machine), answered at once: a hard link to it (a copy where the
        file system refuses one) is made in the background with progress, then the analysis is queued.

        Raises
        ------
        ConfigError
            ``video`` is not a readable file.
        """
        video = Path(video)
        try:
            size = video.stat().st_size
            readable = video.is_file() and os.access(video, os.R_OK)
        except OSError:
            readable = False
        if not readable:
            msg = f"{video.name or video}: no such video file (give the full path of a video on this machine)"
            raise ConfigError(msg)
        project, target = self.reserve(video.name)
        self._write(self.root / project / "project.json", self._new_meta(project, video.name, target, "importing"))
        self._progress[project] = {"stage": "import", "done": 0, "total": size}
        thread = threading.Thread(target=self._import, args=(project, video, target), name=f"cmtlite-import-{project}", daemon=True)
        self._imports = {t for t in self._imports if t.is_alive()} | {thread}
        thread.start()
        return project

    def _import(self, project: str, source: Path, target: Path) -> None:
        folder, partial = self.root / project, target.with_name(target.name + ".part")
        try:
            try:
                if not self.link_imports:
                    raise OSError
                os.link(source, partial)
            except OSError:  # another file system, or links refused: copy
                self._copy(project, source, partial)
            partial.replace(target)
        except (OSError, _Deleted) as err:
            partial.unlink(missing_ok=True)
            if folder.is_dir():
                self._finish_meta(project, {"status": "failed", "error": f"cannot import {source.name} ({_os_reason(err)})"})
            return
        finally:
            self._progress.pop(project, None)
        if folder.is_dir():
            self._finish_meta(project, {"status": "analyzing"})
            self._jobs.put(lambda: self._analyze(project))

    def _copy(self, project: str, source: Path, target: Path) -> None:
        folder, done = self.root / project, 0
        with source.open("rb") as reader, target.open("wb") as writer:
            while chunk := reader.read(_COPY_CHUNK):
                if not folder.is_dir():
                    raise _Deleted
                writer.write(chunk)
                done += len(chunk)
                self._progress[project] = {**self._progress.get(project, {"stage": "import", "total": None}), "done": done}

    def reserve(self, filename: str) -> tuple[str, Path]:
        """(id, video path) of a project to fill (an upload); invisible until :meth:`finish_upload`, gone by :meth:`discard`."""
        project = new_id()
        folder = self.root / project
        folder.mkdir()
        suffix = Path(filename).suffix.lower()
        return project, folder / ("video" + (suffix if _SUFFIX.fullmatch(suffix) else ".bin"))

    def finish_upload(self, project: str, filename: str, video: Path) -> None:
        """Make a reserved project whose video is written visible, and queue its analysis."""
        self._write(self.root / project / "project.json", self._new_meta(project, Path(filename).name, video, "analyzing"))
        self._jobs.put(lambda: self._analyze(project))

    def discard(self, project: str) -> None:
        """Remove a reserved project (an upload that failed or went over the limit)."""
        if ID_PATTERN.match(project):
            shutil.rmtree(self.root / project, ignore_errors=True)

    @staticmethod
    def _new_meta(project: str, name: str, video: Path, status: str) -> dict[str, Any]:
        return {"id": project, "name": name[:MAX_NAME_CHARS] or "video", "video": video.name, "status": status, "error": None,
                "created": time.time(), "gain_db": None}

    def _analyze(self, project: str) -> None:
        folder = self.root / project
        meta = self._read(folder / "project.json")
        try:
            with reporting_to(self._reporter(project)):
                controls = analyze_video(folder / meta["video"], quiet=True)
            controls = dataclasses.replace(controls, video_path=meta["video"])  # beside controls.json: no server path is sent
            write_controls(controls, folder / "controls.json", force=True)
            update = {"status": "ready", "error": None}
        except Exception as err:  # noqa: BLE001 - a bad video makes a failed project, the server keeps serving
            update = {"status": "failed", "error": self.message(err)}
        self._progress.pop(project, None)
        self._finish_meta(project, update)

    def _finish_meta(self, project: str, update: dict[str, Any]) -> None:
        """Update a project's meta unless the project was deleted meanwhile."""
        path = self.root / project / "project.json"
        with self._lock:
            if path.is_file():
                self._write(path, self._read(path) | update)

    def list(self) -> list[dict[str, Any]]:
        """Every project's summary (id, name, status, error, progress, number of takes), newest first."""
        rows = []
        for meta_path in self.root.glob("*/project.json"):
            try:
                meta = self._read(meta_path)
            except (OSError, ValueError):  # deleted while listed
                continue
            rows.append({**{k: meta.get(k) for k in ("id", "name", "status", "error", "created")},
                         "progress": self._progress.get(meta["id"]),
                         "takes": len(list((meta_path.parent / "takes").glob("*/take.json")))})
        return sorted(rows, key=lambda r: -(r["created"] or 0))

    def get(self, project: str) -> dict[str, Any]:
        """``{"id", "name", "status", "error", "progress", "controls", "takes"}`` of a project."""
        folder = self.project_dir(project)
        meta = self._read(folder / "project.json")
        controls = json.loads((folder / "controls.json").read_text()) if (folder / "controls.json").is_file() else None
        takes = []
        for path in (folder / "takes").glob("*/take.json"):
            try:
                takes.append(self.take(project, path.parent.name))
            except (NotFoundError, OSError, ValueError):  # deleted meanwhile
                continue
        return {**{k: meta.get(k) for k in ("id", "name", "status", "error")}, "progress": self._progress.get(project),
                "controls": controls, "takes": sorted(takes, key=lambda t: t["created"])}

    def delete(self, project: str) -> None:
        """Remove a project and everything in its folder (a job or import on it stops or finds it gone)."""
        folder = self.project_dir(project)
        with self._lock:
            shutil.rmtree(folder)
        self._progress.pop(project, None)

    def put_controls(self, project: str, obj: object) -> VideoControls:
        """Replace a ready project's controls with an edited controls object (:func:`~cmtlite.studio.edits.apply_edit`:
        moved cuts refit the grid, a new key or sections replan the chords).

        Raises
        ------
        ConfigError
            The project is not ready, or the object is not valid controls (named).
        """
        folder = self.project_dir(project)
        if self._read(folder / "project.json")["status"] != "ready":
            msg = "the project has no analysis to edit (it is importing, analyzing or failed)"
            raise ConfigError(msg)
        edited = VideoControls.from_json(obj)
        controls = apply_edit(read_controls(folder / "controls.json"), dataclasses.replace(edited, video_path=edited.video_name() or None))
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
            The project is not ready; or the parent is unknown or unfinished, the bars are not inside it, or linked
            bars are not inside one section.
        """
        folder = self.project_dir(project)
        if self._read(folder / "project.json")["status"] != "ready":
            msg = "the project is not ready for takes"
            raise ConfigError(msg)
        if request.from_take is not None:
            if self.take(project, request.from_take)["status"] != "ready":
                msg = f"take {request.from_take} is not ready: a section can be regenerated from a finished take only"
                raise ConfigError(msg)
            controls = read_controls(self._take_source(folder, request.from_take))
            if request.bars[1] >= controls.n_bars:
                msg = f"bars {list(request.bars)} are not inside the {controls.n_bars} bars of take {request.from_take}"
                raise ConfigError(msg)
            if request.linked:
                linked_bar_ranges(controls.sections, controls.n_bars, request.bars)
        take = new_id()
        take_dir = folder / "takes" / take
        take_dir.mkdir(parents=True)
        self._write(take_dir / "take.json", {
            "id": take, "name": "", "starred": False, "status": "queued", "error": None, "seed": request.music.seed,
            "from_take": request.from_take, "bars": list(request.bars) if request.bars else None, "linked": request.linked,
            "instruments": list(request.music.instruments), "density_shift": request.music.density_shift,
            "strength_shift": request.music.strength_shift, "created": time.time(), "seconds": None})
        self._jobs.put(lambda: self._make_take(project, take, request))
        return take

    def _take_source(self, folder: Path, parent: str | None) -> Path:
        """The controls a take follows: the project's; for a regenerate, its parent's when the grid was edited since (the kept
        bars must stay where they were)."""
        current = folder / "controls.json"
        if parent is None:
            return current
        earlier = folder / "takes" / parent / "controls.json"
        same_grid = read_controls(earlier).timing().bar_starts_s.tolist() == read_controls(current).timing().bar_starts_s.tolist()
        return current if same_grid else earlier

    def _make_take(self, project: str, take: str, request: TakeRequest) -> None:
        folder, take_dir = self.root / project, self.root / project / "takes" / take
        if not (take_dir / "take.json").is_file():
            return  # deleted while queued
        self._update_take(take_dir, {"status": "running"})
        started = time.perf_counter()
        try:
            project_meta = self._read(folder / "project.json")
            regenerate, gain_db = None, project_meta.get("gain_db")
            if request.from_take is not None:
                parent = folder / "takes" / request.from_take
                regenerate = Regenerate(tokens=np.load(parent / "tokens.npy"), bars=request.bars, linked=request.linked)
                gain_db = self._read(parent / "take.json").get("gain_db", gain_db)
            outputs = Outputs(midi=take_dir / "soundtrack.mid", wav=take_dir / "soundtrack.wav", controls=take_dir / "controls.json")
            with reporting_to(self._reporter(take)):
                result = make_soundtrack(self._take_source(folder, request.from_take), outputs, model=self.model, soundfont=self.soundfont,
                                         music=request.music, mix=dataclasses.replace(self.mix, gain_db=gain_db), force=True,
                                         regenerate=regenerate)
            np.save(take_dir / "tokens.npy", result.track.tokens)
            notes = result.track.notes_s()
            write_json(take_dir / "notes.json", {"notes": [[f, p, round(s, 4), round(d, 4)] for f, p, s, d in notes]}, force=True)
            if project_meta.get("gain_db") is None:
                self._finish_meta(project, {"gain_db": result.gain_db})
            update = {"status": "ready", "error": None, "seconds": round(time.perf_counter() - started, 3), "gain_db": result.gain_db,
                      "families": [f for f in FAMILIES if f in {family for family, *_ in notes}]}
        except Exception as err:  # noqa: BLE001 - a failed take is reported, the server keeps serving
            update = {"status": "failed", "error": self.message(err)}
        self._progress.pop(take, None)
        self._update_take(take_dir, update)

    def _update_take(self, take_dir: Path, update: dict[str, Any]) -> None:
        with self._lock:
            if (take_dir / "take.json").is_file():
                self._write(take_dir / "take.json", self._read(take_dir / "take.json") | update)

    def take(self, project: str, take: str) -> dict[str, Any]:
        """A take's ``{"id", "name", "starred", "status", "error", "progress", "seed", "from_take", "bars", "families", ...}``."""
        meta = self._read(self.take_dir(project, take) / "take.json")
        return {**meta, "progress": self._progress.get(take)}

    def patch_take(self, project: str, take: str, obj: object) -> dict[str, Any]:
        """Rename or (un)star a take (:func:`take_patch`); returns the take."""
        changes = take_patch(obj)
        self._update_take(self.take_dir(project, take), changes)
        return self.take(project, take)

    def delete_take(self, project: str, take: str) -> None:
        """Remove a take and its files (a queued or running take stops when it finds it gone)."""
        folder = self.take_dir(project, take)
        with self._lock:
            shutil.rmtree(folder)

    def notes(self, project: str, take: str) -> dict[str, Any]:
        """``{"families", "notes": [[family, pitch, start s, duration s], ...]}`` of a ready take (its piano roll)."""
        path = self._ready_take(project, take) / "notes.json"
        return {"families": list(FAMILIES), **json.loads(self._inside(path).read_text())}

    def _ready_take(self, project: str, take: str) -> Path:
        take_dir = self.take_dir(project, take)
        if self._read(take_dir / "take.json")["status"] != "ready":
            msg = "no such file (the take is not ready)"
            raise NotFoundError(msg)
        return take_dir

    def take_file(self, project: str, take: str, name: str) -> Path:
        """One of a ready take's files (``soundtrack.mp4`` is muxed on first request).

        Raises
        ------
        NotFoundError
            Not a take file name, or the take is not ready.
        """
        if name not in TAKE_FILES:
            msg = "no such file"
            raise NotFoundError(msg)
        take_dir = self._ready_take(project, take)
        path = take_dir / name
        if name == "soundtrack.mp4":
            with self._making_lock(path):
                if not path.exists():
                    audio = read_audio(take_dir / "soundtrack.wav")
                    mux(self.video(project), audio, path, original_audio=self.mix.original_audio, force=False)
        return self._inside(path)

    def stem(self, project: str, take: str, family: str) -> Path:
        """One family's stem of a ready take at its mix's gain (:func:`~cmtlite.soundtrack.write_stems`, on first request;
        only families that play have one)."""
        take_dir = self._ready_take(project, take)
        meta = self._read(take_dir / "take.json")
        if family not in (meta.get("families") or []):
            msg = "no such stem"
            raise NotFoundError(msg)
        path = take_dir / "stems" / f"{family}.wav"
        with self._making_lock(path):
            if not path.exists():
                write_stems(self._take_soundtrack(take_dir), self.soundfont, path.parent, (family,), gain_db=meta["gain_db"], mix=self.mix,
                            force=False)
        return self._inside(path)

    def family_mix(self, project: str, take: str, families: str) -> Path:
        """A ready take with only ``families`` (``bass+drums``) playing, mastered at the take's gain (the page's mute and solo),
        written through :func:`~cmtlite.soundtrack.write_outputs` on first request."""
        chosen = check_families(families)
        take_dir = self._ready_take(project, take)
        if set(chosen) >= set(self._read(take_dir / "take.json").get("families") or []):
            return self.take_file(project, take, "soundtrack.wav")
        path = take_dir / "mixes" / f"{'+'.join(chosen)}.wav"
        with self._making_lock(path):
            if not path.exists():
                path.parent.mkdir(exist_ok=True)
                track = self._take_soundtrack(take_dir)
                keep = np.isin(track.score.notes[:, FAMILY_COL], [FAMILIES.index(f) for f in chosen])
                track = dataclasses.replace(track, score=dataclasses.replace(track.score, notes=track.score.notes[keep]))
                gain_db = self._read(take_dir / "take.json")["gain_db"]
                write_outputs(track, read_controls(take_dir / "controls.json"), None, Outputs(wav=path), soundfont=self.soundfont,
                              mix=dataclasses.replace(self.mix, gain_db=gain_db), force=False)
        return self._inside(path)

    def _take_soundtrack(self, take_dir: Path) -> Soundtrack:
        meta = self._read(take_dir / "take.json")
        music = MusicOptions(seed=meta["seed"], instruments=tuple(meta.get("instruments") or FAMILIES))
        return soundtrack_of(np.load(take_dir / "tokens.npy"), read_controls(take_dir / "controls.json"), music)

    # --- helpers -----------------------------------------------------------------------------

    def _making_lock(self, path: Path) -> threading.Lock:
        with self._lock:
            return self._making.setdefault(path, threading.Lock())

    def _reporter(self, key: str) -> Callable[[str, int, int | None], None]:
        def report(stage: str, done: int, total: int | None) -> None:
            self._progress[key] = {"stage": stage, "done": done, "total": total}

        return report

    def message(self, err: Exception) -> str:
        """A one-line error for the page: its text with the work folder's paths cut to names."""
        text = str(err) if isinstance(err, CmtliteError) else f"internal error: {err.__class__.__name__}: {err}"
        return " ".join(re.sub(re.escape(str(self.root)) + r"/(?:[0-9a-f]{12}/)*", "", text).split())

    def _read(self, path: Path) -> dict[str, Any]:
        with self._lock:
            return json.loads(path.read_text())

    def _write(self, path: Path, obj: dict[str, Any]) -> None:
        with self._lock:
            write_json(path, obj, force=True)


class _Deleted(Exception):  # noqa: N818 - not an error: the project went away during its import
    """The project was deleted while its video was being copied."""


def _os_reason(err: BaseException) -> str:
    return "the project was deleted" if isinstance(err, _Deleted) else (getattr(err, "strerror", None) or err.__class__.__name__)
