"""The report's "Where runs start": the published reward-C run's first batch among many seeds of ours.

The survey (``outputs/<profile>/starts/<reward-C>.csv``, written by ``gfn-study starts``: :mod:`gfn_lib.study.starts`;
read once per study: :attr:`~gfn_lib.memo.runs.Study.start_survey`) holds
the step-0 metrics row of seeds 0..N-1 of reward-C. The published run started at a mean log P_F of -27.9 nats; the
section says where that value falls among our seeds, where our reward-C seeds fall, and how the runs started from
the seeds closest to it (``ablation-published-start``, same settings as reward-C) trapped and escaped beside
reward-C's seeds.
"""

from __future__ import annotations

import math

import pandas as pd

from gfn_lib.memo.cells import NA, fmt_num, seed_note, step_spread
from gfn_lib.memo.dropout import first_log_pf
from gfn_lib.memo.quotes import EXAMPLE_RUN
from gfn_lib.memo.rounding import beyond_rounding, median_escape, rounding_range
from gfn_lib.memo.runs import RunGroup, Study
from gfn_lib.memo.traps import published_figure, published_trap_cells, trap_cells
from gfn_lib.study.starts import share_at_or_above, starts_path

START_RUN = "ablation-published-start"
"""Reward-C from the surveyed seeds closest to the published start."""
PREDICTED_TRAPPED = 2 / 3
"""The prediction in its params file: at least this share of its seeds trap, and its median escape is not
beyond rounding (:func:`~gfn_lib.memo.rounding.beyond_rounding` says "no")."""


def published_start(run: str = EXAMPLE_RUN) -> float | None:
    """A published run's step-0 mean log P_F (quoted; reward-C's by default); None where none was published."""
    figure = published_figure("mean_log_pf", 0, run)
    return None if figure is None else figure[0]


def _start_groups(st: Study) -> list[RunGroup]:
    """Reward-C and :data:`START_RUN`, those of them the study has: the runs whose seeds the section places."""
    return [g for name in (EXAMPLE_RUN, START_RUN) if (g := st.get(name)) is not None]


def _seed_rows(st: Study, g: RunGroup, starts: pd.DataFrame | None) -> list[dict[str, str]]:
    rows = []
    for s in g.with_data:
        log_pf = first_log_pf(s)
        share = NA if starts is None else f"{share_at_or_above(starts, log_pf):.0%}"
        rows.append({"Run": g.short_name, "Seed": str(s.seed), "Status": s.status, "Step-0 mean log P_F": fmt_num(log_pf, ".1f"),
                     "Step-0 mean length": fmt_num(s.first_value("mean_length"), ".1f"),
                     "Surveyed seeds starting at or above": share, **trap_cells(st, s)})  # fmt: skip
    return rows


def start_marks(st: Study) -> dict[str, list[float]]:
    """``{"<run> seeds": [step-0 mean log P_F of each seed with data]}`` for reward-C and :data:`START_RUN`
    (the ticks of the report's figure)."""
    return {f"{g.short_name} seeds": [first_log_pf(s) for s in g.with_data] for g in _start_groups(st) if g.with_data}


def starts_table(st: Study) -> pd.DataFrame:
    """The published start (quoted), the survey's spread, then each seed of reward-C and of
    :data:`START_RUN`: its first logged row, the share of surveyed seeds starting at or above it, its trap."""
    starts, value = st.start_survey, published_start()
    rows = [{"Run": "reward-C-improved (published, quoted)", "Seed": "42", "Status": "finished",
             "Step-0 mean log P_F": fmt_num(value, ".1f"), "Step-0 mean length": NA,
             "Surveyed seeds starting at or above": NA if starts is None or value is None else f"{share_at_or_above(starts, value):.1%}",
             **published_trap_cells()}]  # fmt: skip
    if starts is not None:
        q = starts["mean_log_pf"].quantile([0.0, 0.1, 0.5, 0.9, 1.0]).tolist()
        rows.append({"Run": f"survey: reward-C seeds 0–{int(starts['seed'].max())} ({len(starts)}), step 0 only",
                     "Seed": "all", "Step-0 mean log P_F": f"{q[2]:.1f} [{q[0]:.1f} … {q[4]:.1f}]; 10–90%: {q[1]:.1f} … {q[3]:.1f}",
                     "Step-0 mean length": f"{starts['mean_length'].median():.1f} [{starts['mean_length'].min():.1f} … {starts['mean_length'].max():.1f}]",
                     "Status": NA, "Surveyed seeds starting at or above": NA, "Trap onset": NA, "Escape": NA})  # fmt: skip
    for g in _start_groups(st):
        rows.extend(_seed_rows(st, g, starts))
    return pd.DataFrame(rows)


def starts_sentence(st: Study) -> str:
    """Where the published start falls among the surveyed seeds, whether each run's first row is the survey's
    (they are the same computation), and how the runs from the closest seeds escaped against rounding's span."""
    starts, value = st.start_survey, published_start()
    if starts is None:
        return (f"No survey of starting points for this profile (`gfn-study starts --profile {st.profile.name}` "
                f"writes `{starts_path('<outputs>/' + st.profile.name, EXAMPLE_RUN)}`): nothing to place the published start among.")  # fmt: skip
    n = len(starts)
    share = share_at_or_above(starts, value)
    text = (f"Over {n} seeds of reward-C at this profile (seeds 0–{int(starts['seed'].max())}), the first batch's mean "
            f"log P_F has a median of {starts['mean_log_pf'].median():.1f} nats; {share:.1%} of them "
            f"({int(round(share * n))} of {n}) start at or above the published run's {value:.1f}. "
            f"Under this code's init (Xavier, as published) the published start is {_how_rare(share)}.")  # fmt: skip
    matches, checked = 0, 0
    for g in _start_groups(st):
        for s in g.with_data:
            row = starts[starts["seed"] == s.seed]
            if len(row):
                checked += 1
                matches += abs(float(row["mean_log_pf"].iloc[0]) - first_log_pf(s)) <= 1e-4
    if checked:
        text += (f" The survey is each run's own first step: {matches} of {checked} run seeds in it logged the same "
                 f"step-0 mean log P_F.")  # fmt: skip
    g = st.get(START_RUN)
    if g is None or not g.finished:
        return text + (f" `{START_RUN}` (reward-C from the seeds closest to the published start) has not finished "
                       f"here (`gfn-study sweep {START_RUN} --seeds 3 --profile {st.profile.name}` runs it).")  # fmt: skip
    trapped = [s for s in g.finished if s.trap is not None and s.trap.trapped]
    escapes = [s.trap.escape_step for s in trapped]
    beyond = beyond_rounding(rounding_range(st), median_escape(st, g))
    need = math.ceil(PREDICTED_TRAPPED * len(g.finished) - 1e-9)
    verdict = ("not judged: no span of nudged runs here" if beyond == NA
               else "held" if len(trapped) >= need and beyond == "no" else "missed")  # fmt: skip
    text += (f" From the seeds closest to it (`{START_RUN}`: {', '.join(str(s.seed) for s in g.finished)}), "
             f"{len(trapped)} of {seed_note(g.finished)} trapped and escaped at "
             f"{step_spread(st.to_memo_steps(escapes))} memo steps; beyond the span of reward-C's and its nudged "
             f"runs' median escapes (\"Beyond rounding?\"): {beyond}. Predicted before the runs: trapped in at least "
             f"{need} of {len(g.finished)} and not beyond rounding: **{verdict}**.")  # fmt: skip
    return text


def _how_rare(share: float) -> str:
    if share == 0:
        return "a value none of our seeds reaches"
    if share < 0.05:
        return "a rare draw: this init seldom gives a first batch so short or so confident"
    return "an ordinary draw"
