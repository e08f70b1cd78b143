"""The quality report: music metrics and control fidelity of cmtlite's soundtracks against real music.

    python benchmarks/quality.py [--out reports] [--limit N]

Regenerates ``reports/quality.md`` (+ ``quality.json`` and the PNGs it
embeds) with the shipped model on the CPU:

1. reference metrics over each corpus in ../shared/data (``--limit`` files each);
2. default soundtracks for every clip in ../shared/videos and two procedural
   clips: music metrics, gap to the real multi-track reference (Lakh), control
   fidelity per clip;
3. a ``--density-shift`` sweep -3..+3 on one clip (notes per bar);
4. the same clip with its controls on and off (uniform density, no forced beats);
5. piano rolls with the controls for two clips.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cmtlite.analysis import analyze_video
from cmtlite.clips import Scene, demo_scenes, write_clip
from cmtlite.constants import REPO_ROOT
from cmtlite.evaluate import CONTROL_METRICS, MUSIC_METRICS, control_metrics, evaluate_file, mean_metrics, read_notes
from cmtlite.model import default_model_path, load_model
from cmtlite.plots import plot_soundtrack
from cmtlite.sampler import FREE, Controls, generate_tokens
from cmtlite.soundtrack import MusicOptions, Soundtrack, compose, write_soundtrack_midi
from cmtlite.tokens.codec import decode

SHARED = REPO_ROOT.parent / "shared"
CORPORA = ("pop909", "groove", "nottingham", "lakh_sample")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov"}
# Published anchors (other data: LPD-5 for CMT, POP909 for V-MusProd).
CMT = {"real": {"PE": 4.452, "GPS": 0.968, "SI": 0.488}, "model": {"PE": 3.617, "GPS": 0.810, "SI": 0.241}}
VMUSPROD = {"real": {"SC": 0.965, "PE": 4.455, "PCE": 2.774, "EBR": 0.005, "IOI": 0.125}}
VMUSPROD["model"] = {"SC": 0.967, "PE": 4.070, "PCE": 2.774, "EBR": 0.005, "IOI": 0.171}


def fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def reference_metrics(limit: int) -> dict[str, dict]:
    out = {}
    for name in CORPORA:
        paths = sorted(p for p in (SHARED / "data" / name).rglob("*.mid"))[:limit]
        results = []
        for path in paths:
            try:
                results.append(evaluate_file(path))
            except Exception as err:  # noqa: BLE001 - a bad file is reported, not fatal
                print(f"skip {path}: {err}")
        out[name] = {"files": len(results), **mean_metrics(results, MUSIC_METRICS)}
    return out


def procedural_clips(folder: Path) -> list[Path]:
    calm = [Scene(duration_s=12.0, bounce_s=1.5, travel=0.2, background=(30, 40, 70))]
    return [write_clip(folder / "procedural-demo.mp4", demo_scenes()), write_clip(folder / "procedural-calm.mp4", calm)]


def soundtrack(model, video: Path, folder: Path, **options) -> tuple[object, Path, object]:  # noqa: ANN001, ANN003
    controls = analyze_video(video)
    track = compose(model, controls, MusicOptions(seed=0, **options))
    midi = folder / f"{video.stem}{'-' + '-'.join(f'{k}{v}' for k, v in options.items()) if options else ''}.mid"
    write_soundtrack_midi(track, midi)
    return controls, midi, track


def uniform_run(model, controls, folder: Path, stem: str) -> Path:  # noqa: ANN001
    """The same video's music with its controls off: one mean density for every bar and no forced beats."""
    n_bars = controls.n_bars
    mean_density = round(float(np.mean(controls.bar_density())))
    sampler_controls = Controls(n_bars, np.full(n_bars, mean_density), np.full(4 * n_bars, FREE))
    score = decode(generate_tokens(model, sampler_controls, seed=0), tempo_bpm=controls.tempo_bpm)
    track = Soundtrack(tokens=np.zeros((0, 8)), score=score, shift_s=controls.grid_start_s, duration_s=controls.duration_s)
    path = folder / f"{stem}-controls-off.mid"
    write_soundtrack_midi(track, path)
    return path


def main() -> None:  # noqa: PLR0915
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "reports")
    parser.add_argument("--limit", type=int, default=300, help="reference files per corpus")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model, metadata = load_model(default_model_path())
    reference = reference_metrics(args.limit)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        videos = sorted(p for p in (SHARED / "videos").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) + procedural_clips(tmp)
        clips = []
        for video in videos:
            t0 = time.perf_counter()
            controls, midi, track = soundtrack(model, video, tmp)
            result = evaluate_file(midi, controls)
            clips.append({"clip": video.name, "seconds": round(time.perf_counter() - t0, 1), "duration_s": controls.duration_s,
                          "bars": controls.n_bars, **result})
            print(video.name, {k: fmt(result[k]) for k in (*MUSIC_METRICS, *CONTROL_METRICS)})
            if video.name in {"big-buck-bunny-480p-30s.mp4", "procedural-demo.mp4"}:
                plot_soundtrack(controls, track.notes_s(), args.out / f"{video.stem}.png", force=True)
        sweep_clip = next(v for v in videos if v.name == "procedural-demo.mp4")
        sweep = []
        for shift in range(-3, 4):
            controls, midi, _ = soundtrack(model, sweep_clip, tmp, density_shift=shift)
            notes = read_notes(midi)
            sweep.append({"density_shift": shift, "notes_per_bar": len(notes.pitch) / controls.n_bars,
                          "onsets_per_bar": len(np.unique(notes.onset_ticks)) / controls.n_bars,
                          **control_metrics(notes, controls)})
        controls, on_midi, _ = soundtrack(model, sweep_clip, tmp)
        on_off = {"on": control_metrics(read_notes(on_midi), controls),
                  "off": control_metrics(read_notes(uniform_run(model, controls, tmp, sweep_clip.stem)), controls)}
    generated = mean_metrics(clips, MUSIC_METRICS + CONTROL_METRICS)
    report = {"model": metadata.get("step"), "reference": reference, "clips": clips, "generated_mean": generated,
              "density_sweep": sweep, "controls_on_off": on_off, "wall_s": round(time.perf_counter() - started, 1)}
    (args.out / "quality.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "quality.md").write_text(render_markdown(report))
    print(f"wrote {args.out / 'quality.md'} in {report['wall_s']} s")


def render_markdown(report: dict) -> str:  # noqa: C901, PLR0912
    gen, real = report["generated_mean"], report["reference"]["lakh_sample"]
    lines = [
        "# cmtlite quality report",
        "",
        "Regenerate with `python benchmarks/quality.py` (shipped model, CPU, seed 0, default settings). "
        "Metric definitions: README, *Evaluation*. Published anchors were measured on other data (CMT on LPD-5, "
        "V-MusProd on POP909) and are shown for scale only.",
        "",
        "## Music metrics",
        "",
        "| | " + " | ".join(MUSIC_METRICS) + " |",
        "|---|" + "---:|" * len(MUSIC_METRICS),
    ]
    for name, values in report["reference"].items():
        lines.append(f"| real: {name} ({values['files']} files) | " + " | ".join(fmt(values[m]) for m in MUSIC_METRICS) + " |")
    lines.append(f"| **cmtlite** ({len(report['clips'])} clips) | " + " | ".join(f"**{fmt(gen[m])}**" for m in MUSIC_METRICS) + " |")
    lines.append("| gap to real multi-track (Lakh) | " + " | ".join(
        fmt(None if gen[m] is None or real[m] is None else abs(gen[m] - real[m])) for m in MUSIC_METRICS) + " |")
    for label, anchor in (("CMT paper", CMT), ("V-MusProd paper", VMUSPROD)):
        lines.append(f"| {label}: real | " + " | ".join(fmt(anchor["real"].get(m)) for m in MUSIC_METRICS) + " |")
        lines.append(f"| {label}: model | " + " | ".join(fmt(anchor["model"].get(m)) for m in MUSIC_METRICS) + " |")
        lines.append(f"| {label}: gap | " + " | ".join(
            fmt(abs(anchor["real"][m] - anchor["model"][m]) if m in anchor["real"] else None) for m in MUSIC_METRICS) + " |")
    lines += ["", "Gap targets (ours vs. CMT's published gap to its real data):", ""]
    for metric in ("PE", "GPS", "SI"):
        ours = None if gen[metric] is None else abs(gen[metric] - real[metric])
        theirs = abs(CMT["real"][metric] - CMT["model"][metric])
        verdict = "met" if ours is not None and ours < theirs else "**not met**"
        lines.append(f"- {metric}: ours {fmt(ours)} vs CMT {fmt(theirs)}: {verdict}")
    lines += ["", "## Control fidelity per clip", ""]
    lines += ["| clip | s | bars | density_spearman | density_mae | strength_mae | beat_hit_rate | SC | GPS |", "|---|" + "---:|" * 8]
    for c in report["clips"]:
        lines.append(f"| {c['clip']} | {c['duration_s']:.1f} | {c['bars']} | {fmt(c['density_spearman'])} | {fmt(c['density_mae'])} | "
                     f"{fmt(c['strength_mae'])} | {fmt(c['beat_hit_rate'])} | {fmt(c['SC'])} | {fmt(c['GPS'])} |")
    lines.append(f"| **mean** | | | **{fmt(gen['density_spearman'])}** | {fmt(gen['density_mae'])} | {fmt(gen['strength_mae'])} | "
                 f"**{fmt(gen['beat_hit_rate'])}** | | |")
    for metric in ("density_spearman", "beat_hit_rate"):
        verdict = "met" if gen[metric] is not None and gen[metric] >= 0.9 else "**not met**"
        lines.append(f"\nTarget {metric} >= 0.9 on average: {fmt(gen[metric])}, {verdict}.")
    lines += ["", "## Density sweep (procedural demo clip)", "", "| --density-shift | notes / bar | onset ticks / bar | density_spearman |",
              "|---:|---:|---:|---:|"]
    for row in report["density_sweep"]:
        cells = f"{row['notes_per_bar']:.1f} | {row['onsets_per_bar']:.2f} | {fmt(row['density_spearman'])}"
        lines.append(f"| {row['density_shift']:+d} | {cells} |")
    on, off = report["controls_on_off"]["on"], report["controls_on_off"]["off"]
    lines += ["", "## Controls on vs off (procedural demo clip)", ""]
    lines += ["| | density_spearman | density_mae | beat_hit_rate |", "|---|---:|---:|---:|",
              f"| video controls | {fmt(on['density_spearman'])} | {fmt(on['density_mae'])} | {fmt(on['beat_hit_rate'])} |",
              f"| uniform (off) | {fmt(off['density_spearman'])} | {fmt(off['density_mae'])} | {fmt(off['beat_hit_rate'])} |",
              "", "## Piano rolls", ""]
    for name in ("procedural-demo", "big-buck-bunny-480p-30s"):
        lines.append(f"![{name}]({name}.png)")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
