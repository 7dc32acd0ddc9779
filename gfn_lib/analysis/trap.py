"""Is the policy in a low-entropy trap, and when does it leave it? (The published reward-C run's
"DL trap": 30 residues of only D and L from ~step 1000 to ~6000, then an escape to 15 letters.)

A row is *trapped* when the batch is low-entropy: its smoothed ``composition_entropy`` (each
sequence's residue-composition entropy / log 20, batch mean; the one smoother,
:func:`gfn_lib.analysis.explosion.smooth`) is ≤ :data:`TRAP_ENTROPY_MAX`. ``letters_used``
(distinct residues in the whole batch) is reported, not used: one rare sample adds a letter.

The trap's *onset* is the first row of the first trapped stretch of at least ``min_rows`` rows.
Its *escape* is the first row from which the run stays free for at least :data:`ESCAPE_MIN_FRACTION`
of the run (or, at least ``min_rows`` rows long, to its end): a leaky trap that the policy leaves for
a while and re-enters has not been escaped. (A first version also required ≤ 4 letters and took
any free stretch of ``min_rows`` as the escape; reading the first cpu study showed both to be
noise-driven: the letter count of 64 samples jumps with single samples, and short exits returned.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gfn_lib.analysis.explosion import default_window, smooth, sorted_run

TRAP_ENTROPY_MAX = 0.35
"""Composition entropy at most this: a 50/50 two-letter sequence has log 2 / log 20 = 0.23, three
letters evenly 0.37, a uniform random 30-mer about 0.85. Reward C's entropy gate is then ≤ 0.2."""
ESCAPE_MIN_FRACTION = 0.1
"""An escape is a free stretch of at least this fraction of the run's rows (or one that lasts to the end)."""
TRAP_COLUMNS = ("composition_entropy", "letters_used")
"""Metrics the detector reads (``unique_frac`` is used when present)."""


def default_min_rows(n_rows: int) -> int:
    """Persistence (rows) when none is given: 2 % of the run, at least 5."""
    return max(5, n_rows // 50)


@dataclass
class TrapResult:
    """What :func:`detect_trap` found in one run."""

    trapped: bool
    """A trapped stretch of at least ``min_rows`` rows exists."""
    onset_step: int | None
    """First step of the first such stretch."""
    escape_step: int | None
    """First step of the first lasting free stretch after the onset (module docstring); None: never left."""
    letters: float
    """Median ``letters_used`` over the trap (NaN without a trap)."""
    composition_entropy: float
    """Median ``composition_entropy`` over the trap (NaN without a trap)."""
    single_sequence: bool
    """The trap is a collapse onto (nearly) one sequence (median ``unique_frac`` ≤ 0.1), not a
    stochastic few-letter trap like the published one."""
    last_step: int
    """The run's last logged step (how far "never escaped" reaches)."""

    @property
    def duration(self) -> int | None:
        """Steps from onset to escape (None: no trap, or no escape)."""
        if self.onset_step is None or self.escape_step is None:
            return None
        return self.escape_step - self.onset_step


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end_exclusive), ...]`` of the True stretches of a boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


def trapped_rows(df: pd.DataFrame, window: int | None = None) -> pd.Series:
    """Per row of the step-sorted run (index reset): is the smoothed batch in a low-entropy trap?"""
    df = sorted_run(df, TRAP_COLUMNS)
    return smooth(df["composition_entropy"], window or default_window(len(df))) <= TRAP_ENTROPY_MAX


def detect_trap(df: pd.DataFrame, window: int | None = None, min_rows: int | None = None) -> TrapResult:
    """Find the first sustained low-entropy trap and its escape (module docstring for the rules)."""
    df = sorted_run(df, TRAP_COLUMNS)
    last = int(df["step"].iloc[-1]) if len(df) else 0
    none = TrapResult(False, None, None, math.nan, math.nan, False, last)
    if not len(df):
        return none
    min_rows = min_rows or default_min_rows(len(df))
    mask = trapped_rows(df, window).to_numpy()
    trapped = [(a, b) for a, b in _runs(mask) if b - a >= min_rows]
    if not trapped:
        return none
    start, _ = trapped[0]
    long_enough = max(min_rows, int(ESCAPE_MIN_FRACTION * len(df)))
    free = [(a, b) for a, b in _runs(~mask) if a > start and (b - a >= long_enough or (b == len(df) and b - a >= min_rows))]
    end = free[0][0] if free else len(df)
    inside = df.iloc[start:end]
    single = "unique_frac" in df and float(inside["unique_frac"].median()) <= 0.1
    return TrapResult(
        True, int(df["step"].iloc[start]), int(df["step"].iloc[end]) if free else None,
        float(inside["letters_used"].median()), float(inside["composition_entropy"].median()), bool(single), last,
    )  # fmt: skip
