"""End to end on the smoke profile, as `make study PROFILE=smoke` does: the six documented runs
swept on a local Dask cluster (one papermill notebook each), then the report (memo notebook -> HTML
with code hidden)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gfn_lib import study

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_smoke_study_and_report(tmp_path):
    env = {**os.environ, "GFN_OUTPUTS": str(tmp_path), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}
    run = subprocess.run(
        [sys.executable, "-m", "gfn_lib.cli", "sweep", "--profile", "smoke", "--wandb", "disabled"],
        env=env, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    planned = study.load_profile("smoke").default_runs()  # the six documented runs, reward-C with 3 seeds
    assert set(planned) == {spec.name for spec in study.list_runs("documented")}
    for name, seeds in planned.items():
        for seed in seeds:
            assert study.run_status(study.run_dir("smoke", name, seed, tmp_path)) == "finished", (name, seed)
    assert "Kernel is running over TCP" not in run.stdout + run.stderr  # IPC kernels: progress, not warnings
    starts = subprocess.run(  # make study's survey of where runs start, seeds 0-44: reward-C's 42-44 among them
        [sys.executable, "-m", "gfn_lib.cli", "starts", "--profile", "smoke", "--seeds", "45"], env=env, cwd=REPO,
        capture_output=True, text=True,
    )  # fmt: skip
    assert starts.returncode == 0 and "published -27.91:" in starts.stdout, starts.stdout + starts.stderr

    report = subprocess.run(
        [sys.executable, "-m", "gfn_lib.cli", "report", "--profile", "smoke"], env=env, cwd=REPO,
        capture_output=True, text=True,
    )  # fmt: skip
    assert report.returncode == 0, report.stdout + report.stderr
    html = (tmp_path / "smoke" / "memo.html").read_text()
    for heading in ("Example: <code>reward-C-improved</code> run", "Explosion timing", "Training configuration",
                    "Analyzed runs", "Claims vs evidence", "What would change the timing", "Published vs ours",
                    "Stand-ins and assumptions", "Where runs start"):  # fmt: skip
        assert heading.lower() in html.lower(), heading
    assert "zcb95gyl" in html and "8rflp7l6" in html  # run records made it into the tables
    assert "Over 45 seeds of reward-C at this profile" in html and "3 of 3 run seeds in it logged the same" in html
    assert "def " not in html and "import " not in html  # code hidden
    figures = {p.name for p in (tmp_path / "smoke" / "figures").iterdir()}
    assert {"loss_explosions.png", "loss_explosions.svg"} <= figures
    overview = html.split("Runs of this profile")[1].split("Published vs ours")[0]
    assert "finished" in overview and "missing" not in overview  # the overview lists what the profile ran
