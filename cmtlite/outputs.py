"""Safe output files: check first, write to a temporary file, then rename.

An output is never left half written, an existing file is never replaced
unless the caller passes ``force=True``, and an input is never replaced at
all: :func:`check_outputs` refuses an output that is one of the command's
inputs (the same path, or the same file through a symlink, a hard link or
``..``) before any work starts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cmtlite.errors import OutputError


def check_output(path: Path, *, force: bool) -> Path:
    """Check that ``path`` can be written before any long work starts.

    Parameters
    ----------
    path : Path
        The file to be written.
    force : bool
        Allow replacing an existing file.

    Returns
    -------
    Path
        ``path``, made absolute.

    Raises
    ------
    OutputError
        The file exists (without ``force``), is a folder, or its folder is
        missing or not writable.
    """
    path = Path(path).absolute()
    if path.is_dir():
        msg = f"{path}: output is a directory"
        raise OutputError(msg)
    if path.exists() and not force:
        msg = f"{path}: output exists (use --force to overwrite)"
        raise OutputError(msg)
    parent = path.parent
    if not parent.is_dir():
        msg = f"{path}: output directory {parent} does not exist"
        raise OutputError(msg)
    if not os.access(parent, os.W_OK | os.X_OK):
        msg = f"{path}: output directory {parent} is not writable"
        raise OutputError(msg)
    return path


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file: the same resolved path, or (both existing) the same inode."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and a.samefile(b)
    except OSError:
        return False


def check_outputs(outputs: Iterable[Path | None], *, inputs: Iterable[Path | None] = (), force: bool) -> list[Path]:
    """Check every output of a command (None: not wanted) before any work: :func:`check_output`, and never an input.

    Parameters
    ----------
    outputs : iterable of Path or None
        The files the command will write.
    inputs : iterable of Path or None
        The files it reads (videos, MIDI, controls, models, soundfonts ...).
    force : bool
        Allow replacing existing outputs (never inputs).

    Returns
    -------
    list of Path
        The outputs, made absolute.

    Raises
    ------
    OutputError
        An output is one of the inputs, or fails :func:`check_output`.
    """
    wanted = [Path(p) for p in outputs if p is not None]
    check_not_inputs(wanted, inputs)
    return [check_output(output, force=force) for output in wanted]


def check_not_inputs(outputs: Iterable[Path], inputs: Iterable[Path | None]) -> None:
    """Refuse outputs that are inputs (:func:`same_file`); ``--force`` never changes this.

    Raises
    ------
    OutputError
        Naming the first output that would overwrite an input.
    """
    sources = [Path(p) for p in inputs if p is not None]
    for output in outputs:
        clash = next((source for source in sources if same_file(output, source)), None)
        if clash is not None:
            msg = f"{output}: output would overwrite the input {clash} (choose another output path)"
            raise OutputError(msg)


def check_output_folder(folder: Path, *, inputs: Iterable[Path | None]) -> Path:
    """Refuse an output folder that is an input or holds one (replacing or clearing it would lose the input).

    Raises
    ------
    OutputError
        ``folder`` is, or contains, one of ``inputs``.
    """
    folder = Path(folder)
    for source in (Path(p) for p in inputs if p is not None):
        if same_file(folder, source) or folder.resolve() in source.resolve().parents:
            msg = f"{folder}: output folder would replace the input {source} (choose another output folder)"
            raise OutputError(msg)
    return folder.absolute()


@contextmanager
def atomic_output(path: Path, *, force: bool) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    The temporary name keeps the suffix, so libraries that pick a format from
    the extension still work. On any exception (``KeyboardInterrupt``
    included) the temporary file is removed and ``path`` is untouched.

    Examples
    --------
    >>> with atomic_output(Path("out.json"), force=False) as tmp:  # doctest: +SKIP
    ...     tmp.write_text("{}")
    """
    path = check_output(path, force=force)
    tmp = path.with_name(f".{path.stem}.partial-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        if not tmp.exists():
            msg = f"{path}: nothing was written"
            raise OutputError(msg)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete temporary files under ``folder`` left by :func:`atomic_output` in processes that no longer run (killed)."""
    removed = []
    for tmp in Path(folder).rglob(".*.partial-*"):
        pid = tmp.name.rsplit(".partial-", 1)[-1].split(".", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_json(path: Path, obj: Any, *, force: bool) -> Path:  # noqa: ANN401
    """Write ``obj`` as indented JSON to ``path`` atomically; return the path."""
    with atomic_output(path, force=force) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n")
    return Path(path).absolute()
