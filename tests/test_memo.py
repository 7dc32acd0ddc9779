"""The memo report's table builders, fidelity checks and figures on synthetic run folders
(no training): explosions, a run without one, a collapse, an incomplete run, missing runs and
seeds, several seeds, a trapped-then-escaped seed, published figures against ours, and an empty
outputs folder."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import report_fixture as fixture

from gfn_lib import memo, study
from gfn_lib.config import TrainConfig, make_config
from gfn_lib.study import starts

PROFILE = "cpu"  # step_scale 0.2: memo step 6000 -> 1200; runs of 2000 steps
N = 2000


def curves(explode_at: int | None = 1280, **kw) -> pd.DataFrame:
    """A reward-C-like run of ``N`` steps (:func:`report_fixture.curves`), exploding at step 1280."""
    return fixture.curves(explode_at, n=kw.pop("n", N), **kw)


def write_run(root, run: str, seed: int, df: pd.DataFrame | None, *, finished: bool = True, **kw) -> None:
    fixture.write_run(root, run, seed, df, status="finished" if finished else "incomplete", profile=PROFILE, **kw)


RC_SEEDS = [42, 43, 44]
"""reward-C's seeds in the (frozen) cpu profile; the other documented runs: [42]."""


@pytest.fixture(scope="module", autouse=True)
def frozen_params():
    """The runs of a frozen copy of params/ (edits to the live params files do not move these tests)."""
    with fixture.frozen_params():
        yield


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    # seed 42: trapped on two letters from step 100 to 600; seed 43 predates the composition columns; 44: not run
    write_run(root, memo.EXAMPLE_RUN, 42, fixture.with_composition(curves(1280, seed=0), (100, 600)))
    write_run(root, memo.EXAMPLE_RUN, 43, curves(1360, seed=1))
    write_run(root, "ablation-log-z-lr-0.1", 42, curves(None))
    write_run(root, "gflownet-reward-B-esm2pll-10k", 42, curves(None, collapse=True))
    write_run(root, "gflownet-baseline-10k", 42, curves(960, reward_jump=False))
    write_run(root, "ablation-lr-1e-3", 42, curves(640))
    # incomplete: half the steps, torn last line, no FINISHED
    write_run(root, "phase3b-entropy-0.00-10k", 42, curves(800).iloc[:960], finished=False, torn=True)
    # a sensitivity run that exists only as a folder (its group comes from run.json)
    write_run(root, "sens-length-penalty", 0, curves(1200, seed=3),
              meta={"run": "sens-length-penalty", "group": "sensitivity", "description": "β=3"})
    write_run(root, "sens-length-penalty", 1, curves(None, seed=4),
              meta={"run": "sens-length-penalty", "group": "sensitivity", "description": "β=3"})
    return memo.load_study(PROFILE, root)


def test_load_study_statuses_and_seeds(synthetic):
    st = synthetic
    assert st.step_scale == 0.2 and st.to_run_step(6000) == 1200
    rc = st.get(memo.EXAMPLE_RUN)
    assert [s.seed for s in rc.seeds] == RC_SEEDS and rc.status_text == "2 finished, 1 missing"
    assert rc.seeds_text == "42, 43 (44 missing)" and len(rc.finished) == 2
    inc = st.get("phase3b-entropy-0.00-10k")
    assert inc.status_text == "incomplete" and inc.with_data and not inc.finished
    assert len(inc.with_data[0].metrics) == 960  # torn line dropped, no crash
    assert st.get("gflownet-reward-A-trained-10k").status_text == "missing"  # a profile run not run yet
    assert st.get("sens-length-penalty").group == "sensitivity"
    assert list(st.runs)[:2] == ["gflownet-baseline-10k", memo.EXAMPLE_RUN]  # memo order


def test_the_report_lists_the_profiles_runs_and_any_run_with_folders(synthetic):
    st = synthetic
    assert st.default_runs == st.profile.default_runs()
    assert st.default_runs[memo.EXAMPLE_RUN] == RC_SEEDS and len(st.default_runs) == 6
    with_folders = {"ablation-log-z-lr-0.1", "ablation-lr-1e-3", "sens-length-penalty"}
    assert set(st.runs) == set(st.default_runs) | with_folders
    assert st.get("ablation-8-layers") is None  # in params/, not in the profile, no folder: not listed
    overview = memo.runs_overview(st).set_index("Run")
    assert "missing" not in " ".join(overview.loc[sorted(with_folders), "Status"])
    assert overview.loc["ablation-lr-1e-3", "In profile"] == "no (has folders)"
    assert overview.loc[memo.EXAMPLE_RUN, "Seeds"] == "42, 43 (44 missing)"
    assert "reward-C-improved seed 44" in memo.status_sentence(st)
    assert "By default it runs 6 runs (8 seeds); 3 other runs have folders" in memo.status_sentence(st)


def test_example_table_reads_our_runs_beside_the_memo(synthetic):
    t = memo.example_table(synthetic)
    assert list(t["Our step"]) == [1000, 1200, 1400, 1600]
    assert list(t["Loss (memo)"]) == ["32", "21", "1327", "2362"]
    # seeds explode at 1280 and 1360: by step 1600 both have; median [min-max] over 2 seeds
    assert "[" in t.loc[3, "Loss"] and float(t.loc[3, "Loss"].split()[0]) > 1000
    assert t.loc[3, "mean_reward"].startswith("0.8")
    assert "high-reward mode" in t.loc[2, "What's Happening"] or "exploding" in t.loc[2, "What's Happening"]
    assert "lengthening" in " ".join(t["What's Happening"])


def test_explosion_and_trigger_table(synthetic):
    t = memo.explosion_table(synthetic).set_index("Run")
    rc = t.loc["reward-C-improved"]
    lo, hi = (int(x) for x in rc["Explosion Step"].split("[")[1].rstrip("]").replace(",", "").split(" … "))
    assert 1270 <= lo <= 1300 and 1350 <= hi <= 1380
    assert "reward jumps" in rc["Trigger"] and "2/2 seeds" in rc["Trigger"]
    assert rc["Explosion Step (memo)"] == "~6000-7000"
    assert t.loc["reward-B-esm2pll", "Trigger"].startswith("Collapsed immediately")
    assert "flat" in t.loc["baseline", "Trigger"]
    assert t.loc["reward-A-trained", "Status"] == "missing" and t.loc["reward-A-trained", "Trigger"] == "no data yet"
    assert t.loc["phase3b-entropy-0.00", "Status"] == "incomplete"


def test_config_budget_and_analyzed_runs(synthetic):
    cfg = memo.config_table(synthetic).set_index("Parameter")
    assert cfg.loc["Policy size", "Value (cpu profile)"] == "2 layers, 64 dim, 4 heads"
    assert cfg.loc["Warmup steps", "Value (cpu profile)"] == "200"
    b = memo.budget_table(synthetic)
    memo_row = b.iloc[0]
    assert memo_row["Total sequences sampled"] == "384,000" and memo_row["Cumulative LR × steps (memo's rough)"] == "1.5"
    assert b["Where"].str.contains("at its explosion").any()
    a = memo.analyzed_runs_table(synthetic).set_index("ID")
    assert a.loc["zcb95gyl", "Source"] == "run.json" and a.loc["6qsqq6wz", "Source"].startswith("params")
    assert a.loc["zv30wmny", "State"] == "running" and a.loc["zv30wmny", "Our state"] == "incomplete"


def test_timing_evidence_factors_and_log_z(synthetic):
    t = memo.timing_table(synthetic).set_index("Our run")
    # judged on the escape from the trap: the lr-1e-3 seed does not log composition, so no escape to compare
    assert t.loc["ablation-lr-1e-3", "Observed (escape)"] == "no data"
    assert t.loc["ablation-lr-1e-3", "Verdict"] == "inconclusive"
    assert t.loc["ablation-lr-1e-3", "Explosions, reward-C → run (our steps)"].endswith("→ 640")
    assert "ablation-log-z-lr-0.1" not in t.index  # not a memo prediction (its own table below)
    assert t.loc["phase3b-entropy-0.00", "Verdict"] == "inconclusive"  # incomplete: not used
    assert "ablation-8-layers" not in t.index  # neither run nor in the profile
    ev = memo.evidence_table(synthetic)
    assert ev["Why different? (ours, from the data)"].str.len().gt(0).all()
    f = memo.factors_table(synthetic).set_index("Factor")
    assert "earlier" in f.loc["Learning rate", "Our runs (our steps)"]
    assert "ablation-8-layers: not run" in f.loc["Model capacity", "Our runs (our steps)"]
    z = memo.log_z_fix_table(synthetic).set_index("Run")
    assert z.loc["ablation-log-z-lr-0.1", "Verdict"] == "explosion removed"
    assert z.loc["ablation-logvar", "Verdict"] == "not run yet"
    imp = memo.implied_log_z_table(synthetic)
    assert imp["Implied log_Z (memo's table)"].tolist() == ["12.1", "13.3", "14.6", "15.6"]


def test_log_pf_decomposition_and_claims(synthetic):
    d = memo.log_pf_decomposition_table(synthetic).set_index("Run")
    assert "driven by length" in d.loc["reward-C-improved", "Across our explosion"]
    c = memo.claims_table(synthetic).set_index("Memo claim")
    verdict = {k.split(" ")[0] + k[-12:]: v for k, v in c["Verdict"].items()}
    assert set(c["Verdict"]) <= {"supported", "refuted", "inconclusive"}
    row = c.loc[[k for k in c.index if k.startswith("log_pf drops")][0]]
    assert row["Verdict"] == "refuted" and "length" in row["What our runs show"]
    row = c.loc[[k for k in c.index if k.startswith("log_Z can't")][0]]
    assert row["Verdict"] == "inconclusive" and "needs 3" in row["What our runs show"]  # one escaped seed
    row = c.loc[[k for k in c.index if k.startswith("reward-B")][0]]
    assert row["Verdict"] == "supported"
    row = c.loc[[k for k in c.index if k.startswith("All runs")][0]]
    assert row["Verdict"] == "refuted"  # baseline explodes at 960 (memo 4800), reward-B never
    assert verdict
    assert "refuted" in memo.claims_sentence(synthetic)
    assert "length" in memo.decomposition_sentence(synthetic)


def test_fidelity_checks_on_synthetic_curves():
    cfg = make_config({"warmup_steps": 250, "min_len": 10, "max_len": 30})
    good = memo.check_short_first_phase(curves(1600), cfg, 0.25)
    assert good.passed is True and "decreasing" in good.detail
    long_ = memo.check_short_first_phase(curves(1600).assign(mean_length=29.0), cfg, 0.25)
    assert long_.passed is False and "> 15" in long_.detail
    rising = curves(None).assign(loss=np.linspace(20, 90, N))
    assert memo.check_short_first_phase(rising, cfg, 0.25).passed is False
    assert memo.check_short_first_phase(pd.DataFrame(), cfg, 0.25).passed is None
    assert memo.check_explosion_after_reward_jump(curves(1600), 64).passed is True
    flat = memo.check_explosion_after_reward_jump(curves(1600, reward_jump=False), 64)
    assert flat.passed is False and "explosion at step" in flat.detail
    assert memo.check_explosion_after_reward_jump(curves(None), 64).passed is False
    assert memo.check_timing_near_memo(1500, 0.25).passed is True
    assert memo.check_timing_near_memo(1800, 0.25).passed is False  # memo 7200 > 7000
    assert memo.check_timing_near_memo(None, 0.25).passed is False


def test_sensitivity_and_assumptions_tables(synthetic):
    s = memo.sensitivity_table(synthetic)
    assert "sens-length-penalty" in list(s["Run"])  # params/ may hold more sensitivity runs (missing here)
    row = s[s["Run"] == "sens-length-penalty"].iloc[0]
    assert row["(b) explosion follows a reward jump"].startswith("partly (1/2 seeds)")
    assert row["(c) timing near memo step 6000"].startswith("partly")
    assert s["Run"].iloc[0] == memo.EXAMPLE_RUN  # the documented runs' own setting comes first
    # the synthetic reward-C run shows all three features in both seeds
    assert memo.sensitivity_sentence(synthetic).startswith("1 of 2 sensitivity runs")
    scores = memo.sensitivity_scores(synthetic).set_index("run")
    assert scores.loc["sens-length-penalty"].tolist() == [2, 1.0, 0.5, 0.5, 2.0]  # seeds, a, b, c, score
    assert scores.loc[memo.EXAMPLE_RUN].tolist() == [2, 1.0, 1.0, 1.0, 3.0]
    example = synthetic.runs.pop(memo.EXAMPLE_RUN)
    try:  # without it nothing reproduces: the sentence says so and names the closest setting
        sentence = memo.sensitivity_sentence(synthetic)
        assert sentence.startswith("**Not reproduced.**") and "closest is `sens-length-penalty`" in sentence
    finally:
        synthetic.runs[memo.EXAMPLE_RUN] = example


def test_stand_ins_and_assumptions_table(synthetic):
    a = memo.assumptions_table(synthetic)
    assert list(a.columns) == ["Kind", "Runs", "Field", "Value", "Source or reason"]
    setup = a[a.Kind == "published setup"].set_index("Field")
    sources = memo.read_setup("published")["sources"]
    assert set(setup.index) == set(memo.read_setup("published")["fields"])  # every field of the setup
    assert setup.loc["lr_schedule", "Source or reason"] == sources["lr_schedule"]
    assert setup.loc["weight_decay", "Source or reason"].endswith("(no source named)")
    # a run that overrides a setup field shows its own value (phase3b: log Z at 3 x lr)
    assert "0.0009 (phase3b-stb, phase3b-entropy-0.00)" in setup.loc["log_z_lr", "Value"]
    stand = a[a.Kind == "stand-in"]
    assert stand["Value"].isin(fixture.STAND_INS["improved-published"]).any()
    same = stand[stand.Value.isin(fixture.STAND_INS["improved-published"])]
    assert len(same) == 1 and set(same.Runs.iloc[0].split(", ")) == {"reward-C-improved", "phase3b-entropy-0.00"}
    assert stand[stand.Runs == "reward-A-trained"]["Source or reason"].iloc[0].startswith("not run yet")
    assert a[a.Kind == "profile"].Value.iloc[0].startswith("n_steps × 0.2")
    assert "stand-in(s)" in memo.assumptions_sentence(synthetic)
    g = synthetic.get("gflownet-baseline-10k")
    g.meta = {**g.meta, "assumptions": {"reward_exponent": "not stated in the memo"}}
    g.fields = {**g.fields, "reward_exponent": 3.0}
    try:
        a = memo.assumptions_table(synthetic)
        row = a[(a["Kind"] == "assumption") & (a["Field"] == "reward_exponent")]
        assert row.iloc[0].to_dict() == {"Kind": "assumption", "Runs": "baseline", "Field": "reward_exponent",
                                         "Value": 3.0, "Source or reason": "not stated in the memo"}
        assert "1 assumption(s) of our own" in memo.assumptions_sentence(synthetic)
    finally:
        g.meta = {k: v for k, v in g.meta.items() if k != "assumptions"}


def test_trap_table_gives_the_trapped_seeds_steps(synthetic):
    t = memo.trap_table(synthetic)
    assert t.iloc[0]["Run"].endswith("(published, quoted)") and t.iloc[0]["Onset (≈ memo step)"] == "≈ 1,000"
    assert t.iloc[0]["Loss after escape"] == "21 (6,000) → 502 (6,500) → 3120–3139 (9,000)"
    rc = t[t.Run == "reward-C-improved"].set_index("Seed")
    row = rc.loc["42"]  # trapped from step 100 to 600 (cpu profile: memo steps 500 to 3,000)
    assert (row["Trapped?"], row["Onset (our step)"], row["Escape (our step)"]) == ("yes", "100", "600")
    assert (row["Onset (≈ memo step)"], row["Escape (≈ memo step)"]) == ("≈ 500", "≈ 3,000")
    assert (row["Letters"], row["Composition entropy"]) == ("2", "0.23")
    assert row["Kind"] == "few letters (sequences differ)"
    # the loss after the escape: its smoothed maximum, from the explosion at 1280 on
    assert float(row["Loss after escape"].removeprefix("max ")) > 1000
    # log Z at the escape: read like the published figures (the fixture's log Z is linear in the step)
    assert row["log Z at escape"] == f"{-20 + 3e-3 * 600:.2f}"
    assert rc.loc["43", "Trapped?"].startswith("not logged") and rc.loc["44", "Trapped?"] == "no data"
    sentence = memo.trap_sentence(synthetic)
    assert "trapped in 1 of 1 seeds, from ≈ memo step 500" in sentence and "at ≈ memo step 3,000" in sentence


def test_a_seed_that_never_traps_says_so(tmp_path):
    write_run(tmp_path, memo.EXAMPLE_RUN, 42, fixture.with_composition(curves(None)))
    st = memo.load_study(PROFILE, tmp_path)
    assert memo.trap_table(st).set_index("Run").loc["reward-C-improved", "Trapped?"].iloc[0] == "no (to step 2,000)"
    assert "**ours does not trap** (0 of 1 seeds" in memo.trap_sentence(st)
    text = memo.published_sentence(st)
    assert "**ours does not trap**" in text and "**ours does not explode** (0 of 1 seeds" in text


def test_published_figures_are_read_at_the_mapped_step(tmp_path):
    df = curves(None)
    near = (df.step - 1200).abs() <= 10  # memo step 6000 -> step 1200; half the 21-row smoothing window
    df["log_z"] = np.where(near, 13.0, -20.0)
    write_run(tmp_path, memo.EXAMPLE_RUN, 42, df)
    write_run(tmp_path, "phase3b-entropy-0.00-10k", 42, curves(None).iloc[:960], finished=False)
    st = memo.load_study(PROFILE, tmp_path)
    t = memo.published_vs_ours_table(st)
    assert set(t.Run) == {memo.short_name(r) for r in memo.PUBLISHED_FIGURES.run}  # every run is in the study
    row = t[(t.Run == "reward-C-improved") & (t["Memo step"] == "6,000") & (t.Metric == "log Z")].iloc[0]
    assert (row["Our step"], row["Published"], row["Ours"], row["Ours − published"], row["Verdict"]) == \
        ("1,200", "13.39", "13.00", "-0.39", "reproduced")
    late = t[(t.Run == "reward-C-improved") & (t["Memo step"] == "9,000") & (t.Metric == "log Z")].iloc[0]
    assert (late["Ours"], late["Verdict"]) == ("-20.00", "missed")
    # a range: 0 inside it
    comp = {(c.metric, c.memo_step): c for c in memo.published_comparisons(st) if c.run == memo.EXAMPLE_RUN}
    assert comp[("loss", 9000)].difference == pytest.approx(comp[("loss", 9000)].ours - 3120.0)
    inc = t[t.Run == "phase3b-entropy-0.00"].set_index(["Memo step", "Metric"])
    assert inc.loc[("8,000", "loss"), "Verdict"] == "not reached (run at step 960)"
    assert inc.loc[("4,000", "loss"), "Our step"] == "800" and inc.loc[("4,000", "loss"), "Verdict"] != "not reached"
    assert inc.loc[("4,000", "diversity"), "Verdict"] == "not logged"  # a seed without the new columns
    assert set(t[t.Run == "reward-A-trained"].Verdict) == {"no data"}
    text = memo.published_sentence(st)
    assert "log Z at 6,000 (published 13.39, ours 13.00)" in text.split("**misses**")[0]
    assert "log Z at 9,000 (published 16.14, ours -20.00: -36.14)" in text
    n = len(t)
    assert text.startswith(f"**Published vs ours.** {n} published figures")


def test_helpers_spread_timing_and_episodes():
    assert memo.spread([1.0]) == "1" and memo.spread([]) == "—"
    assert memo.spread([1, 2, 4], ".3g") == "2 [1 … 4]"
    assert memo.spread([-2.01, -1.99], ".1f") == "-2.0"  # prints alike: one value
    assert memo.step_spread([None, None]) == "never (2/2 seeds)"
    assert memo.step_spread([1000, None], "int") == "1,000; never in 1/2 seeds"
    assert memo.timing_word([1000], [500], 2500) == "earlier"
    assert memo.timing_word([1000], [1050], 2500) == "same"
    assert memo.timing_word([1000, 1400], [1200, 1300], 2500) == "same"
    assert memo.timing_word([1000], [None], 2500) == "removed (no explosion)"
    assert memo.prediction_verdict("later", "removed (no explosion)") == "consistent (beyond the run's end)"
    assert memo.prediction_verdict("earlier", "later") == "contradicted"
    twice = curves(600)
    twice.loc[twice.step >= 1200, "loss"] = 20.0
    twice.loc[twice.step >= 1900, "loss"] = 2000.0
    assert memo.count_explosions(twice) == (2, False)
    assert memo.count_explosions(curves(1600)) == (1, True)


def test_empty_outputs_render_every_table_and_figure(tmp_path):
    st = memo.load_study(PROFILE, tmp_path)
    assert st.n_with_data == 0 and "No run has metrics yet" in memo.status_sentence(st)
    for build in (memo.example_table, memo.explosion_table, memo.config_table, memo.budget_table,
                  memo.evidence_table, memo.factors_table, memo.timing_table,
                  memo.analyzed_runs_table, memo.log_pf_decomposition_table,
                  memo.implied_log_z_table, memo.log_z_fix_table, memo.claims_table,
                  memo.assumptions_table, memo.sensitivity_table, memo.runs_overview):
        table = build(st)
        assert isinstance(table, pd.DataFrame)
        memo.styled(table).to_html()
    claims = memo.claims_table(st).set_index("Memo claim")["Verdict"]
    # without runs only the memo's own numbers speak: its log_pf fall needs longer sequences
    assert claims["log_pf drops because the policy becomes confident"] == "refuted"
    assert set(claims.drop("log_pf drops because the policy becomes confident")) == {"inconclusive"}
    assert memo.example_table(st)["Loss"].eq("—").all()
    figs = memo.make_figures(st)
    for name in figs:
        assert (st.figures_dir / f"{name}.png").stat().st_size > 0
        assert (st.figures_dir / f"{name}.svg").stat().st_size > 0


def test_figures_written_for_synthetic_runs(synthetic, tmp_path):
    import matplotlib.pyplot as plt

    figs = memo.make_figures(synthetic)
    try:
        assert set(figs) == {"loss_explosions", "metrics_documented", "metrics_ablations", "metrics_sensitivity",
                             "tb_residual", "log_pf_decomposition", "composition", "escape_grid", "starts"}
        grid = [ax for ax in figs["escape_grid"].axes if ax.get_visible() and ax.get_title()]
        assert {ax.get_title() for ax in grid} == {"ablation-log-z-lr-0.1", "ablation-lr-1e-3"}  # one panel per ablation
        # the trapped reward-C seed: its trap shaded and marked on the loss and composition figures
        for name in ("loss_explosions", "composition"):
            labels = [lab for ax in figs[name].axes for lab in ax.get_legend_handles_labels()[1]]
            assert "trap onset" in labels and "trap escape" in labels, name
        comp = figs["composition"].axes[0]
        assert any(list(line.get_ydata()) == [0.35, 0.35] for line in comp.lines)  # the detector's threshold
        assert "published reward-C trap" in comp.get_legend_handles_labels()[1]
        labels = figs["metrics_sensitivity"].axes[0].get_legend_handles_labels()[1]
        assert any("sens-length-penalty" in x for x in labels) and any("reward-C" in x for x in labels)
        ax = figs["loss_explosions"].axes[0]
        assert ax.get_yscale() == "log" and ax.get_title() and ax.get_ylabel()
        assert ax.get_legend() is not None
        for name in figs:
            png = synthetic.figures_dir / f"{name}.png"
            assert png.read_bytes()[:4] == b"\x89PNG"
            assert (synthetic.figures_dir / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    finally:
        plt.close("all")


def test_memo_length_bound_from_its_own_table():
    text = memo.memo_length_bound_sentence()
    assert "-20.7 → -51.3" in text and "16.8 actions" in text and "longer sequences" in text


def test_an_unfinished_run_without_explosion_says_how_far_it_got(tmp_path):
    write_run(tmp_path, "gflownet-baseline-10k", 42, curves(None).iloc[:500], finished=False)
    t = memo.explosion_table(memo.load_study(PROFILE, tmp_path)).set_index("Run")
    assert t.loc["baseline", "Explosion Step"] == "none by step 500"  # not "never"
    assert t.loc["baseline", "≈ memo step"] == "none by 2,500"


def test_seed_config_reads_old_records_through_train_config():
    errors: list[str] = []
    fallback = make_config({"n_steps": 2000})
    # a record written before some fields existed: they take TrainConfig's defaults
    cfg = memo.seed_config({"config": {"lr": 1e-3, "batch_size": 16}}, fallback, "old/run.json", errors)
    assert (cfg.lr, cfg.batch_size, cfg.warmup_steps) == (1e-3, 16, TrainConfig().warmup_steps) and not errors
    # a key TrainConfig no longer has is dropped, and named
    cfg = memo.seed_config({"config": {"lr": 1e-3, "retired_field": 1}}, fallback, "x/run.json", errors)
    assert cfg.lr == 1e-3 and "retired_field" in errors[-1]
    # an invalid record, or none yet: the params resolved for the profile
    assert memo.seed_config({"config": {"lr": -1.0}}, fallback, "bad/run.json", errors) is fallback
    assert "bad/run.json" in errors[-1] and "'lr'" in errors[-1]
    assert memo.seed_config({}, fallback, "new/run.json", errors) is fallback
    # neither: TrainConfig's defaults, and the report says so
    assert memo.seed_config({}, None, "orphan", errors) == TrainConfig() and "defaults assumed" in errors[-1]


def test_log_pf_claim_and_its_sentence_rest_on_the_same_seeds(synthetic):
    falls = memo.log_pf_falls(synthetic)
    shows = memo.claims_table(synthetic).set_index("Memo claim").loc[
        "log_pf drops because the policy becomes confident", "What our runs show"]
    assert f"fell ≥ 5 nats in {len(falls)} finished seeds" in shows
    assert f"{len(falls)} finished seeds" in memo.decomposition_sentence(synthetic)
    # sensitivity runs count: the folder-only sensitivity run's first seed falls, by length
    sens = synthetic.runs.pop("sens-length-penalty")
    try:
        assert len(memo.log_pf_falls(synthetic)) == len(falls) - 1
    finally:
        synthetic.runs["sens-length-penalty"] = sens


def test_one_mapping_between_memo_steps_and_profile_steps(synthetic):
    assert study.memo_to_run_step(6000, 0.2) == 1200 == synthetic.to_run_step(6000)
    assert study.memo_to_run_step(100, 0.004) == 1  # never step 0
    assert study.run_to_memo_step(1200, 0.2) == 6000 == synthetic.to_memo_step(1200)
    assert study.run_to_memo_step(None, 0.2) is None
    # and one way every table writes such a step
    assert synthetic.memo_step_cell(1201) == "≈ 6,005"
    assert synthetic.memo_step_cell(1201, with_run_step=True) == "1,201 (≈ 6,005)"
    assert synthetic.memo_step_cell(None) == memo.NA
    assert synthetic.memo_step_cell(None, "never", with_run_step=True) == "never"


def test_the_report_loads_without_papermill_or_the_trainer():
    code = ("import sys, gfn_lib.memo, gfn_lib.study; "
            "print([m for m in ('papermill', 'gfn_lib.trainer', 'gfn_lib.study.execution') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_a_run_made_with_another_step_scale_is_named(tmp_path):
    """Runs made before a profile changed its step scale would be read on the wrong memo-step axis."""
    import json

    from gfn_lib import memo, study

    folder = study.run_dir("tiny", "gflownet-baseline-10k", 42, tmp_path)  # the frozen fixture params
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run": "gflownet-baseline-10k", "step_scale": 0.5, "config": {}}))
    st = memo.load_study("tiny", tmp_path)
    assert any("field 'step_scale'" in e and "0.5" in e for e in st.load_errors)


def test_dropout_scoring_table_sets_reward_c_beside_its_dropout_ablations_and_the_published_run(tmp_path):
    """Rows: the published run (quoted), reward-C, and an ablation whose only change is ``dropout_scoring``;
    an ablation that changes something else as well is not among them. Cells come from the metrics."""
    rc = fixture.with_composition(curves(None), (100, 600))  # cpu profile here: memo step = 5 x our step
    rc["mean_log_pf"] = np.where(rc.step < 480, -70.0, -15.0)  # the window: memo 1,800 -> step 360, 3,000 -> 600
    write_run(tmp_path, memo.EXAMPLE_RUN, 42, rc)
    base = {"group": "ablation", "base": memo.EXAMPLE_RUN, "setup": "published", "reward": "improved-published"}
    recompute = {"run": "ablation-dropout-scoring-recompute", **base, "dropout_scoring": "recompute"}
    rcp = fixture.with_composition(curves(None), (20, None))
    rcp["mean_log_pf"] = -10.0
    write_run(tmp_path, recompute["run"], 42, rcp, meta=recompute)
    write_run(tmp_path, recompute["run"], 43, rcp, meta=recompute)
    other = {"run": "ablation-dropout-and-lr", **base, "dropout_scoring": "sampling", "lr": 1e-3}
    write_run(tmp_path, other["run"], 42, rcp, meta=other)
    st = memo.load_study(PROFILE, tmp_path)
    assert [g.name for g in memo.dropout_runs(st)] == [memo.EXAMPLE_RUN, recompute["run"]]
    t = memo.dropout_scoring_table(st)
    assert t.iloc[0]["Run"].endswith("(published, quoted)")
    assert (t.iloc[0]["First step's mean log P_F"], t.iloc[0]["mean log P_F at ≈ memo 6,000"]) == ("-27.9", "-20.7")
    assert (t.iloc[0]["Trap onset"], t.iloc[0]["Escape"]) == ("≈ 1,000", "≈ 6,000–6,500")
    ours = t.iloc[1:].set_index(["dropout_scoring", "Seed"])
    row = ours.loc[("fresh", "42")]
    in_window = rc.loc[rc.step.between(360, 600), "mean_log_pf"]
    assert -70 < in_window.mean() < -15  # both levels inside
    assert (row["First step's mean log P_F"], row["mean log P_F, ≈ memo 1,800–3,000"]) == ("-70.0", f"{in_window.mean():.1f}")
    assert (row["Trap onset"], row["Escape"]) == ("≈ 500", "≈ 3,000")
    assert ours.loc[("recompute", "43"), "Escape"] == "never" and ours.loc[("recompute", "43"), "Trap onset"] == "≈ 100"
    text = memo.dropout_scoring_sentence(st)
    assert "`fresh` (reward-C-improved, 1 seed): trapped 1/1, escaped 1/1" in text
    assert "`recompute` (ablation-dropout-scoring-recompute, 2 seeds): trapped 2/2, escaped 0/2" in text
    assert "published (quoted): -27.9 at step 0 and -20.7 in the trap (step 6,000)" in text


def test_rounding_table_sets_each_nudged_seed_beside_the_same_seed_of_reward_c(tmp_path):
    """Finished seeds of an ablation whose only change is ``init_nudge``, matched by seed; the two written
    predictions judged on them (cpu profile here: memo step = 5 x our step)."""
    write_run(tmp_path, memo.EXAMPLE_RUN, 42, fixture.with_composition(curves(None), (100, 600)))
    write_run(tmp_path, memo.EXAMPLE_RUN, 43, fixture.with_composition(curves(None), (100, 400)))
    base = {"group": "ablation", "base": memo.EXAMPLE_RUN, "setup": "published", "reward": "improved-published"}
    one = {"run": "ablation-init-nudge-1", **base, "init_nudge": 1}
    write_run(tmp_path, one["run"], 42, fixture.with_composition(curves(None), (110, 900)), meta=one)
    write_run(tmp_path, one["run"], 43, fixture.with_composition(curves(None), (200, None)), meta=one)
    two = {"run": "ablation-init-nudge-2", **base, "init_nudge": 2}  # not finished: not compared
    write_run(tmp_path, two["run"], 42, fixture.with_composition(curves(None), (100, 700)), meta=two, finished=False)
    other = {"run": "ablation-nudge-and-lr", **base, "init_nudge": 3, "lr": 1e-3}  # two changes: not shown
    write_run(tmp_path, other["run"], 42, fixture.with_composition(curves(None), (100, 700)), meta=other)
    st = memo.load_study(PROFILE, tmp_path)
    assert [g.name for g in memo.nudge_runs(st)] == [memo.EXAMPLE_RUN, one["run"], two["run"]]
    t = memo.rounding_table(st)
    assert t[["Seed", "init_nudge", "Trap onset", "Escape", "Escape moved by"]].values.tolist() == [
        ["42", "0 (reward-C)", "≈ 500", "≈ 3,000", memo.NA],
        ["42", "1", "≈ 550", "≈ 4,500", "+1,500"],
        ["43", "0 (reward-C)", "≈ 500", "≈ 2,000", memo.NA],
        ["43", "1", "≈ 1,000", "never", "escaped unnudged only"],
    ]
    text = memo.rounding_sentence(st)
    assert "Of 2 nudged seeds, 1 trapped with an onset within 300 memo steps" in text
    assert "(predicted ≥ 2 of 2: missed), and 2 escaped 600 or more" in text
    assert "(predicted ≥ 1 of 2: held)" in text
    assert "Where both escaped (1 seed), the escape moved by a median of 1,500 memo steps (1,500–1,500)" in text
    assert "reward-C's seeds themselves escaped at 2,500 [2,000 … 3,000]" in text
    assert "In 2 of 2, the nudged escape lies further from the unnudged one than the timing models' tolerance (10% of the run, ≈ 1,000 memo steps)" in text
    # the noise floor: reward-C's median escape 2,500, nudge-1's "never" (one of two seeds never escaped)
    assert memo.rounding_range(st) == (2500, math.inf)
    assert "span ≈ 2,500 to never" in text
    outcomes = memo.ablation_outcomes_table(st).set_index("Run")["Beyond rounding?"]
    assert outcomes["ablation-nudge-and-lr"] == "no"  # median 3,500: inside
    write_run(tmp_path, other["run"], 43, fixture.with_composition(curves(None), (100, 300)), meta=other)
    write_run(tmp_path, other["run"], 44, fixture.with_composition(curves(None), (100, 350)), meta=other)
    st = memo.load_study(PROFILE, tmp_path)
    assert memo.ablation_outcomes_table(st).set_index("Run")["Beyond rounding?"]["ablation-nudge-and-lr"] == "yes, earlier"


def test_analyzed_runs_say_which_cpu_kernels_computed_each_seed(tmp_path):
    import json

    from gfn_lib.memo.tables import cpu_kernels

    cpu = {"processor": "Xeon", "cpuid": "cpu family 6 model 207 stepping 2", "kernels": "AVX512", "threads": 1, "env": {}}
    assert cpu_kernels({"cpu": cpu}) == "AVX512 (cpu family 6 model 207 stepping 2), 1 thread"
    forced = {**cpu, "kernels": "AVX2", "threads": 2, "env": {"ATEN_CPU_CAPABILITY": "avx2"}}
    assert cpu_kernels({"cpu": forced}) == "AVX2 (cpu family 6 model 207 stepping 2), 2 threads, ATEN_CPU_CAPABILITY=avx2"
    assert cpu_kernels({}) == "not recorded"
    for seed, c in ((42, cpu), (43, forced), (44, cpu)):
        write_run(tmp_path, memo.EXAMPLE_RUN, seed, curves(None))
        path = tmp_path / PROFILE / "runs" / memo.EXAMPLE_RUN / f"seed-{seed}" / "run.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "cpu": c}))
    t = memo.analyzed_runs_table(memo.load_study(PROFILE, tmp_path)).set_index("Name")
    assert t.loc[memo.EXAMPLE_RUN, "Computed on"] == (
        "AVX512 (cpu family 6 model 207 stepping 2), 1 thread (42, 44); "
        "AVX2 (cpu family 6 model 207 stepping 2), 2 threads, ATEN_CPU_CAPABILITY=avx2 (43)")


def test_starts_table_places_the_published_start_among_the_surveyed_seeds(tmp_path):
    """The survey (``starts/<reward-C>.csv``) read against reward-C's and ``ablation-published-start``'s first logged rows:
    the published start's share, each seed's share, the check that a run's first row is its survey row, and
    the start run's escapes against rounding's span."""
    assert "No survey of starting points" in memo.starts_sentence(memo.load_study(PROFILE, tmp_path))
    df = fixture.with_composition(curves(None), (100, 600))
    write_run(tmp_path, memo.EXAMPLE_RUN, 42, df)
    write_run(tmp_path, memo.EXAMPLE_RUN, 43, fixture.with_composition(curves(None), (100, 400)))
    meta = {"run": memo.START_RUN, "group": "ablation", "base": memo.EXAMPLE_RUN, "setup": "published",
            "reward": "improved-published"}  # fmt: skip
    write_run(tmp_path, memo.START_RUN, 14, fixture.with_composition(curves(None), (60, None)), meta=meta)
    write_run(tmp_path, memo.START_RUN, 64, fixture.with_composition(curves(None), (60, None)), meta=meta)
    first = float(df.sort_values("step")["mean_log_pf"].iloc[0])
    values = {s: -80.0 + s for s in range(10)}  # -80 .. -71
    values.update({42: first, 43: first, 14: first, 64: first + 1.0})  # seed 64's row is not its run's: counted
    survey = pd.DataFrame({"run": memo.EXAMPLE_RUN, "profile": PROFILE, "seed": list(values),
                           "mean_log_pf": list(values.values()), "mean_length": 20.0})  # fmt: skip
    starts.write_starts(survey, starts.starts_path(tmp_path / PROFILE, memo.EXAMPLE_RUN))
    st = memo.load_study(PROFILE, tmp_path)
    text = memo.starts_sentence(st)
    published = memo.PUBLISHED_FIGURES.query("metric == 'mean_log_pf' and step == 0")["low"].iloc[0]
    above = sum(v >= published for v in values.values())
    assert f"Over {len(values)} seeds of reward-C" in text
    assert f"({above} of {len(values)}) start at or above the published run's {published:.1f}" in text
    assert "3 of 4 run seeds in it logged the same step-0 mean log P_F" in text
    assert "(`ablation-published-start`: 14, 64), 2 of 2 seeds trapped and escaped at never (2/2 seeds)" in text
    assert "trapped in at least 2 of 2 and not beyond rounding: **not judged: no span of nudged runs here**" in text
    starts.starts_path(tmp_path / PROFILE, memo.EXAMPLE_RUN).unlink()  # read once with the study: the table sees what the sentence saw
    t = memo.starts_table(st)
    assert t["Run"].tolist()[:2] == ["reward-C-improved (published, quoted)", f"survey: reward-C seeds 0–64 ({len(values)}), step 0 only"]
    assert t["Seed"].tolist()[2:] == ["42", "43", "14", "64"]
    share_42 = sum(v >= first for v in values.values()) / len(values)
    ours = t.iloc[2:].set_index("Seed")  # the published row is seed 42 too
    assert ours.loc["42", "Surveyed seeds starting at or above"] == f"{share_42:.0%}"
    assert ours.loc["14", "Escape"] == "never"
