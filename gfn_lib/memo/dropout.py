"""The report's "Dropout while scoring": reward-C under each way the loss's log P_F can relate to the
sampler's dropout masks (``TrainConfig.dropout_scoring``), seed by seed, beside the published run (quoted).

* ``fresh`` (our default): KV-cached sampling, then one scoring pass with masks of its own;
* ``sampling``: the scoring pass reuses the sampler's masks (with the KV cache, one set for a whole trajectory);
* ``recompute``: the published sampler: every position one pass over the whole prefix with masks of its own,
  which draws the action and scores it.

The runs shown are reward-C and every ablation of it whose only change is ``dropout_scoring``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from gfn_lib.memo.cells import NA, fmt_num, median
from gfn_lib.memo.published_vs_ours import value_near
from gfn_lib.memo.runs import RunGroup, SeedRun, Study
from gfn_lib.memo.traps import published_figure, published_trap_cells, trap_cells

WINDOW = (1800, 3000)
"""Memo steps over which the ablations' written predictions judge the trap's confidence (mean log P_F)."""
READ_AT = (5000, 6000)
"""Memo steps with a published mean log P_F of the trapped reward-C run."""


def dropout_runs(st: Study) -> list[RunGroup]:
    """Reward-C, then each ablation whose config differs from reward-C's in ``dropout_scoring`` alone."""
    return st.one_change_runs("dropout_scoring")


def first_log_pf(s: SeedRun) -> float | None:
    """``mean_log_pf`` of the seed's first logged step (the initial policy's)."""
    return s.first_value("mean_log_pf")


def window_log_pf(st: Study, s: SeedRun) -> float:
    """Mean of ``mean_log_pf`` over the rows at ≈ memo steps :data:`WINDOW` (NaN without such rows)."""
    lo, hi = (st.to_run_step(m) for m in WINDOW)
    rows = s.metrics[(s.metrics["step"] >= lo) & (s.metrics["step"] <= hi)]
    return float(pd.to_numeric(rows["mean_log_pf"], errors="coerce").mean()) if len(rows) else float("nan")


def _seed_row(st: Study, g: RunGroup, s: SeedRun) -> dict[str, Any]:
    row = {
        "dropout_scoring": g.config.dropout_scoring, "Run": g.short_name, "Seed": str(s.seed),
        "Status": s.status, "First step's mean log P_F": fmt_num(first_log_pf(s), ".1f"),
        f"mean log P_F, ≈ memo {WINDOW[0]:,}–{WINDOW[1]:,}": fmt_num(window_log_pf(st, s), ".1f"),
    }
    for m in READ_AT:
        row[f"mean log P_F at ≈ memo {m:,}"] = fmt_num(value_near(s.metrics, "mean_log_pf", st.to_run_step(m)), ".1f")
    return {**row, **trap_cells(st, s)}


def published_row() -> dict[str, Any]:
    """The published reward-C run, every figure quoted (the published code is the ``recompute`` setting)."""
    first = published_figure("mean_log_pf", 0)
    row = {"dropout_scoring": "recompute (the published code)", "Run": "reward-C-improved (published, quoted)",
           "Seed": "42", "Status": "finished", "First step's mean log P_F": fmt_num(first[0], ".1f") if first else NA,
           f"mean log P_F, ≈ memo {WINDOW[0]:,}–{WINDOW[1]:,}": NA}  # fmt: skip
    for m in READ_AT:
        v = published_figure("mean_log_pf", m)
        row[f"mean log P_F at ≈ memo {m:,}"] = fmt_num(v[0], ".1f") if v else NA
    return {**row, **published_trap_cells()}


def dropout_scoring_table(st: Study) -> pd.DataFrame:
    """The published run (quoted), then one row per seed with data of :func:`dropout_runs`: the first step's
    mean log P_F (the initial policy), its mean over ≈ memo :data:`WINDOW`, its value near the published
    readings (:func:`~gfn_lib.memo.published_vs_ours.value_near`), trap onset and escape (the report's trap rule)."""
    rows = [published_row()]
    for g in dropout_runs(st):
        rows += [_seed_row(st, g, s) for s in g.with_data]
    return pd.DataFrame(rows).fillna(NA)


def dropout_scoring_sentence(st: Study) -> str:
    """Per setting: seeds trapped and escaped, median first-step and window mean log P_F."""
    groups = dropout_runs(st)
    if not any(g.with_data for g in groups):
        return "No reward-C run with data in this profile: nothing to compare."
    parts = []
    for g in groups:
        seeds = g.with_data
        traps = [s.trap for s in seeds if s.trap is not None]
        trapped = [t for t in traps if t.trapped]
        firsts = [first_log_pf(s) for s in seeds]
        parts.append(
            f"`{g.config.dropout_scoring}` ({g.short_name}, {len(seeds)} seed{'s' if len(seeds) != 1 else ''}): "
            f"trapped {len(trapped)}/{len(traps)}, escaped {sum(t.escape_step is not None for t in trapped)}/{len(trapped)}; "
            f"median mean log P_F {fmt_num(median(firsts), '.1f')} at the first step and "
            f"{fmt_num(median(window_log_pf(st, s) for s in seeds), '.1f')} over ≈ memo {WINDOW[0]:,}–{WINDOW[1]:,}"
        )  # fmt: skip
    first, trapped = published_figure("mean_log_pf", 0), published_figure("mean_log_pf", READ_AT[-1])
    pub = f"published (quoted): {first[0]:.1f} at step 0 and {trapped[0]:.1f} in the trap (step {READ_AT[-1]:,})"
    return "; ".join(parts) + f". For comparison, {pub}."
