"""Our runs against the published runs' own figures (:data:`gfn_lib.memo.published.PUBLISHED_FIGURES`).

One row per published figure whose run is in the study (:func:`published_vs_ours_table`); the
sentence above it is :func:`gfn_lib.memo.text.published_sentence`, built from the same rows
(:func:`published_comparisons`).

How our value is read (:func:`value_near`): the published figure's memo step is mapped onto the
profile with the one mapping (:meth:`Study.to_run_step`); our value is the **mean over a
centred window of rows** around the row nearest that step: ± ``default_window(n) // 2`` rows
(half the report's smoothing window, ~0.5% of the run), narrowed symmetrically at the run's ends,
so our first row alone stands for the published step 0 (the initial batch) and our last row
alone for the run's end. The published figures are single logged values (wandb); the window
only takes the edge off our per-step noise. Over seeds: median [min … max].

Whether a figure is reproduced (:data:`MATCH_TOLERANCE`): our median lies within the published
value (or range) widened by a per-metric tolerance: a factor for the loss (it spans 0.02 to
3,000), an absolute width for everything else. The difference column is ours (median) minus the
published value; for a range, 0 inside it and else the distance to its nearer end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from gfn_lib.analysis import default_window, nearest_row
from gfn_lib.memo.cells import NA, fmt_num, median, spread
from gfn_lib.memo.published import PUBLISHED_FIGURES, PUBLISHED_METRICS
from gfn_lib.memo.quotes import MEMO_TOTAL_STEPS
from gfn_lib.memo.runs import SeedRun, Study, short_name

MATCH_TOLERANCE: dict[str, tuple[str, float]] = {
    "loss": ("factor", 2.0),
    "log_z": ("abs", 2.0),
    "mean_log_pf": ("abs", 5.0),
    "mean_log_reward": ("abs", 1.0),
    "mean_reward": ("abs", 0.1),
    "diversity": ("abs", 0.1),
    "unique_frac": ("abs", 0.1),
    "letters_used": ("abs", 1.0),
    "composition_entropy": ("abs", 0.05),
}
"""Per metric: ``("factor", f)``: within [low / f, high × f]; ``("abs", d)``: within [low − d, high + d]."""

FORMATS = {"loss": ".4g", "log_z": ".2f", "mean_log_pf": ".1f", "mean_log_reward": ".2f", "mean_reward": ".2f",
           "diversity": ".2f", "unique_frac": ".3g", "letters_used": ".0f", "composition_entropy": ".2f"}
"""How each metric's numbers print."""


def value_near(df: pd.DataFrame, col: str, step: float) -> float:
    """Mean of ``col`` over the centred window of rows around the row nearest ``step`` (module
    docstring: ± ``default_window(n) // 2`` rows, narrowed symmetrically at the run's ends). NaN
    if the column is missing or empty there."""
    if col not in df or not len(df):
        return math.nan
    run = df.sort_values("step", kind="stable").reset_index(drop=True)
    i = nearest_row(run["step"].to_numpy(), step)
    h = min(default_window(len(run)) // 2, i, len(run) - 1 - i)
    vals = pd.to_numeric(run[col].iloc[i - h: i + h + 1], errors="coerce")
    return float(vals.mean()) if vals.notna().any() else math.nan


def within(metric: str, value: float, low: float, high: float) -> bool:
    """Is ``value`` within the published ``low``..``high`` widened by :data:`MATCH_TOLERANCE`?"""
    kind, tol = MATCH_TOLERANCE.get(metric, ("abs", 0.0))
    if kind == "factor":
        lo, hi = (low / tol, high * tol) if low > 0 else (low - tol, high * tol)
    else:
        lo, hi = low - tol, high + tol
    return lo <= value <= hi


def gap(value: float, low: float, high: float) -> float:
    """Ours − published: 0 inside a range, else the signed distance to its nearer end."""
    return 0.0 if low <= value <= high else value - (low if value < low else high)


def published_text(metric: str, low: float, high: float) -> str:
    """A published value, or a range ``low–high`` (``low to high`` when it is negative)."""
    spec = FORMATS.get(metric, ".3g")
    if low == high:
        return fmt_num(low, spec)
    return f"{fmt_num(low, spec)}{'–' if low >= 0 else ' to '}{fmt_num(high, spec)}"


@dataclass
class Comparison:
    """One published figure against our seeds."""

    run: str
    memo_step: int
    our_step: int
    metric: str
    low: float
    high: float
    note: str
    values: list[float]
    """Our value per seed that reached the step and logs the metric."""
    n_seeds: int
    """Seeds of the run with metrics."""
    verdict: str
    """reproduced | missed | not logged | not reached (run at step N) | no data"""

    @property
    def ours(self) -> float | None:
        return median(self.values)

    @property
    def difference(self) -> float | None:
        return None if self.ours is None else gap(self.ours, self.low, self.high)

    @property
    def label(self) -> str:
        return PUBLISHED_METRICS.get(self.metric, self.metric)

    @property
    def spec(self) -> str:
        return FORMATS.get(self.metric, ".3g")


def _logs(s: SeedRun, metric: str) -> bool:
    return metric in s.metrics and s.metrics[metric].notna().any()


def _compare(st: Study, row) -> Comparison:
    memo_step = MEMO_TOTAL_STEPS if pd.isna(row.step) else int(row.step)
    target = st.to_run_step(memo_step)
    g = st.get(row.run)
    seeds = g.with_data if g else []
    logged = [s for s in seeds if _logs(s, row.metric)]
    reached = [s for s in logged if (s.last_step or 0) >= target]
    values = [v for v in (value_near(s.metrics, row.metric, target) for s in reached) if math.isfinite(v)]
    if not seeds:
        verdict = "no data"
    elif not logged:
        verdict = "not logged"
    elif not values:
        verdict = f"not reached (run at step {max(s.last_step or 0 for s in logged):,})"
    else:
        verdict = "reproduced" if within(row.metric, median(values), row.low, row.high) else "missed"
    return Comparison(row.run, memo_step, target, row.metric, float(row.low), float(row.high), row.note,
                      values, len(seeds), verdict)


def published_rule_text() -> str:
    """The reading and tolerance rules of this module, in words, from its constants."""
    tol = "; ".join(f"{PUBLISHED_METRICS.get(m, m)} {'within a factor of ' if kind == 'factor' else '± '}{v:g}"
                    for m, (kind, v) in MATCH_TOLERANCE.items())
    return ("Our value at a published step: the mean over the rows within ± half the report's smoothing window "
            "of the row nearest the mapped step, narrowed symmetrically at the run's ends (our first row alone "
            "stands for the published step 0, our last for the run's end). *Ours − published*: our median minus "
            "the published value; 0 inside a published range, else the distance to its nearer end. **Verdict** "
            f"*reproduced* when our median lies within the published value (or range) widened by: {tol}; "
            "*not logged*: our runs do not record that metric; *not reached*: no seed has got there yet.")


def published_comparisons(st: Study) -> list[Comparison]:
    """Every published figure whose run is in the study, against our seeds (published order)."""
    return [_compare(st, r) for r in PUBLISHED_FIGURES.itertuples() if r.run in st.runs]


def _seed_note(c: Comparison) -> str:
    if c.verdict in ("reproduced", "missed") and len(c.values) < c.n_seeds:
        return f"{len(c.values)} of {c.n_seeds} seeds"
    return ""


def published_vs_ours_table(st: Study) -> pd.DataFrame:
    """Published vs ours: run, memo step, our step, metric, published value (low–high for a
    range), ours (median [min … max] over seeds, :func:`value_near`), ours − published
    (:func:`gap`), verdict (:func:`within`) and the published note."""
    rows = []
    for c in published_comparisons(st):
        d = c.difference
        rows.append({
            "Run": short_name(c.run), "Memo step": f"{c.memo_step:,}", "Our step": f"{c.our_step:,}",
            "Metric": c.label, "Published": published_text(c.metric, c.low, c.high),
            "Ours": spread(c.values, c.spec) + (f" ({_seed_note(c)})" if _seed_note(c) else "") if c.values else NA,
            "Ours − published": NA if d is None else fmt_num(d, "+" + c.spec.lstrip("+")),
            "Verdict": c.verdict, "Note (published)": c.note,
        })  # fmt: skip
    columns = ["Run", "Memo step", "Our step", "Metric", "Published", "Ours", "Ours − published", "Verdict",
               "Note (published)"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
