"""The report's sentences, chosen from computed tables and verdicts (never written by hand).

In the order the report prints them: :func:`status_sentence`, :func:`published_sentence`,
:func:`example_sentence`, :func:`trap_sentence`, :func:`memo_length_bound_sentence`,
:func:`decomposition_sentence`, :func:`log_z_sentence`, :func:`claims_sentence`,
:func:`assumptions_sentence`, :func:`sensitivity_sentence`. Each rests on the same rows or rule as
the table next to it (:mod:`gfn_lib.memo.rules`, :mod:`gfn_lib.memo.published_vs_ours`,
:mod:`gfn_lib.memo.traps`).
"""

from __future__ import annotations

import math
from collections import Counter

from gfn_lib.analysis import min_actions_for_log_pf
from gfn_lib.memo.assumptions import assumptions_table
from gfn_lib.memo.cells import NA, fmt_num, seed_note, spread, step_spread
from gfn_lib.memo.mechanism import log_z_fix_table
from gfn_lib.memo.published_vs_ours import Comparison, published_comparisons, published_text, value_near
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_PHASE1_ACTIONS, MEMO_REWARD_C_TABLE, MEMO_WINDOW
from gfn_lib.memo.rules import LOG_PF_FALL_MIN, MIN_TIMING_SEEDS, log_pf_falls, timing_rows
from gfn_lib.memo.runs import Study, short_name
from gfn_lib.memo.traps import PUBLISHED_TRAP_ESCAPE, PUBLISHED_TRAP_LETTERS, PUBLISHED_TRAP_ONSET, lowest, trap_summary
from gfn_lib.memo.verdicts import claims, sensitivity_runs, sensitivity_scores


def status_sentence(st: Study) -> str:
    groups = list(st.runs.values())
    n_fin = sum(1 for g in groups if g.finished)
    n_data = sum(1 for g in groups if g.with_data)
    default = st.default_runs
    others = [g.name for g in groups if g.name not in default]
    seeds = sum(len(v) for v in default.values())
    text = (f"Profile **{st.profile.name}** ({st.profile.description or 'no description'}; memo step "
            f"s ↦ step s × {st.step_scale:g}). By default it runs {len(default)} runs ({seeds} seeds)"
            + (f"; {len(others)} other runs have folders" if others else "; no other run has folders")
            + f" under `{st.folder}`. Of these {len(groups)} runs, {n_fin} have a finished seed and "
            f"{n_data} have any metrics.")
    if not n_data:
        text += (" **No run has metrics yet**: every table below shows the published and the memo's figures "
                 f"with our columns empty. Run `gfn-study sweep --profile {st.profile.name}` first.")
    else:
        missing = [f"{short_name(g.name)} seed {s.seed}" for g in groups for s in g.seeds
                   if g.name in default and s.status == "missing"]
        if missing:
            text += f" Seeds of this profile without a folder yet (shown as missing): {', '.join(missing)}."
    if st.profile.name == "smoke":
        text += (" *The smoke profile trains 40 steps of a tiny policy: it exercises the code, "
                 "its numbers support no conclusion.*")
    return text


def _item(c: Comparison) -> str:
    """``loss at 6,000 (published 21, ours 1234: +1213, ×59)``."""
    text = (f"{c.label} at {c.memo_step:,} (published {published_text(c.metric, c.low, c.high)}, "
            f"ours {fmt_num(c.ours, c.spec)}")
    if c.verdict == "missed":
        text += f": {fmt_num(c.difference, '+' + c.spec)}"
        edge = c.low if c.ours < c.low else c.high
        if c.metric == "loss" and edge > 0:
            ratio = c.ours / edge
            text += f", ×{ratio:,.0f}" if ratio >= 10 else f", ×{ratio:.2g}"
    return text + ")"


def _explosion_line(st: Study, run: str) -> str | None:
    """Published loss from its lowest figure to its highest later one, against our explosions."""
    pub = [c for c in published_comparisons(st) if c.run == run and c.metric == "loss"]
    if len(pub) < 2:
        return None
    low = min(pub, key=lambda c: c.low)
    later = [c for c in pub if c.memo_step > low.memo_step]
    if not later:
        return None
    high = max(later, key=lambda c: c.high)
    exploded = high.high >= 10 * low.low
    published = (f"published loss {published_text('loss', low.low, low.high)} at {low.memo_step:,} → "
                 f"{published_text('loss', high.low, high.high)} at {high.memo_step:,}"
                 + (" (an explosion)" if exploded else " (no explosion)"))
    g = st.get(run)
    seeds = g.with_data if g else []
    if not seeds:
        return f"{published}; ours: no data yet"
    steps = [s.explosion_step for s in seeds]
    hits = [x for x in steps if x is not None]
    reach = st.to_memo_step(max(s.last_step or 0 for s in seeds))
    start = spread([value_near(s.metrics, "loss", s.metrics["step"].min()) for s in seeds], ".4g")
    end = spread([value_near(s.metrics, "loss", s.last_step) for s in seeds], ".4g")
    if not hits:
        ours = (f"**ours does not explode** (0 of {len(seeds)} seeds, to ≈ memo step {reach:,.0f}; loss "
                f"{start} at the start, {end} at the end)")
    else:
        ours = (f"ours explodes in {len(hits)} of {len(seeds)} seeds, at ≈ memo step "
                f"{spread([st.to_memo_step(x) for x in hits], 'int')}")
    return f"{published}; {ours}"


def trap_sentence(st: Study, run: str = EXAMPLE_RUN) -> str:
    """The published reward-C trap against ours (:func:`gfn_lib.memo.traps.trap_summary`)."""
    esc = PUBLISHED_TRAP_ESCAPE
    published = (f"The published {short_name(run)} run was trapped on {PUBLISHED_TRAP_LETTERS} from ≈ memo step "
                 f"{PUBLISHED_TRAP_ONSET:,} to ≈ {esc[0]:,}–{esc[1]:,}")
    sm = trap_summary(st, run)
    if not sm["seeds"]:
        return f"{published}; ours has no data yet."
    if not sm["traps"]:
        return (f"{published}; our {seed_note(sm['seeds'])} do not log composition_entropy and letters_used "
                "(run before those metrics existed), so the trap cannot be checked.")
    traps, trapped, escaped = sm["traps"], sm["trapped"], sm["escaped"]
    if not trapped:
        return (f"{published}; **ours does not trap** (0 of {len(traps)} seeds; lowest smoothed composition "
                f"entropy {spread([lowest(t.seed, 'composition_entropy') for t in traps], '.2f')}, fewest "
                f"letters {spread([lowest(t.seed, 'letters_used') for t in traps], '.0f')}).")
    memo = lambda xs: spread([st.to_memo_step(x) for x in xs], "int")  # noqa: E731
    text = (f"{published}; ours is trapped in {len(trapped)} of {len(traps)} seeds, from ≈ memo step "
            f"{memo([t.onset for t in trapped])} ({spread([t.letters for t in trapped], '.0f')} letters, "
            f"composition entropy {spread([t.entropy for t in trapped], '.2f')})")
    if escaped:
        text += (f", and escapes in {len(escaped)} of {len(trapped)} at ≈ memo step "
                 f"{memo([t.escape for t in escaped])} (smoothed loss then up to "
                 f"{spread([t.loss_after_escape for t in escaped], '.4g')}, log Z "
                 f"{spread([t.log_z_at_escape for t in escaped], '.2f')} at the escape)")
    else:
        text += ", and does not escape by the end of the run"
    single = sum(1 for t in trapped if t.single_sequence)
    if single:
        text += f"; in {single} of {len(trapped)} the trap is one repeated sequence, not a few-letter distribution"
    return text + "."


def published_sentence(st: Study) -> str:
    """Which published figures our runs reproduce and which they miss, by how much (the rows of
    :func:`gfn_lib.memo.published_vs_ours.published_comparisons`), and whether our runs trap and
    explode where the published ones did."""
    cs = published_comparisons(st)
    if not cs:
        return "No run of this study has published figures to compare with."
    c = Counter("not reached" if x.verdict.startswith("not reached") else x.verdict for x in cs)
    lines = [f"**Published vs ours.** {len(cs)} published figures belong to runs of this study: "
             f"{c.get('reproduced', 0)} reproduced (within the tolerance of the table's rule), {c.get('missed', 0)} "
             f"missed, {c.get('not logged', 0)} not logged by our runs, {c.get('not reached', 0)} at steps our "
             f"runs have not reached, {c.get('no data', 0)} of runs without data yet."]
    if st.get(EXAMPLE_RUN) is not None:
        lines.append(f"- Trap: {trap_sentence(st)}")
    for run in dict.fromkeys(x.run for x in cs):
        line = _explosion_line(st, run)
        if line:
            lines.append(f"- Loss of {short_name(run)}: {line}.")
    for run in dict.fromkeys(x.run for x in cs):
        rep = [_item(x) for x in cs if x.run == run and x.verdict == "reproduced"]
        miss = [_item(x) for x in cs if x.run == run and x.verdict == "missed"]
        if rep or miss:
            lines.append(f"- {short_name(run)}: " + "; ".join(
                part for part in (f"reproduces {', '.join(rep)}" if rep else "",
                                  f"**misses** {', '.join(miss)}" if miss else "") if part) + ".")
    return lines[0] + "\n\n" + "\n".join(lines[1:])


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


def timing_predictions_sentence(st: Study) -> str:
    """How the memo's timing predictions fared on the escape step (:func:`gfn_lib.memo.rules.timing_rows`)."""
    rows = timing_rows(st)
    if not rows:
        return "No run tests the memo's timing predictions in this profile."
    kind = Counter("consistent" if r["verdict"].startswith("consistent") else
                   "contradicted" if r["verdict"] == "contradicted" else "inconclusive" for r in rows)
    text = (f"Of the memo's {len(rows)} timing predictions, judged on the escape step with ≥ {MIN_TIMING_SEEDS} "
            f"finished seeds that trapped: {kind['consistent']} consistent, {kind['contradicted']} contradicted, "
            f"{kind['inconclusive']} inconclusive.")
    wrong = [r["change"] for r in rows if r["verdict"] == "contradicted"]
    if wrong:
        text += " Contradicted: " + "; ".join(wrong) + "."
    thin = [r["change"] for r in rows if r["verdict"].startswith("inconclusive (")]
    if thin:
        text += " Too few seeds to judge: " + "; ".join(thin) + "."
    return text


def assumptions_sentence(st: Study) -> str:
    """What the documented runs take from a setup (and how many of its fields name a source),
    assume, and replace (:func:`gfn_lib.memo.assumptions.assumptions_table`)."""
    t = assumptions_table(st)
    setup = t[t.Kind.str.contains("setup")]
    unsourced = setup[setup["Source or reason"].str.contains("no source named")]
    n_assumed = int((t.Kind == "assumption").sum())
    stand = t[t.Kind == "stand-in"]
    not_run = stand[stand["Source or reason"].str.startswith("not run yet")]
    if setup.empty:
        text = ("No documented run starts from a setup (`setup:` in its params file): every setting the memo "
                "does not state is its params file's or TrainConfig's default")
    else:
        names = ", ".join(f"`{k.removeprefix('setup ').replace('published setup', 'published')}`"
                          for k in dict.fromkeys(setup.Kind))
        text = (f"The documented runs start from setup {names}: {len(setup)} fields, "
                f"{len(setup) - len(unsourced)} of them naming where the published code sets them"
                + (f" ({len(unsourced)} name no source: {', '.join(unsourced.Field)})" if len(unsourced) else ""))
    text += (f"; {n_assumed} assumption(s) of our own; {len(stand) - len(not_run)} stand-in(s) recorded by the "
             "runs' rewards")
    if len(not_run):
        text += f" (not known yet for {', '.join(not_run.Runs)}: not run)"
    return text + f"; and the {st.profile.name} profile's overlay. Every one is listed here:"


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
