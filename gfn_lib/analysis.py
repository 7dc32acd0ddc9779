"""Reading training curves the way the step-6000 memo does, with stated rules.

The memo (``shared/memo/step-6000-memo.md``) makes claims from metric tables:
the TB loss "explodes" at some step, the explosion has a "trigger" (a reward
jump, a log_pf drop with flat reward, an immediate collapse), the log_pf drop
means the policy became "confident", and log_Z "can't keep up". This module
turns each of those readings into a function with explicit thresholds, so the
claims can be re-checked on our own runs. Pure numpy/pandas, no torch.

Input: the per-step metrics table of one run (one row per logged step) with
columns ``step, loss, log_z, mean_log_pf, mean_length, mean_actions,
log_pf_per_action, mean_reward, mean_log_reward, max_reward, residual_mean,
residual_std, entropy, grad_norm, lr, unique_frac, step_time_s``. Functions
need only the columns they name; rows are sorted by ``step`` first.

Contents, top to bottom:

1. ``smooth`` - the one smoother used everywhere (centred rolling median).
2. ``detect_explosion`` - sustained ≥10× rise of the smoothed loss.
3. ``classify_trigger`` - what changed around the explosion (memo's "Trigger").
4. ``describe_phase`` / ``summary_table`` - the memo's "What's Happening" column.
5. ``decompose_log_pf`` / ``log_pf_fall_driver`` - length vs per-action log-prob.
6. ``implied_log_z`` / ``MEMO_REWARD_C_TABLE`` - log_Z implied by the memo's table.
7. ``budget_at_step`` - the memo's "By Step 6000, You've Done" arithmetic.
8. ``map_step`` - memo step numbers onto shorter (scaled) runs.

Windows and persistence are counted in *rows*; they equal steps when every
step is logged, which is what our trainer does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# 1. Smoothing
# ---------------------------------------------------------------------------

SmoothMethod = Literal["median", "ema"]


def default_window(n_rows: int) -> int:
    """Smoothing window (rows) used when none is given: ~1% of the run, odd, in [5, 101].

    ``clip(n_rows // 100, 5, 101)`` rounded up to odd: 101 for a 10k-step run
    (a tenth of the memo's 1000-step table spacing), 21 for 2000 steps, 5 for
    anything of 500 steps or fewer. Odd so the centred median has a middle row.
    """
    w = int(np.clip(n_rows // 100, 5, 101))
    return w if w % 2 == 1 else w + 1


def smooth(series: pd.Series, window: int, method: SmoothMethod = "median") -> pd.Series:
    """Smooth a noisy per-step metric; the single smoother used by this module.

    ``"median"`` (default): centred rolling median over ``window`` rows with
    ``min_periods=1`` (edges use the rows that exist; NaNs are skipped, not
    propagated). A burst shorter than ``window / 2`` rows is removed entirely
    and a step change stays sharp at its true row, which is why it is the
    default for explosion detection. It looks ahead by ``window // 2`` rows:
    this is offline analysis, not an online alarm.

    ``"ema"``: exponential moving average, ``span=window``, no bias adjustment,
    NaNs ignored. Causal (no look-ahead) but lags a step change by ~window/2
    rows and lets a large spike through attenuated.

    ``window=1`` returns the series unchanged (as float).
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    s = pd.Series(series, dtype=float)
    if window == 1:
        return s.copy()
    if method == "median":
        return s.rolling(window, center=True, min_periods=1).median()
    if method == "ema":
        return s.ewm(span=window, adjust=False, ignore_na=True).mean()
    raise ValueError(f"unknown smoothing method {method!r}; use 'median' or 'ema'")


def _sorted_run(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows with a valid step, sorted by step, index reset; checks required columns."""
    missing = [c for c in ("step", *columns) if c not in df.columns]
    if missing:
        raise KeyError(f"metrics table lacks column(s) {missing}")
    out = df[df["step"].notna()].sort_values("step", kind="stable").reset_index(drop=True)
    return out


# ---------------------------------------------------------------------------
# 2. Explosion detection
# ---------------------------------------------------------------------------

EXPLOSION_RATIO = 10.0
"""Smoothed loss must reach this multiple of its running minimum. The memo's
reward-C explosion is 21 → 1327 (63×); ordinary TB noise around a plateau is
well under 3× after a median over ~1% of the run."""

EXPLOSION_MIN_ABS = 50.0
"""...and exceed the running minimum by at least this much (loss units, nats²,
i.e. an RMS residual of ~7 nats). Stops a converged run (loss ~0.1 → 1) from
counting as a 10× "explosion"."""

ONSET_RATIO = 2.0
"""The onset of an explosion is the first row of the unbroken stretch, ending at
the crossing, in which the smoothed loss is ≥ 2× the baseline (the rise had
clearly begun)."""


@dataclass(frozen=True)
class ExplosionResult:
    """Outcome of :func:`detect_explosion`. ``step is None`` means no explosion."""

    step: int | None
    """First step at which the smoothed loss is ≥ ratio × baseline and ≥ baseline + margin,
    at the start of a stretch that lasts ≥ ``min_persist`` rows (the crossing)."""
    onset_step: int | None
    """First step of the sustained rise (see ``ONSET_RATIO``); ≤ ``step``."""
    baseline_loss: float | None
    """Running minimum of the smoothed loss at the crossing."""
    peak_loss: float | None
    """Maximum smoothed loss at or after the crossing (for no explosion: overall maximum)."""
    peak_step: int | None
    ratio: float | None
    """peak_loss / baseline_loss (for no explosion: the largest smoothed/running-min ratio seen)."""
    persisted_rows: int
    """Length of the above-threshold stretch that starts at the crossing (0 if none)."""
    window: int
    """Smoothing window used (rows)."""
    reason: str
    """One sentence with the numbers: why it is or is not an explosion."""

    @property
    def exploded(self) -> bool:
        return self.step is not None


def _true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of each maximal stretch of True values."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, v in enumerate(mask):
        if v and start is None:
            start = i
        elif not v and start is not None:
            runs.append((start, i - start))
            start = None
    if start is not None:
        runs.append((start, len(mask) - start))
    return runs


def detect_explosion(
    df: pd.DataFrame,
    *,
    window: int | None = None,
    ratio: float = EXPLOSION_RATIO,
    min_abs_increase: float = EXPLOSION_MIN_ABS,
    min_persist: int | None = None,
    onset_ratio: float = ONSET_RATIO,
    method: SmoothMethod = "median",
) -> ExplosionResult:
    """Find the first sustained explosion of the TB loss, or report why there is none.

    Algorithm (rows sorted by step; NaN/inf losses dropped first and counted):

    1. ``s = smooth(loss, window)`` (centred rolling median; ``window`` defaults
       to :func:`default_window`, ~1% of the run).
    2. ``base = cummin(s)``: the running minimum, i.e. the best loss reached so
       far; an initial high-loss transient therefore never sets the baseline.
    3. A row is *above* when ``s ≥ ratio·base`` **and** ``s − base ≥ min_abs_increase``
       (defaults 10× and 50).
    4. The explosion is the first stretch of consecutive above rows lasting
       ≥ ``min_persist`` rows (default ``2·window``: a burst must outlive the
       smoother twice over). ``step`` is the first row of that stretch.
    5. ``onset_step``: walk back from the crossing while ``s ≥ onset_ratio·base``
       (2×, with the crossing's baseline); the first such row is the onset.

    Behaviour by shape: a single spike (or any burst shorter than ~window/2
    rows) is erased by the median → no explosion; a longer burst that falls
    back before ``min_persist`` rows → no explosion (reason says how long it
    lasted); a step change → ``step`` ≈ the step (± a few rows); a smooth slow
    rise → reported *at the row where it crosses* 10× its running minimum, with
    ``onset_step`` where it first doubled (a rise that never reaches 10× is not
    an explosion); a noisy flat curve → none. A crossing that reaches the end
    of the run with fewer than ``min_persist`` rows (incomplete run) is not
    reported, and the reason says so; a run shorter than ``min_persist`` rows
    can therefore never be called exploded. Fewer than 3 finite losses → none.
    """
    run = _sorted_run(df, ("loss",))
    loss = pd.to_numeric(run["loss"], errors="coerce").astype(float)
    finite = np.isfinite(loss.to_numpy())
    n_bad = int((~finite).sum())
    bad_note = f" ({n_bad} non-finite loss value(s) ignored)" if n_bad else ""
    steps = run.loc[finite, "step"].to_numpy()
    loss = loss[finite].reset_index(drop=True)
    n = len(loss)
    w = default_window(n) if window is None else int(window)
    persist = 2 * w if min_persist is None else int(min_persist)

    def none(reason: str, peak: float | None = None, peak_step: int | None = None,
             best_ratio: float | None = None, persisted: int = 0) -> ExplosionResult:
        return ExplosionResult(None, None, None, peak, peak_step, best_ratio, persisted, w,
                               reason + bad_note)

    if n < 3:
        return none(f"too few finite loss values ({n}) to judge")

    s = smooth(loss, w, method).to_numpy()
    base = np.minimum.accumulate(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(base > 0, s / base, np.inf)
    above = (s >= ratio * base) & (s - base >= min_abs_increase)
    runs = _true_runs(above)
    i_peak = int(np.argmax(s))
    best_ratio = float(np.max(rel[np.isfinite(rel)])) if np.isfinite(rel).any() else None

    crossing = next(((start, length) for start, length in runs if length >= persist), None)
    if crossing is None:
        if not runs:
            largest = f"{best_ratio:.3g}×" if best_ratio is not None else "n/a"
            return none(
                f"smoothed loss never reached {ratio:g}× its running minimum with a margin of "
                f"{min_abs_increase:g} (largest ratio {largest})",
                float(s[i_peak]), int(steps[i_peak]), best_ratio)
        start, length = max(runs, key=lambda r: r[1])
        tail = start + length == n
        where = "and the run ends there (incomplete run?)" if tail else "then fell back"
        return none(
            f"loss rose above {ratio:g}× its running minimum at step {int(steps[start])} but "
            f"stayed there only {length} rows {where}; {persist} rows needed",
            float(s[i_peak]), int(steps[i_peak]), best_ratio, length)

    start, length = crossing
    baseline = float(base[start])
    onset = start
    while onset > 0 and s[onset - 1] >= onset_ratio * baseline:
        onset -= 1
    j_peak = start + int(np.argmax(s[start:]))
    peak = float(s[j_peak])
    peak_ratio = peak / baseline if baseline > 0 else math.inf
    ends = "to the end of the run" if start + length == n else f"for {length} rows"
    reason = (
        f"smoothed loss rose from a running minimum of {baseline:.4g} to ≥ {ratio:g}× at step "
        f"{int(steps[start])} (rise began at step {int(steps[onset])}) and stayed above {ends}; "
        f"peak {peak:.4g} ({peak_ratio:.3g}×) at step {int(steps[j_peak])}"
    )
    return ExplosionResult(int(steps[start]), int(steps[onset]), baseline, peak,
                           int(steps[j_peak]), peak_ratio, length, w, reason + bad_note)


# ---------------------------------------------------------------------------
# 5 (used by 3). Decomposing log P_F into length × per-action log-prob
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
    run = _sorted_run(df, ("mean_log_pf",))
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


def _window_la(dec: pd.DataFrame, rows: slice) -> tuple[float, float, float]:
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


def _nearest_row(steps: np.ndarray, step: float) -> int:
    return int(np.argmin(np.abs(steps.astype(float) - float(step))))


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
    i0, i1 = _nearest_row(steps, start_step), _nearest_row(steps, end_step)
    l0, a0, pf0 = _window_la(dec, slice(max(0, i0 - half_width), i0 + half_width + 1))
    l1, a1, pf1 = _window_la(dec, slice(max(0, i1 - half_width), i1 + half_width + 1))
    result = attribute_log_pf_change(l0, a0, l1, a1)
    residual = (pf1 - pf0) - result.total_change
    return replace(result, residual=residual)


# ---------------------------------------------------------------------------
# 3. What triggered the explosion
# ---------------------------------------------------------------------------

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
    run = _sorted_run(df, ())
    n = len(run)
    window = explosion.window if explosion.window else default_window(n)
    ctx = max(2 * window, n // 10) if context_rows is None else int(context_rows)
    steps = run["step"].to_numpy()

    collapse_step, early = _collapse_step(run, batch_size, window)
    if collapse_step is not None and early:
        u = _mean(run, "unique_frac", slice(_nearest_row(steps, collapse_step), None))
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

    i_on = _nearest_row(steps, explosion.onset_step if explosion.onset_step is not None
                        else explosion.step)
    i_x = _nearest_row(steps, explosion.step)
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
        l0, a0, _ = _window_la(dec, before)
        l1, a1, _ = _window_la(dec, after)
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


# ---------------------------------------------------------------------------
# 4. The "What's Happening" column
# ---------------------------------------------------------------------------

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
    run = _sorted_run(df, ())
    w = default_window(len(run)) if window is None else window
    cols = [c for c in SUMMARY_COLUMNS if c in run.columns]
    smoothed = pd.DataFrame({c: smooth(pd.to_numeric(run[c], errors="coerce"), w)
                             for c in cols})
    idx = [_nearest_row(run["step"].to_numpy(), s) for s in steps]
    table = smoothed.iloc[idx].reset_index(drop=True)
    table.insert(0, "step", run["step"].to_numpy()[idx])
    phrases: list[str] = []
    prev: pd.Series | None = None
    for _, r in table.iterrows():
        phrases.append(describe_phase(prev, r))
        prev = r
    table["whats_happening"] = phrases
    return table


# ---------------------------------------------------------------------------
# 6. log_Z implied by loss, log_pf and reward; the memo's reward-C table
# ---------------------------------------------------------------------------

MEMO_REWARD_C_TABLE = pd.DataFrame({
    "step": [5000, 6000, 7000, 8000],
    "loss": [32.0, 21.0, 1327.0, 2362.0],
    "mean_log_pf": [-20.6, -20.7, -51.3, -64.3],
    "mean_reward": [0.06, 0.06, 0.79, 0.93],
    "whats_happening": ["Policy exploring, low reward", "Still exploring, loss decreasing ✓",
                        "🔥 Policy found high-reward mode",
                        "Policy becoming confident on that mode"],
})
"""QUOTED FROM THE MEMO (Part 1, "Example: reward-C-improved Run"), not our results.
Treat as read-only."""

MEMO_TRIGGER_TABLE = pd.DataFrame({
    "run": ["baseline", "reward-C-improved", "reward-A-trained", "reward-B-esm2pll",
            "phase3b-stb", "phase3b-entropy-0.00"],
    "explosion_step_low": [5000, 6000, 2000, None, 5000, 4000],
    "explosion_step_high": [5000, 7000, 2000, None, 7000, 4000],
    "trigger": ["reward stays flat (0.44) but log_pf drops", "reward jumps 0.06 → 0.79",
                "reward climbs steadily from start", "Collapsed immediately (all same output)",
                "reward jumps 0.18 → 0.82", "reward jumps 0.48 → 0.91"],
}).astype({"explosion_step_low": "Int64", "explosion_step_high": "Int64"})
"""QUOTED FROM THE MEMO ("Explosion Timing Varies by Run"; "~" dropped, NA = "Never").
Not our results. Treat as read-only."""


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


def memo_implied_log_z(table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per row of a memo-style table (default: ``MEMO_REWARD_C_TABLE``), both implied log_Z roots.

    Returns ``step, loss, mean_log_pf, mean_reward, log_r, log_z_lagging,
    log_z_leading`` where ``log_r = log(mean_reward)``. The lagging root is the
    plausible one (see :func:`implied_log_z`).
    """
    t = (MEMO_REWARD_C_TABLE if table is None else table)[
        ["step", "loss", "mean_log_pf", "mean_reward"]].copy()
    lag, lead = implied_log_z(t["loss"].to_numpy(), t["mean_log_pf"].to_numpy(),
                              t["mean_reward"].to_numpy())
    t["log_r"] = np.log(t["mean_reward"].to_numpy())
    t["log_z_lagging"] = lag
    t["log_z_leading"] = lead
    return t.reset_index(drop=True)


# ---------------------------------------------------------------------------
# 7. The memo's training budget arithmetic
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


# ---------------------------------------------------------------------------
# 8. Memo steps on scaled runs
# ---------------------------------------------------------------------------

def map_step(memo_step: float, memo_total: int = 10000, *, run_total: int) -> int:
    """Map a step of the memo's 10k-step runs onto a run of ``run_total`` steps, proportionally.

    ``round(memo_step · run_total / memo_total)`` clipped to ``[1, run_total]``
    (steps are 1-based). E.g. the memo's step 6000 is step 1200 of a 2000-step
    profile. Proportional mapping keeps the *fraction of training* fixed; it
    does not preserve warmup length, the lr sum or samples seen, which the
    memo's budget argument is about (compare :func:`budget_at_step`).
    """
    if memo_total <= 0 or run_total <= 0:
        raise ValueError("memo_total and run_total must be positive")
    mapped = int(round(float(memo_step) * run_total / memo_total))
    return int(min(max(mapped, 1), run_total))
