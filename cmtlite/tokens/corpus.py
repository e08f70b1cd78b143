"""The training corpus: MIDI directories -> CP token arrays, split by piece, with statistics.

Layout of a corpus directory::

    meta.json              vocabulary, sources, split, counts, statistics, pieces
    train.npy, val.npy     int16 tokens, shape (T, N_FIELDS), pieces back to back
    train_offsets.npy ...  int64, shape (n_pieces + 1,): piece i is tokens[o[i]:o[i+1]]

Which files are what is recognized from the data itself: a MIDI file with a
POP909 ``chord_midi.txt`` beside it is put on its chord beat grid and (with
``arrange="mma"``) arranged for a band, once per groove; a directory with a
Groove MIDI Dataset ``info.csv`` has its Roland TD-11 drum notes mapped to
General MIDI and keeps only its 4/4 performances; anything else is read as
plain MIDI (:func:`~cmtlite.tokens.midi.read_midi`).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cmtlite import __version__
from cmtlite.constants import BEATS_PER_BAR, REPO_ROOT, TICKS_PER_BAR
from cmtlite.errors import CmtliteError, ConfigError, OutputError
from cmtlite.outputs import check_output_folder
from cmtlite.progress import progress_bar
from cmtlite.timing import tempo_to_beat_s
from cmtlite.tokens.arrange import CHORD_FILE, MMA_GROOVES, arrange_song, require_mma
from cmtlite.tokens.chords import NO_CHORD, QUALITIES
from cmtlite.tokens.codec import FAMILY_COL, START_COL, Score, bar_densities, encode, make_score, onset_strengths
from cmtlite.tokens.midi import read_midi
from cmtlite.tokens.vocab import FAMILIES, FIELDS, N_FIELDS, STRENGTH_CAP, VOCAB_SIZES

FORMAT_VERSION = 2
SPLITS = ("train", "val")
DEFAULT_SOURCES = ("pop909", "groove")  # under ../shared/data; Lakh is evaluation-only, Nottingham is GPL-3.0
MIN_BARS = 4
MIN_NOTES = 16
# Roland TD-11 notes of the Groove MIDI Dataset -> General MIDI drums (Gillick et al. 2019, table 2).
TD11_TO_GM = {22: 42, 26: 46, 36: 36, 37: 37, 38: 38, 40: 38, 42: 42, 43: 43, 44: 44, 45: 47, 46: 46, 47: 47, 48: 50, 49: 49, 50: 50}
TD11_TO_GM |= {51: 51, 52: 57, 53: 53, 55: 49, 57: 57, 58: 43, 59: 59}
_GROOVE_INFO = "info.csv"


def default_data_dirs() -> list[Path]:
    """The shipped model's training corpora in ``../shared/data`` (next to the repository)."""
    return [REPO_ROOT.parent / "shared" / "data" / name for name in DEFAULT_SOURCES]


@dataclass(frozen=True)
class Job:
    """One piece to encode: ``path`` read as ``kind`` (``midi``, ``groove``, ``pop909``), with its MMA ``groove``."""

    path: Path
    name: str
    group: str
    kind: str
    groove: str | None = None
    seed: int = 0


def _groove_signatures(data_dir: Path) -> dict[Path, str]:
    """MIDI path -> time signature from a Groove MIDI Dataset ``info.csv`` in ``data_dir`` (empty if none)."""
    info = data_dir / _GROOVE_INFO
    if not info.is_file():
        return {}
    with info.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"midi_filename", "time_signature"} <= set(rows[0]):
        return {}
    return {data_dir / row["midi_filename"]: row["time_signature"] for row in rows}


def _stable_int(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def find_jobs(data_dirs: list[Path], *, arrange: str, grooves_per_song: int, seed: int) -> tuple[list[Job], Counter]:
    """The pieces in ``data_dirs`` (sorted) and the counts of files skipped before reading, by reason."""
    jobs, skipped = [], Counter()
    for data_dir in data_dirs:
        if not data_dir.is_dir():
            msg = f"{data_dir}: not a directory"
            raise ConfigError(msg)
        signatures = _groove_signatures(data_dir)
        paths = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in {".mid", ".midi"} and p.is_file())
        for path in paths:
            name = f"{data_dir.name}/{path.relative_to(data_dir).as_posix()}"
            if signatures:
                signature = signatures.get(path)
                if signature != "4-4":
                    skipped["not 4/4 (Groove info.csv)" if signature else "not listed in Groove info.csv"] += 1
                    continue
                jobs.append(Job(path, name, name, "groove"))
            elif (path.parent / CHORD_FILE).is_file():
                if arrange == "none":
                    jobs.append(Job(path, name, name, "pop909"))
                    continue
                rng = np.random.default_rng([seed, _stable_int(name)])
                for groove in rng.choice(MMA_GROOVES, size=min(grooves_per_song, len(MMA_GROOVES)), replace=False):
                    jobs.append(Job(path, f"{name}@{groove}", name, "pop909", str(groove), _stable_int(seed, name, groove) % 2**31))
            else:
                jobs.append(Job(path, name, name, "midi"))
    return jobs, skipped


def read_job(job: Job) -> tuple[Score, dict[str, int]]:
    """The score of one job (see the module doc for the kinds)."""
    if job.kind == "pop909":
        return arrange_song(job.path, groove=job.groove, seed=job.seed)
    score, stats = read_midi(job.path)
    if job.kind == "groove":
        notes = score.notes.copy()
        notes[:, 1] = [TD11_TO_GM.get(p, p) for p in notes[:, 1].tolist()]
        score, merged = make_score(notes, tempo_bpm=score.tempo_bpm, n_bars=score.n_bars)
        stats = {**stats, "merged_duplicates": stats["merged_duplicates"] + merged["merged_duplicates"]}
    return score, stats


def encode_job(job: Job) -> tuple[np.ndarray | None, dict]:
    """(int16 tokens or None, info): info has the piece's facts, or ``skip`` with the reason."""
    try:
        score, stats = read_job(job)
    except CmtliteError as err:
        return None, {"skip": "unreadable", "detail": str(err)}
    if len(score.notes) == 0:
        return None, {"skip": "no notes in the five families"}
    if score.n_bars < MIN_BARS or len(score.notes) < MIN_NOTES:
        return None, {"skip": f"too short (< {MIN_BARS} bars or < {MIN_NOTES} notes)"}
    bars = score.notes[:, START_COL] // TICKS_PER_BAR
    family_bars = [len(np.unique(bars[score.notes[:, FAMILY_COL] == f])) for f in range(len(FAMILIES))]
    info = {
        "tempo_bpm": score.tempo_bpm,
        "n_bars": score.n_bars,
        "family_notes": np.bincount(score.notes[:, FAMILY_COL], minlength=len(FAMILIES)).tolist(),
        "family_bars": family_bars,
        "density_histogram": np.bincount(bar_densities(score), minlength=TICKS_PER_BAR + 1).tolist(),
        "strength_histogram": np.bincount(onset_strengths(score)[1], minlength=STRENGTH_CAP + 1).tolist(),
        "chord_quality_ticks": np.bincount(chord_qualities(score.chords), minlength=len(QUALITIES) + 1).tolist(),
        "chord_changes": len(score.chord_changes()) - 1,
        "stats": stats,
    }
    return encode(score).astype(np.int16), info


def chord_qualities(chords: np.ndarray) -> np.ndarray:
    """Quality index + 1 of every tick's chord (0: no chord), shape like ``chords``."""
    chords = np.asarray(chords, np.int64)
    return np.where(chords == NO_CHORD, 0, (chords - 1) % len(QUALITIES) + 1)


def _chord_summary(infos: list[dict]) -> dict:
    """Share of ticks under each chord quality (and none), chord changes per bar, pieces with chords."""
    ticks = np.sum([i["chord_quality_ticks"] for i in infos], axis=0) if infos else np.zeros(len(QUALITIES) + 1)
    bars = sum(i["n_bars"] for i in infos)
    return {
        "tick_share": {name: round(float(n / max(ticks.sum(), 1)), 4) for name, n in zip(("N", *QUALITIES), ticks, strict=True)},
        "changes_per_bar": round(sum(i["chord_changes"] for i in infos) / max(bars, 1), 3),
        "pieces_with_chords": sum(1 for i in infos if sum(i["chord_quality_ticks"][1:]) > 0),
    }


def split_groups(groups: list[str], *, val_fraction: float, seed: int) -> set[str]:
    """The seeded validation groups (all versions of one song share a group, so a split is by song)."""
    unique = sorted(set(groups))
    n_val = round(val_fraction * len(unique))
    if val_fraction > 0 and len(unique) > 1:
        n_val = min(max(n_val, 1), len(unique) - 1)
    order = np.random.default_rng(seed).permutation(len(unique))
    return {unique[i] for i in order[:n_val]}


def _bar_hours(n_bars: int, tempo_bpm: float) -> float:
    return n_bars * BEATS_PER_BAR * tempo_to_beat_s(tempo_bpm) / 3600.0


def _split_summary(infos: list[dict], tokens: np.ndarray) -> dict:
    family_notes = np.sum([i["family_notes"] for i in infos], axis=0) if infos else np.zeros(len(FAMILIES))
    family_hours = [sum(_bar_hours(i["family_bars"][f], i["tempo_bpm"]) for i in infos) for f in range(len(FAMILIES))]
    return {
        "pieces": len(infos),
        "tokens": len(tokens),
        "bars": sum(i["n_bars"] for i in infos),
        "hours": round(sum(_bar_hours(i["n_bars"], i["tempo_bpm"]) for i in infos), 3),
        "family_note_tokens": dict(zip(FAMILIES, map(int, family_notes), strict=True)),
        "family_hours": {f: round(h, 3) for f, h in zip(FAMILIES, family_hours, strict=True)},
    }


def prepare_corpus(
    data_dirs: list[Path],
    output_dir: Path,
    *,
    arrange: str = "mma",
    grooves_per_song: int = 2,
    val_fraction: float = 0.05,
    seed: int = 0,
    workers: int | None = None,
    force: bool = False,
    quiet: bool = False,
) -> dict:
    """Encode every MIDI piece under ``data_dirs`` into a corpus at ``output_dir``; returns its meta.

    The output is written to a temporary sibling directory and renamed into
    place, so a failed or interrupted run leaves no partial corpus. The same
    inputs and arguments give byte-identical files.

    Raises
    ------
    ConfigError
        Bad arguments, a data directory that does not exist, no pieces found,
        or ``mma`` missing when arranging.
    OutputError
        ``output_dir`` exists and ``force`` is not set.
    """
    if arrange not in {"mma", "none"}:
        msg = f"arrange must be 'mma' or 'none' (got {arrange!r})"
        raise ConfigError(msg)
    if not 0 <= val_fraction < 1:
        msg = f"validation fraction must be in [0, 1) (got {val_fraction})"
        raise ConfigError(msg)
    if grooves_per_song < 1:
        msg = f"grooves per song must be >= 1 (got {grooves_per_song})"
        raise ConfigError(msg)
    output_dir = Path(output_dir)
    check_output_folder(output_dir, inputs=data_dirs)
    if output_dir.exists() and not force:
        msg = f"{output_dir} exists (use --force to replace it)"
        raise OutputError(msg)
    if not output_dir.parent.is_dir():
        msg = f"{output_dir.parent}: output directory's parent does not exist"
        raise OutputError(msg)
    if arrange == "mma":
        require_mma()
    jobs, skipped = find_jobs([Path(d) for d in data_dirs], arrange=arrange, grooves_per_song=grooves_per_song, seed=seed)
    if not jobs:
        msg = f"no MIDI files found in {', '.join(map(str, data_dirs))}"
        raise ConfigError(msg)
    workers = max(1, workers or os.cpu_count() or 1)
    results = _run_jobs(jobs, workers=workers, quiet=quiet)

    usable = [job.group for job, (tokens, _) in zip(jobs, results, strict=True) if tokens is not None]
    val_groups = split_groups(usable, val_fraction=val_fraction, seed=seed)
    pieces = {split: [] for split in SPLITS}
    arrays: dict[str, list[np.ndarray]] = {split: [] for split in SPLITS}
    infos: dict[str, list[dict]] = {split: [] for split in SPLITS}
    skipped_files, totals, grooves = [], Counter(), Counter()
    for job, (tokens, info) in zip(jobs, results, strict=True):
        if tokens is None:
            skipped[info["skip"]] += 1
            skipped_files.append({"piece": job.name, "reason": info["skip"], **({"detail": info["detail"]} if "detail" in info else {})})
            continue
        split = "val" if job.group in val_groups else "train"
        totals.update(info["stats"])
        grooves.update([job.groove] if job.groove else [])
        arrays[split].append(tokens)
        infos[split].append(info)
        piece = {"name": job.name, "tempo_bpm": info["tempo_bpm"], "n_bars": info["n_bars"], "n_tokens": len(tokens)}
        pieces[split].append(piece | ({"groove": job.groove} if job.groove else {}))

    train = infos["train"]
    meta = {
        "format_version": FORMAT_VERSION,
        "cmtlite_version": __version__,
        "fields": list(FIELDS),
        "vocab_sizes": dict(zip(FIELDS, VOCAB_SIZES, strict=True)),
        "families": list(FAMILIES),
        "sources": [os.path.relpath(d) for d in data_dirs],
        "arrange": {
            "method": arrange,
            "grooves_per_song": grooves_per_song if arrange == "mma" else 0,
            "grooves_used": dict(sorted(grooves.items())),
        },
        "seed": seed,
        "val_fraction": val_fraction,
        "splits": {split: _split_summary(infos[split], np.concatenate(arrays[split]) if arrays[split] else []) for split in SPLITS},
        "skipped": dict(sorted(skipped.items())),
        "changes": dict(sorted(totals.items())),
        "statistics": {
            "note": "training split; bar density = distinct onset ticks per bar (index 0..16), "
            "position strength = notes per onset tick (index 0..cap)",
            "bar_density_histogram": np.sum([i["density_histogram"] for i in train], axis=0).tolist() if train else [],
            "position_strength_histogram": np.sum([i["strength_histogram"] for i in train], axis=0).tolist() if train else [],
            "chords": _chord_summary(train),
        },
        "pieces": pieces,
        "skipped_files": skipped_files,
    }
    if not pieces["train"]:
        msg = f"no usable pieces in {', '.join(map(str, data_dirs))} (skipped: {dict(skipped)})"
        raise ConfigError(msg)
    _write_corpus(output_dir, meta, arrays)
    return meta


def _run_jobs(jobs: list[Job], *, workers: int, quiet: bool) -> list[tuple[np.ndarray | None, dict]]:
    with progress_bar(total=len(jobs), desc="encode", unit="piece", quiet=quiet) as bar:
        if workers == 1:
            results = []
            for job in jobs:
                results.append(encode_job(job))
                bar.update()
            return results
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for result in pool.map(encode_job, jobs, chunksize=4):
                results.append(result)
                bar.update()
            return results


def _write_corpus(output_dir: Path, meta: dict, arrays: dict[str, list[np.ndarray]]) -> None:
    partial = output_dir.with_name(f".{output_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir()
    try:
        for split, chunks in arrays.items():
            tokens = np.concatenate(chunks) if chunks else np.zeros((0, N_FIELDS), np.int16)
            offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
            np.save(partial / f"{split}.npy", tokens)
            np.save(partial / f"{split}_offsets.npy", offsets)
        (partial / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if output_dir.exists():
            shutil.rmtree(output_dir)
        partial.rename(output_dir)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


@dataclass(frozen=True)
class CorpusSplit:
    """One split of a prepared corpus: ``tokens`` (T, N_FIELDS) int16 and ``offsets`` (n_pieces + 1,)."""

    tokens: np.ndarray
    offsets: np.ndarray

    def piece(self, index: int) -> np.ndarray:
        """Tokens of piece ``index``, shape (T_i, N_FIELDS)."""
        return self.tokens[self.offsets[index] : self.offsets[index + 1]]

    def __len__(self) -> int:
        return len(self.offsets) - 1


def load_corpus(corpus_dir: Path) -> tuple[dict, dict[str, CorpusSplit]]:
    """(meta, splits) of a prepared corpus; token arrays are memory-mapped.

    Raises
    ------
    ConfigError
        Not a corpus directory, another format version, or vocabulary sizes that differ from this version's.
    """
    corpus_dir = Path(corpus_dir)
    try:
        meta = json.loads((corpus_dir / "meta.json").read_text())
        splits = {
            s: CorpusSplit(np.load(corpus_dir / f"{s}.npy", mmap_mode="r"), np.load(corpus_dir / f"{s}_offsets.npy")) for s in SPLITS
        }
    except (OSError, ValueError) as err:
        msg = f"{corpus_dir}: not a prepared corpus (run `cmtlite prepare`): {err.__class__.__name__}: {err}"
        raise ConfigError(msg) from err
    if meta.get("format_version") != FORMAT_VERSION or meta.get("vocab_sizes") != dict(zip(FIELDS, VOCAB_SIZES, strict=True)):
        msg = f"{corpus_dir}: corpus format or vocabulary differs from this cmtlite version's; prepare it again"
        raise ConfigError(msg)
    return meta, splits
