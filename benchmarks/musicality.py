"""The musicality report: groove, form, tune and roles of cmtlite's music next to POP909 and Lakh, through the same code.

    python benchmarks/musicality.py --label before [--out reports] [--pop909 21] [--cli-args "--variation 0.3"] [-q]
    python benchmarks/musicality.py --render   # rewrite the .md from the .json

Runs the current pipeline through its command line (``cmtlite generate
--midi`` and ``cmtlite sample``, so the script runs unchanged whatever the
composer does inside) with the shipped model on the CPU, and puts every piece
through :func:`cmtlite.evaluate.summary.musicality_metrics`:

1. generated: soundtracks of clips no setting was tuned on: four procedural
   clips drawn from seeds 41-44 (6-8 shots of random length, rate and travel
   in one of three looks each, so shots return; 640x360), and four clips of
   ../shared/videos (music seed 0);
2. free samples: ``cmtlite sample --bars 32`` (plan A B A B), seeds 21-24;
3. POP909: every 45th song (``--pop909`` songs spread over the set), on
   the beat grid its chord labels fix, chords from its labels;
4. the Lakh sample (all 12 songs; chords recognized).

Writes ``reports/musicality.json`` (results per ``--label``: a run with
``--label after`` keeps the ``before`` results) and ``reports/musicality.md``:
a table per group with the issues' targets (issue 21 section 6, issue 22
section 4) beside each metric, for every label: the mean over the pieces where
the metric is defined, min-max, whether the mean meets the target and how many
pieces do. Where no piece has a lead, the tune metrics of each piece's most
line-like other track (not drums or bass) are shown as ``best track`` rows.
An 8-bar score excerpt (``cmtlite score``) of the first generated clip ends
each label's section. Groups whose data is missing (no ../shared) are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cmtlite.constants import REPO_ROOT
from cmtlite.evaluate.form import FORM_METRICS, GROOVE_METRICS
from cmtlite.evaluate.melody import ROLE_METRICS, TUNE_METRICS, tune_metrics
from cmtlite.evaluate.notes import lead_part, read_piece
from cmtlite.evaluate.score import format_score
from cmtlite.evaluate.summary import musicality_metrics
from cmtlite.video.clips import Scene, write_clip

SHARED = REPO_ROOT.parent / "shared"
CLIP_SEEDS = (41, 42, 43, 44)  # procedural clips: seeds no other benchmark or test draws
SAMPLE_SEEDS = (21, 22, 23, 24)
SAMPLE_BARS = 32
SHARED_CLIPS = ("big-buck-bunny-480p-30s.mp4", "tears-of-steel-battle-clip.webm", "car-detection.mp4", "muybridge-race-horse.mp4")
POP909_STEP = 45
SIZE = (640, 360)
GROUPS = ("generated", "free samples", "POP909", "Lakh")
# (low, high) the issues ask for, None for open; metrics without a target are shown with "-".
TARGETS = {
    "drum_pattern_share": (0.65, None), "drum_consecutive_jaccard": (0.75, None), "bass_on_kick": (0.5, None),
    "bass_at_chord_changes": (0.85, None), "fills_before_sections": (0.5, None), "crashes_per_bar": (None, 0.5),
    "same_label_similarity": (0.6, None), "different_label_similarity": (None, 0.35), "block_match_8bar": (0.5, None),
    "bar_repetition": (0.6, None), "min_section_bars": (4, None),
    "lead_line_bars": (0.7, None), "lead_steps": (0.6, None), "lead_leaps": (None, 0.05), "lead_range": (None, 19),
    "lead_mean_interval": (None, 3), "lead_motif_notes": (8, None), "lead_phrase_ends_per_8_bars": (1, 5), "lead_chord_tones": (0.65, 0.95),
    "strings_long_share": (0.4, None), "strings_max_voices": (None, 4), "strings_cluster_share": (None, 0),
    "strings_outside_range": (None, 0),
    "guitar_outside_range": (None, 0), "guitar_doubling_piano": (None, 0.3), "guitar_notes_per_bar": (4, None),
    "same_velocity_share": (None, 0.5),
}
METRICS = GROOVE_METRICS + FORM_METRICS + TUNE_METRICS + ROLE_METRICS


def say(text: str, *, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def procedural_clips(folder: Path) -> list[Path]:
    """Clips drawn from CLIP_SEEDS: 6-8 shots, each in one of three looks (so looks return), of random length, rate and travel."""
    clips = []
    for seed in CLIP_SEEDS:
        rng = np.random.default_rng(seed)
        looks = [(tuple(int(c) for c in rng.integers(10, 240, 3)), tuple(int(c) for c in rng.integers(10, 240, 3))) for _ in range(3)]
        shots = []
        for index in range(int(rng.integers(6, 9))):
            background, ball = looks[index % 2 if index < 2 else int(rng.integers(len(looks)))]  # A B first, then drawn
            shots.append(Scene(duration_s=float(rng.uniform(3.5, 8.0)), bounce_s=float(rng.uniform(0.35, 1.4)),
                               travel=float(rng.uniform(0.15, 0.7)), background=background, ball=ball))
        clips.append(write_clip(folder / f"procedural-seed{seed}.mp4", shots, size=SIZE))
    return clips


def cmtlite(args: list[str]) -> None:
    """Run the ``cmtlite`` command line of this checkout (its exit code checked)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "cmtlite", *args, "-q", "--force"], capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        msg = f"cmtlite {' '.join(args)} failed: {done.stderr.strip()}"
        raise RuntimeError(msg)


def generated(folder: Path, extra: list[str], *, quiet: bool) -> list[tuple[str, Path]]:
    """(name, MIDI) of the soundtracks of the procedural and shared clips."""
    say(f"draw {len(CLIP_SEEDS)} procedural clips", quiet=quiet)
    videos = procedural_clips(folder) + [SHARED / "videos" / name for name in SHARED_CLIPS if (SHARED / "videos" / name).exists()]
    out = []
    for video in videos:
        midi = folder / f"{video.stem}.mid"
        say(f"generate {video.name}", quiet=quiet)
        cmtlite(["generate", str(video), "--midi", str(midi), "--seed", "0", *extra])
        out.append((video.name, midi))
    return out


def free_samples(folder: Path, extra: list[str], *, quiet: bool) -> list[tuple[str, Path]]:
    out = []
    for seed in SAMPLE_SEEDS:
        midi = folder / f"sample-seed{seed}.mid"
        say(f"sample seed {seed}", quiet=quiet)
        cmtlite(["sample", "-o", str(midi), "--bars", str(SAMPLE_BARS), "--seed", str(seed), *extra])
        out.append((f"sample seed {seed}", midi))
    return out


def real_pieces(n_pop909: int) -> dict[str, list[tuple[str, Path]]]:
    songs = sorted((SHARED / "data" / "pop909").glob("*/*.mid"))
    lakh = sorted((SHARED / "data" / "lakh_sample").glob("*.mid"))
    return {"POP909": [(p.name, p) for p in songs[::POP909_STEP][:n_pop909]], "Lakh": [(p.name, p) for p in lakh]}


def best_track_tune(path: Path) -> dict | None:
    """Tune metrics of the piece's most line-like track that is not drums or bass (pieces without a lead), else None."""
    notes = read_piece(path)
    if lead_part(notes) is not None:
        return None
    families = notes.part_families()
    others = [i for i, family in enumerate(families) if family not in ("drums", "bass") and (notes.part == i).any()]
    found = [tune_metrics(notes, part=i) for i in others]
    return max(found, key=lambda r: (r["lead_line_bars"] or 0, r["lead_steps"] or 0)) if found else None


def measure(pieces: list[tuple[str, Path]], *, quiet: bool) -> list[dict]:
    rows = []
    for name, path in pieces:
        say(f"measure {name}", quiet=quiet)
        rows.append({"piece": name, **musicality_metrics(path), "best_track": best_track_tune(path)})
    return rows


def meets(value: float, target: tuple[float | None, float | None]) -> bool:
    low, high = target
    return (low is None or value >= low - 1e-9) and (high is None or value <= high + 1e-9)


def summarize(rows: list[dict], name: str, pick: str | None = None) -> dict:
    """Mean, min, max over the pieces where ``name`` is defined, and how many meet its target."""
    values = [(r[pick] or {}).get(name) if pick else r.get(name) for r in rows]
    values = [float(v) for v in values if v is not None]
    if not values:
        return {"n": 0, "pieces": len(rows)}
    out = {"n": len(values), "pieces": len(rows), "mean": float(np.mean(values)), "min": min(values), "max": max(values)}
    if name in TARGETS:
        out |= {"met": meets(out["mean"], TARGETS[name]), "pieces_met": sum(meets(v, TARGETS[name]) for v in values)}
    return out


def group_summary(rows: list[dict]) -> dict:
    summary = {name: summarize(rows, name) for name in METRICS}
    if rows and all(r["best_track"] is not None for r in rows):
        summary |= {f"best track: {name}": summarize(rows, name, "best_track") for name in TUNE_METRICS}
    return summary


def target_text(name: str) -> str:
    low, high = TARGETS.get(name.removeprefix("best track: "), (None, None))
    if low is not None and high is not None:
        return f"{low:g}–{high:g}"
    if low is not None:
        return f"≥ {low:g}"
    return "-" if high is None else ("0" if high == 0 else f"≤ {high:g}")


def cell(summary: dict) -> tuple[str, str]:
    if not summary["n"]:
        return "n/a", ""
    value = f"{summary['mean']:.2f} ({summary['min']:.2f}–{summary['max']:.2f}, {summary['n']}/{summary['pieces']})"
    if "met" not in summary:
        return value, ""
    return value, f"{'met' if summary['met'] else 'not met'} ({summary['pieces_met']}/{summary['n']})"


def render_markdown(report: dict) -> str:
    labels = list(report)
    lines = ["# Musicality: groove, form, tune and roles (issues 21 and 22)", "",
             "Regenerated by `python benchmarks/musicality.py --label LABEL` (see its docstring for the pieces); definitions:",
             "`cmtlite/evaluate/form.py` and `cmtlite/evaluate/melody.py` (README, `cmtlite evaluate`). Cells: mean over the",
             "pieces where the metric is defined (min–max, defined/pieces); *met*: the mean meets the issue's target (pieces",
             "meeting it / defined). `n/a`: defined for no piece (e.g. no lead track before the lead family exists).", "",
             "Reading the real groups: POP909 is piano only (MELODY, BRIDGE, PIANO), so it has no drum, bass, strings or guitar",
             "figures; neither corpus has `section` markers, so their groove sections are 8-bar blocks from bar 0, which need not",
             "fall on their song sections (fills before sections are undercounted there) and their section metrics are `n/a`.", ""]
    for label in labels:
        run = report[label]
        lines.append(f"- `{label}`: commit {run['commit']}, {run['wall_s']:.0f} s; options {run['cli_args'] or 'none'}")
    for group in GROUPS:
        if not any(group in report[label]["groups"] for label in labels):
            continue
        names = list(dict.fromkeys(n for label in labels for n in report[label]["groups"].get(group, {}).get("summary", {})))
        header = ["metric", "target"] + [f"{label} {part}" for label in labels for part in ("", "met")]
        lines += ["", f"## {group}", "", "| " + " | ".join(h.strip() for h in header) + " |", "|" + "---|" * len(header)]
        for name in names:
            cells = [name, target_text(name)]
            for label in labels:
                summary = report[label]["groups"].get(group, {}).get("summary", {}).get(name)
                cells += list(cell(summary)) if summary else ["-", ""]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        pieces = {label: ", ".join(r["piece"] for r in report[label]["groups"].get(group, {}).get("pieces", [])) for label in labels}
        lines += [f"Pieces ({label}): {text}" for label, text in pieces.items() if text]
    for label in labels:
        if report[label].get("score"):
            lines += ["", f"## Score excerpt ({label}): {report[label]['score_piece']}, bars 0-7, `cmtlite score`", "", "```",
                      report[label]["score"], "```"]
    return "\n".join(lines) + "\n"


def git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def run(label: str, n_pop909: int, extra: list[str], *, quiet: bool) -> dict:
    started = time.perf_counter()
    groups: dict[str, list[tuple[str, Path]]] = {}
    result: dict = {"commit": git_commit(), "cli_args": " ".join(extra), "groups": {}}
    with tempfile.TemporaryDirectory(prefix="cmtlite-musicality-") as tmp:
        folder = Path(tmp)
        groups["generated"] = generated(folder, extra, quiet=quiet)
        groups["free samples"] = free_samples(folder, extra, quiet=quiet)
        if SHARED.is_dir():
            groups |= real_pieces(n_pop909)
        for group, pieces in groups.items():
            rows = measure(pieces, quiet=quiet)
            result["groups"][group] = {"pieces": rows, "summary": group_summary(rows)}
        name, first = groups["generated"][0]
        result |= {"score_piece": name, "score": format_score(read_piece(first), bars=(0, 7))}
    result["wall_s"] = time.perf_counter() - started
    say(f"{label}: {result['wall_s']:.0f} s", quiet=quiet)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="before", help="name of this run in the report (e.g. before, after)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--pop909", type=int, default=21, help="POP909 songs (every 45th)")
    parser.add_argument("--cli-args", default="", help="extra options for cmtlite generate and sample (e.g. '--variation 0.3')")
    parser.add_argument("--render", action="store_true", help="only rewrite musicality.md from musicality.json")
    parser.add_argument("-q", "--quiet", action="store_true")
    args = parser.parse_args()
    path = args.out / "musicality.json"
    report = json.loads(path.read_text()) if path.exists() else {}
    if not args.render:
        report[args.label] = run(args.label, args.pop909, shlex.split(args.cli_args), quiet=args.quiet)
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "musicality.md").write_text(render_markdown(report))
    print(f"wrote {args.out / 'musicality.md'} ({', '.join(report)})")


if __name__ == "__main__":
    main()
