"""The rules the report's tables, verdicts and sentences share, each written once.

1. Timing: how a variant's explosion steps compare with a base run's (:func:`timing_word`,
   :func:`compare_explosions`), what the memo predicted (:func:`predicted_direction`) and the
   verdict on a prediction (:func:`prediction_verdict`); the rows of "What Would Change the
   Timing?" (:func:`timing_rows`), used by its table and by the claims.
2. log P_F falls: one seed's length / per-action attribution (:func:`seed_decomposition`) and
   the selection of seeds whose log P_F fell (:func:`log_pf_falls`), used by the claims table
   and by the sentence under the decomposition table, so a verdict and its explanation always
   rest on the same seeds.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from gfn_lib.analysis import LOG_PF_DROP_MIN, LogPfDriver, default_window, log_pf_fall_driver
from gfn_lib.memo.cells import NA
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_LESS_ENTROPY, MEMO_STEPS
from gfn_lib.memo.runs import RunGroup, SeedRun, Study
from gfn_lib.study import GROUP_ORDER

# ---------------------------------------------------------------------------
# 1. Timing
# ---------------------------------------------------------------------------

SAME_TIMING_FRAC = 0.05
"""Two explosion steps within 5% of the run's length count as "same timing"."""


def timing_word(base: list[int | None], variant: list[int | None], n_steps: int) -> str:
    """Compare explosion steps over seeds: earlier / later / same / removed / appeared /
    none in either / overlapping seeds / no data."""
    if not base or not variant:
        return "no data"
    b_hit = [s for s in base if s is not None]
    v_hit = [s for s in variant if s is not None]
    if not b_hit and not v_hit:
        return "no explosion in either"
    if b_hit and not v_hit:
        return "removed (no explosion)" if len(b_hit) == len(base) else "removed in some seeds"
    if v_hit and not b_hit:
        return "appeared (base never explodes)"
    tol = SAME_TIMING_FRAC * n_steps
    lo_b, hi_b, lo_v, hi_v = min(b_hit), max(b_hit), min(v_hit), max(v_hit)
    med_b, med_v = float(np.median(b_hit)), float(np.median(v_hit))
    if abs(med_v - med_b) <= tol:
        word = "same"
    elif med_v < med_b:
        word = "earlier" if hi_v < lo_b or (len(b_hit) == len(v_hit) == 1) else "earlier (seed ranges overlap)"
    else:
        word = "later" if lo_v > hi_b or (len(b_hit) == len(v_hit) == 1) else "later (seed ranges overlap)"
    if len(v_hit) < len(variant) or len(b_hit) < len(base):
        word += " (some seeds never explode)"
    return word


def compare_explosions(base: RunGroup | None, variant: RunGroup | None, finished_only: bool = True,
                       ) -> tuple[str, list[int | None], list[int | None]]:
    """(:func:`timing_word`, base's explosion steps, variant's) over finished seeds (or all seeds
    with data); "same" is judged on the variant's run length (else the base's)."""
    def steps(g: RunGroup | None) -> list[int | None]:
        if g is None:
            return []
        seeds = g.finished if finished_only else g.with_data
        return [s.explosion_step for s in seeds]

    b, v = steps(base), steps(variant)
    ref = variant or base
    n = ref.config.n_steps if ref is not None else 1
    return timing_word(b, v, n), b, v


def predicted_direction(prediction: str) -> str | None:
    """``earlier`` / ``later`` / None from the memo's wording ("Possibly earlier ...")."""
    p = prediction.lower()
    if "earlier" in p:
        return "earlier"
    if "later" in p:
        return "later"
    return None


def prediction_verdict(direction: str | None, observed: str, mechanism: bool = False) -> str:
    """Verdict for one timing prediction from the observed comparison word.

    With a direction: ``consistent`` if observed starts with it (or the explosion was
    removed and the prediction was "later": it moved past the end of the run);
    ``contradicted`` if it went the other way, stayed the same, or was removed when "earlier"
    was predicted; ``inconclusive`` for overlapping seeds, no data, or no explosion in either.
    ``mechanism=True`` (the log_Z runs): ``supports the mechanism`` if the explosion was
    removed, ``against the mechanism`` if the timing is unchanged or it still explodes.
    """
    if observed in ("no data",) or observed.startswith("no explosion in either"):
        return "inconclusive"
    if "overlap" in observed or "some seeds" in observed:
        return "inconclusive"
    if mechanism:
        if observed.startswith("removed"):
            return "supports the memo's mechanism"
        return "against the memo's mechanism"
    if direction is None:
        return "no prediction"
    if observed.startswith(direction):
        return "consistent"
    if observed.startswith("removed") and direction == "later":
        return "consistent (beyond the run's end)"
    return "contradicted"


def _expected_step(prediction: str, st: Study) -> str:
    m = re.search(r"~\s*([\d,]+)\s*steps", prediction)
    if not m:
        return NA
    memo = int(m.group(1).replace(",", ""))
    return f"{memo:,} → {st.to_run_step(memo):,}"


def timing_rows(st: Study) -> list[dict[str, Any]]:
    """One dict per change of "What Would Change the Timing?" (ablations, plus the documented
    entropy-0.00 run against reward-C), with numbers over finished seeds."""
    base = st.get(EXAMPLE_RUN)
    entropy_run = "phase3b-entropy-0.00-10k"
    variants: list[tuple[str, str, str, bool]] = [(*MEMO_LESS_ENTROPY, entropy_run, False)]
    for g in st.group("ablation"):
        pred = str(g.meta.get("memo_prediction", ""))
        mech = predicted_direction(pred) is None
        variants.append((g.meta.get("description", g.name), pred, g.name, mech))
    rows = []
    for change, pred, name, mech in variants:
        g = st.get(name)
        word, b, v = compare_explosions(base, g)
        direction = predicted_direction(pred)
        rows.append({
            "change": change, "run": name, "prediction": pred,
            "direction": direction, "mechanism": mech, "observed": word,
            "base_steps": b, "variant_steps": v,
            "verdict": prediction_verdict(direction, word, mech),
            "status": st.status_of(name),
            "expected": _expected_step(pred, st),
        })  # fmt: skip
    return rows


# ---------------------------------------------------------------------------
# 2. log P_F falls
# ---------------------------------------------------------------------------

LOG_PF_FALL_MIN = LOG_PF_DROP_MIN
"""A fall of mean_log_pf of at least this many nats is a "fall" worth attributing."""


def seed_decomposition(st: Study, s: SeedRun) -> dict[str, LogPfDriver | None]:
    """Length vs per-action attribution of mean_log_pf for one seed: over the memo's window
    (memo steps 5000 → 8000, mapped) and across our explosion (the trigger's windows)."""
    out: dict[str, LogPfDriver | None] = {"memo_window": None, "explosion": None}
    if not s.has_data or not {"mean_log_pf", "mean_actions"} <= set(s.metrics.columns):
        return out
    half = default_window(len(s.metrics)) // 2
    a, b = st.to_run_step(MEMO_STEPS[0]), st.to_run_step(MEMO_STEPS[-1])
    if (s.last_step or 0) >= b and len(s.metrics) > 1:
        try:
            out["memo_window"] = log_pf_fall_driver(s.metrics, a, b, half_width=half)
        except (ValueError, KeyError):
            pass
    if s.trigger is not None and s.trigger.driver is not None:
        out["explosion"] = s.trigger.driver
    return out


def log_pf_falls(st: Study) -> list[LogPfDriver]:
    """Which seeds show a fall of mean_log_pf, and what drove it: the one selection.

    Every *finished* seed of the documented, ablation **and sensitivity** runs
    (:data:`gfn_lib.study.GROUP_ORDER`) whose mean_log_pf fell by ≥ :data:`LOG_PF_FALL_MIN`
    nats, across its explosion if it has one, else over the memo's window. Sensitivity runs
    count: the claim they test ("log_pf drops because the policy becomes confident") is about
    what makes log_pf fall in this model, whatever the unstated settings, and the runs that
    vary them (e.g. the memo's configuration as stated) hold falls as large as any.
    """
    falls = []
    for g in st.groups(GROUP_ORDER):
        for s in g.finished:
            d = seed_decomposition(st, s)
            drv = d["explosion"] or d["memo_window"]
            if drv is not None and drv.total_change <= -LOG_PF_FALL_MIN:
                falls.append(drv)
    return falls
