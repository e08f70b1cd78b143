"""The quick-start notebook runs from top to bottom on a short clip."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import needs_soundfont

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "quickstart.ipynb"


@needs_soundfont
@pytest.mark.slow
def test_quickstart_notebook_executes(bounce_clip, monkeypatch):
    monkeypatch.setenv("CMTLITE_NOTEBOOK_CLIP", str(bounce_clip))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3").execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    audio = [o for o in outputs if "<audio" in o.get("data", {}).get("text/html", "")]
    assert len(images) == 3 and len(audio) == 2  # analysis + two piano rolls; two soundtracks
    assert "soundtrack.mp4" in str(outputs[-1].get("data", {}).get("text/plain", ""))


def test_notebook_is_committed_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")
