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

_EXIT_BAD_INPUT = 2
_EXIT_INTERRUPTED = 130


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
@force_option
@quiet_option
def demo(output_dir: Path, force: bool, quiet: bool) -> None:
    """Draw a 20 s procedural clip and analyze it; print the paths written."""
    from cmtlite.clips import demo_scenes, write_clip
    from cmtlite.controls import analyze_video
    from cmtlite.errors import OutputError
    from cmtlite.outputs import check_output, write_json
    from cmtlite.plots import plot_analysis

    if output_dir.exists() and not output_dir.is_dir():
        msg = f"{output_dir}: exists and is not a directory"
        raise OutputError(msg)
    output_dir.mkdir(parents=True, exist_ok=True)
    video, controls, plot = output_dir / "demo.mp4", output_dir / "controls.json", output_dir / "controls.png"
    for path in (video, controls, plot):
        check_output(path, force=force)
    write_clip(video, demo_scenes(), force=force)
    result = analyze_video(video, quiet=quiet)
    plot_analysis(result, plot, force=force)
    write_json(controls, result.to_json(), force=force)
    for path in (video, controls, plot):
        click.echo(str(path))


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


def main() -> None:
    """Entry point of the ``cmtlite`` console script."""
    cli()
