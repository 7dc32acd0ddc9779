"""What triggered an explosion, in the memo's vocabulary ("Trigger" column), from the data.

:func:`classify_trigger` compares the windows before the loss started rising and after it
crossed 10× and returns a :class:`Trigger`: ``collapse``, ``never``, ``reward_jump``,
``length_runaway``, ``log_pf_drop_flat_reward``, ``reward_climb`` or ``other``, with a phrase
and the length / per-action driver of the log P_F change. Thresholds are the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd

from gfn_lib.analysis.explosion import ExplosionResult, default_window, nearest_row, smooth, sorted_run
from gfn_lib.analysis.log_pf import LogPfDriver, attribute_log_pf_change, decompose_log_pf, window_la

TriggerLabel = Literal["collapse", "never", "reward_jump", "length_runaway",
                       "log_pf_drop_flat_reward", "reward_climb", "other"]

REWARD_JUMP_MIN = 0.2
"""Mean reward must rise by ≥ 0.2 (absolute) from the pre-onset window to the
post-crossing window to call it a jump. The memo's jumps are 0.55–0.73; reward
noise after averaging a window of ≥ 10 steps of batch 64 is ≪ 0.1."""
REWARD_FLAT_MAX = 0.1
"""|Δ mean reward| ≤ 0.1 across the explosion counts as "flat" (memo: "stays flat (0.44)")."""
LOG_PF_DROP_MIN = 5.0
"""mean_log_pf must fall by ≥ 5 nats (≈ 2–3 actions at the memo's ~−2 nats/action)
to count as a log_pf drop."""
COLLAPSE_UNIQUE_DISTINCT = 2
"""Collapse: smoothed unique_frac ≤ 2/B (at most two distinct sequences per batch)..."""
COLLAPSE_EARLY_FRAC = 0.25
"""...first reached within the first 25% of the run ("immediately")..."""
COLLAPSE_STAY_FRAC = 0.9
"""...and holding for ≥ 90% of the rows after that ("stays")."""


@dataclass(frozen=True)
class Trigger:
    """What :func:`classify_trigger` found; ``phrase`` reads like the memo's Trigger column."""

    label: TriggerLabel
    phrase: str
    explosion_step: int | None = None
    reward_start: float | None = None
    reward_before: float | None = None
    reward_after: float | None = None
    log_pf_before: float | None = None
    log_pf_after: float | None = None
    length_before: float | None = None
    length_after: float | None = None
    driver: LogPfDriver | None = None
    """Length vs per-action attribution of the log_pf change from before to after."""
    collapse_step: int | None = None
    """First step with unique_frac ≤ 2/B that then stays low (any time in the run)."""


def _collapse_step(run: pd.DataFrame, batch_size: int, window: int) -> tuple[int | None, bool]:
    """(first step of a lasting collapse, whether it came early). See COLLAPSE_* constants."""
    if "unique_frac" not in run.columns or run.empty:
        return None, False
    u = smooth(pd.to_numeric(run["unique_frac"], errors="coerce"), window).to_numpy()
    low = u <= COLLAPSE_UNIQUE_DISTINCT / batch_size + 1e-12
    n = len(u)
    # fraction of rows from i to the end that are low, for every i
    stay = np.cumsum(low[::-1])[::-1] / np.arange(n, 0, -1)
    hits = np.flatnonzero(low & (stay >= COLLAPSE_STAY_FRAC))
    if hits.size == 0:
        return None, False
    i = int(hits[0])
    return int(run["step"].iloc[i]), i < COLLAPSE_EARLY_FRAC * n


def _mean(run: pd.DataFrame, column: str, rows: slice) -> float | None:
    if column not in run.columns:
        return None
    v = pd.to_numeric(run[column].iloc[rows], errors="coerce").astype(float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else None


def classify_trigger(
    df: pd.DataFrame,
    explosion: ExplosionResult,
    *,
    batch_size: int = 64,
    context_rows: int | None = None,
) -> Trigger:
    """Label what accompanied the loss explosion, in the memo's vocabulary, from the data.

    Windows (h = ``context_rows // 2`` rows each; values are window means):
    *before* = the h rows ending h rows before the onset step, so a reward
    change that leads the loss rise by up to h rows still counts as "before →
    after" rather than being averaged into the before level; *after* = the h
    rows starting at the crossing step; *start* = the first h rows.
    ``context_rows`` defaults to ``max(2·window, n//10)`` (1000 for a 10k run:
    the comparison spans ~onset − 1000 to crossing + 500, like the memo's
    1000-step table rows). If the onset comes before row h + 1 there is no room
    for the gap and *before* is the first ``min(window, onset)`` rows.

    Rules, checked in order:

    1. ``collapse``: smoothed unique_frac ≤ 2/B within the first 25% of the run
       and staying there for ≥ 90% of the remaining rows (checked first, as the
       memo's "Collapsed immediately (all same output)").
    2. ``never``: no explosion (``explosion.step is None``).
    3. ``reward_jump``: reward_after − reward_before ≥ 0.2.
    4. reward flat (|Δ| ≤ 0.1) and log_pf falls ≥ 5 nats: ``length_runaway`` if
       the fall is length-driven (:func:`attribute_log_pf_change`), else
       ``log_pf_drop_flat_reward``. This is where the field notes' objection is
       tested: a log_pf fall from longer sequences is not a confident policy.
    5. ``reward_climb``: reward rose ≥ 0.2 from the start window to the before
       window (memo: "reward climbs steadily from start").
    6. ``other``: an explosion none of the above explains; the phrase gives the numbers.

    The length/per-action driver of the log_pf change is computed whenever the
    length columns exist and reported for every exploding label.
    """
    run = sorted_run(df, ())
    n = len(run)
    window = explosion.window if explosion.window else default_window(n)
    ctx = max(2 * window, n // 10) if context_rows is None else int(context_rows)
    steps = run["step"].to_numpy()

    collapse_step, early = _collapse_step(run, batch_size, window)
    if collapse_step is not None and early:
        u = _mean(run, "unique_frac", slice(nearest_row(steps, collapse_step), None))
        extra = (f"; loss explosion at step {explosion.step} too" if explosion.exploded else "")
        return Trigger("collapse",
                       f"Collapsed immediately (all same output): unique_frac ≤ "
                       f"{COLLAPSE_UNIQUE_DISTINCT}/{batch_size} from step {collapse_step} "
                       f"(mean {u:.3f} after){extra}",
                       explosion.step, collapse_step=collapse_step)

    if not explosion.exploded or n == 0:
        late = f"; unique_frac collapsed late, at step {collapse_step}" if collapse_step else ""
        ratio = f" (largest smoothed rise {explosion.ratio:.3g}×)" if explosion.ratio else ""
        return Trigger("never", f"No explosion{ratio}{late}", None, collapse_step=collapse_step)

    i_on = nearest_row(steps, explosion.onset_step if explosion.onset_step is not None
                        else explosion.step)
    i_x = nearest_row(steps, explosion.step)
    half = max(ctx // 2, 1)
    b_end = i_on - half
    if b_end < 1:  # explosion too early for the gap: use the first rows
        b_end = max(1, min(window, i_on))
    before = slice(max(0, b_end - half), b_end)
    after = slice(i_x, i_x + half)
    start = slice(0, half)

    r_start, r0, r1 = (_mean(run, "mean_reward", s) for s in (start, before, after))
    pf0, pf1 = _mean(run, "mean_log_pf", before), _mean(run, "mean_log_pf", after)
    len0, len1 = _mean(run, "mean_length", before), _mean(run, "mean_length", after)

    driver: LogPfDriver | None = None
    if "mean_log_pf" in run.columns and ("mean_actions" in run.columns
                                         or "mean_length" in run.columns):
        dec = decompose_log_pf(run)
        l0, a0, _ = window_la(dec, before)
        l1, a1, _ = window_la(dec, after)
        if all(np.isfinite([l0, a0, l1, a1])):
            driver = attribute_log_pf_change(l0, a0, l1, a1)

    found = partial(Trigger, explosion_step=explosion.step, reward_start=r_start,
                    reward_before=r0, reward_after=r1, log_pf_before=pf0, log_pf_after=pf1,
                    length_before=len0, length_after=len1, driver=driver,
                    collapse_step=collapse_step)
    pf_text = f"log_pf {pf0:.1f} → {pf1:.1f}" if pf0 is not None and pf1 is not None else ""
    if driver is not None and driver.driver != "none":
        share = driver.length_share if driver.driver == "length" else driver.per_action_share
        pf_text += f" (driven by {driver.driver}, {share:.0%})"
    len_text = (f"sequences {len0:.1f} → {len1:.1f} residues"
                if len0 is not None and len1 is not None else "")

    if r0 is None or r1 is None:
        return found("other", f"explosion at step {explosion.step}; no mean_reward column")
    d_reward = r1 - r0
    log_pf_drop = (pf0 - pf1) if pf0 is not None and pf1 is not None else 0.0

    if d_reward >= REWARD_JUMP_MIN:
        return found("reward_jump", f"reward jumps {r0:.2f} → {r1:.2f}"
                     + (f"; {pf_text}" if pf_text else ""))
    if abs(d_reward) <= REWARD_FLAT_MAX and log_pf_drop >= LOG_PF_DROP_MIN:
        flat = f"reward stays flat ({r1:.2f}) but {pf_text.replace('log_pf', 'log_pf drops', 1)}"
        if driver is not None and driver.driver == "length":
            return found("length_runaway", f"{flat}; {len_text}" if len_text else flat)
        return found("log_pf_drop_flat_reward", flat)
    if r_start is not None and r0 - r_start >= REWARD_JUMP_MIN:
        return found("reward_climb", f"reward climbs steadily from start {r_start:.2f} → "
                     f"{r0:.2f} (→ {r1:.2f} after)")
    parts = [f"reward {r0:.2f} → {r1:.2f}", pf_text, len_text]
    return found("other", "unexplained: " + "; ".join(p for p in parts if p))
