"""A small fixture study for the report, and every table and sentence the report builds from it.

:func:`build_fixture` writes synthetic run folders (300 rows each) under a folder, laid out as
real runs leave them: ``run.json`` (as the train notebook writes it), ``config.yaml``,
``metrics.csv`` (the trainer's columns), ``samples.csv``, ``reward.json`` and a status marker
(``FINISHED`` written last, ``FAILED``, a live ``RUNNING`` lock, or none: incomplete). Some seeds
log the composition columns (:data:`COMPOSITION_COLUMNS`, :func:`with_composition`: a trapped-then-
escaped reward-C seed, a one-sequence collapse, a trap never left), the others predate them. The
runs are read against a frozen copy of ``params/`` (``tests/data/report_fixture/params``, its
``setups/``, its own ``tiny`` profile and the ``cpu`` profile of ``tests/test_memo.py``), so edits
to the live params files do not move the snapshot.

:func:`render_report` calls every table and sentence function ``notebooks/memo.py`` calls and
returns them as JSON-able cells; ``tests/test_report_snapshot.py`` compares them with
``tests/data/report_tables_snapshot.json``. Regenerate it (only on purpose, and say which
cells changed and why) with::

    GFN_OUTPUTS=$(mktemp -d) .venv/bin/python tests/report_fixture.py --write
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import yaml

from gfn_lib import memo, study

DATA = Path(__file__).parent / "data"
PARAMS = DATA / "report_fixture" / "params"
SNAPSHOT = DATA / "report_tables_snapshot.json"
PROFILE = "tiny"  # step_scale 0.03: memo step 6000 -> 180; runs of 300 steps
N = 300
ROOT_TOKEN = "<outputs>"

METRIC_COLUMNS = [
    "step", "loss", "total_loss", "log_z", "mean_log_pf", "mean_length", "mean_actions",
    "log_pf_per_action", "mean_reward", "mean_log_reward", "max_reward", "mean_target_log_reward",
    "residual_mean", "residual_std", "entropy", "grad_norm", "lr", "log_z_lr", "unique_frac",
    "step_time_s", "steps_per_s",
]  # fmt: skip
"""The trainer's metrics.csv columns when the fixture was made (frozen here on purpose)."""
COMPOSITION_COLUMNS = ["composition_entropy", "letters_used", "diversity"]
"""Columns the trainer added later (issue 11): seeds made with :func:`with_composition` log them."""

STAND_INS = {
    "improved-published": ["naturalness: in-project masked LM (fixture) stands in for ESM-2 esm2_t6_8M_UR50D"],
    "esm2pll-published": ["language model: in-project masked LM (fixture) stands in for ESM-2 esm2_t6_8M_UR50D"],
    "baseline-published": ["embedding: in-project masked LM (fixture) stands in for ESM-2 esm2_t33_650M_UR50D",
                           "untrained heads: our seed, not the published weights (fixture)"],
    "trained-published": ["stability: our AMP classifier (fixture) instead of the FLIP meltome predictor"],
}
"""What the fixture's published rewards record as stand-ins (synthetic: the real ones come from
``describe()`` of :mod:`gfn_lib.rewards.published`)."""


@contextlib.contextmanager
def frozen_params() -> Iterator[None]:
    """Point the run specs at the frozen params folder (wherever ``PARAMS_DIR`` is defined)."""
    specs = importlib.import_module(study.load_run.__module__)
    with mock.patch.object(specs, "PARAMS_DIR", PARAMS), mock.patch.object(specs, "PROFILES_DIR", PARAMS / "profiles"), \
            mock.patch.object(specs, "SETUPS_DIR", PARAMS / "setups"):
        yield


def curves(explode_at: int | None = 190, *, reward_jump: bool = True, collapse: bool = False, seed: int = 0,
           n: int = N, length_after: float = 29.0, runaway: bool = False) -> pd.DataFrame:
    """A reward-C-like run: short sequences, small decreasing loss, then (optionally) at row
    ``explode_at`` a reward jump, sequences lengthening and the loss rising ~40x. ``runaway``:
    the memo's configuration as stated: maximum length and a loss of ~7000 from the start."""
    rng = np.random.default_rng(seed)
    step = np.arange(1, n + 1)
    after = (step >= explode_at) if explode_at else np.zeros(n, bool)
    loss = np.where(after, 1500.0, 40.0 - 15.0 * step / n) * rng.lognormal(0, 0.1, n)
    reward = np.where(after & reward_jump, 0.8, 0.06) + rng.normal(0, 0.01, n)
    length = np.where(after, length_after, 10.5) + rng.normal(0, 0.2, n)
    per_action = np.where(after, -2.1, -1.9) + rng.normal(0, 0.01, n)
    if runaway:
        grow = np.clip(step / 30.0, 0, 1)
        length = 23.8 + (30.0 - 23.8) * grow + rng.normal(0, 0.05, n)
        per_action = -2.96 + 0.09 * grow + rng.normal(0, 0.01, n)
        loss = 7000.0 * rng.lognormal(0, 0.05, n)
    actions = length + 1
    df = pd.DataFrame({c: 0.0 for c in METRIC_COLUMNS}, index=range(n))
    df["step"] = step
    df["loss"] = df["total_loss"] = loss
    df["mean_length"], df["mean_actions"], df["log_pf_per_action"] = length, actions, per_action
    df["mean_log_pf"] = actions * per_action
    df["mean_reward"] = reward
    df["max_reward"] = np.clip(reward * 1.3, 0, 1)
    df["mean_target_log_reward"] = df["mean_log_reward"] = np.log(np.clip(reward, 1e-3, 1))
    df["log_z"] = -20.0 + 3e-3 * step
    df["residual_mean"] = df["log_z"] + df["mean_log_pf"] - df["mean_target_log_reward"]
    df["residual_std"] = 1.0
    df["entropy"] = -per_action
    df["lr"] = df["log_z_lr"] = 3e-4
    df["unique_frac"] = 1 / 64 if collapse else 1.0  # batch 64: one distinct sequence
    df["step_time_s"], df["steps_per_s"] = 0.05, 20.0
    return df


def with_composition(df: pd.DataFrame, trap: tuple[int, int | None] | None = None, *, single: bool = False,
                     seed: int = 0) -> pd.DataFrame:
    """``df`` with :data:`COMPOSITION_COLUMNS`: free (entropy ≈ 0.62, 18 letters), or inside
    ``trap`` = (first step, first free step or None) two letters at entropy ≈ 0.23 (the published
    D/L trap); ``single``: the trap is one repeated one-letter sequence (entropy 0, 1 letter)."""
    rng = np.random.default_rng(seed)
    n, step = len(df), df["step"].to_numpy()
    inside = np.zeros(n, bool) if trap is None else (step >= trap[0]) & (step < (trap[1] or step.max() + 1))
    trapped_h, trapped_l = (0.0, 1.0) if single else (0.23, 2.0)
    out = df.copy()
    out["composition_entropy"] = np.where(inside, trapped_h, 0.62) + (0 if single else rng.normal(0, 0.01, n))
    out["letters_used"] = np.where(inside, trapped_l, 18.0)
    out["diversity"] = np.where(inside, 0.0 if single else 0.3, 0.85)
    if single:
        out["unique_frac"] = np.where(inside, 1 / 64, out["unique_frac"])
    return out


def write_run(root: Path, run: str, seed: int, df: pd.DataFrame | None, *, status: str = "finished",
              meta: dict | None = None, record: bool = True, torn: bool = False,
              started: str = "2026-11-24T10:00:00", profile: str = PROFILE) -> None:
    """One seed folder as a run leaves it (call under :func:`frozen_params`). ``status``:
    finished | failed | running | incomplete; ``meta``: a run without a params file."""
    prof = study.load_profile(profile)
    path = PARAMS / f"{run}.yaml"
    spec = study.load_run(path) if path.exists() else study.spec_from_mapping(meta or {"run": run}, "fixture")
    cfg = study.resolve_config(spec, prof, seed).model_dump()
    folder = root / profile / "runs" / run / f"seed-{seed}"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    reward = {"name": cfg["reward"]}
    if cfg["reward"] in STAND_INS:  # a published reward's describe(), abridged
        reward.update(published_as=f"fixture: {cfg['reward']}", stand_ins=STAND_INS[cfg["reward"]])
    if record:
        rec = {"run": run, "meta": spec.meta, "fields": spec.fields, "profile": profile,
               "step_scale": prof.step_scale, "seed": seed, "config": cfg,
               "reward": reward, "gfn_lib": "0.1.0", "torch": "2.13.0",
               "host": "fixture", "env": {"OMP_NUM_THREADS": "1"}, "started": started}
        (folder / "run.json").write_text(json.dumps(rec, indent=2))
    (folder / "reward.json").write_text(json.dumps(reward))
    if df is not None:
        (folder / "metrics.csv").write_text(df.to_csv(index=False) + ("1234,5" if torn else ""))
        top = df.iloc[:: 50]
        pd.DataFrame({"step": top.step, "rank": 0, "sequence": "KLAKLAKKLA", "reward": top.mean_reward}).to_csv(
            folder / "samples.csv", index=False)
    if status == "finished":
        (folder / "FINISHED").write_text(json.dumps({"steps": int(df.step.iloc[-1]) if df is not None else 0}))
    elif status == "failed":
        (folder / "FAILED").write_text("RuntimeError: fixture\n")
    elif status == "running":  # a live lock: this process, on this host
        (folder / "RUNNING").write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))


def build_fixture(root: Path) -> None:
    """The fixture's run folders (profile ``tiny``) under ``root``; see the module docstring.

    The profile's default runs are the six documented runs (reward-C with seeds 42, 43, 44,
    the others 42): reward-C seed 44 and reward-A have no folder (missing); every other run
    here has folders and is listed for that reason."""
    rc = memo.EXAMPLE_RUN
    # trapped on two letters from step 30, escaping at 190 as the loss explodes (the published picture)
    write_run(root, rc, 42, with_composition(curves(192, seed=0), (30, 190), seed=0))
    write_run(root, rc, 43, with_composition(curves(204, seed=1), seed=1), started="2026-11-24T11:30:00")
    write_run(root, "gflownet-baseline-10k", 42, curves(144, reward_jump=False, seed=2))  # flat reward, length
    # one sequence from the start
    write_run(root, "gflownet-reward-B-esm2pll-10k", 42, with_composition(curves(None, collapse=True, seed=3),
                                                                          (1, None), single=True))
    # trapped from step 60 to the end
    write_run(root, "phase3b-stb-validation-10k", 42, with_composition(curves(180, seed=4), (60, None), seed=4))
    write_run(root, "phase3b-stb-validation-10k", 43, curves(None, seed=5).iloc[:70], status="failed")
    # incomplete: half the steps, a torn last line, no marker
    write_run(root, "phase3b-entropy-0.00-10k", 42, curves(80, seed=6).iloc[:144], status="incomplete", torn=True)
    write_run(root, "ablation-log-z-lr-0.1", 42, curves(None, seed=7))
    write_run(root, "ablation-lr-1e-3", 42, curves(96, seed=8))
    write_run(root, "ablation-lr-1e-4", 42, curves(262, seed=9))
    write_run(root, "ablation-lr-1e-4", 43, curves(None, seed=10))
    write_run(root, "ablation-batch-16", 42, curves(196, seed=11))
    write_run(root, "ablation-entropy-0.1", 42, curves(None, seed=12).iloc[:100], status="running")
    # killed before its record: the config comes from params resolved for the profile
    write_run(root, "ablation-8-layers", 42, curves(150, seed=13).iloc[:120], status="incomplete", record=False)
    write_run(root, "sensitivity-as-stated", 0, curves(None, runaway=True, seed=14))
    write_run(root, "sensitivity-beta8", 0, curves(186, seed=15))
    # a sensitivity run that exists only as a folder (its group comes from run.json)
    sens = {"run": "sens-length-penalty", "group": "sensitivity", "description": "length penalty 3, beta 4"}
    write_run(root, "sens-length-penalty", 0, curves(180, seed=16), meta=sens)
    write_run(root, "sens-length-penalty", 1, curves(None, seed=17), meta=sens)
    write_run(root, "my-own-run", 0, curves(None, seed=18).iloc[:200], meta={"run": "my-own-run"})


# ---- rendering ---------------------------------------------------------------------------------
TABLES = [
    "runs_overview", "published_vs_ours_table", "example_table", "trap_table", "explosion_table", "config_table",
    "budget_table", "evidence_table", "factors_table", "timing_table", "log_pf_decomposition_table",
    "implied_log_z_table", "log_z_fix_table", "claims_table", "assumptions_table", "sensitivity_table",
    "sensitivity_scores", "analyzed_runs_table", "ablation_outcomes_table", "escape_predictions_table",
    "timing_models_table", "loss_after_escape_table", "dropout_scoring_table", "rounding_table", "starts_table",
]
"""Every table function the memo notebook calls (plus the sensitivity scores behind its sentence)."""

SENTENCES = [
    "status_sentence", "published_sentence", "example_sentence", "trap_sentence", "decomposition_sentence",
    "log_z_sentence", "claims_sentence", "assumptions_sentence", "sensitivity_sentence", "timing_answer",
    "timing_predictions_sentence", "dropout_scoring_sentence", "rounding_sentence", "starts_sentence",
]
"""Every sentence function the memo notebook calls with the study."""


def _cell(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def render_report(st: memo.Study, root: Path) -> dict[str, Any]:
    """{name: {"columns", "rows", "attrs"} or sentence} for every table and sentence; the
    outputs folder is written as ``<outputs>`` so the snapshot does not depend on it."""
    out: dict[str, Any] = {}
    for name in TABLES:
        df = getattr(memo, name)(st)
        out[name] = {
            "columns": [str(c) for c in df.columns],
            "rows": [[_cell(v) for v in row] for row in df.itertuples(index=False)],
            "attrs": {k: _cell(v) for k, v in df.attrs.items()},
        }
    for name in SENTENCES:
        out[name] = getattr(memo, name)(st).replace(str(root), ROOT_TOKEN)
    out["memo_length_bound_sentence"] = memo.memo_length_bound_sentence()
    out["load_errors"] = [e.replace(str(root), ROOT_TOKEN) for e in st.load_errors]
    return out


def fixture_report(root: Path) -> dict[str, Any]:
    """Build the fixture under ``root`` and render the report from it (with the frozen params)."""
    with frozen_params():
        build_fixture(root)
        return render_report(memo.load_study(PROFILE, root), root)


def diff_reports(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Every difference, one line each: ``table, row R (first cell), column: old → new``."""
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if not isinstance(a, dict) or not isinstance(b, dict):
            lines.append(f"{name}: {a!r} → {b!r}")
            continue
        if a["columns"] != b["columns"] or len(a["rows"]) != len(b["rows"]):
            lines.append(f"{name}: shape {a['columns']} x {len(a['rows'])} → {b['columns']} x {len(b['rows'])}")
            continue
        for i, (ra, rb) in enumerate(zip(a["rows"], b["rows"])):
            for col, x, y in zip(a["columns"], ra, rb):
                if x != y:
                    lines.append(f"{name}, row {i} ({ra[0]!s:.40}), column {col!r}: {x!r} → {y!r}")
        if a["attrs"] != b["attrs"]:
            lines.append(f"{name}: attrs {a['attrs']!r} → {b['attrs']!r}")
    return lines


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        report = fixture_report(Path(tmp))
    if "--write" in sys.argv:
        SNAPSHOT.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
        print(f"wrote {SNAPSHOT}")
    else:
        old = json.loads(SNAPSHOT.read_text())
        print("\n".join(diff_reports(old, report)) or "no difference")
