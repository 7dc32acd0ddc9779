"""The report's timing verdicts on synthetic trapped runs: "What would change the timing?" judged on the
escape from the trap with ≥ 3 seeds, the claims built on it, "log Z can't keep up" on the loss after the
escape, and the timing models judged only on runs that started after each model was written down."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import report_fixture as fixture

from gfn_lib import memo
from gfn_lib.analysis.timing import STATED, is_test_of

EARLY, LATE = "2026-11-24T10:00:00", "2026-12-01T10:00:00"  # before / after every model was stated
SEEDS = [42, 43, 44]


def trapped(escape: int | None, seed: int, after_loss: float = 1.0) -> pd.DataFrame:
    """A run trapped on two letters from step 5, escaping at ``escape`` (None: held to the end) as its
    loss explodes; ``after_loss`` scales the loss after the escape."""
    df = fixture.with_composition(fixture.curves(escape, seed=seed), (5, escape), seed=seed)
    if escape is not None:
        df.loc[df.step >= escape, "loss"] *= after_loss
    return df


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("outputs")
    with fixture.frozen_params():
        for i, s in enumerate(SEEDS):
            fixture.write_run(root, memo.EXAMPLE_RUN, s, trapped(180 + 10 * i, i))
            fixture.write_run(root, "ablation-lr-1e-3", s, trapped(60 + 10 * i, 10 + i), started=LATE)  # earlier
            fixture.write_run(root, "ablation-lr-1e-4", s, trapped(None, 20 + i))  # never escapes: later
            fixture.write_run(root, "ablation-8-layers", s, trapped(250 + 10 * i, 30 + i))  # "earlier" predicted
            x100 = {"run": "ablation-log-z-lr-x100", "group": "ablation", "description": "log Z lr x 100",
                    "memo_prediction": "not in the memo (issue 12): earlier"}
            fixture.write_run(root, "ablation-log-z-lr-x100", s, trapped(90 + 5 * i, 40 + i, after_loss=0.1), meta=x100)
        fixture.write_run(root, "ablation-batch-16", 42, trapped(185, 50))  # one seed only
        st = memo.load_study(fixture.PROFILE, root)
    return st


def test_what_would_change_the_timing_is_judged_on_the_escape_with_three_seeds(study):
    t = memo.timing_table(study).set_index("Our run")
    assert t.loc["ablation-lr-1e-3", "Observed (escape)"] == "earlier"
    assert t.loc["ablation-lr-1e-3", "Verdict"] == "consistent"
    assert t.loc["ablation-lr-1e-4", "Observed (escape)"] == "removed (no escape)"
    assert t.loc["ablation-lr-1e-4", "Verdict"] == "consistent (beyond the run's end)"
    assert t.loc["ablation-8-layers", "Observed (escape)"] == "later"
    assert t.loc["ablation-8-layers", "Verdict"] == "contradicted"
    # one seed is not a timing verdict, however clear it looks
    assert t.loc["ablation-batch-16", "Verdict"].startswith("inconclusive (1 trapped seed;")
    assert "ablation-log-z-lr-x100" not in t.index  # a prediction of ours, judged in "What ends the trap?"
    assert t.loc["ablation-lr-1e-3", "Run's escape (≈ memo)"].startswith("2,333")  # step 70 at 0.03


def test_claims_follow_the_escape_verdicts_and_log_z_lag(study):
    c = memo.claims_table(study).set_index("Memo claim")
    verdict = {k.split(" → ")[0]: v for k, v in c["Verdict"].items()}
    assert verdict["Higher learning rate (1e-3), log Z at 10 x (1e-2)"] == "supported"
    assert verdict["Larger model (8 layers)"] == "refuted"
    assert verdict["Smaller batch (16)"] == "inconclusive"
    lag = c.loc[[k for k in c.index if k.startswith("log_Z can't")][0]]
    assert lag["Verdict"] == "supported" and "3/3 reward-C seeds" in lag["What our runs show"]


def test_a_model_is_judged_only_on_runs_started_after_it_was_stated(study):
    assert is_test_of("travel", [LATE, LATE]) and not is_test_of("travel", [LATE, EARLY])
    assert not is_test_of("gap", [None]) and not is_test_of("gap", [])
    assert all(v < LATE for v in STATED.values())
    v = {x["model"]: x for x in memo.model_verdicts(study)}
    assert set(v["travel"]["per_run"]) == {"ablation-lr-1e-3"}  # the only run started after it
    assert "ablation-8-layers" in v["travel"]["post_hoc"] and "ablation-8-layers" in v["gap"]["post_hoc"]
    models = memo.timing_models_table(study).set_index("Model")
    assert "ablation-8-layers" in models.loc["policy travel", "Seen before it was stated (not evidence)"]


def test_a_resumed_run_keeps_its_first_start_time(tmp_path):
    from gfn_lib.study.notebook import setup_run, write_run_record

    setup = setup_run({"run": memo.EXAMPLE_RUN, "profile": "smoke", "seed": 0, "out_root": str(tmp_path)})
    write_run_record(setup)
    first = json.loads((setup.folder / "run.json").read_text())
    assert first["started"] == first["last_started"]
    (setup.folder / "run.json").write_text(json.dumps({**first, "started": EARLY}))
    write_run_record(setup)  # the resume
    again = json.loads((setup.folder / "run.json").read_text())
    assert again["started"] == EARLY and again["last_started"] >= first["last_started"]


def test_the_timing_predictions_sentence_counts_the_table(study):
    text = memo.timing_predictions_sentence(study)
    assert "2 consistent, 1 contradicted" in text and "Larger model (8 layers)" in text
    assert "Too few seeds to judge: Smaller batch (16)" in text


def test_a_trap_held_to_the_end_is_an_escape_after_the_end():
    # censored, not unknown: one late escape and two traps held to the end are later than 83-103
    assert memo.timing_word([83, 86, 103], [131, None, None], 167, event="escape") == "later"
    assert memo.timing_word([83, 86, 103], [90, None, None], 167, event="escape") == "later (seed ranges overlap)"
    assert memo.timing_word([83, 86, 103], [None, None, None], 167, event="escape") == "removed (no escape)"
    assert memo.timing_word([83, 86, None], [84, 85, None], 167, event="escape") == "same"
    # explosions keep the older, stricter reading
    assert memo.timing_word([83, 86, 103], [131, None, None], 167) == "later (some seeds never explode)"


def test_seeds_without_a_trap_test_no_model(tmp_path):
    with fixture.frozen_params():
        for i, s in enumerate(SEEDS):
            fixture.write_run(tmp_path, memo.EXAMPLE_RUN, s, trapped(180 + 10 * i, i))
            free = fixture.with_composition(fixture.curves(None, seed=60 + i), None, seed=60 + i)  # never trapped
            fixture.write_run(tmp_path, "ablation-lr-1e-3", s, free, started=LATE)
        st = memo.load_study(fixture.PROFILE, tmp_path)
    v = {x["model"]: x for x in memo.model_verdicts(st)}
    assert all(not x["per_run"] and x["verdict"] == "untested" for x in v.values())
    assert memo.untested_runs(st) == ["ablation-lr-1e-3 (0 of 3 seeds trapped)"]
    p = memo.escape_predictions_table(st)
    assert (p[p.Run == "ablation-lr-1e-3"]["policy clock: predicted (error)"] == memo.NA).all()
    assert memo.timing_table(st).set_index("Our run").loc["ablation-lr-1e-3", "Observed (escape)"].startswith("no trap")
