"""Is there a loss explosion, and where? The one smoother, the detector, and repeated explosions.

Contents, top to bottom:

1. :func:`sorted_run`, :func:`nearest_row` (rows by step) and :func:`smooth` /
   :func:`default_window`: the one smoother used everywhere (centred rolling median).
2. :func:`detect_explosion`: a sustained ≥10× rise of the smoothed loss (:class:`ExplosionResult`).
3. :func:`count_explosions`: how many separate explosions a run has, and whether the loss stays high.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

# ---------------------------------------------------------------------------
# 1. Rows and smoothing
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


def sorted_run(df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Rows with a valid step, sorted by step, index reset; checks required columns."""
    missing = [c for c in ("step", *columns) if c not in df.columns]
    if missing:
        raise KeyError(f"metrics table lacks column(s) {missing}")
    out = df[df["step"].notna()].sort_values("step", kind="stable").reset_index(drop=True)
    return out


def nearest_row(steps: np.ndarray, step: float) -> int:
    """Index of the row whose step is nearest ``step``."""
    return int(np.argmin(np.abs(steps.astype(float) - float(step))))


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
    run = sorted_run(df, ("loss",))
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
# 3. Repeated explosions
# ---------------------------------------------------------------------------

def count_explosions(df: pd.DataFrame, max_episodes: int = 5) -> tuple[int, bool]:
    """(number of separate explosions, whether the loss stays high after the first).

    After an explosion, the loss "falls back" at the first row where the smoothed loss is
    below ``ONSET_RATIO`` × the explosion's baseline; detection then restarts on the rows
    after that (a fresh running minimum). ``stays_high`` is True when the first explosion
    never falls back."""
    run = df.sort_values("step").reset_index(drop=True)
    n_ep, stays = 0, False
    while len(run) >= 3 and n_ep < max_episodes:
        ex = detect_explosion(run)
        if not ex.exploded:
            break
        n_ep += 1
        w = ex.window
        s = smooth(run["loss"].astype(float), w).to_numpy()
        i_x = int(np.flatnonzero(run["step"].to_numpy() == ex.step)[0])
        back = np.flatnonzero(s[i_x:] < ONSET_RATIO * ex.baseline_loss)
        if back.size == 0:
            stays = n_ep == 1
            break
        run = run.iloc[i_x + int(back[0]):].reset_index(drop=True)
    return n_ep, stays
