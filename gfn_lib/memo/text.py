"""The report's sentences, chosen from computed tables and verdicts (never written by hand).

In the order the report prints them: :func:`status_sentence`, :func:`example_sentence`,
:func:`memo_length_bound_sentence`, :func:`decomposition_sentence`, :func:`log_z_sentence`,
:func:`claims_sentence`, :func:`assumptions_sentence`, :func:`sensitivity_sentence`. Each
rests on the same rule as the table next to it (:mod:`gfn_lib.memo.rules`).
"""

from __future__ import annotations

import math
from collections import Counter

from gfn_lib.analysis import min_actions_for_log_pf
from gfn_lib.memo.cells import NA, seed_note, spread, step_spread
from gfn_lib.memo.mechanism import log_z_fix_table
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_PHASE1_ACTIONS, MEMO_REWARD_C_TABLE, MEMO_WINDOW
from gfn_lib.memo.rules import LOG_PF_FALL_MIN, log_pf_falls
from gfn_lib.memo.runs import Study
from gfn_lib.memo.verdicts import assumptions_table, claims, sensitivity_runs, sensitivity_scores
from gfn_lib.study import GROUP_ORDER


def status_sentence(st: Study) -> str:
    groups = st.groups(GROUP_ORDER)
    n_fin = sum(1 for g in groups if g.finished)
    n_data = sum(1 for g in groups if g.with_data)
    missing = [g.short_name for g in st.group("documented") if not g.with_data]
    text = (f"Profile **{st.profile.name}** ({st.profile.description or 'no description'}; memo step "
            f"s ↦ step s × {st.step_scale:g}). Of {len(groups)} runs in params/, {n_fin} have a "
            f"finished seed and {n_data} have any metrics, under `{st.folder}`.")
    if not n_data:
        text += (" **No run has metrics yet**: every table below shows the memo's figures with our "
                 "columns empty. Run `gfn-study run --profile "
                 f"{st.profile.name}` first.")
    elif missing:
        text += f" Documented runs without data (shown as such): {', '.join(missing)}."
    if st.profile.name == "smoke":
        text += (" *The smoke profile trains 40 steps of a tiny policy: it exercises the code, "
                 "its numbers support no conclusion.*")
    return text


def example_sentence(st: Study, run: str = EXAMPLE_RUN) -> str:
    g = st.get(run)
    if not g or not g.with_data:
        return f"`{run}` has no data yet."
    steps = [s.explosion_step for s in g.with_data]
    lo, hi = (st.to_run_step(m) for m in MEMO_WINDOW)
    hits = [s for s in steps if s is not None]
    if not hits:
        return (f"The memo's example explodes between its steps 6000 and 7000; **ours does not "
                f"explode** ({seed_note(g.with_data)}), so the memo's Part 1 does not reproduce here.")
    inside = [s for s in hits if lo <= s <= hi]
    where = ("inside" if len(inside) == len(hits) else "outside" if not inside else "partly inside")
    return (f"Ours explodes at step {step_spread(steps)} (≈ memo step "
            f"{spread([st.to_memo_step(s) for s in hits], 'int')}), {where} the memo's window "
            f"{MEMO_WINDOW[0]}–{MEMO_WINDOW[1]} (our steps {lo}–{hi}).")


def memo_length_bound_sentence() -> str:
    """What the memo's own reward-C table implies about length (:func:`gfn_lib.analysis.min_actions_for_log_pf`)."""
    before, after = MEMO_REWARD_C_TABLE.iloc[1], MEMO_REWARD_C_TABLE.iloc[2]
    per_action = before.mean_log_pf / MEMO_PHASE1_ACTIONS
    need = min_actions_for_log_pf(after.mean_log_pf)
    return (f"**From the memo's own table:** mean_log_pf goes {before.mean_log_pf:g} → {after.mean_log_pf:g} "
            f"between steps {before.step:,} and {after.step:,}. On-policy (log_pf measured on the policy's own "
            "samples, without exploration noise), the mean log-probability of a "
            f"sampled action is minus the policy's entropy, at least −ln 21 = {-math.log(21):.2f} nats "
            f"(uniform over 21 actions), so {after.mean_log_pf:g} needs at least {need:.1f} actions per "
            f"sequence, whatever the policy; at the first phase's ≈ {per_action:.2f} nats per action "
            f"(≈ {MEMO_PHASE1_ACTIONS:g} actions) it means ≈ {after.mean_log_pf / per_action:.0f} actions. A more "
            "confident policy would move log_pf towards 0; the memo's fall can only come from longer sequences.")


def decomposition_sentence(st: Study) -> str:
    """Which factor drove the log_pf falls: the seeds of :func:`gfn_lib.memo.rules.log_pf_falls`,
    the same as the claims table's verdict on "the policy becomes confident"."""
    drivers = Counter(d.driver for d in log_pf_falls(st))
    n = sum(drivers.values())
    if not n:
        return (f"No finished run shows a fall of mean_log_pf of {LOG_PF_FALL_MIN:g} nats or more, "
                "so the memo's reading cannot be tested on this profile.")
    top, k = drivers.most_common(1)[0]
    return (f"Where mean_log_pf fell (≥ {LOG_PF_FALL_MIN:g} nats; {n} finished seeds), the fall was "
            f"driven by **{top}** in {k}/{n}" + (
                " — longer sequences, not a more confident policy." if top == "length" else "."))


def log_z_sentence(st: Study) -> str:
    t = log_z_fix_table(st)
    parts = [f"{r.Run}: {r.Verdict}" for r in t.itertuples() if r.Verdict != "reference"]
    return ("Against the reward-C base (explosion " + (t.iloc[0]["Explosion step"] if len(t) else NA)
            + "): " + "; ".join(parts) + ".") if parts else ""


def claims_sentence(st: Study) -> str:
    cs = claims(st)
    c = Counter(x.verdict for x in cs)
    refuted = [x.claim for x in cs if x.verdict == "refuted"]
    text = (f"Of {len(cs)} claims tested: {c.get('supported', 0)} supported, {c.get('refuted', 0)} "
            f"refuted, {c.get('inconclusive', 0)} inconclusive on this profile's finished runs.")
    if refuted:
        text += " Not reproduced: " + "; ".join(f"“{r}”" for r in refuted) + "."
    return text


def assumptions_sentence(st: Study) -> str:
    t = assumptions_table(st)
    if t.empty:
        return ("No documented run's params file declares an `assumptions` mapping: every setting "
                "the memo does not state is taken from the memo's defaults (see the configuration "
                "table's \"not stated\" rows), not argued for run by run.")
    return (f"{len(t)} setting(s) in {t['Run'].nunique()} documented run(s) are assumptions, "
            "not the memo's statements:")


SENSITIVITY_FEATURES = {"a": "a short first phase with small, decreasing loss", "b": "an explosion after a reward jump",
                        "c": "an explosion near memo step 6000"}


def sensitivity_sentence(st: Study) -> str:
    groups = sensitivity_runs(st)
    if not groups:
        return ("No run of group `sensitivity` exists in params/ for this profile, so no variant of "
                "the unstated settings has been tried yet; the table below is empty.")
    scores = sensitivity_scores(st)
    if scores.empty:
        return f"{len(groups)} sensitivity run(s) are defined but none has metrics yet."
    full = scores[scores.score >= 3]
    if len(full):
        return (f"{len(full)} of {len(scores)} sensitivity runs with data show all three of the "
                f"memo's features in every seed: {', '.join(full.run)}.")
    best = scores.iloc[0]
    has = [SENSITIVITY_FEATURES[k] for k in "abc" if best[k] > 0]
    lacks = [SENSITIVITY_FEATURES[k] for k in "abc" if best[k] < 1]
    shown = (f"it shows {', '.join(has)} (in {', '.join(f'{best[k]:.0%}' for k in 'abc' if best[k] > 0)} "
             "of its seeds)") if has else "it shows none of them"
    closest = (f"The closest is `{best.run}` ({best.seeds} seed{'s' if best.seeds > 1 else ''}): {shown}, "
               f"but not {' or '.join(lacks)} in every seed.")
    return (f"**Not reproduced.** None of the {len(scores)} sensitivity runs with data shows all three of "
            f"the memo's features (a), (b), (c) in every seed. {closest}")
