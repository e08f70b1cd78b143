"""The ``cmtlite`` command line: one thin command per pipeline stage.

Every user mistake ends as one ``error: ...`` line on stderr and exit code 2;
Ctrl-C ends with exit code 130. Outputs are checked before work starts and
written atomically.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cmtlite import __version__
from cmtlite.errors import CmtliteError
from cmtlite.tokens.vocab import FAMILIES as FAMILY_NAMES

_EXIT_BAD_INPUT = 2
_EXIT_INTERRUPTED = 130
MAX_SAMPLE_BARS = 1000
MAX_SHIFT = 16  # --density-shift / --strength-shift: the codec scales are 0..16


class _Cli(click.Group):
    """A click group that turns every expected failure into one line and exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        kwargs.pop("standalone_mode", None)
        try:
            return super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as done:
            sys.exit(done.exit_code)
        except (click.ClickException, CmtliteError) as err:
            text = err.format_message() if isinstance(err, click.ClickException) else str(err)
            _fail(text, _EXIT_BAD_INPUT)
        except (KeyboardInterrupt, click.exceptions.Abort):
            _fail("interrupted", _EXIT_INTERRUPTED)
        except Exception as err:
            if os.environ.get("CMTLITE_DEBUG"):
                raise
            _fail(f"internal error: {err.__class__.__name__}: {err} (set CMTLITE_DEBUG=1 for a traceback)", 1)


def _fail(text: str, code: int) -> None:
    click.echo("error: " + " ".join(text.split()), err=True)
    sys.exit(code)


def quiet_option(fn: Callable) -> Callable:
    """``-q/--quiet``: no progress bars."""
    return click.option("-q", "--quiet", is_flag=True, help="No progress bars.")(fn)


def force_option(fn: Callable) -> Callable:
    """``--force``: overwrite existing outputs."""
    return click.option("--force", is_flag=True, help="Overwrite existing output files.")(fn)


def device_option(fn: Callable) -> Callable:
    """``--device auto|cpu|cuda``."""
    return click.option(
        "--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True, help="Where the model runs."
    )(fn)


_SOUNDTRACK_OPTIONS = (
    click.option("--density-shift", type=int, default=0, show_default=True, help="Added to every bar's density (onset ticks)."),
    click.option("--strength-shift", type=int, default=0, show_default=True, help="Added to every visual beat's strength level."),
    click.option("--instruments", default=",".join(FAMILY_NAMES), show_default=True, help="Comma-separated families to play."),
    click.option("--temperature", type=float, default=1.0, show_default=True, help="Multiplies every field's sampling temperature."),
    click.option("--original-audio", type=click.Choice(["keep", "duck", "drop"]), help="The video's own sound [default: duck if any]."),
    click.option("--fade-out", "fade_out_s", type=float, default=2.0, show_default=True, help="Fade-out at the end, in seconds."),
    click.option("--loudness", "loudness_lufs", type=float, default=-16.0, show_default=True, help="Integrated loudness target (LUFS)."),
    click.option("--soundfont", type=click.Path(path_type=Path), help="SoundFont 2 file (default: see soundfonts/README.md)."),
    click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model file (default: the shipped one)."),
)


def soundtrack_options(fn: Callable) -> Callable:
    """The music and mix options ``generate`` and ``batch`` share."""
    for option in reversed(_SOUNDTRACK_OPTIONS):
        fn = option(fn)
    return fn


def check_soundtrack_options(density_shift: int, strength_shift: int, temperature: float, fade_out_s: float, loudness_lufs: float) -> None:
    """One-line errors for out-of-range values of :func:`soundtrack_options`."""
    _check_range(density_shift, "density-shift", -MAX_SHIFT, MAX_SHIFT)
    _check_range(strength_shift, "strength-shift", -MAX_SHIFT, MAX_SHIFT)
    _check_range(fade_out_s, "fade-out", 0.0, 60.0)
    _check_range(loudness_lufs, "loudness", -70.0, -1.0)
    if not temperature > 0:
        msg = f"--temperature must be > 0 (got {temperature})"
        raise click.BadParameter(msg)


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="cmtlite")
def cli() -> None:
    """cmtlite: a fitting background soundtrack for any video, offline."""


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="controls.json to write.")
@click.option("--plot", type=click.Path(path_type=Path), help="Also write a PNG of the analysis.")
@click.option("--tempo", type=float, help="Use this tempo (BPM) instead of estimating it.")
@click.option("--calibration", type=click.Path(path_type=Path), help="Density/strength calibration JSON (default: the shipped one).")
@force_option
@quiet_option
def analyze(video: Path, output: Path, plot: Path | None, tempo: float | None, calibration: Path | None, force: bool, quiet: bool) -> None:
    """Find a video's motion, visual beats, tempo and cuts; write its music controls."""
    from cmtlite.controls import analyze_video, check_tempo, load_calibration
    from cmtlite.outputs import check_output, write_json
    from cmtlite.plots import plot_analysis

    check_output(output, force=force)
    if plot is not None:
        check_output(plot, force=force)
    if tempo is not None:
        check_tempo(tempo)
    cal = load_calibration(calibration) if calibration else None
    result = analyze_video(video, tempo_bpm=tempo, calibration=cal, quiet=quiet)
    if plot is not None:
        plot_analysis(result, plot, force=force)
    write_json(output, result.to_json(), force=force)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        click.echo(
            f"{output}: {result.grid.tempo_bpm:.1f} BPM ({result.tempo_source}), {result.grid.n_bars} bars, "
            f"{len(result.beats.times_s)} visual beats, {len(result.cut_frames)} cuts",
            err=True,
        )


@cli.command()
@click.option(
    "-o",
    "--output-dir",
    "output_dir",
    type=click.Path(path_type=Path),
    default=Path("demo"),
    show_default=True,
    help="Folder for the demo's files.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the music.")
@device_option
@force_option
@quiet_option
def demo(output_dir: Path, seed: int, device: str, force: bool, quiet: bool) -> None:
    """Draw a 20 s procedural clip, soundtrack it with the shipped model; print the paths written."""
    from cmtlite.clips import demo_scenes, write_clip
    from cmtlite.constants import MODEL_PATH
    from cmtlite.controls import analyze_video
    from cmtlite.errors import OutputError
    from cmtlite.generate import MixOptions, Outputs, compose, write_outputs
    from cmtlite.model import load_model
    from cmtlite.outputs import check_output, write_json
    from cmtlite.render import resolve_soundfont
    from cmtlite.train import resolve_device

    if output_dir.exists() and not output_dir.is_dir():
        msg = f"{output_dir}: exists and is not a directory"
        raise OutputError(msg)
    output_dir.mkdir(parents=True, exist_ok=True)
    clip, controls_path = output_dir / "clip.mp4", output_dir / "controls.json"
    outputs = Outputs(*(output_dir / f"demo{suffix}" for suffix in (".mp4", ".mid", ".wav")), plot=output_dir / "demo.png")
    for path in (clip, controls_path, *outputs.files(())):
        check_output(path, force=force)
    soundfont = resolve_soundfont()
    model, _ = load_model(MODEL_PATH, resolve_device(device))
    write_clip(clip, demo_scenes(), force=force)
    controls = analyze_video(clip, quiet=quiet).to_json()
    write_json(controls_path, controls, force=force)
    track = compose(model, controls, seed=seed, quiet=quiet)
    written = write_outputs(track, controls, clip, outputs, soundfont=soundfont, mix_options=MixOptions(), families=(), force=force)
    for path in (clip, controls_path, *written):
        click.echo(str(path))


def _check_range(value: float, name: str, low: float, high: float) -> float:
    if not low <= value <= high:
        msg = f"--{name} must be in {low:g}..{high:g} (got {value:g})"
        raise click.BadParameter(msg)
    return value


@cli.command()
@click.argument("input_path", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), help="Video with the soundtrack (.mp4, .mov, .mkv).")
@click.option("--midi", type=click.Path(path_type=Path), help="Also write the soundtrack's MIDI.")
@click.option("--wav", type=click.Path(path_type=Path), help="Also write the soundtrack's audio (44.1 kHz stereo WAV).")
@click.option("--stems", type=click.Path(path_type=Path), help="Also write one WAV per instrument into this folder.")
@click.option("--plot", type=click.Path(path_type=Path), help="Also write a PNG of the controls and the piano roll.")
@click.option("--tempo", type=float, help="Use this tempo (BPM) instead of the estimated one.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@soundtrack_options
@device_option
@force_option
@quiet_option
def generate(
    input_path: Path,
    output: Path | None,
    midi: Path | None,
    wav: Path | None,
    stems: Path | None,
    plot: Path | None,
    density_shift: int,
    strength_shift: int,
    instruments: str,
    tempo: float | None,
    seed: int,
    temperature: float,
    original_audio: str | None,
    fade_out_s: float,
    loudness_lufs: float,
    soundfont: Path | None,
    model_path: Path | None,
    device: str,
    force: bool,
    quiet: bool,
) -> None:
    """Soundtrack a video (or a controls.json from `cmtlite analyze`)."""
    from cmtlite.constants import MODEL_PATH
    from cmtlite.controls import check_tempo
    from cmtlite.generate import MixOptions, Outputs, compose, write_outputs
    from cmtlite.model import load_model
    from cmtlite.mux import MUX_SUFFIXES
    from cmtlite.outputs import check_output
    from cmtlite.render import resolve_soundfont
    from cmtlite.train import resolve_device

    if output is None and midi is None and wav is None and stems is None:
        msg = "nothing to write: give at least one of -o, --midi, --wav, --stems"
        raise click.UsageError(msg)
    if output is not None and output.suffix.lower() not in MUX_SUFFIXES:
        msg = f"-o {output}: the output video must end in {', '.join(MUX_SUFFIXES)}"
        raise click.BadParameter(msg)
    families = parse_instruments(instruments)
    outputs = Outputs(output, midi, wav, stems, plot)
    if stems is not None and (stems.exists() and not stems.is_dir() or not stems.parent.is_dir()):
        msg = f"--stems {stems}: must be a folder (its parent must exist)"
        raise click.BadParameter(msg)
    for path in outputs.files(families if stems is not None and stems.is_dir() else ()):
        check_output(path, force=force)
    check_soundtrack_options(density_shift, strength_shift, temperature, fade_out_s, loudness_lufs)
    if tempo is not None:
        check_tempo(tempo)
    sf = resolve_soundfont(soundfont) if outputs.needs_audio() else None
    model, _ = load_model(model_path or MODEL_PATH, resolve_device(device))
    controls, video = _controls_of(input_path, tempo=tempo, quiet=quiet, needs_video=output is not None)
    track = compose(
        model, controls, density_shift=density_shift, strength_shift=strength_shift, instruments=families,
        seed=seed, temperature=temperature, quiet=quiet,
    )
    mix_options = MixOptions(original_audio=original_audio, fade_out_s=fade_out_s, loudness_lufs=loudness_lufs)
    for path in write_outputs(track, controls, video, outputs, soundfont=sf, mix_options=mix_options, families=families, force=force):
        click.echo(str(path))


def _controls_of(input_path: Path, *, tempo: float | None, quiet: bool, needs_video: bool) -> tuple[dict, Path | None]:
    """(controls.json object, video path) of a video or of a controls.json (re-analyzed when --tempo is given)."""
    from cmtlite.controls import analyze_video, read_controls
    from cmtlite.errors import ConfigError

    if input_path.suffix.lower() != ".json":
        return analyze_video(input_path, tempo_bpm=tempo, quiet=quiet).to_json(), input_path
    controls = read_controls(input_path)
    video = Path(controls.get("video_path", ""))
    if not video.is_absolute() and not video.exists():
        video = input_path.parent / video
    if (needs_video or tempo is not None) and not video.is_file():
        msg = f"{input_path}: its video {controls.get('video_path')!r} is not found (needed for -o or --tempo)"
        raise ConfigError(msg)
    if tempo is not None:
        return analyze_video(video, tempo_bpm=tempo, quiet=quiet).to_json(), video
    return controls, video


@cli.command()
@click.argument("midi", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="WAV file to write.")
@click.option("--soundfont", type=click.Path(path_type=Path), help="SoundFont 2 file (default: see soundfonts/README.md).")
@click.option("--loudness", "loudness_lufs", type=float, default=-16.0, show_default=True, help="Integrated loudness target (LUFS).")
@force_option
def render(midi: Path, output: Path, soundfont: Path | None, loudness_lufs: float, force: bool) -> None:
    """Render a MIDI file to a 44.1 kHz stereo WAV with FluidSynth, loudness-normalized."""
    from cmtlite.generate import master, write_wav
    from cmtlite.outputs import check_output
    from cmtlite.render import render_midi, resolve_soundfont

    check_output(output, force=force)
    _check_range(loudness_lufs, "loudness", -70.0, -1.0)
    audio, _ = master(render_midi(midi, resolve_soundfont(soundfont)), loudness_lufs)
    write_wav(audio, output, force=force)
    click.echo(str(output))


@cli.command("mux")
@click.argument("video", type=click.Path(path_type=Path))
@click.argument("audio", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Video to write (.mp4, .mov, .mkv).")
@click.option("--original-audio", type=click.Choice(["keep", "duck", "drop"]), help="The video's own sound [default: duck if any].")
@click.option("--fade-out", "fade_out_s", type=float, default=0.0, show_default=True, help="Fade-out at the end, in seconds.")
@force_option
def mux_command(video: Path, audio: Path, output: Path, original_audio: str | None, fade_out_s: float, force: bool) -> None:
    """Put an audio file into a video: video stream copied, audio cut to the video's length."""
    from cmtlite.errors import ConfigError
    from cmtlite.mux import mix_with_video, mux, read_audio, video_duration_s
    from cmtlite.outputs import check_output
    from cmtlite.render import fit_length
    from cmtlite.video.decode import probe_video

    check_output(output, force=force)
    _check_range(fade_out_s, "fade-out", 0.0, 60.0)
    info = probe_video(video)
    music = read_audio(probe_audio_file(audio))
    if music is None:
        msg = f"{audio}: no audio stream"
        raise ConfigError(msg)
    music = fit_length(music, video_duration_s(video), fade_out_s=fade_out_s)
    mux(video, mix_with_video(music, video, original_audio, has_audio=info.has_audio), output, force=force)
    click.echo(str(output))


def probe_audio_file(path: Path) -> Path:
    """``path`` if it exists as a non-empty file (decoding errors come later, as one line)."""
    from cmtlite.errors import ConfigError

    if not path.is_file() or path.stat().st_size == 0:
        msg = f"{path}: no such audio file (or empty)"
        raise ConfigError(msg)
    return path


@cli.command()
@click.argument("midi", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), help="tokens.jsonl to write (default: stdout).")
@force_option
def tokens(midi: Path, output: Path | None, force: bool) -> None:
    """Print or write the CP tokens of a MIDI file (a header line, then one JSON object per token)."""
    from cmtlite.outputs import atomic_output, check_output
    from cmtlite.tokens.jsonl import score_to_lines
    from cmtlite.tokens.midi import read_midi

    if output is not None:
        check_output(output, force=force)
    score, stats = read_midi(midi)
    text = "\n".join(score_to_lines(score, stats=stats)) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    with atomic_output(output, force=force) as tmp:
        tmp.write_text(text)


@cli.command()
@click.argument("token_file", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="MIDI file to write.")
@click.option("--tempo", type=float, help="Tempo in BPM (default: the header's).")
@force_option
def detokenize(token_file: Path, output: Path, tempo: float | None, force: bool) -> None:
    """Rebuild a multi-track MIDI file from a token file."""
    from cmtlite.controls import check_tempo
    from cmtlite.outputs import atomic_output, check_output
    from cmtlite.tokens.codec import decode
    from cmtlite.tokens.jsonl import read_token_file
    from cmtlite.tokens.midi import write_midi

    check_output(output, force=force)
    if tempo is not None:
        check_tempo(tempo)
    header, rows = read_token_file(token_file)
    score = decode(rows, tempo_bpm=tempo or float(header["tempo_bpm"]))
    with atomic_output(output, force=force) as tmp:
        write_midi(score, tmp)


@cli.command()
@click.argument("data_dirs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "output_dir", type=click.Path(path_type=Path), required=True, help="Corpus directory to write.")
@click.option(
    "--arrange", type=click.Choice(["mma", "none"]), default="mma", show_default=True, help="Arrange POP909 songs for a band with MMA."
)
@click.option("--grooves-per-song", type=int, default=2, show_default=True, help="MMA arrangements per POP909 song.")
@click.option("--val-fraction", type=float, default=0.05, show_default=True, help="Share of songs held out for validation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and the groove choice.")
@click.option("--workers", type=int, help="Parallel processes (default: all cores).")
@force_option
@quiet_option
def prepare(
    data_dirs: tuple[Path, ...],
    output_dir: Path,
    arrange: str,
    grooves_per_song: int,
    val_fraction: float,
    seed: int,
    workers: int | None,
    force: bool,
    quiet: bool,
) -> None:
    """Encode MIDI corpora (default: POP909 and Groove in ../shared/data) into a training corpus."""
    from cmtlite.tokens.corpus import default_data_dirs, prepare_corpus

    if workers is not None and workers < 1:
        msg = f"--workers must be >= 1 (got {workers})"
        raise click.BadParameter(msg)
    meta = prepare_corpus(
        list(data_dirs) or default_data_dirs(),
        output_dir,
        arrange=arrange,
        grooves_per_song=grooves_per_song,
        val_fraction=val_fraction,
        seed=seed,
        workers=workers,
        force=force,
        quiet=quiet,
    )
    for split, summary in meta["splits"].items():
        families = ", ".join(f"{f} {h:.1f} h" for f, h in summary["family_hours"].items())
        click.echo(f"{split}: {summary['pieces']} pieces, {summary['tokens']} tokens, {summary['hours']:.1f} h ({families})")
    click.echo(f"skipped: {sum(meta['skipped'].values())} {meta['skipped']}")
    click.echo(str(output_dir))


@cli.command()
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Calibration JSON to write.")
@click.option("--base", type=click.Path(path_type=Path), help="Calibration whose speed table is kept (default: the shipped one).")
@force_option
def calibrate(corpus_dir: Path, output: Path, base: Path | None, force: bool) -> None:
    """Write an analyzer calibration whose density/strength tables come from a prepared corpus."""
    import json

    from cmtlite.controls import calibration_from_corpus, load_calibration
    from cmtlite.errors import ConfigError
    from cmtlite.outputs import check_output, write_json

    check_output(output, force=force)
    try:
        meta = json.loads((corpus_dir / "meta.json").read_text())
    except (OSError, ValueError) as err:
        msg = f"{corpus_dir}: not a prepared corpus ({err.__class__.__name__}: {err})"
        raise ConfigError(msg) from err
    speeds = load_calibration(base) if base else load_calibration()
    speed_part = speeds.source.split(";")[0].removeprefix("provisional: ")
    sources = ", ".join(meta.get("sources", []))
    source = f"{speed_part}; density and strength quantiles of the training split of the corpus prepared from {sources}"
    source += " (non-empty bars / onset positions)"
    write_json(output, calibration_from_corpus(meta, speeds, source=source).to_json(), force=force)
    click.echo(str(output))



@cli.command()
@click.argument("corpus_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "run_dir", type=click.Path(path_type=Path), required=True, help="Run directory (checkpoints, metrics).")
@click.option("--config", "config_name", default="small", show_default=True, help="Model config: tiny, small, cmt, or a JSON file.")
@click.option("--steps", type=int, help="Optimizer steps (default: the training config's).")
@click.option("--batch-size", type=int, help="Windows per step.")
@click.option("--lr", type=float, help="Peak learning rate.")
@click.option("--checkpoint-every", type=int, help="Steps between checkpoints.")
@click.option("--eval-every", type=int, help="Steps between validation runs.")
@click.option("--max-minutes", type=float, help="Checkpoint and stop after this much wall time (resume later).")
@click.option("--stop-at", "stop_at", type=int, help="Checkpoint and stop after this step (the schedule still spans --steps).")
@click.option("--warmup-steps", type=int, help="Learning-rate warm-up steps.")
@click.option("--init-from", type=click.Path(path_type=Path), help="Warm-start a new run from a model file (matching weights).")
@click.option("--resume", is_flag=True, help="Continue the run in the output directory from its last checkpoint.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@device_option
@quiet_option
def train(
    corpus_dir: Path,
    run_dir: Path,
    config_name: str,
    steps: int | None,
    batch_size: int | None,
    lr: float | None,
    checkpoint_every: int | None,
    eval_every: int | None,
    max_minutes: float | None,
    stop_at: int | None,
    warmup_steps: int | None,
    init_from: Path | None,
    resume: bool,
    seed: int,
    device: str,
    quiet: bool,
) -> None:
    """Train the CP Transformer on a prepared corpus (resumable)."""
    import dataclasses

    from cmtlite.model import CPTransformer, load_config
    from cmtlite.train import TrainConfig
    from cmtlite.train import train as run_training

    try:
        model_config = load_config(config_name)
    except (OSError, ValueError, TypeError) as err:
        msg = f"--config {config_name}: not a config name (tiny, small, cmt) or a readable JSON config ({err})"
        raise click.BadParameter(msg) from err
    overrides = {"steps": steps, "batch_size": batch_size, "lr": lr, "checkpoint_every": checkpoint_every, "eval_every": eval_every}
    overrides["warmup_steps"] = warmup_steps
    for name, value in overrides.items():
        if value is not None and not value > 0:
            msg = f"--{name.replace('_', '-')} must be > 0 (got {value})"
            raise click.BadParameter(msg)
    train_config = dataclasses.replace(TrainConfig(seed=seed), **{k: v for k, v in overrides.items() if v is not None})
    if not quiet:
        click.echo(f"model: {CPTransformer(model_config).n_params() / 1e6:.2f} M parameters", err=True)
    metrics = run_training(
        corpus_dir,
        run_dir,
        model_config=model_config,
        train_config=train_config,
        device=device,
        resume=resume,
        quiet=quiet,
        stop_after_s=None if max_minutes is None else 60 * max_minutes,
        stop_at_step=stop_at,
        init_from=init_from,
    )
    last_val = next((r for r in reversed(metrics) if "val_loss" in r), None)
    if metrics:
        summary = f"step {metrics[-1]['step']}: train loss {metrics[-1]['train_loss']:.3f}"
        click.echo(summary + (f", validation loss {last_val['val_loss']:.3f}" if last_val else ""))
    click.echo(str(run_dir))


@cli.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path), default=Path("corpus"), show_default=True,
              help="The corpus the run trained on (to count the tokens it saw).")
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="Model file (.safetensors) to write.")
@force_option
def export_command(run_dir: Path, corpus_dir: Path, output: Path, force: bool) -> None:
    """Write a run's weights (fp16) plus a JSON of config, vocabulary, calibration and training summary."""
    from cmtlite.controls import load_calibration
    from cmtlite.outputs import check_output
    from cmtlite.train import export_model

    for path in (output, output.with_suffix(".json")):
        check_output(path, force=force)
    summary = export_model(run_dir, corpus_dir, output, calibration=load_calibration().to_json(), force=force)
    training = summary["training"]
    click.echo(f"step {training['steps_done']}, {training['tokens_seen'] / 1e6:.1f} M tokens, validation {training['validation']}")
    click.echo(str(output))


@cli.command()
@click.option("-o", "--output", "output", type=click.Path(path_type=Path), required=True, help="MIDI file to write.")
@click.option("--bars", type=int, default=16, show_default=True, help="Bars to generate.")
@click.option("--tempo", type=float, default=100.0, show_default=True, help="Tempo in BPM.")
@click.option("--density", type=int, help="Onset ticks per bar, 0..16 (default: the model's choice).")
@click.option("--strength", type=int, help="Notes on every beat's onset, 1..16 (default: the model's choice).")
@click.option("--instruments", default=",".join(FAMILY_NAMES), show_default=True, help="Comma-separated families to play.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="Multiplies every field's sampling temperature.")
@click.option("--tokens", "tokens_path", type=click.Path(path_type=Path), help="Also write the tokens (JSON lines).")
@click.option("--model", "model_path", type=click.Path(path_type=Path), help="Model file (default: the shipped one).")
@device_option
@force_option
@quiet_option
def sample(
    output: Path,
    bars: int,
    tempo: float,
    density: int | None,
    strength: int | None,
    instruments: str,
    seed: int,
    temperature: float,
    tokens_path: Path | None,
    model_path: Path | None,
    device: str,
    force: bool,
    quiet: bool,
) -> None:
    """Generate music from the model with forced controls (no video)."""
    from cmtlite.constants import MODEL_PATH
    from cmtlite.controls import check_tempo
    from cmtlite.model import load_model
    from cmtlite.outputs import atomic_output, check_output
    from cmtlite.sampler import constant_controls, generate_tokens
    from cmtlite.tokens.codec import decode
    from cmtlite.tokens.jsonl import token_lines
    from cmtlite.tokens.midi import write_midi
    from cmtlite.train import resolve_device

    for path in (output, tokens_path):
        if path is not None:
            check_output(path, force=force)
    check_tempo(tempo)
    if not 1 <= bars <= MAX_SAMPLE_BARS:
        msg = f"--bars must be in 1..{MAX_SAMPLE_BARS} (got {bars})"
        raise click.BadParameter(msg)
    controls = constant_controls(bars, density=density, strength=strength, instruments=parse_instruments(instruments))
    model, _ = load_model(model_path or MODEL_PATH, resolve_device(device))
    tokens = generate_tokens(model, controls, seed=seed, temperature=temperature, quiet=quiet)
    score = decode(tokens, tempo_bpm=tempo)
    with atomic_output(output, force=force) as tmp:
        write_midi(score, tmp)
    if tokens_path is not None:
        with atomic_output(tokens_path, force=force) as tmp:
            tmp.write_text("\n".join(token_lines(tokens, tempo_bpm=tempo, n_bars=score.n_bars)) + "\n")
    click.echo(str(output))


def parse_instruments(text: str) -> tuple[str, ...]:
    """Families from a comma-separated list; a one-line error names any unknown one."""
    names = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in FAMILY_NAMES]
    if unknown or not names:
        msg = f"--instruments: unknown or empty {','.join(unknown) or 'list'} (choose from {','.join(FAMILY_NAMES)})"
        raise click.BadParameter(msg)
    return names


@cli.command()
@click.argument("midi_files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--controls", "controls_path", type=click.Path(path_type=Path), help="controls.json the music was made for.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file instead of a table.")
@click.option("--reference", type=click.Path(path_type=Path), help="Folder of real MIDI to compare the metrics with.")
def evaluate(midi_files: tuple[Path, ...], controls_path: Path | None, as_json: bool, reference: Path | None) -> None:
    """Music-quality metrics of MIDI files (and control fidelity with --controls); see the README for definitions."""
    import json

    from cmtlite.controls import read_controls
    from cmtlite.errors import ConfigError
    from cmtlite.evaluate import CONTROL_METRICS, MUSIC_METRICS, evaluate_file, mean_metrics

    controls = read_controls(controls_path) if controls_path is not None else None
    results = [evaluate_file(path, controls) for path in midi_files]
    names = MUSIC_METRICS + (CONTROL_METRICS if controls is not None else ())
    real = None
    if reference is not None:
        paths = sorted(p for p in reference.rglob("*") if p.suffix.lower() in {".mid", ".midi"}) if reference.is_dir() else []
        if not paths:
            msg = f"--reference {reference}: no MIDI files in that folder"
            raise ConfigError(msg)
        real = mean_metrics([evaluate_file(path) for path in paths], MUSIC_METRICS)
    if as_json:
        for result in results:
            click.echo(json.dumps(result))
        if real is not None:
            click.echo(json.dumps({"file": "reference", **real}))
        return
    rows = [[Path(r["file"]).name, *(r.get(n) for n in names)] for r in results]
    if len(results) > 1:
        rows.append(["mean", *mean_metrics(results, names).values()])
    click.echo(_table(["file", *names], rows))
    if real is not None:
        generated = mean_metrics(results, MUSIC_METRICS)
        gap_rows = [
            [n, generated[n], real[n], None if None in (generated[n], real[n]) else abs(generated[n] - real[n])] for n in MUSIC_METRICS
        ]
        click.echo("")
        click.echo(_table(["metric", "generated", "reference", "gap"], gap_rows))


def _table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[c if isinstance(c, str) else "-" if c is None else f"{c:.3f}" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))) for row in cells]
    return "\n".join(lines)


@cli.command()
@click.argument("source", type=click.Path(path_type=Path))
@click.option("-o", "--output-dir", "out_dir", type=click.Path(path_type=Path), required=True, help="Folder for the soundtracked videos.")
@click.option("--workers", type=int, default=1, show_default=True, help="Parallel workers (Ray actors when > 1).")
@click.option("--address", help="Ray cluster address (e.g. ray://head:10001); default: a local Ray.")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each video adds a hash of its path.")
@soundtrack_options
@click.option("--resume", is_flag=True, help="Continue the batch in OUT_DIR (finished videos are skipped).")
@device_option
@force_option
@quiet_option
def batch(
    source: Path,
    out_dir: Path,
    workers: int,
    address: str | None,
    density_shift: int,
    strength_shift: int,
    instruments: str,
    seed: int,
    temperature: float,
    original_audio: str | None,
    fade_out_s: float,
    loudness_lufs: float,
    soundfont: Path | None,
    model_path: Path | None,
    resume: bool,
    device: str,
    force: bool,
    quiet: bool,
) -> None:
    """Soundtrack every video in a folder (or a CSV/JSONL manifest) into OUT_DIR; exit 1 if any failed."""
    from cmtlite.batch import find_jobs, run_batch
    from cmtlite.constants import MODEL_PATH
    from cmtlite.model import load_model
    from cmtlite.progress import progress_bar
    from cmtlite.render import resolve_soundfont

    _check_range(workers, "workers", 1, 1024)
    check_soundtrack_options(density_shift, strength_shift, temperature, fade_out_s, loudness_lufs)
    if out_dir.exists() and not out_dir.is_dir():
        msg = f"-o {out_dir}: exists and is not a folder"
        raise click.BadParameter(msg)
    model_path = model_path or MODEL_PATH
    load_model(model_path)  # a bad model is a bad argument, found before any video
    sf = resolve_soundfont(soundfont)
    defaults = {"density_shift": density_shift, "strength_shift": strength_shift, "instruments": ",".join(parse_instruments(instruments)),
                "temperature": temperature, "original_audio": original_audio}
    jobs = find_jobs(source, out_dir, defaults=defaults, base_seed=seed)
    mix = {"fade_out_s": fade_out_s, "loudness_lufs": loudness_lufs}
    worker_args = {"model_path": model_path, "device": device, "soundfont": sf, "mix": mix}
    with progress_bar(total=len(jobs), desc="batch", unit="video", quiet=quiet) as bar:
        summary = run_batch(jobs, out_dir, worker_args=worker_args, workers=workers, address=address, resume=resume, force=force,
                            on_record=lambda record: bar.update())
    if not quiet:
        rows = [[r["path"], r["status"], (r.get("seconds") or {}).get("total"), r["error"] or ""] for r in summary.records]
        click.echo(_table(["video", "status", "seconds", "error"], rows), err=True)
    speed = summary.video_s / summary.wall_s if summary.wall_s else 0.0
    counts = f"{summary.ok} ok, {summary.failed} failed, {summary.skipped} skipped"
    rate = f"{summary.video_s:.0f} video-s in {summary.wall_s:.0f} s ({speed:.2f} video-s per s)"
    click.echo(f"{counts}; {rate}; report: {out_dir / 'batch_report.jsonl'}")
    if summary.failed:
        sys.exit(1)


def main() -> None:
    """Entry point of the ``cmtlite`` console script."""
    cli()
