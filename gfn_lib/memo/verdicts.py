"""Verdicts: the memo's claims tested on our runs, and how faithfully our runs reproduce its picture.

Contents, top to bottom:

1. The three fidelity checks of one seed (:class:`Check`): (a) :func:`check_short_first_phase`,
   (b) :func:`check_explosion_after_reward_jump`, (c) :func:`check_timing_near_memo`.
2. Claims: :func:`claims` (each memo claim, what would refute it, what our finished seeds
   show, a verdict) and :func:`claims_table`.
3. Reproduction fidelity: the sensitivity runs scored on checks (a)-(c): :func:`sensitivity_runs`,
   :func:`sensitivity_checks`, :func:`sensitivity_table`, :func:`sensitivity_scores` (what the runs
   assume and what stands in: :mod:`gfn_lib.memo.assumptions`).

Verdicts use only seeds whose folder has ``FINISHED``, so an incomplete run never decides one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from gfn_lib.analysis import (
    classify_trigger,
    count_explosions,
    default_window,
    detect_explosion,
    min_actions_for_log_pf,
    smooth,
)
from gfn_lib.config import TrainConfig
from gfn_lib.memo.cells import NA, step_spread
from gfn_lib.memo.quotes import (
    EXAMPLE_RUN,
    MEMO_PHASE1_ACTIONS,
    MEMO_PHASE1_END,
    MEMO_REWARD_C_TABLE,
    MEMO_WINDOW,
)
from gfn_lib.memo.rules import LOG_PF_FALL_MIN, MIN_TIMING_SEEDS, log_pf_falls, timing_rows
from gfn_lib.memo.runs import RunGroup, SeedRun, Study, short_name
from gfn_lib.memo.timing import escape_losses
from gfn_lib.study import memo_to_run_step, run_to_memo_step

# ---------------------------------------------------------------------------
# 1. Fidelity checks of one seed
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A fidelity check on one run: ``passed`` is None when the data cannot decide."""

    passed: bool | None
    detail: str


SHORT_PHASE_FRAC = 0.25
"""Phase-1 "short": median length ≤ min_len + 25% of (max_len − min_len) (≤ 15 for 10–30;
the memo's log_pf ≈ −20 at ≈ −1.9 nats/action is ≈ 11 actions ≈ 10 residues)."""
SMALL_LOSS_MAX = 100.0
"""Phase-1 "small" loss: median smoothed loss ≤ 100 nats² (memo: 32 → 21)."""
DECREASING_RATIO = 0.9
"""Phase-1 "decreasing": smoothed loss at the phase's end ≤ 0.9 × at its start."""


def check_short_first_phase(df: pd.DataFrame, config: TrainConfig, step_scale: float) -> Check:
    """(a) A first phase of short sequences with small, decreasing loss (memo steps 1–5000).

    The phase runs from the end of warmup to the earlier of the explosion onset and memo step
    5000 (mapped with ``step_scale``). Passes when, over it, the median mean_length is short
    (:data:`SHORT_PHASE_FRAC` of the config's length window), the median smoothed loss is
    small (:data:`SMALL_LOSS_MAX`) and the smoothed loss at its end is ≤
    :data:`DECREASING_RATIO` × at its start. None if the run has no such rows (too short, or
    exploding during warmup).
    """
    if df is None or len(df) < 3 or not {"loss", "mean_length", "step"} <= set(df.columns):
        return Check(None, "no metrics")
    run = df.sort_values("step").reset_index(drop=True)
    ex = detect_explosion(run)
    start = config.warmup_steps
    end = memo_to_run_step(MEMO_PHASE1_END, step_scale)
    if ex.onset_step is not None:
        end = min(end, ex.onset_step - 1)
    sm = smooth(run["loss"].astype(float), default_window(len(run)))
    mask = (run["step"] > start) & (run["step"] <= end)
    if mask.sum() < 3:
        return Check(None, f"fewer than 3 rows between warmup end ({start}) and step {end}")
    short_max = config.min_len + SHORT_PHASE_FRAC * (config.max_len - config.min_len)
    length = float(run.loc[mask, "mean_length"].median())
    loss_med = float(sm[mask].median())
    first, last = float(sm[mask].iloc[0]), float(sm[mask].iloc[-1])
    short, small, down = length <= short_max, loss_med <= SMALL_LOSS_MAX, last <= DECREASING_RATIO * first
    ok = short and small and down
    detail = (f"steps {start + 1}–{end}: length {length:.1f} ({'≤' if short else '>'} {short_max:g}), "
              f"loss median {loss_med:.3g} ({'≤' if small else '>'} {SMALL_LOSS_MAX:g}), "
              f"{first:.3g} → {last:.3g} ({'decreasing' if down else 'not decreasing'})")
    return Check(ok, detail)


def check_explosion_after_reward_jump(df: pd.DataFrame, batch_size: int) -> Check:
    """(b) A loss explosion that follows a reward jump: :func:`detect_explosion` finds one and
    :func:`classify_trigger` labels it ``reward_jump`` (``batch_size``: the run's, for collapse)."""
    if df is None or len(df) < 3 or "loss" not in df.columns:
        return Check(None, "no metrics")
    ex = detect_explosion(df)
    trig = classify_trigger(df, ex, batch_size=batch_size)
    if not ex.exploded:
        return Check(False, f"no explosion ({trig.phrase})")
    return Check(trig.label == "reward_jump", f"explosion at step {ex.step}: {trig.label}: {trig.phrase}")


def check_timing_near_memo(explosion_step: int | None, step_scale: float,
                           window: tuple[int, int] = MEMO_WINDOW) -> Check:
    """(c) Explosion timing near the memo's step 6000: within memo steps ``window``
    (default 5000–7000, the memo's "around step 5000-7000") mapped by ``step_scale``."""
    lo, hi = (memo_to_run_step(w, step_scale) for w in window)
    if explosion_step is None:
        return Check(False, f"no explosion (memo window {lo}–{hi})")
    ok = lo <= explosion_step <= hi
    return Check(ok, f"step {explosion_step} ≈ memo step {run_to_memo_step(explosion_step, step_scale):,.0f} "
                     f"({'inside' if ok else 'outside'} {lo}–{hi})")


# ---------------------------------------------------------------------------
# 2. Claims
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    claim: str
    refute_if: str
    evidence: str
    verdict: str  # supported | refuted | inconclusive


SUPPORT_FRAC = 0.75
"""A claim tested over several runs/seeds is supported when ≥ 75% of them agree and
refuted when ≤ 25% do; in between it is inconclusive (mixed)."""


def _frac_verdict(k: int, n: int) -> str:
    if n == 0:
        return "inconclusive"
    f = k / n
    return "supported" if f >= SUPPORT_FRAC else "refuted" if f <= 1 - SUPPORT_FRAC else "inconclusive"


def _claim_log_pf_confidence(st: Study) -> Claim:
    """"log_pf drops because the policy becomes confident", on the seeds of :func:`log_pf_falls`
    (documented, ablation and sensitivity runs) and on the memo's own table."""
    drivers = log_pf_falls(st)
    if drivers:
        c = Counter(d.driver for d in drivers)
        conf = sum(1 for d in drivers if d.per_action_end > d.per_action_start)
        ev = (f"log_pf fell ≥ {LOG_PF_FALL_MIN:g} nats in {len(drivers)} finished seeds; driven by "
              + ", ".join(f"{k} in {n}" for k, n in c.most_common())
              + f"; per-action log-prob rose (more confident) in {conf}/{len(drivers)}")
        verdict = "refuted" if c.get("length", 0) + c.get("per-action loss of confidence", 0) \
            >= SUPPORT_FRAC * len(drivers) else "inconclusive"
    else:
        ev, verdict = f"no finished seed shows a log_pf fall ≥ {LOG_PF_FALL_MIN:g} nats", "inconclusive"
    # the memo's own table, whatever our runs show: on-policy E[log pi] >= -ln 21 per action
    t = MEMO_REWARD_C_TABLE
    need = min_actions_for_log_pf(t.mean_log_pf.iloc[2])
    if need > MEMO_PHASE1_ACTIONS:
        ev += (f"; the memo's own table: {t.mean_log_pf.iloc[1]:g} → {t.mean_log_pf.iloc[2]:g} needs ≥ {need:.1f} "
               "actions per sequence on-policy (entropy bound), so its fall is longer sequences")
        verdict = "refuted"
    return Claim("log_pf drops because the policy becomes confident",
                 "the fall comes from longer sequences or a falling per-action log-prob "
                 "(confidence moves log_pf per action towards 0)", ev, verdict)


FAST_LOG_Z_RUN = "ablation-log-z-lr-x100"
"""The published reward-C run with log Z's lr × 100: a log Z fast enough to keep up."""


def _claim_log_z_lags(st: Study) -> Claim:
    """"log_Z can't keep up", on the published setup: after reward-C's escapes the loss should be mostly
    (needed − log Z)², and a log Z with 100× the lr should leave a much smaller loss after its escape."""
    base, fast = escape_losses(st, EXAMPLE_RUN), escape_losses(st, FAST_LOG_Z_RUN)
    claim = "log_Z can't keep up (learning-rate limited), so the residual grows"
    refute = ("after the escape the loss is not mostly log Z's lag (needed − log Z)², or a log Z with 100× the lr "
              "leaves as large a loss after its escape")
    if len(base) < MIN_TIMING_SEEDS or len(fast) < MIN_TIMING_SEEDS:
        return Claim(claim, refute, f"escaped seeds: reward-C {len(base)}, log Z lr × 100 {len(fast)}; "
                                    f"needs {MIN_TIMING_SEEDS} of each", "inconclusive")
    share = float(np.median([a["share"] for a in base]))
    loss_b, loss_f = float(np.median([a["loss"] for a in base])), float(np.median([a["loss"] for a in fast]))
    lagging = sum(a["share"] >= 0.5 for a in base)
    ev = (f"after the escape, (needed − log Z)² is ≥ half the loss in {lagging}/{len(base)} reward-C seeds (median share "
          f"{share:.2f}); the loss just after the escape: reward-C {loss_b:.3g}, log Z lr × 100 {loss_f:.3g} "
          f"(medians over {len(base)} and {len(fast)} escaped seeds)")
    ok = lagging >= SUPPORT_FRAC * len(base) and loss_f <= FAST_LOG_Z_LOSS_RATIO * loss_b
    return Claim(claim, refute, ev, "supported" if ok else "refuted")


FAST_LOG_Z_LOSS_RATIO = 0.5
"""The faster log Z must at least halve the median loss after the escape for "can't keep up" to hold."""


def claims(st: Study) -> list[Claim]:
    """Each memo claim with what would refute it, what our finished runs show, and a verdict.

    Counts are over finished seeds ("k/n seeds"), so the spread over seeds is part of the
    evidence; a claim with no finished data is inconclusive."""
    docs = st.group("documented")
    seeds = [(g, s) for g in docs for s in g.finished]
    out: list[Claim] = []
    lo, hi = (st.to_run_step(m) for m in MEMO_WINDOW)

    # 1. All runs explode around 5000-7000
    inside = [(g, s) for g, s in seeds if s.explosion_step is not None and lo <= s.explosion_step <= hi]
    outside = [f"{g.short_name}: {s.explosion_step if s.explosion_step is not None else 'never'}"
               for g, s in seeds if (g, s) not in inside]
    ev = (f"{len(inside)}/{len(seeds)} finished seeds of {len(docs)} documented runs explode within "
          f"memo steps {MEMO_WINDOW[0]}–{MEMO_WINDOW[1]} (our steps {lo}–{hi})")
    if outside:
        ev += "; outside: " + ", ".join(outside)
    verdict = "inconclusive" if not seeds else ("supported" if not outside else "refuted")
    out.append(Claim("All runs show a loss explosion around step 5000–7000",
                     "a run that never explodes or explodes well outside 5000–7000", ev, verdict))

    # 2. Explosion correlated with reward discovery
    exploded = [(g, s) for g, s in seeds if s.explosion_step is not None and s.trigger]
    reward_led = [(g, s) for g, s in exploded if s.trigger.label in ("reward_jump", "reward_climb")]
    labels = Counter(s.trigger.label for _, s in exploded)
    ev = (f"{len(reward_led)}/{len(exploded)} exploding seeds have a reward jump or climb as trigger"
          + (f" (labels: {', '.join(f'{k} ×{n}' for k, n in labels.most_common())})" if labels else
             "; no seed explodes"))
    out.append(Claim("The explosion is correlated with reward discovery (a signature of successful "
                     "learning)", "explosions without a reward rise (flat reward, length runaway)",
                     ev, _frac_verdict(len(reward_led), len(exploded))))

    # 3. log_pf falls because the policy becomes confident
    out.append(_claim_log_pf_confidence(st))

    # 4. log_Z can't keep up: after the escape, is the loss log Z's lag, and does a 100x faster log Z shrink it?
    out.append(_claim_log_z_lags(st))

    # 5. One-time phase transition
    eps = [(g, s, *count_explosions(s.metrics)) for g, s in seeds if s.explosion_step is not None]
    if eps:
        multi = [f"{g.short_name} seed {s.seed}: {n}" for g, s, n, _ in eps if n > 1]
        stay = sum(1 for *_, st_ in eps if st_)
        ev = (f"{len(eps) - len(multi)}/{len(eps)} exploding seeds explode once; the loss stays high "
              f"to the end in {stay}/{len(eps)}" + (f"; repeated: {', '.join(multi)}" if multi else ""))
        verdict = "supported" if not multi else "refuted"
    else:
        ev, verdict = "no finished seed explodes", "inconclusive"
    out.append(Claim("It is a one-time phase transition, not something that keeps happening",
                     "the loss falls back and explodes again", ev, verdict))

    # 6. reward-B collapses immediately
    rb = st.get("gflownet-reward-B-esm2pll-10k")
    rb_seeds = rb.finished if rb else []
    if rb_seeds:
        k = sum(1 for s in rb_seeds if s.trigger and s.trigger.label == "collapse")
        never = sum(1 for s in rb_seeds if s.explosion_step is None)
        ev = f"collapse in {k}/{len(rb_seeds)} seeds; no explosion in {never}/{len(rb_seeds)}"
        verdict = _frac_verdict(k, len(rb_seeds))
    else:
        ev, verdict = "reward-B not finished", "inconclusive"
    out.append(Claim("reward-B (ESM-2 PLL) never explodes: it collapses immediately (all same output)",
                     "a diverse batch (unique_frac > 2/B) after the start, or an explosion", ev, verdict))

    # 7. Phase 1: short sequences, small decreasing loss before the transition
    rc = st.get(EXAMPLE_RUN)
    rc_seeds = rc.finished if rc else []
    if rc_seeds:
        checks = [check_short_first_phase(s.metrics, s.config, st.step_scale) for s in rc_seeds]
        k = sum(1 for c in checks if c.passed)
        ev = f"{k}/{len(checks)} reward-C seeds: " + "; ".join(c.detail for c in checks[:2])
        verdict = _frac_verdict(k, len(checks))
    else:
        ev, verdict = "reward-C not finished", "inconclusive"
    out.append(Claim("Steps 1–5000: the policy explores, log_pf ≈ −20 (short sequences), loss "
                     "small and decreasing", "long sequences or a large/rising loss before the "
                     "explosion", ev, verdict))

    # 8-…: the memo's timing predictions, judged on the escape from the trap (≥ 3 seeds each)
    for r in timing_rows(st):
        v_ = r["verdict"]
        verdict = ("supported" if v_.startswith("consistent") else "refuted" if v_ == "contradicted"
                   else "inconclusive")
        ev = (f"escape (≈ memo step): reward-C {step_spread(st.to_memo_steps(r['base_steps']))}, "
              f"{short_name(r['run'])} {step_spread(st.to_memo_steps(r['variant_steps']))} "
              f"({r['seeds']} finished seed{'' if r['seeds'] == 1 else 's'}): {r['observed']}")
        out.append(Claim(f"{r['change']} → {r['prediction']}",
                         "the escape from the trap (where the loss explodes) moves the other way, or not at all",
                         ev, verdict))
    return out


def claims_table(st: Study) -> pd.DataFrame:
    """The "Claims vs evidence" table (see :func:`claims`)."""
    return pd.DataFrame([{"Memo claim": c.claim, "What would refute it": c.refute_if,
                          "What our runs show": c.evidence, "Verdict": c.verdict}
                         for c in claims(st)])


# ---------------------------------------------------------------------------
# 3. Reproduction fidelity: sensitivity runs
# ---------------------------------------------------------------------------


def sensitivity_runs(st: Study) -> list[RunGroup]:
    """The sensitivity group plus, first, the documented reward-C run: the reference, the setting
    the documented runs use (their ``setup``), so it is not run twice."""
    example = st.get(EXAMPLE_RUN)
    return ([example] if example is not None and example.with_data else []) + st.group("sensitivity")


def _seed_checks(st: Study, s: SeedRun) -> tuple[Check, Check, Check]:
    return (check_short_first_phase(s.metrics, s.config, st.step_scale),
            check_explosion_after_reward_jump(s.metrics, s.config.batch_size),
            check_timing_near_memo(s.explosion_step, st.step_scale))


def sensitivity_checks(st: Study, g: RunGroup) -> dict[str, list[Check]]:
    """Checks (a), (b), (c) of the memo's picture for each seed with data of one run."""
    per_seed = [_seed_checks(st, s) for s in g.with_data]
    return {k: [c[i] for c in per_seed] for i, k in enumerate("abc")}


def _checks_cell(checks: Sequence[Check]) -> str:
    decided = [c for c in checks if c.passed is not None]
    if not checks:
        return NA
    k = sum(1 for c in decided if c.passed)
    head = f"{'yes' if decided and k == len(decided) else 'no' if k == 0 else 'partly'} ({k}/{len(checks)} seeds)"
    if len(decided) < len(checks):
        head += f", {len(checks) - len(decided)} undecided"
    return f"{head}: {checks[0].detail}"


SENSITIVITY_COLUMNS = ["Run", "Change", "Status", "Explosion step", "(a) short first phase, small decreasing loss",
                       "(b) explosion follows a reward jump", "(c) timing near memo step 6000"]


def sensitivity_table(st: Study) -> pd.DataFrame:
    """Per sensitivity run (over seeds with data): checks (a), (b), (c)."""
    rows = []
    for g in sensitivity_runs(st):
        seeds = g.with_data
        change = g.meta.get("description", "")
        if g.name == EXAMPLE_RUN:
            setup = g.meta.get("setup")
            change = (f"the documented reward-C run (reference), setup {setup}" if setup else
                      "the documented reward-C run (reference)") + (f": {change}" if change else "")
        steps = step_spread([s.explosion_step for s in seeds]) if seeds else NA
        cells = [_checks_cell(cs) for cs in sensitivity_checks(st, g).values()]
        rows.append(dict(zip(SENSITIVITY_COLUMNS, [g.name, change, g.status_text, steps, *cells])))
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)


def sensitivity_scores(st: Study) -> pd.DataFrame:
    """Per sensitivity run with data: the fraction of seeds passing each check (a), (b), (c)
    and their sum (0-3), highest first: how close each setting comes to the memo's picture."""
    rows = []
    for g in sensitivity_runs(st):
        seeds = g.with_data
        if not seeds:
            continue
        checks = sensitivity_checks(st, g)
        frac = {k: sum(1 for c in cs if c.passed) / len(cs) for k, cs in checks.items()}
        rows.append({"run": g.name, "seeds": len(seeds), **frac, "score": sum(frac.values())})
    df = pd.DataFrame(rows, columns=["run", "seeds", "a", "b", "c", "score"])
    return df.sort_values(["score", "seeds"], ascending=False, kind="stable").reset_index(drop=True)
