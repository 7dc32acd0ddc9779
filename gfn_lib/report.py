"""The report: execute ``notebooks/memo.ipynb`` for one profile with papermill and export
it to HTML with the code hidden (nbconvert), at ``outputs/<profile>/memo.html``.

The notebook's logic is :mod:`gfn_lib.memo`; this module only runs and exports it."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from gfn_lib.storage import atomic_write_text
from gfn_lib.study import load_profile, outputs_root
from gfn_lib.study.execution import NOTEBOOKS_DIR, run_notebook


def build_report(profile: str | None = None, out_root: Path | None = None) -> Path:
    """Run the memo notebook on ``profile``'s runs; returns the HTML path."""
    prof = load_profile(profile)
    root = out_root or outputs_root()
    folder = root / prof.name
    folder.mkdir(parents=True, exist_ok=True)
    executed = folder / "memo.ipynb"
    run_notebook(NOTEBOOKS_DIR / "memo.ipynb", executed, {"profile": prof.name, "out_root": str(root)})
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
    body, _ = exporter.from_notebook_node(nbformat.read(executed, as_version=4))
    html = folder / "memo.html"
    atomic_write_text(html, body)
    return html
