"""Beyond the memo's tables: three tables that test its mechanism on our runs.

:func:`log_pf_decomposition_table` (is a fall of log P_F longer sequences or a less confident
policy?), :func:`implied_log_z_table` (the log Z the memo's own table implies, and ours) and
:func:`log_z_fix_table` (does a fast log Z, or none, remove the explosion?).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import pandas as pd

from gfn_lib.analysis import (
    LogPfDriver,
    default_window,
    implied_log_z,
    implied_log_z_rows,
    nearest_row,
    smooth,
    summary_table,
)
from gfn_lib.memo.cells import NA, fmt_num, spread, step_spread
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_REWARD_C_TABLE
from gfn_lib.memo.rules import LOG_PF_FALL_MIN, compare_explosions, seed_decomposition
from gfn_lib.memo.runs import SeedRun, Study, short_name
from gfn_lib.study import GROUP_ORDER


def _driver_text(drivers: Sequence[LogPfDriver | None]) -> str:
    drivers = [d for d in drivers if d is not None]
    if not drivers:
        return NA
    totals = [d.total_change for d in drivers]
    falls = [d for d in drivers if d.total_change <= -LOG_PF_FALL_MIN]
    rises = [d for d in drivers if d.total_change >= LOG_PF_FALL_MIN]
    head = (f"Δlog_pf {spread(totals, '+.1f')}; actions {spread([d.actions_start for d in drivers], '.1f')}"
            f" → {spread([d.actions_end for d in drivers], '.1f')}, per action "
            f"{spread([d.per_action_start for d in drivers], '.2f')} → "
            f"{spread([d.per_action_end for d in drivers], '.2f')}")
    if falls:
        c = Counter(d.driver for d in falls)
        tag = "; ".join(f"fall driven by {k}" + (f" in {n}/{len(drivers)} seeds" if len(drivers) > 1 else "")
                        for k, n in c.most_common())
    elif rises:
        tag = "log_pf rose (no fall)"
    else:
        tag = f"no fall ≥ {LOG_PF_FALL_MIN:g} nats"
    return f"{head}: {tag}"


def log_pf_decomposition_table(st: Study, groups: Sequence[str] = GROUP_ORDER) -> pd.DataFrame:
    """mean_log_pf = mean actions × log_pf per action, and which factor drove each change.

    Two intervals per run: the memo's (memo steps 5000 → 8000 mapped) and across our
    explosion (before-onset → after-crossing windows of the trigger classifier). A more
    confident policy moves log_pf per action towards 0, so a *fall* of log_pf is driven
    either by length or by a per-action loss of confidence; the driver column says which.
    """
    rows = []
    for g in st.groups(groups):
        seeds = g.with_data
        decs = [seed_decomposition(st, s) for s in seeds]
        rows.append({
            "Run": g.short_name, "Status": g.status_text,
            "Memo steps 5000 → 8000": _driver_text([d["memo_window"] for d in decs]) if seeds else "no data",
            "Across our explosion": _driver_text([d["explosion"] for d in decs]) if seeds else "no data",
        })  # fmt: skip
    return pd.DataFrame(rows)


def _smoothed_at(s: SeedRun, col: str, row: int) -> float:
    """``col`` of one seed, smoothed (default window), at a row; NaN if the run lacks it."""
    if col not in s.metrics:
        return math.nan
    return float(smooth(s.metrics[col], default_window(len(s.metrics))).iloc[row])


def implied_log_z_table(st: Study, run: str = EXAMPLE_RUN) -> pd.DataFrame:
    """log_Z implied by loss, log_pf and reward (log_Z ≈ log R − log_pf − √loss, the lagging
    root of :func:`gfn_lib.analysis.implied_log_z`): the memo's reward-C table vs ours at
    the mapped steps, next to our actual log_Z and the log_Z that would zero our mean residual
    (mean log R′ − mean log_pf)."""
    g = st.get(run)
    seeds = g.with_data if g else []
    rows = []
    for m in implied_log_z_rows(MEMO_REWARD_C_TABLE).itertuples():
        target = st.to_run_step(m.step)
        ours_impl, ours_lz, ours_need = [], [], []
        for s in seeds:
            if (s.last_step or 0) < target:
                continue
            r = summary_table(s.metrics, [target]).iloc[0]
            near = nearest_row(s.metrics["step"].to_numpy(), target)
            ours_impl.append(implied_log_z(r["loss"], r["mean_log_pf"], r["mean_reward"])[0])
            ours_lz.append(float(r["log_z"]) if "log_z" in r else math.nan)
            ours_need.append(_smoothed_at(s, "mean_target_log_reward", near) - _smoothed_at(s, "mean_log_pf", near))
        rows.append({
            "Memo step": m.step, "Our step": target,
            "Implied log_Z (memo's table)": fmt_num(m.log_z_lagging, ".1f"),
            "Implied log_Z (our loss, log_pf, reward)": spread(ours_impl, ".1f"),
            "Our log_Z (learned)": spread(ours_lz, ".2f"),
            "log_Z that zeroes our mean residual": spread(ours_need, ".1f"),
        })  # fmt: skip
    return pd.DataFrame(rows)


LOG_Z_FIX_RUNS = (EXAMPLE_RUN, "ablation-log-z-lr-0.1", "ablation-logvar")

_FIX_VERDICTS = {"removed (no explosion)": "explosion removed", "removed in some seeds": "removed in some seeds",
                 "no explosion in either": "nothing to remove: the base does not explode", "no data": "not run yet"}


def log_z_fix_table(st: Study, runs: Sequence[str] = LOG_Z_FIX_RUNS) -> pd.DataFrame:
    """Does a fast log_Z (lr 0.1) or a log_Z-free loss (log-partition variance) remove the
    explosion of the reward-C run? Explosion step, peak and final smoothed loss, final log_Z
    against the log_Z the samples ask for; verdict against the base (finished seeds)."""
    base = st.get(runs[0])
    rows = []
    for name in runs:
        g = st.get(name)
        seeds = g.with_data if g else []
        peak = [float(smooth(s.metrics["loss"], default_window(len(s.metrics))).max()) for s in seeds]
        need = [_smoothed_at(s, "mean_target_log_reward", -1) - _smoothed_at(s, "mean_log_pf", -1) for s in seeds]
        if g is base:
            verdict = "reference"
        else:
            word, _, _ = compare_explosions(base, g)
            verdict = _FIX_VERDICTS.get(word, f"still explodes ({word})")
        rows.append({
            "Run": short_name(name), "Status": st.status_of(name),
            "log_Z lr (this profile)": (NA if not g else "no log_Z (logvar)" if g.config.loss == "logvar"
                         else f"{g.config.effective_log_z_lr:g}"),
            "Explosion step": step_spread([s.explosion_step for s in seeds]) if seeds else NA,
            "Peak loss (smoothed)": spread(peak, ".4g"),
            "Final loss (smoothed)": spread([_smoothed_at(s, "loss", -1) for s in seeds], ".4g"),
            "Final log_Z": spread([_smoothed_at(s, "log_z", -1) for s in seeds], ".2f"),
            "log_Z the samples ask for (end)": spread(need, ".1f"),
            "Verdict": verdict,
        })  # fmt: skip
    return pd.DataFrame(rows)
