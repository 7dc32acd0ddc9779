"""The report's "How much of an escape is the seed's?": reward-C beside the same seeds with every nonzero
initial weight one float32 step away (``TrainConfig.init_nudge``, the ``ablation-init-nudge-*`` runs), a
change the size of another CPU's rounding. If a seed's escape moves by thousands of steps under it, the
escape step is a draw, and only a spread over seeds can carry a timing claim.

The thresholds are those of the prediction written in the ablations' params files before they ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from gfn_lib.analysis.timing import TOLERANCE_FRACTION
from gfn_lib.memo.cells import NA, approx_step, fmt_num, median, seed_note, step_spread
from gfn_lib.memo.runs import RunGroup, SeedRun, Study

ONSET_TOLERANCE = 300
"""Memo steps within which a nudged seed's trap onset counts as the unnudged seed's (one metrics row at 1/60)."""
ESCAPE_SHIFT = 600
"""Memo steps by which a nudged seed's escape must move to count as moved (or escape in one run and not the other)."""
PREDICTED_SAME_ONSET = 5 / 6
"""The prediction: at least this share of the nudged seeds trap with the same onset."""
PREDICTED_MOVED_ESCAPE = 1 / 2
"""The prediction: at least this share of the nudged seeds escape elsewhere."""


def nudge_runs(st: Study) -> list[RunGroup]:
    """Reward-C, then each ablation whose config differs from reward-C's in ``init_nudge`` alone."""
    return st.one_change_runs("init_nudge")


@dataclass(frozen=True)
class Pair:
    """One finished nudged seed and the same seed of reward-C, trap steps on the memo's axis."""

    seed: int
    nudge: int
    onset: float | None
    escape: float | None
    base_onset: float | None
    base_escape: float | None

    @property
    def same_onset(self) -> bool:
        """Both trapped, onsets within :data:`ONSET_TOLERANCE`."""
        return (self.onset is not None and self.base_onset is not None
                and abs(self.onset - self.base_onset) <= ONSET_TOLERANCE)  # fmt: skip

    @property
    def shift(self) -> float | None:
        """Escape minus the unnudged seed's escape (memo steps); None unless both escaped."""
        return None if self.escape is None or self.base_escape is None else self.escape - self.base_escape

    @property
    def escape_gap(self) -> float:
        """How far apart the two escapes are (memo steps): ``inf`` if only one escaped, 0 if neither did."""
        if (self.escape is None) != (self.base_escape is None):
            return math.inf
        return abs(self.shift) if self.shift is not None else 0.0

    @property
    def moved_escape(self) -> bool:
        """Escaped in one run and not the other, or at least :data:`ESCAPE_SHIFT` apart."""
        return self.escape_gap >= ESCAPE_SHIFT


def _steps(st: Study, s: SeedRun) -> tuple[float | None, float | None]:
    t = s.trap
    if t is None or not t.trapped:
        return None, None
    return st.to_memo_step(t.onset_step), st.to_memo_step(t.escape_step)


def pairs(st: Study) -> list[Pair]:
    """Every finished seed of a nudge run whose seed reward-C has finished too, by seed then nudge."""
    groups = nudge_runs(st)
    if not groups:
        return []
    base = {s.seed: s for s in groups[0].finished}
    out = []
    for g in groups[1:]:
        for s in g.finished:
            if s.seed in base:
                out.append(Pair(s.seed, g.config.init_nudge, *_steps(st, s), *_steps(st, base[s.seed])))
    return sorted(out, key=lambda p: (p.seed, p.nudge))


def median_escape(st: Study, g: RunGroup) -> float | None:
    """Median escape (memo steps) over the run's finished seeds that trapped, a seed that never escaped
    counting as later than any (``inf``: never in at least half); None without a trapped seed."""
    steps = [_steps(st, s) for s in g.finished]
    escapes = sorted(math.inf if e is None else e for o, e in steps if o is not None)
    if not escapes:
        return None
    mid = len(escapes) // 2
    return escapes[mid] if len(escapes) % 2 else (escapes[mid - 1] + escapes[mid]) / 2


def rounding_range(st: Study) -> tuple[float, float] | None:
    """The lowest and highest median escape of reward-C and its nudged runs (same settings, rounding-size
    changes): where an ablation's median escape must fall outside to stand apart from rounding. None
    without a nudged run with a median."""
    medians = [m for g in nudge_runs(st) if (m := median_escape(st, g)) is not None]
    return (min(medians), max(medians)) if len(medians) >= 2 else None


def beyond_rounding(span: tuple[float, float] | None, m: float | None) -> str:
    """Whether a run's median escape ``m`` (:func:`median_escape`) falls outside ``span``
    (:func:`rounding_range`, computed once per table)."""
    if span is None or m is None:
        return NA
    if m > span[1]:
        return "yes, later" if math.isfinite(m) else "yes, never"
    return "yes, earlier" if m < span[0] else "no"


def _cell(step: float | None, trapped: bool) -> str:
    return approx_step(step, "never") if trapped else "no trap"


def rounding_table(st: Study) -> pd.DataFrame:
    """Per seed: reward-C's row (``init_nudge`` 0), then each nudged run's: onset, escape, the escape's
    shift from the unnudged seed's (memo steps)."""
    rows, seen = [], set()
    for p in pairs(st):
        if p.seed not in seen:
            seen.add(p.seed)
            rows.append({"Seed": str(p.seed), "init_nudge": "0 (reward-C)",
                         "Trap onset": _cell(p.base_onset, p.base_onset is not None),
                         "Escape": _cell(p.base_escape, p.base_onset is not None), "Escape moved by": NA})  # fmt: skip
        moved = (fmt_num(p.shift, "+,.0f") if p.shift is not None
                 else "escaped here only" if p.escape is not None
                 else "escaped unnudged only" if p.base_escape is not None else NA)  # fmt: skip
        rows.append({"Seed": str(p.seed), "init_nudge": str(p.nudge),
                     "Trap onset": _cell(p.onset, p.onset is not None),
                     "Escape": _cell(p.escape, p.onset is not None), "Escape moved by": moved})  # fmt: skip
    return pd.DataFrame(rows, columns=["Seed", "init_nudge", "Trap onset", "Escape", "Escape moved by"])


def _held(k: int, n: int, share: float) -> str:
    need = math.ceil(share * n - 1e-9)
    return f"predicted ≥ {need} of {n}: {'held' if k >= need else 'missed'}"


def rounding_sentence(st: Study) -> str:
    """The two written predictions judged on the finished pairs, and how far the escapes moved against
    the spread of reward-C's escapes over its seeds."""
    ps = pairs(st)
    if not ps:
        return "No finished seed of an `ablation-init-nudge-*` run beside the same seed of reward-C: nothing to compare."
    n = len(ps)
    same, moved = sum(p.same_onset for p in ps), sum(p.moved_escape for p in ps)
    shifts = [abs(p.shift) for p in ps if p.shift is not None]
    base = [p.base_escape for p in {p.seed: p for p in ps}.values()]
    text = (f"Of {n} nudged seeds, {same} trapped with an onset within {ONSET_TOLERANCE:,} memo steps of the same "
            f"seed's reward-C run ({_held(same, n, PREDICTED_SAME_ONSET)}), and {moved} escaped {ESCAPE_SHIFT:,} or "
            f"more memo steps away from it, or escaped where it did not or the reverse "
            f"({_held(moved, n, PREDICTED_MOVED_ESCAPE)}).")  # fmt: skip
    if shifts:
        text += (f" Where both escaped ({seed_note(shifts)}), the escape moved by a median of "
                 f"{fmt_num(median(shifts), 'int')} memo steps ({fmt_num(min(shifts), 'int')}–"
                 f"{fmt_num(max(shifts), 'int')}); reward-C's seeds themselves escaped at {step_spread(base)}.")  # fmt: skip
    base_run = nudge_runs(st)[0]
    tol = st.to_memo_step(TOLERANCE_FRACTION * base_run.config.n_steps)
    beyond = sum(p.escape_gap > tol for p in ps)  # a timing model's miss, even with the unnudged escape known
    text += (f" In {beyond} of {n}, the nudged escape lies further from the unnudged one than the timing models' "
             f"tolerance ({TOLERANCE_FRACTION:.0%} of the run, ≈ {fmt_num(tol, 'int')} memo steps): a model of the "
             f"settings would miss those seeds even if it knew each unnudged escape exactly.")  # fmt: skip
    span = rounding_range(st)
    if span is not None:
        lo, hi = ("never" if math.isinf(m) else approx_step(m) for m in span)
        text += (f" The runs' median escapes (reward-C's and each nudged run's) span {lo} to {hi}: with these "
                 f"seeds, an ablation whose median escape falls inside that span cannot be told from rounding "
                 f"(the ablation table's column \"Beyond rounding?\").")  # fmt: skip
    return text
