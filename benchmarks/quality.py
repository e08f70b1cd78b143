"""The quality report: music metrics and control fidelity of cmtlite's soundtracks against real music.

    python benchmarks/quality.py [--out reports] [--limit N]

Regenerates ``reports/quality.md`` (+ ``quality.json`` and the PNGs it
embeds) with the shipped model on the CPU:

1. reference metrics over each corpus in ../shared/data (``--limit`` files each);
2. default soundtracks for every clip in ../shared/videos, two procedural
   clips and two aperiodic procedural clips drawn from a seed (shots of
   random length and bounce rate: videos no setting was tuned on): music
   metrics, gap to the real multi-track reference (Lakh), control fidelity
   and hit points per clip (MIDI and rendered audio: strong visual beats hit,
   cuts on beats and downbeats, tempo-map changes);
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
from cmtlite.audio.render import master, resolve_soundfont, write_wav
from cmtlite.constants import REPO_ROOT
from cmtlite.evaluate import CONTROL_METRICS, MUSIC_METRICS, control_metrics, evaluate_file, mean_metrics, read_notes
from cmtlite.model import default_model_path, load_model
from cmtlite.music.grammar import FREE, Controls
from cmtlite.music.sampler import generate_tokens
from cmtlite.plots import plot_soundtrack
from cmtlite.soundtrack import HitPoints, MusicOptions, Soundtrack, compose, render_raw, write_soundtrack_midi
from cmtlite.tokens.codec import decode
from cmtlite.video.clips import Scene, demo_scenes, write_clip

SHARED = REPO_ROOT.parent / "shared"
CORPORA = ("pop909", "groove", "nottingham", "lakh_sample")
VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov"}
HIT_COLUMNS = ("audio_hit_rate", "max_tempo_change")
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
    clips = [write_clip(folder / "procedural-demo.mp4", demo_scenes()), write_clip(folder / "procedural-calm.mp4", calm)]
    for seed in (1, 2):  # aperiodic: every shot has its own length and rate, cuts fall anywhere
        rng = np.random.default_rng(seed)
        shots = [Scene(duration_s=float(rng.uniform(1.2, 7.0)), bounce_s=float(rng.uniform(0.35, 1.4)),
                       travel=float(rng.uniform(0.15, 0.7)), background=tuple(int(c) for c in rng.integers(10, 200, 3)))
                 for _ in range(7)]
        clips.append(write_clip(folder / f"aperiodic-seed{seed}.mp4", shots, size=(640, 360)))
    return clips


def tempo_map_stats(controls) -> dict:  # noqa: ANN001
    """Largest bar-to-bar tempo change and the tempo range relative to the analysed tempo."""
    tempos = controls.bar_tempos_bpm()
    change = float(np.abs(np.diff(tempos) / tempos[:-1]).max()) if len(tempos) > 1 else 0.0
    return {"max_tempo_change": change, "tempo_min_ratio": float(tempos.min() / controls.tempo_bpm),
            "tempo_max_ratio": float(tempos.max() / controls.tempo_bpm)}


def soundtrack(model, video: Path, folder: Path, **options) -> tuple[object, Path, object]:  # noqa: ANN001, ANN003
    controls = analyze_video(video)
    track = compose(model, controls, MusicOptions(seed=0, **options))
    midi = folder / f"{video.stem}{'-' + '-'.join(f'{k}{v}' for k, v in options.items()) if options else ''}.mid"
    write_soundtrack_midi(track, midi)
    return controls, midi, track


def rendered(track, soundfont: Path, path: Path) -> Path:  # noqa: ANN001
    """The soundtrack as the user hears it: rendered, mastered, written as WAV."""
    write_wav(master(render_raw(track, soundfont, fade_out_s=0.0), -16.0)[0], path, force=True)
    return path


def uniform_run(model, controls, folder: Path, stem: str) -> Path:  # noqa: ANN001
    """The same video's music with its controls off: one mean density for every bar and no forced beats."""
    n_bars = controls.n_bars
    mean_density = round(float(np.mean(controls.bar_density())))
    sampler_controls = Controls(n_bars, np.full(n_bars, mean_density), np.full(4 * n_bars, FREE))
    score = decode(generate_tokens(model, sampler_controls, seed=0), tempo_bpm=controls.tempo_bpm)
    no_hits = HitPoints(ticks=np.zeros(0, np.int64), offsets_s=np.zeros(0), strengths=np.zeros(0), cut_ticks=np.zeros(0, np.int64))
    track = Soundtrack(tokens=np.zeros((0, 8)), score=score, timing=controls.timing(), duration_s=controls.duration_s, hits=no_hits)
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
    soundfont = resolve_soundfont()
    reference = reference_metrics(args.limit)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        videos = sorted(p for p in (SHARED / "videos").iterdir() if p.suffix.lower() in VIDEO_SUFFIXES) + procedural_clips(tmp)
        clips = []
        for video in videos:
            t0 = time.perf_counter()
            controls, midi, track = soundtrack(model, video, tmp)
            result = evaluate_file(midi, controls, audio=rendered(track, soundfont, tmp / f"{video.stem}.wav"))
            result["file"] = midi.name  # the temporary folder is gone after the run
            clips.append({"clip": video.name, "seconds": round(time.perf_counter() - t0, 1), "duration_s": controls.duration_s,
                          "bars": controls.n_bars, "tempo_source": controls.tempo_source, **tempo_map_stats(controls), **result})
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
    generated = mean_metrics(clips, MUSIC_METRICS + CONTROL_METRICS + HIT_COLUMNS)
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
    lines += ["", "## Hit points per clip", "",
              "Strong visual beats (strength >= 0.5) with a MIDI onset within 35 ms and with an onset heard in the rendered audio "
              "(librosa) within 70 ms; scene cuts within 40 ms of a beat / of a downbeat (after a shot of at least two bars) of the "
              "MIDI file's own grid; the tempo map's largest bar-to-bar change and its range over the analysed tempo.", "",
              "| clip | tempo | hits 35 ms (MIDI) | hits 70 ms (audio) | cuts on beat | cuts on downbeat | max change / bar | range |",
              "|---|---|---:|---:|---:|---:|---:|---|"]
    for c in report["clips"]:
        lines.append(f"| {c['clip']} | {c['tempo_source']} | {fmt(c['hit_rate_35ms'])} | {fmt(c['audio_hit_rate'])} | "
                     f"{fmt(c['cut_on_beat_rate'])} | {fmt(c['cut_on_downbeat_rate'])} | {c['max_tempo_change']:.3f} | "
                     f"{c['tempo_min_ratio']:.2f}-{c['tempo_max_ratio']:.2f} |")
    lines.append(f"| **mean** | | **{fmt(gen['hit_rate_35ms'])}** | **{fmt(gen['audio_hit_rate'])}** | "
                 f"**{fmt(gen['cut_on_beat_rate'])}** | **{fmt(gen['cut_on_downbeat_rate'])}** | | |")
    for metric, target in (("hit_rate_35ms", 0.9), ("audio_hit_rate", 0.85), ("cut_on_beat_rate", 0.95), ("cut_on_downbeat_rate", 0.8)):
        verdict = "met" if gen[metric] is not None and gen[metric] >= target else "**not met**"
        lines.append(f"\nTarget {metric} >= {target} on average: {fmt(gen[metric])}, {verdict}.")
    worst = max(c["max_tempo_change"] for c in report["clips"])
    lines.append(f"\nLargest bar-to-bar tempo change on any clip: {worst:.3f} (limit 0.08).")
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
