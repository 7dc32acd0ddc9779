"""The memo's own tables, re-made from our runs, each beside the memo's quoted figures.

In the memo's order: :func:`example_table` ("Example: reward-C-improved Run"),
:func:`explosion_table` ("Explosion Timing Varies by Run"), :func:`config_table` ("Training
Configuration"), :func:`budget_table` ("By Step 6000, You've Done"), :func:`evidence_table`
("Evidence: It's NOT Always Step 6000"), :func:`factors_table` ("Factors That Determine
Explosion Timing"), :func:`timing_table` ("What Would Change the Timing?"),
:func:`analyzed_runs_table` ("Analyzed Runs"); then :func:`runs_overview` (every run of the
profile). Tables show every seed with data and its status; timing verdicts use finished seeds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gfn_lib.analysis import budget_at_step, describe_phase, summary_table
from gfn_lib.config import TrainConfig
from gfn_lib.memo.cells import NA, distinct, fmt_num, median, spread, step_spread
from gfn_lib.memo.quotes import (
    EXAMPLE_RUN,
    MEMO_BUDGET_6000,
    MEMO_CONFIG,
    MEMO_EVIDENCE,
    MEMO_EXPLOSION_STEP,
    MEMO_FACTORS,
    MEMO_REWARD_C_TABLE,
    MEMO_STATED_ELSEWHERE,
    MEMO_STEPS,
    MEMO_TRIGGER_TABLE,
)
from gfn_lib.memo.rules import compare_explosions, timing_rows
from gfn_lib.memo.runs import RunGroup, SeedRun, Study, short_name


def example_table(st: Study, run: str = EXAMPLE_RUN) -> pd.DataFrame:
    """Memo table 1 for ``run``: our smoothed metrics at the memo's steps (mapped), medians
    [ranges] over seeds, a "What's Happening" phrase from the median rows
    (:func:`gfn_lib.analysis.describe_phase`), next to the memo's quoted values.

    A memo step the run has not reached yet reads "not reached"; a run without data
    gives the memo's rows with our columns empty.
    """
    g = st.get(run)
    seeds = g.with_data if g else []
    targets = [st.to_run_step(m) for m in MEMO_STEPS]
    per_seed: list[pd.DataFrame] = []
    for s in seeds:
        reached = [t for t in targets if t <= (s.last_step or 0)]
        tab = summary_table(s.metrics, reached) if reached else pd.DataFrame()
        per_seed.append(tab.assign(target=reached).set_index("target") if len(tab) else tab)
    rows, prev = [], None
    for memo_step, target, memo_row in zip(MEMO_STEPS, targets, MEMO_REWARD_C_TABLE.itertuples()):
        got = [t.loc[target] for t in per_seed if len(t) and target in t.index]
        med = {c: median(r[c] for r in got) for c in ("loss", "mean_log_pf", "mean_reward",
                                                       "mean_length", "log_pf_per_action")}
        if got:
            phrase = describe_phase(prev, pd.Series(med))
            prev = pd.Series(med)
        else:
            phrase = "no data" if not seeds else "not reached (run stopped at step " \
                     f"{max(s.last_step or 0 for s in seeds)})"
        rows.append({
            "Memo step": memo_step,
            "Our step": target,
            "Loss": spread((r["loss"] for r in got), ".4g"),
            "Loss (memo)": fmt_num(memo_row.loss, "g"),
            "mean_log_pf": spread((r["mean_log_pf"] for r in got), ".1f"),
            "mean_log_pf (memo)": fmt_num(memo_row.mean_log_pf, ".1f"),
            "mean_reward": spread((r["mean_reward"] for r in got), ".2f"),
            "mean_reward (memo)": fmt_num(memo_row.mean_reward, ".2f"),
            "mean_length": spread((r.get("mean_length") for r in got), ".1f"),
            "What's Happening": phrase,
            "What's Happening (memo)": memo_row.whats_happening,
        })  # fmt: skip
    return pd.DataFrame(rows)


def _trigger_text(seeds: Sequence[SeedRun]) -> str:
    trig = [s.trigger for s in seeds if s.trigger is not None]
    if not trig:
        return NA
    labels = Counter(t.label for t in trig)
    first = trig[0].phrase
    if len(trig) == 1:
        return first
    if len(labels) == 1:
        return f"{first} (same label in {len(trig)}/{len(trig)} seeds)"
    counts = ", ".join(f"{lab} ×{n}" for lab, n in labels.most_common())
    return f"seeds disagree: {counts}; seed {seeds[0].seed}: {first}"


def _memo_trigger_row(short: str) -> dict[str, str]:
    hit = MEMO_TRIGGER_TABLE[MEMO_TRIGGER_TABLE["run"] == short]
    if hit.empty:
        return {"Explosion Step (memo)": NA, "Trigger (memo)": NA}
    r = hit.iloc[0]
    lo, hi = r["explosion_step_low"], r["explosion_step_high"]
    step = "Never" if pd.isna(lo) else (f"~{lo}" if lo == hi else f"~{lo}-{hi}")
    return {"Explosion Step (memo)": step, "Trigger (memo)": r["trigger"]}


def explosion_table(st: Study, groups: Sequence[str] = ("documented",)) -> pd.DataFrame:
    """Memo table 2 ("Explosion Timing Varies by Run"): our explosion step (profile steps and
    memo-equivalent), our trigger, per run over all seeds with data, beside the memo's."""
    rows = []
    for g in st.groups(groups):
        seeds = g.with_data
        steps = [s.explosion_step for s in seeds]
        memo_eq = [st.to_memo_step(s) for s in steps]
        unfinished = seeds and not any(s.explosion_step for s in seeds) and len(g.finished) < len(seeds)
        by = f"none by step {max(s.last_step for s in seeds):,}" if unfinished else None
        rows.append({
            "Run": g.short_name if g.group == "documented" else g.name,
            "Status": g.status_text,
            "Explosion Step": by or (step_spread(steps) if seeds else NA),
            "≈ memo step": by and f"none by {st.to_memo_step(max(s.last_step for s in seeds)):,.0f}" or (
                step_spread([None if m is None else round(m) for m in memo_eq]) if seeds else NA),
            "Trigger": _trigger_text(seeds) if seeds else "no data yet",
            **_memo_trigger_row(g.short_name),
        })  # fmt: skip
    return pd.DataFrame(rows)


CONFIG_ROWS: list[tuple[str, Callable[[TrainConfig], Any]]] = [
    ("Learning rate", lambda c: f"{c.lr:g}"),
    ("Batch size", lambda c: c.batch_size),
    ("Warmup steps", lambda c: c.warmup_steps),
    ("Policy size", lambda c: f"{c.n_layers} layers, {c.d_model} dim, {c.n_heads} heads"),
    ("Sequence length", lambda c: f"{c.min_len}-{c.max_len} amino acids"),
    ("Vocab size", lambda c: f"{len(c.alphabet) + 1} actions ({len(c.alphabet)} AA + STOP)"),
    ("Training steps", lambda c: c.n_steps),
    ("log_Z learning rate", lambda c: "same as lr" if c.log_z_lr is None else f"{c.log_z_lr:g}"),
    ("log_Z init", lambda c: f"{c.log_z_init:g}"),
    ("Loss", lambda c: c.loss),
    ("Entropy weight", lambda c: f"{c.entropy_weight:g}"),
    ("Reward", lambda c: c.reward),
    ("Reward exponent β", lambda c: f"{c.reward_exponent:g}"),
    ("Gradient clipping", lambda c: "off" if c.grad_clip is None else f"{c.grad_clip:g}"),
    ("Optimizer", lambda c: f"{c.optimizer}, weight decay {c.weight_decay:g}"),
    ("Learning-rate schedule", lambda c: c.lr_schedule),
    ("Dropout", lambda c: f"{c.dropout:g}"),
    ("Weight init", lambda c: c.init),
    ("Final LayerNorm", lambda c: "yes" if c.final_layernorm else "no"),
    ("Positions", lambda c: c.positions),
    ("STOP action at max length", lambda c: "yes" if c.stop_action_at_max_len else "no"),
    ("Entropy term", lambda c: c.entropy_term),
    ("Length penalty (per residue)", lambda c: f"{c.length_penalty:g}"),
    ("log R", lambda c: "log clamp(R, 1e-6, 1)" if c.log_reward_eps is None else f"log(R + {c.log_reward_eps:g})"),
    ("Exploration ε, temperature", lambda c: f"ε {c.epsilon:g}, T {c.temperature:g}"),
]
"""Rows of the configuration table: the memo's six, then settings the memo does not state
(the published setup's fields among them: :mod:`gfn_lib.memo.assumptions` names their sources)."""


def config_table(st: Study, groups: Sequence[str] = ("documented",)) -> pd.DataFrame:
    """Memo table 3 ("Training Configuration") from the resolved configs of the runs' records
    (a run without a record: its params resolved for the profile). Where runs differ the cell
    lists each value with its runs. ``Memo`` quotes the memo; "not stated" where it is silent."""
    runs = st.groups(groups)
    configs = {g.short_name: g.config for g in runs}
    from_records = sum(1 for g in runs if g.seeds[0].record)
    memo = {**MEMO_CONFIG, **MEMO_STATED_ELSEWHERE}
    rows = []
    for name, get in CONFIG_ROWS:
        ours = distinct({run: get(cfg) for run, cfg in configs.items()})
        rows.append({"Parameter": name, f"Value ({st.profile.name} profile)": ours,
                     "Value (memo)": memo.get(name, "not stated")})
    table = pd.DataFrame(rows)
    table.attrs["source"] = (f"{from_records} of {len(configs)} runs from run records (run.json); "
                             "the rest resolved from params/ for this profile")
    return table


def _budget_row(where: str, step: int, cfg: TrainConfig, seeds: Sequence[SeedRun] = (),
                memo: str | None = None) -> dict[str, Any]:
    b = budget_at_step(step, cfg.batch_size, cfg.warmup_steps, cfg.lr)
    bz = budget_at_step(step, cfg.batch_size, cfg.warmup_steps, cfg.effective_log_z_lr)
    moved = []
    for s in seeds:
        m = s.metrics
        if "log_z" in m and len(m) and cfg.loss != "logvar":
            i = int(np.argmin(np.abs(m["step"].to_numpy() - step)))
            moved.append(float(m["log_z"].iloc[i]) - cfg.log_z_init)
    out = {
        "Where": where, "Step": f"{step:,}",
        "Total gradient updates": fmt_num(b["gradient_updates"], "int"),
        "Total sequences sampled": fmt_num(b["sequences_sampled"], "int"),
        "Effective steps (after warmup)": fmt_num(b["effective_steps"], "int"),
        "Cumulative LR × steps (memo's rough)": fmt_num(b["lr_steps_rough"], ".3g"),
        "Σ lr over steps (with warmup)": fmt_num(b["lr_sum_exact"], ".3g"),
        "log_Z can have moved (Σ log_Z lr)": fmt_num(bz["lr_sum_exact"], ".3g"),
        "log_Z moved (observed)": spread(moved, ".3g") if seeds else NA,
    }  # fmt: skip
    if memo:
        out["memo says"] = memo
    return out


def budget_table(st: Study, run: str = EXAMPLE_RUN) -> pd.DataFrame:
    """Memo table 4 ("By Step 6000, You've Done"): :func:`gfn_lib.analysis.budget_at_step`
    from the config, (1) for the memo's config at step 6000 next to the memo's figures, (2)
    for ``run``'s resolved config at the mapped step 6000, (3) for each documented run's
    config at its observed explosion step (median over seeds). ``log_Z can have moved`` is
    the Σ of the log_Z group's learning rate (Adam moves a parameter ≈ ≤ lr per step);
    ``log_Z moved`` is what our log_z column shows (median over seeds)."""
    q = MEMO_BUDGET_6000
    memo_says = (f"{q['gradient_updates']:,} updates; {q['sequences_sampled']:,} sequences; "
                 f"{q['effective_steps']:,} effective; {q['lr_steps_rough']:g}")
    rows = [_budget_row("memo config, step 6000 (our arithmetic)", MEMO_EXPLOSION_STEP, TrainConfig(),
                        memo=memo_says)]
    g = st.get(run)
    if g:
        step = st.to_run_step(MEMO_EXPLOSION_STEP)
        rows.append(_budget_row(f"{g.short_name}, memo step 6000 → step {step}", step, g.config, g.with_data))
    for grp in st.group("documented"):
        steps = [s.explosion_step for s in grp.with_data if s.explosion_step is not None]
        if steps:
            rows.append(_budget_row(f"{grp.short_name}, at its explosion ({len(steps)} seed(s), median)",
                                    int(round(float(np.median(steps)))), grp.config, grp.with_data))
    return pd.DataFrame(rows).fillna("")


def _config_diff(a: RunGroup | None, b: RunGroup | None) -> str:
    """``field a → b, ...`` for every config field in which two runs differ (:meth:`RunGroup.config_changes`)."""
    if not a or not b:
        return ""
    return ", ".join(f"{k} {x!s} → {y!s}" for k, (x, y) in a.config_changes(b).items())


def evidence_table(st: Study) -> pd.DataFrame:
    """Memo table "Evidence: It's NOT Always Step 6000": our explosion step (memo-equivalent)
    per run the memo lists, and a data-derived "why different": timing against reward-C
    (the memo's reference, same reward for the entropy run) and the trigger label."""
    base = st.get(EXAMPLE_RUN)
    rows = []
    for r in MEMO_EVIDENCE.itertuples():
        g = next((g for g in st.group("documented") if g.short_name == r.run), None)
        seeds = g.with_data if g else []
        steps = [s.explosion_step for s in seeds]
        if not seeds:
            why = "no data yet"
        else:
            labels = Counter(s.trigger.label for s in seeds if s.trigger)
            lab = ", ".join(f"{k}" + (f" ×{n}" if len(seeds) > 1 else "") for k, n in labels.items())
            if g is base:
                why = f"reference run; trigger: {lab}"
            else:
                word, _, _ = compare_explosions(base, g, finished_only=False)
                diff = _config_diff(base, g)
                why = f"{word} than {short_name(EXAMPLE_RUN)}" if word in ("earlier", "later") \
                    else f"timing vs {short_name(EXAMPLE_RUN)}: {word}"
                why += f"; trigger: {lab}" + (f"; differs in {diff}" if diff else "")
        rows.append({
            "Run": r.run, "Status": g.status_text if g else "not run",
            "Explosion Step (≈ memo steps)": step_spread(
                st.to_memo_steps(steps)) if seeds else NA,
            "Explosion Step (our steps)": step_spread(steps) if seeds else NA,
            "Why different? (ours, from the data)": why,
            "Explosion Step (memo)": r.explosion_step, "Why different? (memo)": r.why,
        })  # fmt: skip
    return pd.DataFrame(rows)


def factors_table(st: Study) -> pd.DataFrame:
    """Memo table "Factors That Determine Explosion Timing": for each factor, the runs of ours
    that vary it (against the reward-C base) and what their explosion timing did."""
    base = st.get(EXAMPLE_RUN)
    rows = []
    for factor, memo_effect, runs, fld in MEMO_FACTORS:
        parts = []
        for name in runs:
            g = st.get(name)
            if g is None or not g.with_data:
                parts.append(f"{short_name(name)}: not run")
                continue
            steps = [s.explosion_step for s in g.with_data]
            word, _, _ = compare_explosions(base, g, finished_only=False)
            val = getattr(g.config, fld) if fld else ""
            val = f"{val:.3g}" if isinstance(val, float) else val
            note = "" if len(g.finished) == len(g.seeds) else f" [{g.status_text}]"
            parts.append(f"{short_name(name)}{note} ({fld}={val}): explosion {step_spread(steps)} → {word}")
        if base and base.with_data and runs:
            ref = f"base {short_name(EXAMPLE_RUN)}: {step_spread([s.explosion_step for s in base.with_data])}"
        else:
            ref = ""
        evidence = "; ".join(parts) if parts else "not varied by any run (not tested)"
        rows.append({"Factor": factor, "Our runs (our steps)": evidence, "Reference": ref,
                     "Effect on Timing (memo)": memo_effect})
    return pd.DataFrame(rows)


def timing_table(st: Study) -> pd.DataFrame:
    """Memo table "What Would Change the Timing?": the memo's prediction and our ablation of reward-C that
    makes the change, judged on the escape from the trap (finished seeds, ≈ memo steps) against
    reward-C's, with both runs' explosion steps beside it (:func:`gfn_lib.memo.rules.timing_rows`)."""
    rows = []
    for r in timing_rows(st):
        rows.append({
            "Change": r["change"], "Effect (memo)": r["prediction"],
            "Memo's step → our scale": r["expected"], "Our run": short_name(r["run"]),
            "Status": r["status"],
            "Reward-C's escape (≈ memo)": step_spread(st.to_memo_steps(r["base_steps"])),
            "Run's escape (≈ memo)": step_spread(st.to_memo_steps(r["variant_steps"])),
            "Observed (escape)": r["observed"], "Verdict": r["verdict"],
            "Explosions, reward-C → run (our steps)":
                f"{step_spread(r['base_explosions'])} → {step_spread(r['variant_explosions'])}",
        })  # fmt: skip
    return pd.DataFrame(rows)


def cpu_kernels(record: dict[str, Any]) -> str:
    """Which CPU kernels computed a run (``run.json``'s ``cpu``: instruction set, processor id, threads):
    runs repeat bit for bit only on the same ones; ``not recorded`` for runs before the record had it."""
    cpu = record.get("cpu")
    if not cpu:
        return "not recorded"
    threads = cpu.get("threads")
    forced = ", ".join(f"{k}={v}" for k, v in (cpu.get("env") or {}).items())
    return (f"{cpu.get('kernels')} ({cpu.get('cpuid') or cpu.get('processor')}), {threads} thread{'s' if threads != 1 else ''}"
            + (f", {forced}" if forced else ""))  # fmt: skip


def analyzed_runs_table(st: Study, groups: Sequence[str] = ("documented",)) -> pd.DataFrame:
    """Memo table "Analyzed Runs": ID, Name, State, Created from the run records (``run.json``
    meta; params when no record), next to our own status, start time and the CPU kernels that computed
    each seed (:func:`cpu_kernels`; one value when the seeds agree)."""
    rows = []
    for g in st.groups(groups):
        rec = next((s.record for s in g.seeds if s.record), {})
        meta = rec.get("meta") or g.meta
        started = sorted(str(s.record.get("started", "")) for s in g.seeds if s.record.get("started"))
        kernels = {str(s.seed): cpu_kernels(s.record) for s in g.seeds if s.record}
        rows.append({
            "ID": meta.get("memo_id", NA), "Name": meta.get("run", g.name),
            "State": meta.get("memo_state", NA), "Created": str(meta.get("memo_created", NA)),
            "Our state": g.status_text,
            "Our seeds": g.seeds_text,
            "Our start": started[0][:16].replace("T", " ") if started else NA,
            "Computed on": distinct(kernels) if kernels else NA,
            "Source": "run.json" if rec else "params (no run record yet)",
        })  # fmt: skip
    return pd.DataFrame(rows)


def runs_overview(st: Study) -> pd.DataFrame:
    """Every run of the study (the profile's default runs, then any other run with folders):
    group, what it changes, whether the profile runs it, status, seeds, steps logged / planned."""
    rows = []
    for g in st.runs.values():
        logged = [s.last_step for s in g.with_data]
        rows.append({
            "Run": g.name, "Group": g.group, "Change": g.meta.get("description", ""),
            "In profile": "yes" if g.name in st.default_runs else "no (has folders)",
            "Status": g.status_text, "Seeds": g.seeds_text,
            "Steps logged / planned": f"{spread(logged, 'int') if logged else 0} / {fmt_num(g.config.n_steps, 'int')}",
        })  # fmt: skip
    return pd.DataFrame(rows)
