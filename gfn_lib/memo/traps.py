"""The low-entropy trap: the published reward-C run's "DL trap" against ours.

The published reward-C run sampled 30-residue sequences of only D and L from about step 1000
to about step 6000, then left the trap, and its loss rose 21 → 502 → 3,139 (steps 6000, 6500,
9000). :func:`trap_table` puts one row per seed of every documented run (from
:func:`gfn_lib.analysis.detect_trap`, via :attr:`SeedRun.trap`) under that published row;
:func:`trap_summary` is what the sentences use.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from gfn_lib.analysis import (
    ESCAPE_MIN_FRACTION, TRAP_COLUMNS, TRAP_ENTROPY_MAX, default_window, nearest_row, smooth,
)  # fmt: skip
from gfn_lib.memo.cells import NA, fmt_num
from gfn_lib.memo.published import PUBLISHED_FIGURES
from gfn_lib.memo.published_vs_ours import published_text, value_near
from gfn_lib.memo.quotes import EXAMPLE_RUN
from gfn_lib.memo.runs import SeedRun, Study

PUBLISHED_TRAP_ONSET = 1000
"""QUOTED (``shared/notes/published-setup.md``): the published reward-C trap began at about step 1000."""
PUBLISHED_TRAP_ESCAPE = (6000, 6500)
"""QUOTED: and ended between steps 6000 (loss 21, still trapped) and 6500 (loss 502)."""
PUBLISHED_TRAP_LETTERS = "D, L"
"""QUOTED: the two letters of the trap (e.g. ``DDLDDDLDDDDDDLLLDDDDLDDDLDLLLL``)."""


def trap_rule_text() -> str:
    """The detector's rule (:mod:`gfn_lib.analysis.trap`) and this table's columns, in words, from its constants."""
    return ("A seed is *trapped* (`gfn_lib.analysis.detect_trap`) while its smoothed composition entropy (each "
            f"sequence's residue-composition entropy / log 20, batch mean) is ≤ {TRAP_ENTROPY_MAX:g}, for at least "
            "2% of the run (5 rows at least); it *escapes* at the first step from which it stays free for at least "
            f"{ESCAPE_MIN_FRACTION:.0%} of the run (or to its end): short exits that return are not escapes. The "
            "letters used in the batch are reported, not used by the rule (one rare sample adds a letter). "
            "*Letters* and *composition entropy*: medians over the trap (without a trap: the run's lowest smoothed "
            "values); *loss after escape*: the largest smoothed loss from the escape on; *log Z at escape*: read as "
            "in the published comparison. *One sequence*: the batch is (nearly) one repeated sequence (median "
            "unique fraction ≤ 0.1).")


def published_figure(metric: str, step: int, run: str = EXAMPLE_RUN) -> tuple[float, float] | None:
    """(low, high) of a published figure of ``run`` (quoted), or None if it has none at ``step``."""
    hit = PUBLISHED_FIGURES[(PUBLISHED_FIGURES.run == run) & (PUBLISHED_FIGURES.metric == metric)
                           & (PUBLISHED_FIGURES.step == step)]
    return None if hit.empty else (float(hit.low.iloc[0]), float(hit.high.iloc[0]))


def trap_cells(st: Study, s: SeedRun) -> dict[str, str]:
    """A seed's trap as the cells "Trap onset" and "Escape" (memo steps), as the dropout and start tables write them."""
    t = s.trap
    if t is None:
        return {"Trap onset": "not logged", "Escape": NA}
    return {"Trap onset": st.memo_step_cell(t.onset_step, "never") if t.trapped else "no trap",
            "Escape": st.memo_step_cell(t.escape_step, "never") if t.trapped else NA}  # fmt: skip


def published_trap_cells() -> dict[str, str]:
    """The published reward-C trap (quoted) as the cells of :func:`trap_cells`."""
    esc = PUBLISHED_TRAP_ESCAPE
    return {"Trap onset": f"≈ {PUBLISHED_TRAP_ONSET:,}", "Escape": f"≈ {esc[0]:,}–{esc[1]:,}"}


def published_trap_row() -> dict[str, Any]:
    """The published reward-C trap as a row of :func:`trap_table` (every figure quoted)."""
    esc = PUBLISHED_TRAP_ESCAPE
    losses = [(s, published_figure("loss", s)) for s in (esc[0], esc[1], 9000)]
    letters, entropy, log_z = (published_figure(m, esc[0]) for m in ("letters_used", "composition_entropy", "log_z"))
    return {
        "Run": "reward-C-improved (published, quoted)", "Seed": "42", "Status": "finished",
        "Trapped?": "yes", "Onset (our step)": NA, "Onset (≈ memo step)": f"≈ {PUBLISHED_TRAP_ONSET:,}",
        "Letters": f"{letters[0]:.0f} ({PUBLISHED_TRAP_LETTERS})" if letters else NA,
        "Composition entropy": f"≤ {entropy[1]:.2f}" if entropy else NA,
        "Escape (our step)": NA, "Escape (≈ memo step)": f"≈ {esc[0]:,}–{esc[1]:,}",
        "Loss after escape": " → ".join(f"{published_text('loss', *v)} ({s:,})" for s, v in losses if v),
        "log Z at escape": f"{published_text('log_z', *log_z)} (at {esc[0]:,})" if log_z else NA,
        "Kind": "few letters (sequences differ)",
    }  # fmt: skip


@dataclass
class SeedTrap:
    """One seed's trap, in the numbers the table and the sentences use."""

    seed: SeedRun
    onset: int | None
    escape: int | None
    letters: float
    entropy: float
    loss_after_escape: float
    """Max smoothed loss from the escape row on (NaN without an escape)."""
    log_z_at_escape: float
    """log Z at the escape (:func:`gfn_lib.memo.published_vs_ours.value_near`; NaN without one)."""
    single_sequence: bool

    @property
    def trapped(self) -> bool:
        return self.onset is not None


def seed_trap(s: SeedRun) -> SeedTrap | None:
    """:attr:`SeedRun.trap` with the loss and log Z after its escape; None if the seed does not
    log the trap's columns."""
    t = s.trap
    if t is None:
        return None
    loss_after, log_z = after_escape(s.metrics, t.escape_step)
    return SeedTrap(s, t.onset_step, t.escape_step, t.letters, t.composition_entropy, loss_after, log_z,
                    t.single_sequence)


def after_escape(metrics: pd.DataFrame, escape_step: int | None) -> tuple[float, float]:
    """(largest smoothed loss from the escape row on, log Z at the escape read by
    :func:`~gfn_lib.memo.published_vs_ours.value_near`); NaNs without an escape."""
    if escape_step is None:
        return math.nan, math.nan
    df = metrics.sort_values("step", kind="stable").reset_index(drop=True)
    sm = smooth(pd.to_numeric(df["loss"], errors="coerce"), default_window(len(df)))
    return float(sm.iloc[nearest_row(df["step"].to_numpy(), escape_step):].max()), value_near(df, "log_z", escape_step)


def lowest(s: SeedRun, col: str) -> float:
    """The lowest smoothed value of ``col`` over the run (what a seed without a trap came closest to)."""
    return float(smooth(pd.to_numeric(s.metrics[col], errors="coerce"), default_window(len(s.metrics))).min())


def _seed_row(st: Study, name: str, s: SeedRun) -> dict[str, Any]:
    row: dict[str, Any] = {"Run": name, "Seed": str(s.seed) if s.seed is not None else NA, "Status": s.status}
    t = seed_trap(s) if s.has_data else None
    if not s.has_data:
        return {**row, "Trapped?": "no data"}
    if t is None:
        return {**row, "Trapped?": f"not logged (no {', '.join(TRAP_COLUMNS)})"}
    if not t.trapped:
        return {**row, "Trapped?": f"no (to step {s.last_step:,})",
                "Letters": f"lowest {lowest(s, 'letters_used'):.0f}",
                "Composition entropy": f"lowest {lowest(s, 'composition_entropy'):.2f}"}
    row.update({
        "Trapped?": "yes" if t.escape is not None else f"yes, not left by step {s.last_step:,}",
        "Onset (our step)": f"{t.onset:,}", "Onset (≈ memo step)": st.memo_step_cell(t.onset),
        "Letters": fmt_num(t.letters, ".0f"), "Composition entropy": fmt_num(t.entropy, ".2f"),
        "Escape (our step)": f"{t.escape:,}" if t.escape is not None else "never",
        "Escape (≈ memo step)": st.memo_step_cell(t.escape),
        "Loss after escape": f"max {fmt_num(t.loss_after_escape, '.4g')}" if t.escape is not None else NA,
        "log Z at escape": fmt_num(t.log_z_at_escape, ".2f"),
        "Kind": "one sequence" if t.single_sequence else "few letters (sequences differ)",
    })  # fmt: skip
    return row


TRAP_COLUMNS_SHOWN = ["Run", "Seed", "Status", "Trapped?", "Onset (our step)", "Onset (≈ memo step)", "Letters",
                      "Composition entropy", "Escape (our step)", "Escape (≈ memo step)", "Loss after escape",
                      "log Z at escape", "Kind"]  # fmt: skip


def trap_table(st: Study, groups: tuple[str, ...] = ("documented",)) -> pd.DataFrame:
    """The published reward-C trap (quoted), then one row per seed of each run of ``groups``:
    trapped? (:func:`gfn_lib.analysis.detect_trap`), onset and escape (our step, ≈ memo step),
    letters and composition entropy (medians over the trap; without a trap, the run's lowest
    smoothed values), the max smoothed loss from the escape on, log Z at the escape, and whether
    the trap is one repeated sequence or a few letters."""
    rows = [published_trap_row()]
    for g in st.groups(groups):
        rows += [_seed_row(st, g.short_name, s) for s in g.seeds]
    return pd.DataFrame(rows, columns=TRAP_COLUMNS_SHOWN).fillna(NA)


def trap_summary(st: Study, run: str = EXAMPLE_RUN) -> dict[str, Any]:
    """For the sentences: ``run``'s seeds with data, those that log the trap's columns, their
    :class:`SeedTrap` s, and which of them are trapped / escaped."""
    g = st.get(run)
    seeds = g.with_data if g else []
    traps = [t for t in (seed_trap(s) for s in seeds) if t is not None]
    trapped = [t for t in traps if t.trapped]
    return {"seeds": seeds, "traps": traps, "trapped": trapped,
            "escaped": [t for t in trapped if t.escape is not None]}
