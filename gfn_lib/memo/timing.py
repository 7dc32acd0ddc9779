"""The report's "Why step ~6000? What ends the trap": the timing models of ``docs/timing-model.md``
(:mod:`gfn_lib.analysis.timing`) fitted on the reward-C seeds and tested on every ablation seed, and
the loss after each escape split into log Z's lag and the residual's spread."""

from __future__ import annotations

import math

import pandas as pd

from gfn_lib.analysis.timing import (
    MODELS,
    TOLERANCE_FRACTION,
    Fit,
    SeedTiming,
    fit,
    STATED,
    hits,
    loss_after_escape,
    predict,
    predicted_log_z,
    is_test_of,
    trap_balance,
)
from gfn_lib.memo.cells import NA, fmt_num, step_spread
from gfn_lib.memo.published_vs_ours import value_near
from gfn_lib.memo.quotes import EXAMPLE_RUN
from gfn_lib.memo.rounding import beyond_rounding, median_escape, rounding_range
from gfn_lib.memo.rules import MIN_TIMING_SEEDS
from gfn_lib.memo.runs import RunGroup, Study, short_name

MODEL_NAMES = {"gap": "log-Z gap", "clock": "policy clock", "decay": "lr decay", "travel": "policy travel"}


def seed_timings(g: RunGroup | None) -> list[SeedTiming]:
    """The finished seeds of a run that log the trap's columns."""
    if g is None:
        return []
    return [SeedTiming(g.name, s.seed, s.config, s.trap, trap_balance(s.metrics, s.trap), s.record.get("started"))
            for s in g.finished if s.trap is not None]  # fmt: skip


def _trapped(timings: list[SeedTiming]) -> list[SeedTiming]:
    """The seeds that can test a model of the escape: those that trapped."""
    return [s for s in timings if s.trap.trapped]


def timing_fit(st: Study) -> Fit | None:
    """The models fitted on the reward-C seeds that trapped and escaped."""
    return fit(seed_timings(st.get(EXAMPLE_RUN)))


def _tested_runs(st: Study) -> list[RunGroup]:
    return [g for g in st.group("ablation") if seed_timings(g)]


def ablation_outcomes_table(st: Study) -> pd.DataFrame:
    """Each ablation of reward-C: its change, the prediction written in its params file before it ran,
    and what happened (trap, escape steps on the memo's axis, against reward-C's), and whether its median
    escape lies beyond what rounding-size nudges of reward-C gave (:func:`~gfn_lib.memo.rounding.beyond_rounding`)."""
    ref = seed_timings(st.get(EXAMPLE_RUN))
    ref_steps = [st.to_memo_step(s.escape) if s.escape is not None else None for s in ref if s.trap.trapped]
    span = rounding_range(st)
    rows = []
    for g in [st.get(EXAMPLE_RUN), *_tested_runs(st)]:
        ts = seed_timings(g)
        if g is None or not ts:
            continue
        steps = [st.to_memo_step(s.escape) if s.escape is not None else None for s in ts if s.trap.trapped]
        rows.append({
            "Run": short_name(g.name), "Change": g.meta.get("description", ""),
            "Prediction written before the run": g.meta.get("memo_prediction", NA) if g.name != EXAMPLE_RUN else "(the reference)",
            "Trapped": f"{sum(s.trap.trapped for s in ts)}/{len(ts)}",
            "Escaped": f"{sum(s.escape is not None for s in ts)}/{len(ts)}",
            "Escape, ≈ memo step": step_spread(steps),
            "Reward-C's escape": step_spread(ref_steps),
            "Beyond rounding?": beyond_rounding(span, median_escape(st, g)),
        })  # fmt: skip
    return pd.DataFrame(rows)


def escape_predictions_table(st: Study) -> pd.DataFrame:
    """Every seed of reward-C (the fit) and of each ablation (the test): trap, observed escape, the
    trap balance b and log Z at the escape, and each model's predicted escape with its error."""
    f = timing_fit(st)
    rows = []
    for g in [st.get(EXAMPLE_RUN), *_tested_runs(st)]:
        for s in seed_timings(g):
            run = next(x for x in g.finished if x.seed == s.seed)
            row = {
                "Run": short_name(s.run) + (" (fit)" if s.run == EXAMPLE_RUN else ""), "Seed": s.seed,
                "Trap onset": st.memo_step_cell(s.trap.onset_step, "never", with_run_step=True) if s.trap.trapped else "no trap",
                "Escape (our step, ≈ memo)": st.memo_step_cell(s.escape, "never", with_run_step=True) if s.trap.trapped else NA,
                "Balance b": fmt_num(s.balance, ".1f"),
                "log Z at escape": fmt_num(value_near(run.metrics, "log_z", s.escape), ".1f") if s.escape else NA,
                "logẐ(t) reachable by the end": fmt_num(predicted_log_z(s.cfg)[-1], ".1f"),
            }  # fmt: skip
            for m in MODELS:
                if f is None or not s.trap.trapped:  # no trap: no escape to predict
                    row[f"{MODEL_NAMES[m]}: predicted (error)"] = NA
                    continue
                p = predict(m, f, s)
                err = "" if p is None or s.escape is None else f" ({p - s.escape:+d})"
                mark = " ✓" if hits(p, s.escape, s.cfg.n_steps) else " ✗"
                row[f"{MODEL_NAMES[m]}: predicted (error)"] = ("never" if p is None else str(p)) + err + mark
            rows.append(row)
    return pd.DataFrame(rows)


def model_verdicts(st: Study) -> list[dict]:
    """Per model: its fitted number; per ablation run (≥ :data:`MIN_TIMING_SEEDS` finished seeds that trapped:
    a seed without a trap has no escape to predict) how many seeds
    it hits, split into runs that test it (all seeds started after the model was stated,
    :func:`gfn_lib.analysis.timing.is_test_of`) and runs seen before (``post_hoc``, shown, not evidence);
    and the verdict over the tests: supported (≥ 2 of 3 seeds hit in every run), refuted (some run where no
    seed is hit), inconclusive otherwise, untested without a test."""
    f = timing_fit(st)
    runs = [(g, ts) for g in _tested_runs(st) if len(ts := _trapped(seed_timings(g))) >= MIN_TIMING_SEEDS]
    out = []
    for m in MODELS:
        if f is None or not runs:
            out.append({"model": m, "number": getattr(f, m) if f else math.nan, "per_run": {}, "post_hoc": {},
                        "verdict": "untested" if f is not None else "inconclusive"})
            continue
        per_run, post_hoc = {}, {}
        for g, ts in runs:
            score = (sum(hits(predict(m, f, s), s.escape, s.cfg.n_steps) for s in ts), len(ts))
            (per_run if is_test_of(m, [s.started for s in ts]) else post_hoc)[g.name] = score
        if not per_run:
            verdict = "untested"
        elif all(k >= math.ceil(2 * n / 3) for k, n in per_run.values()):
            verdict = "supported"
        elif any(k == 0 for k, _ in per_run.values()):
            verdict = "refuted"
        else:
            verdict = "inconclusive"
        out.append({"model": m, "number": getattr(f, m), "per_run": per_run, "post_hoc": post_hoc, "verdict": verdict})
    return out


def untested_runs(st: Study) -> list[str]:
    """Ablations with finished seeds that are no test of any model: fewer than :data:`MIN_TIMING_SEEDS` trapped."""
    out = []
    for g in _tested_runs(st):
        ts = seed_timings(g)
        k = len(_trapped(ts))
        if k < MIN_TIMING_SEEDS:
            out.append(f"{short_name(g.name)} ({k} of {len(ts)} seeds trapped)")
    return out


def timing_models_table(st: Study) -> pd.DataFrame:
    """One row per model: its fitted number, seeds hit per ablation run, verdict."""
    f = timing_fit(st)
    what = {
        "gap": lambda v: f"d* = {v:.1f} nats left to the balance",
        "clock": lambda v: f"escape at step {v:.0f} (≈ memo {fmt_num(st.to_memo_step(v), 'int')})",
        "decay": lambda v: f"f* = {v:.2f} of the base lr",
        "travel": lambda v: f"L* = Σ lr = {v:.3g}",
    }
    rows = []
    for v in model_verdicts(st):
        rows.append({
            "Model": MODEL_NAMES[v["model"]],
            "Fitted on reward-C": (what[v["model"]](v["number"]) + f" ({f.n} seed{'s' if f.n != 1 else ''})") if f else NA,
            "Stated": STATED[v["model"]].replace("T", " ")[:16] + " UTC",
            "Seeds hit per ablation (runs started after it was stated)":
                "; ".join(f"{short_name(r)} {k}/{n}" for r, (k, n) in v["per_run"].items()) or NA,
            "Seen before it was stated (not evidence)":
                "; ".join(f"{short_name(r)} {k}/{n}" for r, (k, n) in v["post_hoc"].items()) or "none",
            "Verdict": v["verdict"],
        })  # fmt: skip
    return pd.DataFrame(rows)


def _escaped(g: RunGroup | None) -> list[tuple[SeedTiming, dict[str, float]]]:
    """Each finished seed of ``g`` that escaped, with :func:`gfn_lib.analysis.timing.loss_after_escape` (the
    lag's terms NaN for a loss other than TB: the log Z-free loss has no lag to measure, and SubTB's loss is
    not the mean TB residual²)."""
    out = []
    for s in seed_timings(g):
        if s.escape is None:
            continue
        seed = next(x for x in g.finished if x.seed == s.seed)
        a = loss_after_escape(seed.metrics, s.escape, s.cfg.n_steps)
        if s.cfg.loss != "tb":
            a = {**a, "bias2": math.nan, "share": math.nan}
        out.append((s, a))
    return out


def escape_losses(st: Study, run: str) -> list[dict[str, float]]:
    """The loss after each escape of ``run``'s finished seeds (:func:`_escaped`)."""
    return [a for _, a in _escaped(st.get(run))]


def loss_after_escape_table(st: Study) -> pd.DataFrame:
    """Each escaped seed: median loss just after the escape, (needed − log Z)² and its share (TB only,
    :func:`_escaped`)."""
    rows = []
    for g in [st.get(EXAMPLE_RUN), *_tested_runs(st)]:
        for s, a in _escaped(g):
            rows.append({
                "Run": short_name(s.run), "Seed": s.seed, "Escape": s.escape,
                "Loss after escape (median)": fmt_num(a["loss"], ".3g"),
                "(needed − log Z)² (median)": fmt_num(a["bias2"], ".3g"),
                "Share of the loss": fmt_num(a["share"], ".2f"),
                "Predicted ≥ 0.5?": NA if math.isnan(a["share"]) else ("yes" if a["share"] >= 0.5 else "no"),
            })  # fmt: skip
    return pd.DataFrame(rows)


def timing_answer(st: Study) -> str:
    """The section's answer in one paragraph, from the tables above it."""
    f = timing_fit(st)
    if f is None:
        return "No reward-C seed of this profile trapped and escaped, so the timing models cannot be fitted."
    verdicts = model_verdicts(st)
    if not any(v["per_run"] for v in verdicts):
        return (f"The models are fitted on {f.n} reward-C seed{'s' if f.n != 1 else ''}, but no ablation has {MIN_TIMING_SEEDS} finished seeds that trapped "
                "(`make study-timing`), so none is tested.")  # fmt: skip
    by = {v["model"]: v for v in verdicts}
    supported = [MODEL_NAMES[m] for m in MODELS if by[m]["verdict"] == "supported"]
    refuted = [MODEL_NAMES[m] for m in MODELS if by[m]["verdict"] == "refuted"]
    shares = loss_after_escape_table(st)
    share_vals = pd.to_numeric(shares.get("Share of the loss", pd.Series(dtype=float)), errors="coerce").dropna()

    def tally(m: str) -> tuple[int, int]:
        return sum(k for k, _ in by[m]["per_run"].values()), sum(n for _, n in by[m]["per_run"].values())

    def tested(m: str) -> str:
        n_runs = len(by[m]["per_run"])
        return f"{n_runs} ablation{'s' if n_runs != 1 else ''}" if n_runs else "no ablation started after it was stated"

    text = (
        f"Fitted on {f.n} reward-C seed{'s' if f.n != 1 else ''}; each model is tested only on the ablations that started "
        f"after it was written down (a hit: within {TOLERANCE_FRACTION:.0%} of the run): "
        + "; ".join(f"**{MODEL_NAMES[m]}** {by[m]['verdict']} ({tested(m)})" for m in MODELS) + ". "
    )
    if supported:
        text += f"What the data support: {', '.join(supported)}. "
    else:
        text += "No simple model predicts the escape step on every ablation; "
        scored = [m for m in MODELS if tally(m)[1]]
        best = max(scored, key=lambda m: tally(m)[0] / tally(m)[1])
        k, n = tally(best)
        text += f"the closest is the {MODEL_NAMES[best]} ({k} of {n} ablation seeds hit). "
    if refuted:
        text += f"Refuted: {', '.join(refuted)} (an ablation where no seed is hit). "
    if untested := untested_runs(st):
        text += f"No test of any model (too few seeds trapped): {', '.join(untested)}. "
    if len(share_vals):
        text += (f"After the escape, (needed − log Z)² is {share_vals.min():.2f}–{share_vals.max():.2f} of the loss "
                 f"(median {share_vals.median():.2f}) over {len(share_vals)} escapes: "
                 + ("log Z's lag is most of the loss." if share_vals.median() >= 0.5 else
                    "the residual's spread, not log Z's lag, is most of the loss."))  # fmt: skip
    return text
