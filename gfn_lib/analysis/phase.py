"""The memo's "What's Happening" column: a phrase for each row of a metrics table.

:func:`describe_phase` names what changed between two table rows (reward level and change,
loss ratio, sequence length, log P_F per action) with the ``PHASE_*`` thresholds;
:func:`summary_table` reads smoothed metrics at given steps and adds the phrases.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from gfn_lib.analysis.explosion import (
    EXPLOSION_MIN_ABS,
    EXPLOSION_RATIO,
    default_window,
    nearest_row,
    smooth,
    sorted_run,
)

PHASE_REWARD_LOW = 0.2
"""Mean reward below this is "low" (the memo calls 0.06 "exploring, low reward")."""
PHASE_REWARD_HIGH = 0.5
"""Mean reward at or above this is "high" (memo: 0.79, 0.93 = "high-reward mode")."""
PHASE_REWARD_CHANGE = 0.2
"""A reward change of ≥ 0.2 between table rows is a rise/fall (same as REWARD_JUMP_MIN)."""
PHASE_LOSS_DOWN = 0.8
"""Loss ratio ≤ 0.8 between rows: "Loss decreasing" (memo: 32 → 21 = 0.66)."""
PHASE_LOSS_UP = 1.5
"""Loss ratio ≥ 1.5: "Loss rising"; ≥ EXPLOSION_RATIO with ≥ EXPLOSION_MIN_ABS: "Loss exploding"."""
PHASE_LENGTH_CHANGE = 2.0
"""|Δ mean_length| ≥ 2 residues: "Sequences lengthening/shortening"."""
PHASE_PER_ACTION_CHANGE = 0.1
"""|Δ log_pf per action| ≥ 0.1 nats: policy more/less confident per action."""
PHASE_LOG_PF_CHANGE = 5.0
"""|Δ mean_log_pf| ≥ 5 nats is reported when length is unknown (cannot be attributed)."""

Row = Mapping[str, float] | pd.Series


def _get(row: Row | None, key: str) -> float | None:
    if row is None or key not in row:
        return None
    v = row[key]
    try:
        v = float(v)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _per_action(row: Row | None) -> float | None:
    """log_pf per action from a table row: the column, else log_pf / actions (length + 1)."""
    direct = _get(row, "log_pf_per_action")
    if direct is not None:
        return direct
    pf = _get(row, "mean_log_pf")
    actions = _get(row, "mean_actions")
    length = _get(row, "mean_length")
    if actions is None and length is not None:
        actions = length + 1.0
    return pf / actions if pf is not None and actions else None


def describe_phase(row_prev: Row | None, row: Row) -> str:
    """A "What's Happening" phrase for one table row, from its change since the previous row.

    Rows are mappings (or DataFrame rows) with ``mean_reward`` and optionally
    ``loss``, ``mean_log_pf``, ``mean_length``/``mean_actions``/``log_pf_per_action``.
    Clauses, joined by "; " (thresholds are the ``PHASE_*`` constants):

    * reward: with no previous row, its level: < 0.2 "Policy exploring, low
      reward", ≥ 0.5 "Reward high", else "Moderate reward". With one: rise
      ≥ 0.2 into ≥ 0.5 "Policy found high-reward mode", other rise ≥ 0.2
      "Reward rising", fall ≥ 0.2 "Reward falling", else by level "Still
      exploring, low reward" / "Staying on high-reward mode" / "Reward flat".
    * loss: ratio ≥ 10 and +50 "Loss exploding"; ≥ 1.5 "Loss rising";
      ≤ 0.8 "Loss decreasing"; else "Loss flat".
    * length: |Δ| ≥ 2 residues "Sequences lengthening/shortening".
    * per action: Δ ≥ +0.1 "Policy more confident per action", ≤ −0.1 "less
      confident per action". If neither length nor per-action figures exist but
      |Δ log_pf| ≥ 5: "log_pf falling/rising (length unknown)", since the memo's
      reading of a log_pf fall as confidence cannot be checked without length.
    """
    r1 = _get(row, "mean_reward")
    r0 = _get(row_prev, "mean_reward")
    clauses: list[str] = []

    if r1 is not None:
        if r0 is None:
            if r1 < PHASE_REWARD_LOW:
                clauses.append(f"Policy exploring, low reward ({r1:.2f})")
            elif r1 >= PHASE_REWARD_HIGH:
                clauses.append(f"Reward high ({r1:.2f})")
            else:
                clauses.append(f"Moderate reward ({r1:.2f})")
        else:
            d = r1 - r0
            if d >= PHASE_REWARD_CHANGE and r1 >= PHASE_REWARD_HIGH > r0:
                clauses.append(f"Policy found high-reward mode (reward {r0:.2f} → {r1:.2f})")
            elif d >= PHASE_REWARD_CHANGE:
                clauses.append(f"Reward rising ({r0:.2f} → {r1:.2f})")
            elif d <= -PHASE_REWARD_CHANGE:
                clauses.append(f"Reward falling ({r0:.2f} → {r1:.2f})")
            elif r1 < PHASE_REWARD_LOW:
                clauses.append(f"Still exploring, low reward ({r1:.2f})")
            elif r1 >= PHASE_REWARD_HIGH:
                clauses.append(f"Staying on high-reward mode ({r0:.2f} → {r1:.2f})")
            else:
                clauses.append(f"Reward flat ({r1:.2f})")

    l0, l1 = _get(row_prev, "loss"), _get(row, "loss")
    if l0 is not None and l1 is not None and l0 > 0:
        q = l1 / l0
        if q >= EXPLOSION_RATIO and l1 - l0 >= EXPLOSION_MIN_ABS:
            clauses.append(f"Loss exploding ({l0:.4g} → {l1:.4g})")
        elif q >= PHASE_LOSS_UP:
            clauses.append(f"Loss rising ({l0:.4g} → {l1:.4g})")
        elif q <= PHASE_LOSS_DOWN:
            clauses.append(f"Loss decreasing ({l0:.4g} → {l1:.4g})")
        else:
            clauses.append("Loss flat")

    len0, len1 = _get(row_prev, "mean_length"), _get(row, "mean_length")
    if len0 is not None and len1 is not None:
        if len1 - len0 >= PHASE_LENGTH_CHANGE:
            clauses.append(f"Sequences lengthening ({len0:.1f} → {len1:.1f} residues)")
        elif len0 - len1 >= PHASE_LENGTH_CHANGE:
            clauses.append(f"Sequences shortening ({len0:.1f} → {len1:.1f} residues)")

    a0, a1 = _per_action(row_prev), _per_action(row)
    if a0 is not None and a1 is not None:
        if a1 - a0 >= PHASE_PER_ACTION_CHANGE:
            clauses.append(f"Policy more confident per action ({a0:.2f} → {a1:.2f} nats)")
        elif a0 - a1 >= PHASE_PER_ACTION_CHANGE:
            clauses.append(f"Policy less confident per action ({a0:.2f} → {a1:.2f} nats)")
    else:
        p0, p1 = _get(row_prev, "mean_log_pf"), _get(row, "mean_log_pf")
        if p0 is not None and p1 is not None and abs(p1 - p0) >= PHASE_LOG_PF_CHANGE:
            way = "falling" if p1 < p0 else "rising"
            clauses.append(f"log_pf {way} ({p0:.1f} → {p1:.1f}; length unknown)")

    return "; ".join(clauses) if clauses else "No change measured"


SUMMARY_COLUMNS = ("loss", "log_z", "mean_log_pf", "mean_reward", "mean_length",
                   "mean_actions", "log_pf_per_action", "unique_frac")


def summary_table(df: pd.DataFrame, steps: list[int] | np.ndarray,
                  window: int | None = None) -> pd.DataFrame:
    """A memo-style table: smoothed metrics at the given steps plus "whats_happening".

    Each metric in ``SUMMARY_COLUMNS`` that the run has is smoothed with
    :func:`smooth` (``window`` defaults to :func:`default_window`) and read at the
    row nearest each requested step; ``whats_happening`` is :func:`describe_phase`
    of consecutive table rows (the first against nothing).
    """
    run = sorted_run(df, ())
    w = default_window(len(run)) if window is None else window
    cols = [c for c in SUMMARY_COLUMNS if c in run.columns]
    smoothed = pd.DataFrame({c: smooth(pd.to_numeric(run[c], errors="coerce"), w)
                             for c in cols})
    idx = [nearest_row(run["step"].to_numpy(), s) for s in steps]
    table = smoothed.iloc[idx].reset_index(drop=True)
    table.insert(0, "step", run["step"].to_numpy()[idx])
    phrases: list[str] = []
    prev: pd.Series | None = None
    for _, r in table.iterrows():
        phrases.append(describe_phase(prev, r))
        prev = r
    table["whats_happening"] = phrases
    return table
