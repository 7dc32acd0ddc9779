"""The timing models of docs/timing-model.md (gfn_lib.analysis.timing) on synthetic runs."""

import math

import numpy as np
import pandas as pd
import pytest

from gfn_lib.analysis.timing import (
    Fit, SeedTiming, fit, hits, loss_after_escape, lr_path, policy_travel, predict, predicted_log_z, trap_balance,
)  # fmt: skip
from gfn_lib.analysis.trap import TrapResult
from gfn_lib.config import make_config

CFG = make_config({"n_steps": 100, "warmup_steps": 10, "lr": 1e-3, "log_z_lr": 0.2, "lr_schedule": "constant-then-cosine"})


def _trap(onset=1, escape=None, last=100) -> TrapResult:
    return TrapResult(True, onset, escape, 2.0, 0.23, False, last)


def test_log_z_path_is_the_sum_of_its_learning_rates():
    path = predicted_log_z(CFG.model_copy(update={"log_z_init": 3.0}))
    assert len(path) == CFG.n_steps + 1 and path[0] == 3.0
    assert path[10] == pytest.approx(3.0 + 10 * 0.2)  # constant phase
    assert path[-1] == pytest.approx(3.0 + 0.2 * (10 + 45), rel=0.02)  # then half a cosine's area
    assert lr_path(CFG, log_z=False)[-1] < 1e-5 and lr_path(CFG, log_z=False)[0] == 1e-3


def test_trap_balance_reads_the_first_rows_of_the_trap():
    steps = np.arange(1, 101)
    df = pd.DataFrame({"step": steps, "mean_target_log_reward": -3.0, "mean_log_pf": np.where(steps < 50, -20.0, -70.0)})
    assert trap_balance(df, _trap(onset=5, escape=50)) == pytest.approx(17.0)
    assert math.isnan(trap_balance(df, TrapResult(False, None, None, math.nan, math.nan, False, 100)))


def test_each_model_predicts_from_its_one_number():
    s = SeedTiming("r", 1, CFG, _trap(escape=40), balance=10.0)
    f = fit([s])
    assert f.n == 1 and f.clock == 40
    assert predict("clock", f, s) == 40 and predict("gap", f, s) == 40 and predict("decay", f, s) == 40
    # log Z twice as fast: the gap closes in about half the steps; the clock does not move
    fast = SeedTiming("r", 2, CFG.model_copy(update={"log_z_lr": 0.4}), _trap(escape=40), balance=10.0)
    assert predict("gap", f, fast) < 25 and predict("clock", f, fast) == 40
    # a constant lr never decays; a log Z that starts above the balance escapes at once
    flat = SeedTiming("r", 3, CFG.model_copy(update={"lr_schedule": "linear-warmup", "warmup_steps": 0}), _trap(), 10.0)
    assert predict("decay", f, flat) is None
    high = SeedTiming("r", 4, CFG.model_copy(update={"log_z_init": 50.0}), _trap(), 10.0)
    assert predict("gap", f, high) == 0
    assert predict("travel", f, s) == 40
    # the policy's lr tripled: the same travel in about a third of the updates; the clock does not move
    quick = SeedTiming("r", 5, CFG.model_copy(update={"lr": 3e-3}), _trap(escape=40), balance=10.0)
    assert 10 <= predict("travel", f, quick) <= 16 and predict("clock", f, quick) == 40
    assert policy_travel(CFG)[10] == pytest.approx(10 * 1e-3)
    with pytest.raises(ValueError):
        predict("astrology", f, s)


def test_fit_needs_an_escaped_reference_and_hits_have_a_tolerance():
    assert fit([SeedTiming("r", 1, CFG, _trap(escape=None), 10.0)]) is None
    assert hits(50, 59, 100) and not hits(50, 61, 100)
    assert hits(None, None, 100) and not hits(None, 50, 100) and not hits(50, None, 100)
    assert isinstance(fit([SeedTiming("r", 1, CFG, _trap(escape=30), 10.0)]), Fit)


def test_loss_after_escape_splits_bias_and_spread():
    steps = np.arange(1, 101)
    resid_mean = np.where(steps >= 60, -30.0, -1.0)
    df = pd.DataFrame({"step": steps, "residual_mean": resid_mean, "loss": resid_mean**2 + 100.0})
    out = loss_after_escape(df, 60, 100)
    assert out["loss"] == pytest.approx(1000.0) and out["bias2"] == pytest.approx(900.0)
    assert out["share"] == pytest.approx(0.9)
    assert all(math.isnan(v) for v in loss_after_escape(df, None, 100).values())
