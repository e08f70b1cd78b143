"""The ``cmtlite`` command line: one thin command per pipeline stage.

Each command parses its options, calls one library function and reports.
Every user mistake ends as one ``error: ...`` line on stderr and exit code 2;
Ctrl-C ends with exit code 130. Outputs are checked before work starts (never
an input, an existing file only with ``--force``) and written atomically.
"""

from __future__ import annotations

import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cmtlite import __version__
from cmtlite.constants import DEFAULT_VARIATION, FADE_OUT_RANGE_S, LOUDNESS_RANGE_LUFS, MUX_SUFFIXES, SHIFT_RANGE, USER_TEMPO_RANGE_BPM
from cmtlite.errors import CmtliteError
from cmtlite.tokens.chords import Key
from cmtlite.tokens.vocab import FAMILIES as FAMILY_NAMES
from cmtlite.tokens.vocab import MAX_DENSITY, STRENGTH_CAP

_EXIT_BAD_INPUT = 2
_EXIT_INTERRUPTED = 130
MAX_SAMPLE_BARS = 1000


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
            click.echo("error: interrupted", err=True)
            sys.stdout.flush()
            sys.stderr.flush()
            # Outputs were already cleaned up as the interrupt unwound; exit now, without waiting on worker threads
            # (a model still loading, a decoder) whose finalization could die of the same signal.
            os._exit(_EXIT_INTERRUPTED)
        except Exception as err:
            if os.environ.get("CMTLITE_DEBUG"):
                raise
            _fail(f"internal error: {err.__class__.__name__}: {err} (set CMTLITE_DEBUG=1 for a traceback)", 1)


def _fail(text: str, code: int) -> None:
    click.echo("error: " + " ".join(text.split()), err=True)
    sys.exit(code)


def within(low: float, high: float) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """An option callback that refuses values outside [low, high] (NaN included), naming the flag."""

    def check(ctx: click.Context, param: click.Parameter, value: Any) -> Any:  # noqa: ANN401
        if value is not None and not low <= value <= high:
            msg = f"must be between {low:g} and {high:g} (got {value:g})"
            raise click.BadParameter(msg, ctx=ctx, param=param)
        return value

    return check


def _positive(ctx: click.Context, param: click.Parameter, value: Any) -> Any:  # noqa: ANN401
    if value is not None and not (math.isfinite(value) and value > 0):
        msg = f"must be > 0 (got {value})"
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return value


def _video_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in MUX_SUFFIXES:
        msg = f"{value}: the output video must end in {', '.join(MUX_SUFFIXES)}"
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return value


def _families(ctx: click.Context, param: click.Parameter, text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(name.strip().lower() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in FAMILY_NAMES]
    if unknown or not names:
        msg = f"unknown or empty {','.join(unknown) or 'list'} (choose from {','.join(FAMILY_NAMES)})"
        raise click.BadParameter(msg, ctx=ctx, param=param)
    return names


def _key(ctx: click.Context, param: click.Parameter, text: str | None) -> Key | None:
    """A key (``C``, ``Am``, ``F#m``, ``A:min``) or None for ``auto``."""

    if text is None or text == "auto":
        return None
    try:
        return Key.parse(text)
    except ValueError as err:
        raise click.BadParameter(str(err), ctx=ctx, param=param) from err


def _apply(fn: Callable, options: tuple[Callable, ...]) -> Callable:
    for option in reversed(options):
        fn = option(fn)
    return fn


PATH = click.Path(path_type=Path)
quiet_option = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
force_option = click.option("--force", is_flag=True, help="Overwrite earlier outputs (never an input).")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                             help="Where the model runs.")
model_option = click.option("--model", "model_path", type=PATH, help="Model file (default: $CMTLITE_MODEL, else the shipped one).")
soundfont_option = click.option("--soundfont", type=PATH, help="SoundFont 2 file (default: see soundfonts/README.md).")
tempo_option = click.option("--tempo", type=float, callback=within(*USER_TEMPO_RANGE_BPM),
                            help="Use this tempo (BPM) instead of estimating it.")
loudness_option = click.option("--loudness", "loudness_lufs", type=float, default=-16.0, show_default=True,
                          callback=within(*LOUDNESS_RANGE_LUFS), help="Integrated loudness target (LUFS).")
original_audio_option = click.option("--original-audio", type=click.Choice(["keep", "duck", "drop"]),
                                help="The video's own sound [default: duck if any].")
instruments_option = click.option("--instruments", default=",".join(FAMILY_NAMES), show_default=True, callback=_families,
                             help="Comma-separated families to play.")
temperature_option = click.option("--temperature", type=float, default=1.0, show_default=True, callback=_positive,
                             help="Multiplies every field's sampling temperature.")
variation_option = click.option("--variation", type=float, default=DEFAULT_VARIATION, show_default=True, callback=within(0.0, 1.0),
                                help="How much a returning section varies its first time, 0 (literal) .. 1.")
key_option = click.option("--key", default="auto", show_default=True, callback=_key,
                          help="Key of the music: C, Am, F#m, Bb ... or auto (from the picture's mood; sample: by the seed).")

_SOUNDTRACK_OPTIONS = (
    click.option("--density-shift", type=int, default=0, show_default=True, callback=within(*SHIFT_RANGE),
            help="Added to every bar's density (onset ticks)."),
    click.option("--strength-shift", type=int, default=0, show_default=True, callback=within(*SHIFT_RANGE),
            help="Added to every visual beat's strength level."),
    instruments_option,
    temperature_option,
    variation_option,
    key_option,
    original_audio_option,
    click.option("--fade-out", "fade_out_s", type=float, default=2.0, show_default=True, callback=within(*FADE_OUT_RANGE_S),
            help="Fade-out at the end, in seconds."),
    loudness_option,
    soundfont_option,
    model_option,
)


def soundtrack_options(fn: Callable) -> Callable:
    """The music and mix options ``generate`` and ``batch`` share."""
    return _apply(fn, _SOUNDTRACK_OPTIONS)


def _music_and_mix(options: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """(MusicOptions, MixOptions) from the shared soundtrack options."""
    from cmtlite.soundtrack import MixOptions, MusicOptions

    music = MusicOptions(
        density_shift=options["density_shift"], strength_shift=options["strength_shift"], instruments=options["instruments"],
        seed=seed, temperature=options["temperature"], key=options["key"], variation=options["variation"],
    )
    mix = MixOptions(original_audio=options["original_audio"], fade_out_s=options["fade_out_s"], loudness_lufs=options["loudness_lufs"])
    return music, mix


def _load_model(model_path: Path | None, device: str) -> Any:  # noqa: ANN401
    from cmtlite.model import default_model_path, load_model, resolve_device

    model, _ = load_model(model_path or default_model_path(), resolve_device(device))
    return model


def _echo_paths(paths: Any) -> None:  # noqa: ANN401
    for path in paths:
        click.echo(str(path))


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="cmtlite")
def cli() -> None:
    """cmtlite: a fitting background soundtrack for any video, offline."""


@cli.command()
@click.argument("video", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, help="controls.json to write.")
@click.option("--plot", type=PATH, help="Also write a PNG of the analysis.")
@tempo_option
@click.option("--calibration", type=PATH, help="Density/strength calibration JSON (default: the shipped one).")
@key_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the chord plan.")
@force_option
@quiet_option
def analyze(video: Path, output: Path, plot: Path | None, tempo: float | None, calibration: Path | None, key: str | None, seed: int,
            force: bool, quiet: bool) -> None:
    """Find a video's motion, visual beats, tempo, cuts and mood; write its music controls and plan."""
    from cmtlite.analysis import analyze_to_files

    controls = analyze_to_files(video, output, plot=plot, tempo_bpm=tempo, calibration_path=calibration, key=key, seed=seed, force=force,
                                quiet=quiet)
    for warning in controls.warnings:
        click.echo(f"warning: {warning}", err=True)
    if not quiet:
        click.echo(
            f"{output}: {controls.tempo_bpm:.1f} BPM ({controls.tempo_source}), {controls.n_bars} bars, "
            f"{len(controls.visual_beats)} visual beats, {len(controls.scene_cuts_s)} cuts, key {controls.key}, "
            f"sections {''.join(s.label for s in controls.sections)}",
            err=True,
        )


@cli.command()
@click.option("-o", "--output-dir", "output_dir", type=PATH, default=Path("demo"), show_default=True, help="Folder for the demo's files.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the music.")
@device_option
@force_option
@quiet_option
def demo(output_dir: Path, seed: int, device: str, force: bool, quiet: bool) -> None:
    """Draw a 20 s procedural clip, soundtrack it with the shipped model; print the paths written."""
    from cmtlite.audio.render import resolve_soundfont
    from cmtlite.soundtrack import make_demo

    soundfont = resolve_soundfont()
    _echo_paths(make_demo(output_dir, model=_load_model(None, device), soundfont=soundfont, seed=seed, force=force, quiet=quiet))


@cli.command()
@click.argument("input_path", type=PATH)
@click.option("-o", "--output", "output", type=PATH, callback=_video_path, help="Video with the soundtrack (.mp4, .mov, .mkv).")
@click.option("--midi", type=PATH, help="Also write the soundtrack's MIDI.")
@click.option("--wav", type=PATH, help="Also write the soundtrack's audio (44.1 kHz stereo WAV).")
@click.option("--stems", type=PATH, help="Also write one WAV per instrument into this folder.")
@click.option("--plot", type=PATH, help="Also write a PNG of the controls and the piano roll.")
@tempo_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@soundtrack_options
@device_option
@force_option
@quiet_option
def generate(input_path: Path, output: Path | None, midi: Path | None, wav: Path | None, stems: Path | None, plot: Path | None,
             tempo: float | None, seed: int, soundfont: Path | None, model_path: Path | None, device: str, force: bool, quiet: bool,
             **options: Any) -> None:  # noqa: ANN401
    """Soundtrack a video (or a controls.json from `cmtlite analyze`)."""
    from cmtlite.audio.render import resolve_soundfont
    from cmtlite.model import default_model_path
    from cmtlite.outputs import check_outputs
    from cmtlite.soundtrack import Outputs, make_soundtrack

    if not any((output, midi, wav, stems)):
        msg = "nothing to write: give at least one of -o, --midi, --wav, --stems"
        raise click.UsageError(msg)
    outputs = Outputs(output, midi, wav, stems, plot)
    music, mix = _music_and_mix(options, seed)
    check_outputs(outputs.files(()), inputs=(input_path, soundfont, model_path or default_model_path()),
                  force=force)
    sf2 = resolve_soundfont(soundfont) if outputs.needs_audio() else None
    result = make_soundtrack(input_path, outputs, model=functools.partial(_load_model, model_path, device), soundfont=sf2,
                             music=music, mix=mix, tempo_bpm=tempo, force=force, quiet=quiet)  # the model loads during the analysis
    _echo_paths(result.written)


@cli.command()
@click.argument("midi", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, help="WAV file to write.")
@soundfont_option
@loudness_option
@force_option
def render(midi: Path, output: Path, soundfont: Path | None, loudness_lufs: float, force: bool) -> None:
    """Render a MIDI file to a 44.1 kHz stereo WAV with FluidSynth, loudness-normalized."""
    from cmtlite.audio.render import render_to_wav

    click.echo(str(render_to_wav(midi, output, soundfont=soundfont, loudness_lufs=loudness_lufs, force=force)))


@cli.command("mux")
@click.argument("video", type=PATH)
@click.argument("audio", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, callback=_video_path, help="Video to write (.mp4, .mov, .mkv).")
@original_audio_option
@click.option("--fade-out", "fade_out_s", type=float, default=0.0, show_default=True, callback=within(*FADE_OUT_RANGE_S),
              help="Fade-out at the end, in seconds.")
@force_option
def mux_command(video: Path, audio: Path, output: Path, original_audio: str | None, fade_out_s: float, force: bool) -> None:
    """Put an audio file into a video: video stream copied, audio cut to the video's length."""
    from cmtlite.audio.mux import mux_audio_file

    click.echo(str(mux_audio_file(video, audio, output, original_audio=original_audio, fade_out_s=fade_out_s, force=force)))


@cli.command()
@click.argument("midi", type=PATH)
@click.option("-o", "--output", "output", type=PATH, help="tokens.jsonl to write (default: stdout).")
@force_option
def tokens(midi: Path, output: Path | None, force: bool) -> None:
    """Print or write the CP tokens of a MIDI file (a header line, then one JSON object per token)."""
    from cmtlite.tokens.jsonl import write_token_file

    text = write_token_file(midi, output, force=force)
    if output is None:
        click.echo(text, nl=False)


@cli.command()
@click.argument("token_file", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, help="MIDI file to write.")
@click.option("--tempo", type=float, callback=within(*USER_TEMPO_RANGE_BPM), help="Tempo in BPM (default: the header's).")
@force_option
def detokenize(token_file: Path, output: Path, tempo: float | None, force: bool) -> None:
    """Rebuild a multi-track MIDI file from a token file."""
    from cmtlite.tokens.jsonl import detokenize_file

    detokenize_file(token_file, output, tempo_bpm=tempo, force=force)


@cli.command()
@click.argument("data_dirs", nargs=-1, type=PATH)
@click.option("-o", "--output-dir", "output_dir", type=PATH, required=True, help="Corpus directory to write.")
@click.option("--arrange", type=click.Choice(["mma", "none"]), default="mma", show_default=True,
              help="Arrange POP909 songs for a band with MMA.")
@click.option("--grooves-per-song", type=click.IntRange(min=1), default=2, show_default=True, help="MMA arrangements per POP909 song.")
@click.option("--val-fraction", type=click.FloatRange(0.0, 1.0, max_open=True), default=0.05, show_default=True,
              help="Share of songs held out for validation.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the split and the groove choice.")
@click.option("--workers", type=click.IntRange(min=1), help="Parallel processes (default: all cores).")
@force_option
@quiet_option
def prepare(data_dirs: tuple[Path, ...], output_dir: Path, arrange: str, grooves_per_song: int, val_fraction: float, seed: int,
            workers: int | None, force: bool, quiet: bool) -> None:
    """Encode MIDI corpora (default: POP909 and Groove in ../shared/data) into a training corpus."""
    from cmtlite.tokens.corpus import default_data_dirs, prepare_corpus

    meta = prepare_corpus(list(data_dirs) or default_data_dirs(), output_dir, arrange=arrange, grooves_per_song=grooves_per_song,
                          val_fraction=val_fraction, seed=seed, workers=workers, force=force, quiet=quiet)
    for split, summary in meta["splits"].items():
        families = ", ".join(f"{f} {h:.1f} h" for f, h in summary["family_hours"].items())
        click.echo(f"{split}: {summary['pieces']} pieces, {summary['tokens']} tokens, {summary['hours']:.1f} h ({families})")
    click.echo(f"skipped: {sum(meta['skipped'].values())} {meta['skipped']}")
    click.echo(str(output_dir))


@cli.command()
@click.argument("pop909_dir", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, help="Progression library JSON to write.")
@force_option
@quiet_option
def progressions(pop909_dir: Path, output: Path, force: bool, quiet: bool) -> None:
    """Mine the most frequent 4- and 8-bar chord progressions of POP909 (in Roman numerals) for the plan."""
    from cmtlite.music.progressions import mine_progressions
    from cmtlite.outputs import check_outputs

    check_outputs((output,), inputs=(pop909_dir,), force=force)
    library = mine_progressions(pop909_dir, output, force=force, quiet=quiet)
    click.echo(f"{output}: {sum(library['songs'].values())} songs ({library['songs']}), {library['skipped_songs']} skipped")


@cli.command()
@click.argument("corpus_dir", type=PATH)
@click.option("-o", "--output", "output", type=PATH, required=True, help="Calibration JSON to write.")
@click.option("--base", type=PATH, help="Calibration whose speed table is kept (default: the shipped one).")
@force_option
def calibrate(corpus_dir: Path, output: Path, base: Path | None, force: bool) -> None:
    """Write an analyzer calibration whose density/strength tables come from a prepared corpus."""
    from cmtlite.calibration import write_corpus_calibration

    click.echo(str(write_corpus_calibration(corpus_dir, output, base_path=base, force=force)))


@cli.command()
@click.argument("corpus_dir", type=PATH)
@click.option("-o", "--output-dir", "run_dir", type=PATH, required=True, help="Run directory (checkpoints, metrics).")
@click.option("--config", "config_name", default="small", show_default=True, help="Model config: tiny, small, cmt, or a JSON file.")
@click.option("--steps", type=click.IntRange(min=1), help="Optimizer steps (default: the training config's).")
@click.option("--batch-size", type=click.IntRange(min=1), help="Windows per step.")
@click.option("--lr", type=float, callback=_positive, help="Peak learning rate.")
@click.option("--checkpoint-every", type=click.IntRange(min=1), help="Steps between checkpoints.")
@click.option("--eval-every", type=click.IntRange(min=1), help="Steps between validation runs.")
@click.option("--max-minutes", type=float, help="Checkpoint and stop after this much wall time (resume later).")
@click.option("--stop-at", "stop_at", type=int, help="Checkpoint and stop after this step (the schedule still spans --steps).")
@click.option("--warmup-steps", type=click.IntRange(min=1), help="Learning-rate warm-up steps.")
@click.option("--init-from", type=PATH, help="Warm-start a new run from a model file (matching weights).")
@click.option("--resume", is_flag=True, help="Continue the run in the output directory from its last checkpoint.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random choice.")
@click.option("--nproc", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Processes on this machine (DDP: gloo on the CPU, one GPU each on CUDA); the global batch stays --batch-size.")
@click.option("--compile/--no-compile", "compiled", default=None, help="Run the step through torch.compile [default: on CUDA only].")
@device_option
@quiet_option
def train(corpus_dir: Path, run_dir: Path, config_name: str, max_minutes: float | None, stop_at: int | None, init_from: Path | None,
          resume: bool, seed: int, nproc: int, compiled: bool | None, device: str, quiet: bool, **overrides: int | float | None) -> None:
    """Train the CP Transformer on a prepared corpus (resumable; several processes with --nproc, or under torchrun)."""
    import dataclasses

    from cmtlite.model import load_config
    from cmtlite.training.train import TrainConfig
    from cmtlite.training.train import train as run_training

    try:
        model_config = load_config(config_name)
    except (OSError, ValueError, TypeError) as err:
        msg = f"not a config name (tiny, small, cmt) or a readable JSON config ({err})"
        raise click.BadParameter(msg, param_hint="--config") from err
    train_config = dataclasses.replace(TrainConfig(seed=seed), **{k: v for k, v in overrides.items() if v is not None})
    metrics = run_training(corpus_dir, run_dir, model_config=model_config, train_config=train_config, device=device, resume=resume,
                           quiet=quiet, stop_after_s=None if max_minutes is None else 60 * max_minutes, stop_at_step=stop_at,
                           init_from=init_from, nproc=nproc, compiled=compiled)
    if os.environ.get("RANK", "0") != "0":
        return  # under torchrun, rank 0 reports
    last_val = next((r for r in reversed(metrics) if "val_loss" in r), None)
    if metrics:
        summary = f"step {metrics[-1]['step']}: train loss {metrics[-1]['train_loss']:.3f}"
        summary += f", validation loss {last_val['val_loss']:.3f}" if last_val else ""
        click.echo(summary + f"; {metrics[-1].get('tokens_per_s_per_device', 0):.0f} tokens/s per device")
    click.echo(str(run_dir))


@cli.command("export")
@click.argument("run_dir", type=PATH)
@click.option("--corpus", "corpus_dir", type=PATH, default=Path("corpus"), show_default=True,
              help="The corpus the run trained on (to count the tokens it saw).")
@click.option("-o", "--output", "output", type=PATH, required=True, help="Model file (.safetensors) to write.")
@force_option
def export_command(run_dir: Path, corpus_dir: Path, output: Path, force: bool) -> None:
    """Write a run's weights (fp16) plus a JSON of config, vocabulary, calibration and training summary."""
    from cmtlite.training.train import export_model

    training = export_model(run_dir, corpus_dir, output, force=force)["training"]
    click.echo(f"step {training['steps_done']}, {training['tokens_seen'] / 1e6:.1f} M tokens, validation {training['validation']}")
    click.echo(str(output))


@cli.command()
@click.option("-o", "--output", "output", type=PATH, required=True, help="MIDI file to write.")
@click.option("--bars", type=click.IntRange(1, MAX_SAMPLE_BARS), default=16, show_default=True, help="Bars to generate.")
@click.option("--tempo", type=float, default=100.0, show_default=True, callback=within(*USER_TEMPO_RANGE_BPM), help="Tempo in BPM.")
@click.option("--density", type=click.IntRange(0, MAX_DENSITY), help="Onset ticks per bar, 0..16 (default: the model's choice).")
@click.option("--strength", type=click.IntRange(0, STRENGTH_CAP), help="Notes on every beat's onset, 1..16 (default: the model's choice).")
@instruments_option
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (the music and its plan).")
@temperature_option
@variation_option
@key_option
@click.option("--tokens", "tokens_path", type=PATH, help="Also write the tokens (JSON lines).")
@model_option
@device_option
@force_option
@quiet_option
def sample(output: Path, bars: int, tempo: float, density: int | None, strength: int | None, instruments: tuple[str, ...], seed: int,
           temperature: float, variation: float, key: Key | None, tokens_path: Path | None, model_path: Path | None, device: str,
           force: bool, quiet: bool) -> None:
    """Generate music from the model with forced controls and its own plan: key, sections A B A B, chords (no video)."""
    from cmtlite.model import default_model_path
    from cmtlite.music.grammar import constant_controls
    from cmtlite.music.plan import sample_plan
    from cmtlite.music.writer import sample_to_midi
    from cmtlite.outputs import check_outputs

    check_outputs((output, tokens_path), inputs=(model_path or default_model_path(),), force=force)
    plan = sample_plan(bars, key=key, seed=seed)
    controls = constant_controls(bars, density=density, strength=strength, instruments=instruments, plan=plan)
    sample_to_midi(_load_model(model_path, device), controls, output, tempo_bpm=tempo, tokens_path=tokens_path, plan=plan, seed=seed,
                   temperature=temperature, variation=variation, force=force, quiet=quiet)
    click.echo(str(output))


@cli.command()
@click.argument("midi_files", nargs=-1, required=True, type=PATH)
@click.option("--controls", "controls_path", type=PATH, help="controls.json the music was made for.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file instead of a table.")
@click.option("--reference", type=PATH, help="Folder of real MIDI to compare the metrics with.")
@click.option("--audio", type=PATH, help="The rendered soundtrack of the (one) MIDI file: adds audio_hit_rate (needs --controls).")
def evaluate(midi_files: tuple[Path, ...], controls_path: Path | None, as_json: bool, reference: Path | None, audio: Path | None) -> None:
    """Music-quality metrics of MIDI files (and control fidelity with --controls); see the README for definitions."""
    import json

    from cmtlite.controls import read_controls
    from cmtlite.errors import ConfigError
    from cmtlite.evaluate import (
        CONTROL_METRICS,
        MUSIC_METRICS,
        MUSICALITY_METRICS,
        evaluate_file,
        mean_metrics,
        metric_gaps,
        reference_metrics,
    )

    if audio is not None and (controls_path is None or len(midi_files) != 1):
        msg = "--audio goes with --controls and one MIDI file"
        raise click.UsageError(msg)
    controls = read_controls(controls_path) if controls_path is not None else None
    results = [evaluate_file(path, controls, audio=audio) for path in midi_files]
    try:
        real = reference_metrics(reference) if reference is not None else None
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--reference") from err
    if as_json:
        _echo_paths(json.dumps(r) for r in results + ([{"file": "reference", **real}] if real is not None else []))
        return
    names = MUSIC_METRICS + (CONTROL_METRICS if controls is not None else ()) + (("audio_hit_rate",) if audio is not None else ())
    rows = [[Path(r["file"]).name, *(r.get(n) for n in names), r["key"] or "-"] for r in results]
    if len(results) > 1:
        rows.append(["mean", *mean_metrics(results, names).values(), ""])
    click.echo(_table(["file", *names, "key"], rows))
    click.echo("")
    means = mean_metrics(results, MUSICALITY_METRICS) if len(results) > 1 else {}
    columns = [[name, *(r.get(name) for r in results), *([means[name]] if means else [])] for name in MUSICALITY_METRICS]
    click.echo(_table(["groove, form, tune, roles", *(Path(r["file"]).name for r in results), *(["mean"] if means else [])], columns))
    if real is not None:
        click.echo("")
        click.echo(_table(["metric", "generated", "reference", "gap"], metric_gaps(mean_metrics(results, MUSIC_METRICS), real)))


@cli.command()
@click.argument("midi_file", type=PATH)
@click.option("--bars", default="0-7", show_default=True, help="Bars to print: FIRST-LAST or one bar, from 0 as in controls.json.")
@click.option("--tracks", help="Comma-separated tracks to print, by track name or family (lead, piano, bass ...) [default: all].")
def score(midi_file: Path, bars: str, tracks: str | None) -> None:
    """Print a few bars of a MIDI file per track as a score: onsets (bar.beat.16th), pitches, lengths, velocities, chords, sections."""
    from cmtlite.errors import ConfigError
    from cmtlite.evaluate.notes import read_piece
    from cmtlite.evaluate.score import format_score, parse_bars

    try:
        first_last = parse_bars(bars)
    except ConfigError as err:
        raise click.BadParameter(str(err), param_hint="--bars") from err
    click.echo(format_score(read_piece(midi_file), bars=first_last, parts=None if tracks is None else tuple(tracks.split(","))))


def _table(header: list[str], rows: list[list]) -> str:
    cells = [header] + [[c if isinstance(c, str) else "-" if c is None else f"{c:.3f}" for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))) for row in cells]
    return "\n".join(lines)


@cli.command()
@click.argument("source")
@click.option("-o", "--output-dir", "out", required=True, help="Folder for the soundtracked videos: a path or a URI (s3://bucket/out).")
@click.option("--workers", type=click.IntRange(1, 1024),
              help="Parallel workers, Ray actors when > 1 [default: 1; with --address or GPUs, as many as the cluster holds].")
@click.option("--address", help="Ray cluster address (auto, ray://head:10001, head:6379); default: a local Ray when --workers > 1.")
@click.option("--gpus-per-worker", type=click.FloatRange(0, 64), default=0.0, show_default=True,
              help="GPUs of each Ray worker (fractions share one); > 0 samples on CUDA.")
@click.option("--midi", is_flag=True, help="Also write each soundtrack's MIDI (.mid beside the video).")
@click.option("--wav", is_flag=True, help="Also write each soundtrack's audio (.wav beside the video).")
@click.option("--seed", type=int, default=0, show_default=True, help="Base seed; each video adds a hash of its path.")
@soundtrack_options
@click.option("--resume", is_flag=True, help="Continue the batch in OUT (finished videos are skipped).")
@device_option
@force_option
@quiet_option
def batch(source: str, out: str, workers: int | None, address: str | None, gpus_per_worker: float, midi: bool, wav: bool, seed: int,
          soundfont: Path | None, model_path: Path | None, resume: bool, device: str, force: bool, quiet: bool,
          **options: Any) -> None:  # noqa: ANN401
    """Soundtrack every video under SOURCE (a folder, a CSV/JSONL manifest; paths or URIs) into OUT; exit 1 if any failed."""
    from cmtlite.batch import plan_and_run_batch

    music, mix = _music_and_mix(options, seed)
    extras = tuple(suffix for suffix, wanted in ((".mid", midi), (".wav", wav)) if wanted)
    summary = plan_and_run_batch(source, out, music=music, mix=mix, base_seed=seed, extras=extras, model_path=model_path, device=device,
                                 soundfont=soundfont, workers=workers if workers or address or gpus_per_worker else 1, address=address,
                                 gpus_per_worker=gpus_per_worker, resume=resume, force=force, quiet=quiet)
    if not quiet:
        rows = [[r["path"], r["status"], (r.get("seconds") or {}).get("total"), r["error"] or ""] for r in summary.records]
        click.echo(_table(["video", "status", "seconds", "error"], rows), err=True)
    speed = summary.video_s / summary.wall_s if summary.wall_s else 0.0
    counts = f"{summary.ok} ok, {summary.failed} failed, {summary.skipped} skipped"
    rate = f"{summary.video_s:.0f} video-s in {summary.wall_s:.0f} s ({speed:.2f} video-s per s)"
    click.echo(f"{counts}; {rate}; report: {out.rstrip('/')}/batch_report.jsonl")
    if summary.failed:
        sys.exit(1)


@cli.command()
@click.argument("videos", nargs=-1, type=PATH)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (anything but this machine is warned about).")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True, help="Port to listen on.")
@click.option("--workdir", type=PATH, help="Folder of the projects [default: ~/.local/share/cmtlite/studio].")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
@click.option("--max-upload-mb", type=click.IntRange(1, 1 << 20), default=2048, show_default=True, help="Largest upload, in MiB.")
@model_option
@soundfont_option
@device_option
def studio(videos: tuple[Path, ...], host: str, port: int, workdir: Path | None, no_browser: bool, max_upload_mb: int,
           model_path: Path | None, soundfont: Path | None, device: str) -> None:
    """Open the local studio page: see the analysis, edit the controls bar by bar, make, compare and export takes."""
    from cmtlite.model import default_model_path
    from cmtlite.studio.server import LOCAL_HOSTS, serve

    if host not in LOCAL_HOSTS:
        click.echo(f"warning: listening on {host}: other machines can reach the studio, and its token crosses the network in "
                   "clear (plain HTTP): anyone who can watch the network can use it", err=True)
    serve(list(videos), model_path=model_path or default_model_path(), device=device, soundfont=soundfont, host=host, port=port,
          workdir=workdir, open_browser=not no_browser, max_upload_bytes=max_upload_mb << 20,
          on_ready=lambda url: click.echo(url))


def main() -> None:
    """Entry point of the ``cmtlite`` console script."""
    cli()
