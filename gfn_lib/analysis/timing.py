"""When does the trap end? Three one-number models of the escape step, stated before the ablations ran
(``docs/timing-model.md``), fitted on reference seeds only and then asked to predict other runs.

* **log-Z gap** (:data:`MODELS` ``"gap"``): the escape comes when log Z's *predicted* path
  ``log_z_init + Σ_{s<t} lr_Z(s)`` (Adam moves a scalar by about its lr per step while its gradient keeps
  its sign) has closed the gap to the seed's trap balance ``b`` (mean log R' − mean log P_F early in the
  trap) down to ``d*``.
* **policy clock** (``"clock"``): after a fixed number of updates, whatever log Z does.
* **lr decay** (``"decay"``): when the schedule has cut the policy's lr to a fraction ``f*`` of its base.
* **policy travel** (``"travel"``, added later, see :data:`STATED`): when the policy's summed lr
  ``Σ_{s<t} lr(s)`` reaches ``L*`` (the clock, measured in lr instead of updates).

Plus the loss right after an escape split into ``(log Z − needed)²`` (bias: log Z behind the new
balance) and the variance of the residual: ``loss = mean(residual²) = mean² + var``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gfn_lib.analysis.explosion import sorted_run
from gfn_lib.analysis.trap import TrapResult
from gfn_lib.schedule import get_lr

if TYPE_CHECKING:
    from gfn_lib.config import TrainConfig

MODELS = ("gap", "clock", "decay", "travel")
"""The timing models, in the order of ``docs/timing-model.md``."""
STATED = {
    "gap": "2026-11-29T11:50:28",
    "clock": "2026-11-29T11:50:28",
    "decay": "2026-11-29T11:50:28",
    "travel": "2026-11-29T14:54:29",
}
"""When each model was written down (UTC; the commits adding it to ``docs/timing-model.md``). A run tests a
model only if all its seeds started later; earlier runs are shown against it but are not evidence."""
BALANCE_FRACTION = 0.1
"""The trap balance is read over the trap's first rows: this fraction of the run (before any escape)."""
TOLERANCE_FRACTION = 0.1
"""A prediction hits when it is within this fraction of the run of the observed escape (or both say never)."""
AFTER_ESCAPE_FRACTION = 0.05
"""The loss after the escape is read over this fraction of the run from the escape on."""


def lr_path(cfg: TrainConfig, log_z: bool) -> np.ndarray:
    """``[n_steps]`` the lr of every update (the policy's, or log Z's group with ``log_z``)."""
    base = cfg.effective_log_z_lr if log_z else cfg.lr
    return np.array([get_lr(s, base, cfg.warmup_steps, cfg.lr_schedule, cfg.n_steps) for s in range(cfg.n_steps)])


def policy_travel(cfg: TrainConfig) -> np.ndarray:
    """``[n_steps + 1]`` the policy's summed lr ``Σ_{s<t} lr(s)`` at t = 0..n_steps."""
    return np.concatenate([[0.0], np.cumsum(lr_path(cfg, log_z=False))])


def predicted_log_z(cfg: TrainConfig) -> np.ndarray:
    """``[n_steps + 1]`` log Z's fastest path: ``log_z_init + Σ_{s<t} lr_Z(s)`` at t = 0..n_steps."""
    return cfg.log_z_init + np.concatenate([[0.0], np.cumsum(lr_path(cfg, log_z=True))])


def trap_balance(metrics: pd.DataFrame, trap: TrapResult) -> float:
    """Median of mean log R' − mean log P_F over the trap's first :data:`BALANCE_FRACTION` of the run
    (the log Z that would zero the mean residual there); NaN without a trap."""
    if not trap.trapped:
        return math.nan
    df = sorted_run(metrics, ("mean_target_log_reward", "mean_log_pf"))
    end = trap.onset_step + max(1, int(BALANCE_FRACTION * trap.last_step))
    if trap.escape_step is not None:
        end = min(end, trap.escape_step)
    rows = df[(df.step >= trap.onset_step) & (df.step < max(end, trap.onset_step + 1))]
    return float((rows.mean_target_log_reward - rows.mean_log_pf).median())


@dataclass
class SeedTiming:
    """What the models need from one seed."""

    run: str
    seed: int
    cfg: TrainConfig
    trap: TrapResult
    balance: float
    started: str | None = None
    """The seed's start time from its run record (ISO, UTC), to tell a prediction from a post-hoc fit."""

    @property
    def escape(self) -> int | None:
        return self.trap.escape_step


@dataclass
class Fit:
    """The models' one number each, from the reference seeds that escaped."""

    gap: float
    """d*: median of b − logẐ(escape)."""
    clock: float
    """median escape step."""
    decay: float
    """f*: median of lr(escape) / lr."""
    travel: float
    """L*: median of Σ_{s<escape} lr(s), the policy's summed lr at the escape."""
    n: int
    """Reference seeds used (trapped and escaped)."""


def fit(reference: list[SeedTiming]) -> Fit | None:
    """Fit each model on the reference seeds that trapped and escaped; None if there are none."""
    used = [s for s in reference if s.trap.trapped and s.escape is not None and not math.isnan(s.balance)]
    if not used:
        return None
    gaps = [s.balance - predicted_log_z(s.cfg)[min(s.escape, s.cfg.n_steps)] for s in used]
    fracs = [lr_path(s.cfg, log_z=False)[min(s.escape, s.cfg.n_steps) - 1] / s.cfg.lr for s in used]
    travel = [policy_travel(s.cfg)[min(s.escape, s.cfg.n_steps)] for s in used]
    return Fit(float(np.median(gaps)), float(np.median([s.escape for s in used])), float(np.median(fracs)),
               float(np.median(travel)), len(used))


def predict(model: str, f: Fit, s: SeedTiming) -> int | None:
    """The escape step ``model`` predicts for seed ``s`` (None: no escape within the run)."""
    n = s.cfg.n_steps
    if model == "clock":
        return int(round(f.clock)) if f.clock <= n else None
    if model == "gap":
        if math.isnan(s.balance):
            return None
        hit = np.flatnonzero(s.balance - predicted_log_z(s.cfg) <= f.gap)
        return int(hit[0]) if len(hit) else None
    if model == "decay":
        hit = np.flatnonzero(lr_path(s.cfg, log_z=False) / s.cfg.lr <= f.decay)
        return int(hit[0]) + 1 if len(hit) else None
    if model == "travel":
        hit = np.flatnonzero(policy_travel(s.cfg) >= f.travel)
        return int(hit[0]) if len(hit) else None
    raise ValueError(f"unknown model {model!r}")


def is_test_of(model: str, started: list[str | None]) -> bool:
    """Whether seeds that started at ``started`` test ``model``: every one started after the model was
    stated (:data:`STATED`); a seed without a start time does not count as a test."""
    return bool(started) and all(t is not None and t[:19] > STATED[model] for t in started)


def hits(predicted: int | None, observed: int | None, n_steps: int) -> bool:
    """Within :data:`TOLERANCE_FRACTION` of the run, or both 'no escape'."""
    if predicted is None or observed is None:
        return predicted is None and observed is None
    return abs(predicted - observed) <= TOLERANCE_FRACTION * n_steps


def loss_after_escape(metrics: pd.DataFrame, escape: int | None, n_steps: int) -> dict[str, float]:
    """Over :data:`AFTER_ESCAPE_FRACTION` of the run from the escape: median observed loss, median
    ``(log Z − needed)²`` (= residual_mean²) and its share of the loss. NaNs without an escape."""
    nan = {"loss": math.nan, "bias2": math.nan, "share": math.nan}
    if escape is None:
        return nan
    df = sorted_run(metrics, ("loss", "residual_mean"))
    rows = df[(df.step >= escape) & (df.step < escape + max(2, int(AFTER_ESCAPE_FRACTION * n_steps)))]
    if rows.empty:
        return nan
    bias2 = rows.residual_mean.pow(2)
    return {"loss": float(rows.loss.median()), "bias2": float(bias2.median()), "share": float((bias2 / rows.loss).median())}
