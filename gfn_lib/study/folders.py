"""What a run *leaves*: its folder, the files in it, and its status.

A run folder is ``<outputs>/<profile>/runs/<run>/seed-<N>/`` (``<outputs>``: ``$GFN_OUTPUTS``
or ``<repo>/outputs``) and holds, in the order they appear::

    RUNNING          lock of the process executing it (pid, host); removed when it ends
    train.ipynb      the executed notebook (papermill), with any error
    run.json         the run record: metadata, profile, seed, resolved config, reward, versions
    config.yaml      the resolved TrainConfig (the trainer's), reward.json
    metrics.csv      one row per step, samples.csv, checkpoint.pt, wandb/
    FINISHED         written last (key figures as JSON): only then is the run finished
    FAILED           instead, with the one-line error

Contents: paths (:func:`outputs_root`, :func:`run_dir`, :func:`seed_folders`); status
(:func:`run_status`, :func:`mark_finished`); reading what a run wrote (:func:`read_record`,
:func:`read_samples`, :func:`run_summary`).
"""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from gfn_lib.analysis import detect_explosion
from gfn_lib.storage import atomic_write_text, read_metrics
from gfn_lib.study.specs import REPO

FINISHED, FAILED, RUNNING = "FINISHED", "FAILED", "RUNNING"


# ---- paths ---------------------------------------------------------------------------------
def outputs_root() -> Path:
    """``$GFN_OUTPUTS`` or ``<repo>/outputs``."""
    return Path(os.environ.get("GFN_OUTPUTS", REPO / "outputs"))


def run_dir(profile: str, run: str, seed: int, root: Path | None = None) -> Path:
    return (root or outputs_root()) / profile / "runs" / run / f"seed-{seed}"


def seed_of(folder: Path) -> int | None:
    """``seed-3`` -> 3; None for a folder not named ``seed-<N>``."""
    m = re.fullmatch(r"seed-(\d+)", folder.name)
    return int(m.group(1)) if m else None


def seed_folders(run_folder: Path) -> list[Path]:
    """The ``seed-*`` folders of one run, by seed number (none if the run has no folder)."""
    found = (p for p in run_folder.glob("seed-*") if p.is_dir())
    return sorted(found, key=lambda p: (seed_of(p) is None, seed_of(p) or 0, p.name))


# ---- status --------------------------------------------------------------------------------
def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(folder: Path) -> str:
    """``missing`` | ``running`` | ``finished`` | ``failed`` | ``incomplete``."""
    if (folder / FINISHED).exists():
        return "finished"
    lock = folder / RUNNING
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
            if info.get("host") == socket.gethostname() and _pid_alive(int(info["pid"])):
                return "running"
        except (ValueError, KeyError):
            pass
    if (folder / FAILED).exists():
        return "failed"
    if folder.exists() and any(folder.iterdir()):
        return "incomplete"
    return "missing"


def mark_finished(folder: Path, summary: Mapping[str, Any] | None = None) -> None:
    """The explicit marker, written last: only a run with it counts as finished."""
    (folder / FAILED).unlink(missing_ok=True)
    atomic_write_text(folder / FINISHED, json.dumps(dict(summary or {}), indent=2, default=str))


# ---- what a run wrote ----------------------------------------------------------------------
def read_record(folder: Path) -> dict[str, Any]:
    """``run.json`` of a run folder as a dict; ``{}`` if absent or unreadable (never raises)."""
    try:
        data = json.loads((folder / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def read_samples(folder: Path) -> pd.DataFrame:
    """``samples.csv`` of a run folder (empty frame if none)."""
    path = folder / "samples.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["step", "rank", "sequence", "reward"])


def run_summary(folder: Path) -> dict[str, Any]:
    """Key figures of a run folder for ``gfn-study list`` and the ``FINISHED`` marker."""
    out: dict[str, Any] = {"status": run_status(folder)}
    df = read_metrics(folder / "metrics.csv")
    if len(df):
        last = df.iloc[-1]
        out.update(
            steps=int(last.step), final_loss=float(last.loss), max_loss=float(df.loss.max()),
            final_reward=float(last.mean_reward), final_log_z=float(last.log_z),
            explosion_step=detect_explosion(df).step,
        )  # fmt: skip
    return out
