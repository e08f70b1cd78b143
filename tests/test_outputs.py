"""Output safety: never over an input (symlinks, hard links, ``..``), atomic writes, and every verb refuses to clobber its input."""

from __future__ import annotations

import os
import shutil

import pytest

from cmtlite.errors import OutputError
from cmtlite.outputs import atomic_output, check_output_folder, check_outputs, same_file
from tests.conftest import SMALL_SOUNDFONT, assert_bad_input, needs_soundfont, run


def test_same_file_sees_through_links_and_dots(tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mp4").symlink_to(source)
    os.link(source, tmp_path / "hard.mp4")
    assert same_file(tmp_path / "sub" / ".." / "clip.mp4", source)
    assert same_file(tmp_path / "link.mp4", source)
    assert same_file(tmp_path / "hard.mp4", source)
    assert not same_file(tmp_path / "other.mp4", source)


def test_check_outputs_refuses_inputs_even_with_force(tmp_path):
    source = tmp_path / "clip.mp4"
    source.write_bytes(b"video")
    with pytest.raises(OutputError, match="overwrite the input"):
        check_outputs([tmp_path / "x.wav", tmp_path / "." / "clip.mp4"], inputs=[source], force=True)
    assert check_outputs([tmp_path / "x.wav", None], inputs=[source, None], force=False) == [tmp_path / "x.wav"]


def test_output_folder_may_not_hold_an_input(tmp_path):
    data = tmp_path / "data" / "pop909"
    data.mkdir(parents=True)
    for folder in (data, tmp_path / "data", tmp_path):
        with pytest.raises(OutputError, match="output folder"):
            check_output_folder(folder, inputs=[data])
    assert check_output_folder(data / "corpus", inputs=[data]) == (data / "corpus").absolute()


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError), atomic_output(target, force=False) as tmp:
        tmp.write_text("half")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def _copies(tmp_path, bounce_clip):
    clip = tmp_path / "clip.mp4"
    shutil.copy(bounce_clip, clip)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.mp4").symlink_to(clip)
    return clip, clip.read_bytes()


@needs_soundfont
@pytest.mark.parametrize("target", ["clip.mp4", "sub/../clip.mp4", "link.mp4"])
def test_generate_never_writes_over_its_video(target, bounce_clip, tmp_path, model_file):
    clip, before = _copies(tmp_path, bounce_clip)
    result = run("generate", clip, "-o", tmp_path / target, "--force", "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q")
    assert_bad_input(result, "overwrite the input")
    assert clip.read_bytes() == before


def test_analyze_never_writes_over_its_video(bounce_clip, tmp_path):
    clip, before = _copies(tmp_path, bounce_clip)
    os.link(clip, tmp_path / "hard.json")
    for output in (clip, tmp_path / "hard.json"):
        assert_bad_input(run("analyze", clip, "-o", output, "--force", "-q"), "overwrite the input")
        assert_bad_input(run("analyze", clip, "-o", tmp_path / "c.json", "--plot", output, "--force", "-q"), "overwrite the input")
    assert clip.read_bytes() == before and not (tmp_path / "c.json").exists()


@needs_soundfont
def test_render_tokens_and_mux_never_write_over_their_inputs(bounce_clip, tmp_path):
    from cmtlite.tokens.midi import write_midi
    from tests.conftest import random_score

    song = tmp_path / "song.mid"
    write_midi(random_score(0), song)
    before = song.read_bytes()
    assert_bad_input(run("render", song, "-o", song, "--force", "--soundfont", SMALL_SOUNDFONT), "overwrite the input")
    assert_bad_input(run("tokens", song, "-o", song, "--force"), "overwrite the input")
    assert song.read_bytes() == before
    clip, video = _copies(tmp_path, bounce_clip)
    assert_bad_input(run("mux", clip, song, "-o", tmp_path / "link.mp4", "--force"), "overwrite the input")
    assert clip.read_bytes() == video


def test_sample_never_writes_over_its_model(tmp_path, model_file):
    model = tmp_path / "model.mid"
    shutil.copy(model_file, model)
    before = model.read_bytes()
    assert_bad_input(run("sample", "-o", model, "--model", model, "--force", "-q", "--bars", 1), "overwrite the input")
    assert model.read_bytes() == before


@pytest.mark.parametrize("force", [[], ["--force"]])
def test_batch_into_its_own_folder_is_refused(force, bounce_clip, tmp_path, model_file):
    library = tmp_path / "library"
    library.mkdir()
    shutil.copy(bounce_clip, library / "a.mp4")
    before = (library / "a.mp4").read_bytes()
    result = run("batch", library, "-o", library, "--model", model_file, "--soundfont", SMALL_SOUNDFONT, "-q", *force)
    assert_bad_input(result, "overwrite the input")
    assert sorted(p.name for p in library.iterdir()) == ["a.mp4"] and (library / "a.mp4").read_bytes() == before


def test_prepare_never_replaces_its_data(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "song.mid").write_bytes(b"MThd")
    assert_bad_input(run("prepare", data, "-o", data, "--force", "--arrange", "none", "-q"), "output folder")
    assert (data / "song.mid").read_bytes() == b"MThd"
