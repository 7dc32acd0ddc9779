"""The rules the report's tables, verdicts and sentences share, each written once.

1. Timing: how a variant's explosion (or escape) steps compare with a base run's
   (:func:`timing_word`, :func:`compare_explosions`, :func:`compare_escapes`), what the memo predicted
   (:func:`predicted_direction`) and the verdict on a prediction (:func:`prediction_verdict`); the rows
   of "What Would Change the Timing?" (:func:`timing_rows`, judged on the escape from the low-entropy
   trap, where the published run's loss exploded), used by its table and by the claims.
2. log P_F falls: one seed's length / per-action attribution (:func:`seed_decomposition`) and
   the selection of seeds whose log P_F fell (:func:`log_pf_falls`), used by the claims table
   and by the sentence under the decomposition table, so a verdict and its explanation always
   rest on the same seeds.
"""

from __future__ import annotations

import math
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
MIN_TIMING_SEEDS = 3
"""A timing verdict needs at least this many finished seeds on each side (one seed can be luck)."""
_EVENT_WORDS = {"explosion": ("explosion", "explode"), "escape": ("escape", "escape")}


def timing_word(base: list[int | None], variant: list[int | None], n_steps: int, event: str = "explosion") -> str:
    """Compare event steps over seeds (None: the seed never has the event): earlier / later / same /
    removed / appeared / none in either / overlapping seeds / no data. ``event``: ``explosion`` or
    ``escape``. For an explosion, a seed that never has one makes a mixed comparison inconclusive
    ("some seeds never explode"). For an escape, None is a trap held past the run's end, i.e. an escape
    later than any observed one, and is compared as such (censored at the end)."""
    noun, verb = _EVENT_WORDS[event]
    if event == "escape" and any(b is not None for b in base) and any(v is not None for v in variant):
        return _censored_word(base, variant, n_steps)
    if not base or not variant:
        return "no data"
    b_hit = [s for s in base if s is not None]
    v_hit = [s for s in variant if s is not None]
    if not b_hit and not v_hit:
        return f"no {noun} in either"
    if b_hit and not v_hit:
        return f"removed (no {noun})" if len(b_hit) == len(base) else "removed in some seeds"
    if v_hit and not b_hit:
        return f"appeared (base never {verb}s)"
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
        word += f" (some seeds never {verb})"
    return word


def _censored_word(base: list[int | None], variant: list[int | None], n_steps: int) -> str:
    """:func:`timing_word` for escapes, with a trap held to the end read as an escape after it (+inf)."""
    b = [math.inf if s is None else s for s in base]
    v = [math.inf if s is None else s for s in variant]
    med_b, med_v = float(np.median(b)), float(np.median(v))
    if med_b == med_v or abs(med_v - med_b) <= SAME_TIMING_FRAC * n_steps:
        return "same"
    if med_v < med_b:
        return "earlier" if max(v) < min(b) else "earlier (seed ranges overlap)"
    return "later" if min(v) > max(b) else "later (seed ranges overlap)"


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


def escape_steps(g: RunGroup | None) -> tuple[list[int | None], int]:
    """(escape step of each finished seed that trapped, None for a trap held to the end; number of
    finished seeds without a trap). Seeds that do not log composition (no trap reading) are in neither."""
    if g is None:
        return [], 0
    read = [s for s in g.finished if s.trap is not None]
    trapped = [s for s in read if s.trap.trapped]
    return [s.trap.escape_step for s in trapped], len(read) - len(trapped)


def compare_escapes(base: RunGroup | None, variant: RunGroup | None) -> tuple[str, list[int | None], list[int | None]]:
    """(:func:`timing_word` on escape steps, base's, variant's) over finished trapped seeds; "no trap" when
    the variant has finished seeds and none of them trapped."""
    b, _ = escape_steps(base)
    v, untrapped = escape_steps(variant)
    if not v and untrapped:
        return "no trap (nothing to escape)", b, v
    ref = variant or base
    return timing_word(b, v, ref.config.n_steps if ref is not None else 1, event="escape"), b, v


NOT_MEMO_PREFIX = "not in the memo"
"""A params file's ``memo_prediction`` that starts so is ours (issue 12's ablations), not the memo's."""


def predicted_direction(prediction: str) -> str | None:
    """``earlier`` / ``later`` / None from the memo's wording ("Possibly earlier ..."); None for a
    prediction of ours (:data:`NOT_MEMO_PREFIX`)."""
    p = prediction.lower()
    if p.startswith(NOT_MEMO_PREFIX):
        return None
    if "earlier" in p:
        return "earlier"
    if "later" in p:
        return "later"
    return None


def prediction_verdict(direction: str | None, observed: str) -> str:
    """Verdict for one timing prediction from the observed comparison word (:func:`timing_word`).

    ``consistent`` if observed starts with the predicted direction (or the event was removed and the
    prediction was "later": it moved past the end of the run); ``contradicted`` if it went the other
    way, stayed the same, or was removed when "earlier" was predicted; ``inconclusive`` for overlapping
    seeds, some seeds without the event, no data, no event in either or no trap; ``no prediction``
    without a direction.
    """
    if observed in ("no data",) or observed.endswith("in either") or observed.startswith("no trap"):
        return "inconclusive"
    if "overlap" in observed or "some seeds" in observed:
        return "inconclusive"
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
    """One dict per prediction of the memo's "What Would Change the Timing?" (the ablations whose
    ``memo_prediction`` names a direction, plus the documented entropy-0.00 run against reward-C), judged
    on the escape from the trap (:func:`compare_escapes`) over finished seeds, with the explosion steps
    beside it. A verdict needs :data:`MIN_TIMING_SEEDS` finished seeds that trapped on each side (a seed without
    a trap has no escape to time), else inconclusive."""
    base = st.get(EXAMPLE_RUN)
    entropy_run = "phase3b-entropy-0.00-10k"
    variants: list[tuple[str, str, str]] = [(*MEMO_LESS_ENTROPY, entropy_run)]
    for g in st.group("ablation"):
        pred = str(g.meta.get("memo_prediction", ""))
        if predicted_direction(pred) is not None:
            variants.append((g.meta.get("description", g.name), pred, g.name))
    rows = []
    for change, pred, name in variants:
        g = st.get(name)
        word, b, v = compare_escapes(base, g)
        direction = predicted_direction(pred)
        n = len(g.finished) if g else 0
        verdict = prediction_verdict(direction, word)
        k = min(len(b), len(v))  # seeds with an escape time (a trap; held to the end counts)
        if k < MIN_TIMING_SEEDS and verdict != "inconclusive":
            verdict = f"inconclusive ({k} trapped seed{'s' if k != 1 else ''}; needs {MIN_TIMING_SEEDS})"
        rows.append({
            "change": change, "run": name, "prediction": pred, "direction": direction, "observed": word,
            "base_steps": b, "variant_steps": v, "verdict": verdict, "status": st.status_of(name),
            "expected": _expected_step(pred, st), "seeds": n,
            "base_explosions": [s.explosion_step for s in base.finished] if base else [],
            "variant_explosions": [s.explosion_step for s in g.finished] if g else [],
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
