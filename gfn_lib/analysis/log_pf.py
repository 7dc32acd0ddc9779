"""Is a fall of mean log P_F longer sequences or a less confident policy?

mean_log_pf = mean actions × log P_F per action (exactly, with the trainer's ratio-of-sums
per-action column), so every change splits into a length term and a per-action term. A more
confident policy moves log P_F per action *towards* 0.

Contents, top to bottom:

1. :class:`LogPfDriver`, :func:`attribute_log_pf_change`: the exact midpoint split of Δ(L·a).
2. :func:`decompose_log_pf` (per step), :func:`window_la` (a block of rows) and
   :func:`log_pf_fall_driver` (between two steps).
3. :func:`min_actions_for_log_pf`: the fewest actions an on-policy mean log P_F allows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from gfn_lib.analysis.explosion import nearest_row, sorted_run

# ---------------------------------------------------------------------------
# 1. Attribution of a change
# ---------------------------------------------------------------------------

DriverLabel = Literal["length", "per-action confidence", "per-action loss of confidence", "none"]


@dataclass(frozen=True)
class LogPfDriver:
    """Attribution of a change in mean log P_F to sequence length vs per-action log-prob.

    With L = mean actions per trajectory and a = log P_F per action (≤ 0),
    mean_log_pf = L·a and, exactly, Δ(L·a) = ΔL·ā + L̄·Δa with midpoint means
    ā = (a0+a1)/2, L̄ = (L0+L1)/2.
    """

    log_pf_start: float
    log_pf_end: float
    actions_start: float
    actions_end: float
    per_action_start: float
    per_action_end: float
    total_change: float
    """(L1·a1) − (L0·a0)."""
    length_term: float
    """ΔL·ā: the change had per-action log-prob stayed at its midpoint."""
    per_action_term: float
    """L̄·Δa: the change had length stayed at its midpoint."""
    length_share: float
    """length_term / total_change (shares sum to 1; a share > 1 means the other term opposed)."""
    per_action_share: float
    driver: DriverLabel
    """The term pushing hardest in the direction of the total change; "per-action
    confidence" if that is a rising per-action log-prob (towards 0), "per-action loss of
    confidence" if falling; "none" if the total change is 0."""
    residual: float = 0.0
    """Observed Δ mean_log_pf minus total_change (0 when the per-action column is ratio-of-sums)."""

    @property
    def phrase(self) -> str:
        share = self.length_share if self.driver == "length" else self.per_action_share
        return (f"log_pf {self.log_pf_start:.1f} → {self.log_pf_end:.1f}: "
                f"actions {self.actions_start:.1f} → {self.actions_end:.1f}, "
                f"per action {self.per_action_start:.2f} → {self.per_action_end:.2f}; "
                f"driven by {self.driver} ({share:.0%})")


def attribute_log_pf_change(actions_0: float, per_action_0: float,
                            actions_1: float, per_action_1: float) -> LogPfDriver:
    """Split Δ(L·a) between length and per-action log-prob (midpoint decomposition, exact).

    ``length_term = (L1−L0)·(a0+a1)/2`` and ``per_action_term = (L0+L1)/2·(a1−a0)``
    sum exactly to ``L1·a1 − L0·a0``. The driver is the term with the largest
    contribution in the direction of the total (``argmax(term·sign(total))``).
    Example (field notes, memo reward-C): 11 actions at −1.87 → 31 at −2.07:
    log_pf −20.6 → −64.3, length term −39.5 (90%), per-action term −4.2.
    """
    l0, a0, l1, a1 = map(float, (actions_0, per_action_0, actions_1, per_action_1))
    total = l1 * a1 - l0 * a0
    length_term = (l1 - l0) * (a0 + a1) / 2.0
    per_action_term = (l0 + l1) / 2.0 * (a1 - a0)
    if total == 0.0:
        driver: DriverLabel = "none"
        length_share = per_action_share = math.nan
    else:
        length_share, per_action_share = length_term / total, per_action_term / total
        sign = math.copysign(1.0, total)
        if length_term * sign >= per_action_term * sign:
            driver = "length"
        else:
            driver = "per-action confidence" if a1 > a0 else "per-action loss of confidence"
    return LogPfDriver(l0 * a0, l1 * a1, l0, l1, a0, a1, total, length_term, per_action_term,
                       length_share, per_action_share, driver)


# ---------------------------------------------------------------------------
# 2. Per step, per block of rows, between two steps
# ---------------------------------------------------------------------------

def _actions_column(run: pd.DataFrame) -> pd.Series:
    """Mean actions per trajectory: ``mean_actions``, else ``mean_length + 1`` (STOP)."""
    if "mean_actions" in run.columns:
        return pd.to_numeric(run["mean_actions"], errors="coerce").astype(float)
    if "mean_length" in run.columns:
        return pd.to_numeric(run["mean_length"], errors="coerce").astype(float) + 1.0
    raise KeyError("need mean_actions or mean_length to decompose log_pf")


def decompose_log_pf(df: pd.DataFrame) -> pd.DataFrame:
    """Per step: mean_log_pf next to mean_actions × log_pf_per_action.

    Returns columns ``step, mean_log_pf, mean_actions, log_pf_per_action,
    product, gap`` with ``product = mean_actions·log_pf_per_action`` and
    ``gap = mean_log_pf − product``. The identity mean_log_pf = L·a is exact
    (gap ≈ 0 up to float rounding) when ``log_pf_per_action`` is the
    ratio of sums Σ_i log_pf_i / Σ_i actions_i over the batch, because then
    L·a = (Σ actions/B)·(Σ log_pf/Σ actions) = Σ log_pf / B. If it were the mean
    of per-sequence ratios the gap would be non-zero (a length–confidence
    covariance). Missing ``mean_actions`` → ``mean_length + 1``; missing
    ``log_pf_per_action`` → ``mean_log_pf / mean_actions`` (gap 0 by construction).
    """
    run = sorted_run(df, ("mean_log_pf",))
    log_pf = pd.to_numeric(run["mean_log_pf"], errors="coerce").astype(float)
    actions = _actions_column(run)
    if "log_pf_per_action" in run.columns:
        per_action = pd.to_numeric(run["log_pf_per_action"], errors="coerce").astype(float)
    else:
        per_action = log_pf / actions
    product = actions * per_action
    return pd.DataFrame({
        "step": run["step"].to_numpy(),
        "mean_log_pf": log_pf.to_numpy(),
        "mean_actions": actions.to_numpy(),
        "log_pf_per_action": per_action.to_numpy(),
        "product": product.to_numpy(),
        "gap": (log_pf - product).to_numpy(),
    })


def window_la(dec: pd.DataFrame, rows: slice) -> tuple[float, float, float]:
    """(L, a, mean_log_pf) over a block of rows of :func:`decompose_log_pf` output.

    L = mean of ``mean_actions``; a = Σ product / Σ mean_actions, the
    actions-weighted mean of the logged per-action log-prob (equal batch sizes
    make this the block's ratio of sums). Then L·a = mean(product) exactly, and
    the block's mean_log_pf differs from it only by the mean logged ``gap``.
    """
    block = dec.iloc[rows]
    block = block[np.isfinite(block["product"]) & np.isfinite(block["mean_actions"])
                  & np.isfinite(block["mean_log_pf"])]
    if block.empty:
        return math.nan, math.nan, math.nan
    l_mean = float(block["mean_actions"].mean())
    a = float(block["product"].sum() / block["mean_actions"].sum())
    return l_mean, a, float(block["mean_log_pf"].mean())


def log_pf_fall_driver(df: pd.DataFrame, start_step: int, end_step: int,
                       half_width: int = 0) -> LogPfDriver:
    """Attribute the change in mean_log_pf between two steps to length vs per-action log-prob.

    Each end is the block of rows within ``half_width`` rows of the row nearest
    that step (``half_width=0``: that row alone; use e.g. ``default_window(n)//2``
    on a noisy run). In a block L is the mean of ``mean_actions`` and a the
    actions-weighted mean of ``log_pf_per_action`` (a block ratio of sums), so
    L·a is the block's mean of mean_actions × log_pf_per_action. Then
    :func:`attribute_log_pf_change` splits Δ(L·a) exactly into ΔL·ā + L̄·Δa and
    names the driver: "length" (sequences grew/shrank), "per-action
    confidence" (log-prob per action rose towards 0), or "per-action loss of
    confidence" (it fell). ``residual`` = observed Δ(block mean of mean_log_pf)
    − Δ(L·a): 0 when the logged per-action column is the batch ratio of sums
    (see :func:`decompose_log_pf`), otherwise the change in the logged gap.
    """
    dec = decompose_log_pf(df)
    if dec.empty:
        raise ValueError("empty metrics table")
    steps = dec["step"].to_numpy()
    i0, i1 = nearest_row(steps, start_step), nearest_row(steps, end_step)
    l0, a0, pf0 = window_la(dec, slice(max(0, i0 - half_width), i0 + half_width + 1))
    l1, a1, pf1 = window_la(dec, slice(max(0, i1 - half_width), i1 + half_width + 1))
    result = attribute_log_pf_change(l0, a0, l1, a1)
    residual = (pf1 - pf0) - result.total_change
    return replace(result, residual=residual)



# ---------------------------------------------------------------------------
# 3. The entropy bound
# ---------------------------------------------------------------------------

def min_actions_for_log_pf(mean_log_pf: float, n_actions: int = 21) -> float:
    """The fewest actions per trajectory that can give an on-policy ``mean_log_pf``.

    Sampling from the policy, the expected log-probability of the action taken at a state
    is minus the policy's entropy there, and entropy over at most ``n_actions`` legal
    actions is at most ``ln n_actions`` (uniform). So E[log P_F] >= -(mean actions) x
    ln(n_actions): a mean log P_F of ``v`` needs at least ``-v / ln(n_actions)`` actions.
    Memo step 7000: -51.3 needs >= 16.8 actions (21 actions), while its first phase
    (-20.7 at ~11 actions) is at -1.9 per action. A *more confident* policy cannot reach
    -51.3 on ~11 actions: the fall needs longer trajectories."""
    return -float(mean_log_pf) / math.log(n_actions)
