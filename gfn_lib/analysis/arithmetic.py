"""The memo's arithmetic: log Z implied by a logged loss, and the training budget at a step.

:func:`implied_log_z` (both roots of loss = residual²), :func:`implied_log_z_rows` (per row
of a memo-style table) and :func:`budget_at_step` (the memo's "By Step 6000, You've Done").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# 1. log Z implied by loss, log P_F and reward
# ---------------------------------------------------------------------------

def implied_log_z(loss: float | np.ndarray, mean_log_pf: float | np.ndarray,
                  mean_reward: float | np.ndarray, residual_std: float | np.ndarray = 0.0,
                  ) -> tuple[float | np.ndarray, float | np.ndarray]:
    """Both log_Z values consistent with a logged loss: ``(lagging, leading)``.

    From loss = residual² with residual = log_Z + log_pf − log R:
    log_Z = log R − log_pf ∓ sqrt(loss). The first ("lagging", residual < 0:
    log_Z too small for the sampled trajectories) is log R − log_pf − sqrt(loss);
    the second ("leading", residual > 0) adds it. For the memo's reward-C table
    the lagging root gives ≈ 12.1, 13.3, 14.6, 15.6 (field notes: 12 → 13 → 15 →
    16); the leading root would need log_Z to jump 22 → 87 in 1000 steps.

    This is the memo-level approximation: the logged loss is a batch mean of
    residual², i.e. mean_residual² + var(residual), and log(mean R) ≠ mean log R.
    Passing ``residual_std`` uses |mean residual| = sqrt(max(loss − std², 0))
    instead of sqrt(loss). Scalars in → floats out; arrays broadcast.
    """
    loss_a = np.asarray(loss, dtype=float)
    spread = np.sqrt(np.maximum(loss_a - np.asarray(residual_std, dtype=float) ** 2, 0.0))
    centre = np.log(np.asarray(mean_reward, dtype=float)) - np.asarray(mean_log_pf, dtype=float)
    lagging, leading = centre - spread, centre + spread
    if lagging.ndim == 0:
        return float(lagging), float(leading)
    return lagging, leading


def implied_log_z_rows(table: pd.DataFrame) -> pd.DataFrame:
    """Per row of a memo-style table (e.g. ``gfn_lib.memo.quotes.MEMO_REWARD_C_TABLE``), both
    implied log_Z roots.

    Returns ``step, loss, mean_log_pf, mean_reward, log_r, log_z_lagging,
    log_z_leading`` where ``log_r = log(mean_reward)``. The lagging root is the
    plausible one (see :func:`implied_log_z`).
    """
    t = table[["step", "loss", "mean_log_pf", "mean_reward"]].copy()
    lag, lead = implied_log_z(t["loss"].to_numpy(), t["mean_log_pf"].to_numpy(),
                              t["mean_reward"].to_numpy())
    t["log_r"] = np.log(t["mean_reward"].to_numpy())
    t["log_z_lagging"] = lag
    t["log_z_leading"] = lead
    return t.reset_index(drop=True)


# ---------------------------------------------------------------------------
# 2. The memo's training budget arithmetic
# ---------------------------------------------------------------------------

def budget_at_step(step: int, batch_size: int = 64, warmup_steps: int = 1000,
                   lr: float = 3e-4) -> dict[str, float]:
    """The memo's "By Step 6000, You've Done" figures, plus the exact lr sum.

    Keys:

    * ``gradient_updates`` = step (one update per step).
    * ``sequences_sampled`` = step × batch_size (memo: 6000 × 64 = 384,000).
    * ``effective_steps`` = max(step − warmup_steps, 0) (memo: 5000).
    * ``lr_steps_rough`` = effective_steps × lr (memo: 5000 × 3e-4 = 1.5).
    * ``lr_sum_exact`` = Σ_{t=1..step} lr_t for linear warmup lr_t = lr·t/warmup
      for t ≤ warmup (from lr/warmup at step 1 to lr at step ``warmup``), then lr:
      lr·k(k+1)/(2·warmup) + lr·max(step − warmup, 0) with k = min(step, warmup).
      At step 6000: 0.15015 + 1.5 = 1.65015. With Adam each parameter moves at
      most ≈ lr_t per step, so this bounds (approximately) how far log_Z can
      have moved from its initial value on the shared learning rate.
    """
    if step < 0 or batch_size < 1 or warmup_steps < 0:
        raise ValueError("need step >= 0, batch_size >= 1, warmup_steps >= 0")
    effective = max(step - warmup_steps, 0)
    if warmup_steps > 0:
        k = min(step, warmup_steps)
        warm_sum = lr * k * (k + 1) / (2.0 * warmup_steps)
    else:
        warm_sum = 0.0
    return {
        "gradient_updates": step,
        "sequences_sampled": step * batch_size,
        "effective_steps": effective,
        "lr_steps_rough": effective * lr,
        "lr_sum_exact": warm_sum + effective * lr,
    }
