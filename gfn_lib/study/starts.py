"""Where runs start: the first batch of many seeds of one run (``gfn-study starts``).

A run's step-0 metrics row depends on its seed alone: the policy's initial weights and the first batch's draws.
The published reward-C run (seed 42 of *its* code) started at a mean log P_F of -27.9 nats; ours (seeds 42-44 of
this code, same architecture and init rule) at -72 to -85. Is that gap a different setup, or one draw of the init
against another? :func:`starting_points` answers with data: the step-0 row of each of many seeds, computed by the
trainer itself (each seed's row is the one its run logs first; ``tests/test_starts.py``), so the published value
can be placed among them (:func:`share_at_or_above`, :func:`closest_seeds`).

Each chunk of seeds is trained one step as a stack (:func:`gfn_lib.trainer.train_steps`), in memory: nothing is
written but the table (:func:`write_starts` to :func:`starts_path`, atomic).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gfn_lib.storage import atomic_write_text
from gfn_lib.study.specs import Profile, RunSpec, resolve_config

START_COLUMNS = ("mean_log_pf", "mean_length", "mean_actions", "log_pf_per_action", "entropy", "letters_used")
"""Step-0 metrics kept per seed (columns of :func:`starting_points`)."""

STARTS_FOLDER = "starts"
"""Surveys live in ``outputs/<profile>/starts/<run>.csv`` (:func:`starts_path`; the report reads reward-C's)."""


def starting_points(spec: RunSpec, profile: Profile, seeds: Sequence[int], stack: int = 8,
                    overrides: dict[str, Any] | None = None) -> pd.DataFrame:  # fmt: skip
    """One row per seed: ``run, profile, seed`` and :data:`START_COLUMNS` of the run's step-0 metrics row.
    ``stack`` seeds at a time share one stacked step; ``overrides`` as ``gfn-study --set``."""
    from gfn_lib.trainer import Trainer, train_steps  # torch and the rewards only when a survey runs

    overrides = {**(overrides or {}), "wandb_mode": "disabled"}
    rows = []
    seeds = list(seeds)
    for i in range(0, len(seeds), stack):
        chunk = seeds[i : i + stack]
        trainers = [Trainer(resolve_config(spec, profile, s, **overrides)) for s in chunk]
        for seed, metrics in zip(chunk, train_steps(trainers)):
            rows.append({"run": spec.name, "profile": profile.name, "seed": seed, **{c: metrics[c] for c in START_COLUMNS}})
    return pd.DataFrame(rows, columns=["run", "profile", "seed", *START_COLUMNS])


def share_at_or_above(starts: pd.DataFrame, value: float, column: str = "mean_log_pf") -> float:
    """Fraction of the surveyed seeds whose step-0 ``column`` is >= ``value``."""
    return float((starts[column] >= value).mean())


def closest_seeds(starts: pd.DataFrame, value: float, n: int, column: str = "mean_log_pf") -> list[int]:
    """The ``n`` seeds whose step-0 ``column`` lies closest to ``value`` (ties: the smaller seed)."""
    distance = (starts[column] - value).abs()
    order = sorted(range(len(starts)), key=lambda i: (distance.iloc[i], starts["seed"].iloc[i]))
    return [int(starts["seed"].iloc[i]) for i in order[:n]]


def starts_path(profile_folder: str | Path, run: str) -> Path:
    """Where the survey of ``run`` lives under a profile's outputs folder: one file per run, so surveying
    another run never replaces the one the report reads."""
    return Path(profile_folder) / STARTS_FOLDER / f"{run}.csv"


def write_starts(starts: pd.DataFrame, path: str | Path) -> Path:
    """Write the survey as CSV, atomically (a survey killed halfway leaves the previous file whole)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, starts.to_csv(index=False))
    return path


def read_starts(path: str | Path) -> pd.DataFrame | None:
    """The survey at ``path``; ``None`` when there is none."""
    path = Path(path)
    return pd.read_csv(path) if path.exists() else None
