"""Weights & Biases logging: config, per-step metrics and a table of top sequences.

Offline by default (no internet on the study machines): runs are written under
``<run folder>/wandb/`` and uploaded later with ``wandb sync <run folder>/wandb/offline-run-*``.
The run ID is deterministic (profile, run, seed), so a resumed run continues the same
wandb run. The local ``metrics.csv`` stays the source of truth.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

PROJECT = "step-6000-study"


def wandb_run_id(profile: str, run: str, seed: int) -> str:
    """Deterministic 12-character wandb ID from profile, run name and seed."""
    return hashlib.sha1(f"{profile}/{run}/seed-{seed}".encode()).hexdigest()[:12]


def mode_in_effect(configured: str) -> str:
    """The mode a run logs in: ``disabled`` when the environment turns wandb off (``WANDB_MODE=disabled``,
    as ``make test`` does), else the config's ``wandb_mode``. ``wandb.init(mode=...)`` would override the
    environment, and starting wandb only to disable it costs ~3 s per run, so the switch is read here."""
    return "disabled" if os.environ.get("WANDB_MODE") == "disabled" else configured


class WandbTracker:
    """Trainer hook: ``log(row)`` every step, ``log_samples(step, top)`` periodically, ``finish()``."""

    def __init__(
        self, folder: Path, run: str, seed: int, profile: str, config: dict[str, Any], mode: str = "offline"
    ) -> None:
        import wandb

        self.run = wandb.init(
            project=PROJECT, name=f"{run}/seed-{seed}", id=wandb_run_id(profile, run, seed), dir=str(folder),
            mode=mode, config=config, resume="allow", group=run, job_type=profile,
            settings=wandb.Settings(silent=True, console="off", x_disable_stats=True),
        )  # fmt: skip
        self.rows: list[list[Any]] = []
        self.last_step = self.run.step or 0

    def log(self, row: dict[str, Any]) -> None:
        if row["step"] > self.last_step:  # a resumed run re-logs nothing wandb already has
            self.run.log({k: v for k, v in row.items() if k != "step"}, step=row["step"])
            self.last_step = row["step"]

    def log_samples(self, step: int, top: list[tuple[str, float]]) -> None:
        self.rows.extend([step, rank, seq, r] for rank, (seq, r) in enumerate(top, 1))

    def finish(self) -> None:
        import wandb

        if self.rows:
            table = wandb.Table(columns=["step", "rank", "sequence", "reward"], data=self.rows)
            self.run.log({"top_sequences": table}, step=self.last_step)
        self.run.finish()
