"""Where a batch reads and writes: local paths or URIs of any fsspec filesystem (``s3://``, ``gs://``, ``file://`` ...).

A location is a string: a local path (made absolute, so it means the same on
every worker of a shared mount) or a URI. Credentials and endpoints come the
usual way for each filesystem (for S3: the ``AWS_*`` variables, ``AWS_ENDPOINT_URL``
for S3-compatible stores, ``~/.aws``). An output appears atomically: it is
uploaded under a hidden partial name, then moved to its name (a rename on a
local disk, a server-side copy on object storage, where a PUT or a copy is
all-or-nothing), so a killed worker never leaves a partial object under a
finished name.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from cmtlite.errors import ConfigError, OutputError

PARTIAL = ".partial-"  # marks an upload in progress: ``.<name>.partial-<id><suffix>``
REPORT_FLUSH_S = 5.0  # a report on object storage is rewritten at most this often (and at the end)


def filesystem(location: str) -> tuple[Any, str]:
    """(fsspec filesystem, path within it) of a location.

    Raises
    ------
    ConfigError
        An unknown protocol, or its library (e.g. ``s3fs``) is missing.
    """
    import fsspec

    try:
        return fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as err:
        msg = f"{location}: cannot open this location ({err.__class__.__name__}: {err}); pip install 'cmtlite[batch]' adds s3fs"
        raise ConfigError(msg) from err


def is_local(location: str) -> bool:
    """Whether a location is on this machine's filesystem (a path or a ``file://`` URI)."""
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(filesystem(location)[0], LocalFileSystem)


def normalize(location: str | Path) -> str:
    """A location as workers should see it: URIs unchanged (no trailing ``/``), local paths absolute."""
    text = str(location)
    if "://" in text:
        return text.rstrip("/")
    return str(Path(text).absolute())


def join(location: str, relative: str) -> str:
    """``location`` / ``relative`` (a POSIX relative path)."""
    return f"{location.rstrip('/')}/{relative}"


def relative_files(location: str) -> list[str]:
    """Relative POSIX paths of every file under a folder location (fresh listing, sorted); [] when it does not exist."""
    fs, root = filesystem(location)
    fs.invalidate_cache()
    if not fs.exists(root):
        return []
    root = root.rstrip("/")
    return sorted(str(PurePosixPath(p).relative_to(root)) for p in fs.find(root) if p.startswith(root + "/"))


def fetch(location: str, folder: Path) -> Path:
    """A local path of ``location``'s content: the path itself when local, else a copy in ``folder`` (same file name)."""
    fs, path = filesystem(location)
    if is_local(location):
        return Path(path)
    local = folder / PurePosixPath(path).name
    fs.get_file(path, str(local))
    return local


def put_atomic(local: Path, location: str) -> None:
    """Upload a local file to ``location`` so that it appears whole or not at all."""
    fs, path = filesystem(location)
    target = PurePosixPath(path)
    partial = str(target.with_name(f".{target.stem}{PARTIAL}{uuid.uuid4().hex[:12]}{target.suffix}"))
    fs.makedirs(str(target.parent), exist_ok=True)
    try:
        fs.put_file(str(local), partial)
        fs.mv(partial, path)
    finally:
        with contextlib.suppress(FileNotFoundError, OSError):
            if fs.exists(partial):
                fs.rm_file(partial)


def remove_partials(location: str, names: list[str]) -> list[str]:
    """Delete the partial uploads among ``names`` (relative to the folder ``location``) left by killed workers."""
    fs, root = filesystem(location)
    stale = [name for name in names if PurePosixPath(name).name.startswith(".") and PARTIAL in name]
    for name in stale:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(join(root, name))
    return stale


def read_text(location: str) -> str:
    """A small text file's content (a manifest).

    Raises
    ------
    ConfigError
        It cannot be read.
    """
    fs, path = filesystem(location)
    try:
        return fs.cat_file(path).decode()
    except (OSError, UnicodeDecodeError) as err:
        msg = f"{location}: not readable ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err


def is_folder(location: str) -> bool:
    """Whether ``location`` is an existing folder (or an object-store prefix with objects under it)."""
    fs, path = filesystem(location)
    return fs.isdir(path)


def is_file(location: str) -> bool:
    """Whether ``location`` is an existing file or object."""
    fs, path = filesystem(location)
    return fs.isfile(path)


class ReportLog:
    """``batch_report.jsonl`` in a folder location: one JSON line per record.

    On a local disk every record is appended and flushed at once; on object
    storage (no appends) the whole object is rewritten at most every
    :data:`REPORT_FLUSH_S` seconds and on :meth:`close`, so a killed driver
    loses at most that many seconds of lines (the outputs themselves decide
    what a resumed batch skips).
    """

    def __init__(self, location: str, *, keep: bool) -> None:
        self.fs, self.path = filesystem(location)
        self.local = is_local(location)
        earlier = self.fs.cat_file(self.path).decode() if keep and self.fs.exists(self.path) else ""
        self.lines = [line + "\n" for line in earlier.splitlines() if line.strip()]
        self.flushed_at = 0.0
        if self.local:
            self.fh = self.fs.open(self.path, "a" if keep else "w")
        else:
            self._rewrite()

    def add(self, record: dict[str, Any]) -> None:
        """Write one record."""
        line = json.dumps(record) + "\n"
        self.lines.append(line)
        if self.local:
            self.fh.write(line)
            self.fh.flush()
        elif time.monotonic() - self.flushed_at > REPORT_FLUSH_S:
            self._rewrite()

    def close(self) -> None:
        """Write what is pending."""
        if self.local:
            self.fh.close()
        else:
            self._rewrite()

    def _rewrite(self) -> None:
        try:
            self.fs.pipe_file(self.path, "".join(self.lines).encode())
        except OSError as err:
            msg = f"{self.path}: cannot write the batch report ({err})"
            raise OutputError(msg) from err
        self.flushed_at = time.monotonic()
