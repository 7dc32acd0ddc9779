"""Tests for gfn_lib.analysis on synthetic curves with known answers, and on the memo's figures."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from gfn_lib.analysis import (
    attribute_log_pf_change,
    budget_at_step,
    classify_trigger,
    decompose_log_pf,
    default_window,
    describe_phase,
    detect_explosion,
    implied_log_z,
    implied_log_z_rows,
    log_pf_fall_driver,
    smooth,
    summary_table,
)
from gfn_lib.memo.quotes import MEMO_REWARD_C_TABLE, MEMO_TRIGGER_TABLE

N = 2000  # steps in a synthetic run; default window 21, min_persist 42
B = 64


def synthetic_run(
    loss: np.ndarray,
    *,
    seed: int = 0,
    reward: np.ndarray | float = 0.3,
    length: np.ndarray | float = 10.0,
    per_action: np.ndarray | float = -1.9,
    unique: np.ndarray | float = 0.95,
    noise: float = 0.3,
) -> pd.DataFrame:
    """A metrics table shaped like the trainer's, with multiplicative loss noise
    (lognormal, sigma ``noise``) and small additive noise on the other metrics."""
    rng = np.random.default_rng(seed)
    n = len(loss)
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=float), (n,)).copy()  # noqa: E731
    length, per_action, reward = full(length), full(per_action), full(reward)
    length = length + rng.normal(0, 0.3, n)
    per_action = per_action + rng.normal(0, 0.02, n)
    actions = length + 1.0
    log_pf = actions * per_action
    reward = np.clip(reward + rng.normal(0, 0.03, n), 1e-4, 1.0)
    return pd.DataFrame({
        "step": np.arange(1, n + 1),
        "loss": loss * rng.lognormal(0.0, noise, n),
        "log_z": np.linspace(0, 3, n),
        "mean_log_pf": log_pf,
        "mean_length": length,
        "mean_actions": actions,
        "log_pf_per_action": per_action,
        "mean_reward": reward,
        "mean_log_reward": np.log(reward),
        "max_reward": np.minimum(reward * 1.5, 1.0),
        "residual_mean": -np.sqrt(loss),
        "residual_std": np.full(n, 1.0),
        "entropy": np.full(n, 2.5),
        "grad_norm": np.full(n, 1.0),
        "lr": np.full(n, 3e-4),
        "unique_frac": np.clip(full(unique) + rng.normal(0, 0.01, n), 0, 1),
        "step_time_s": np.full(n, 0.05),
    })


def step_curve(at: int, low: float = 20.0, high: float = 1500.0, n: int = N) -> np.ndarray:
    """Loss ``low`` before row ``at`` (0-based), ``high`` from it on."""
    return np.where(np.arange(n) < at, low, high)


def ramp(at: int, start: float, end: float, width: int = 60, n: int = N) -> np.ndarray:
    """A metric moving linearly from ``start`` to ``end`` over ``width`` rows ending at ``at``."""
    return np.interp(np.arange(n), [at - width, at], [start, end])


# ---------------------------------------------------------------------------
# smoothing
# ---------------------------------------------------------------------------

def test_smooth_median_removes_a_spike_and_keeps_a_step_sharp():
    x = pd.Series(np.r_[np.ones(50), np.full(50, 100.0)])
    x[20] = 1e6
    s = smooth(x, 11)
    assert s[20] == 1.0
    assert s[49] == 1.0 and s[50] == 100.0


def test_smooth_ema_and_bad_arguments():
    x = pd.Series([0.0, 10.0, 10.0, 10.0])
    e = smooth(x, 3, "ema")  # alpha = 2 / (3 + 1) = 0.5
    assert e.tolist() == pytest.approx([0.0, 5.0, 7.5, 8.75])
    assert smooth(x, 1).equals(x.astype(float))
    with pytest.raises(ValueError):
        smooth(x, 0)
    with pytest.raises(ValueError):
        smooth(x, 3, "mean")  # type: ignore[arg-type]


def test_default_window_is_odd_and_scaled():
    assert default_window(10_000) == 101
    assert default_window(2000) == 21
    assert default_window(50) == 5
    assert all(default_window(n) % 2 == 1 for n in (0, 7, 333, 1234, 99_999))


# ---------------------------------------------------------------------------
# explosion detection
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(3))
def test_step_change_detected_at_the_step(seed):
    ex = detect_explosion(synthetic_run(step_curve(1200), seed=seed))
    assert ex.exploded
    assert abs(ex.step - 1201) <= 5          # row 1200 is step 1201
    assert abs(ex.onset_step - 1201) <= 5
    assert ex.onset_step <= ex.step
    assert 12 <= ex.baseline_loss <= 20
    assert ex.ratio >= 50
    assert "stayed above" in ex.reason


def test_single_spike_is_not_an_explosion():
    loss = np.full(N, 20.0)
    loss[1000] = 1e6
    ex = detect_explosion(synthetic_run(loss))
    assert ex.step is None and ex.onset_step is None
    assert ex.ratio < 3


def test_short_burst_that_falls_back_is_not_an_explosion():
    loss = np.full(N, 20.0)
    loss[1000:1030] = 2000.0  # 30 rows survive the 21-row median but < 42 rows needed
    ex = detect_explosion(synthetic_run(loss))
    assert ex.step is None
    assert "fell back" in ex.reason
    assert 20 <= ex.persisted_rows < 42
    # the same burst, made long enough, is an explosion
    loss[1000:1100] = 2000.0
    assert detect_explosion(synthetic_run(loss)).step == pytest.approx(1001, abs=5)


def test_smooth_rise_reported_at_the_10x_crossing_with_earlier_onset():
    t = np.arange(N)
    loss = np.where(t < 800, 20.0, 20.0 * np.exp((t - 800) / 200.0))
    ex = detect_explosion(synthetic_run(loss, noise=0.2))
    assert ex.exploded
    # crossing: true curve reaches 10 × baseline; baseline is the noisy running
    # minimum of the smoothed loss (a little under 20), so solve with it.
    expected = 800 + 200 * math.log(10 * ex.baseline_loss / 20.0)
    assert abs(ex.step - expected) <= 25
    # onset: where it first doubled its baseline, well before the crossing
    expected_onset = 800 + 200 * math.log(max(2 * ex.baseline_loss / 20.0, 1.0))
    assert abs(ex.onset_step - expected_onset) <= 40
    assert ex.step - ex.onset_step > 300


def test_rise_that_stays_under_10x_is_not_an_explosion():
    t = np.arange(N)
    loss = 20.0 * (1 + 3 * t / N)  # smooth 4× rise
    ex = detect_explosion(synthetic_run(loss, noise=0.2))
    assert ex.step is None
    assert "never reached" in ex.reason
    assert 3 < ex.ratio < 10


def test_absolute_margin_guards_tiny_losses():
    loss = step_curve(1000, low=0.1, high=5.0)  # 50× but only +4.9
    assert detect_explosion(synthetic_run(loss)).step is None
    assert detect_explosion(synthetic_run(loss), min_abs_increase=1.0).step == pytest.approx(
        1001, abs=5)


@pytest.mark.parametrize("seed", range(8))
def test_noisy_flat_curve_with_outliers_is_never_an_explosion(seed):
    rng = np.random.default_rng(100 + seed)
    loss = np.full(N, 20.0)
    loss[rng.choice(N, size=N // 100, replace=False)] = 5000.0  # 1% heavy outliers
    ex = detect_explosion(synthetic_run(loss, seed=seed, noise=0.6))
    assert ex.step is None, ex.reason


def test_loss_decreasing_from_a_high_start_is_not_an_explosion():
    t = np.arange(N)
    ex = detect_explosion(synthetic_run(7000.0 * np.exp(-t / 300.0) + 1.0))
    assert ex.step is None


def test_nan_and_short_runs_are_handled():
    run = synthetic_run(step_curve(1200))
    run.loc[run.sample(frac=0.1, random_state=0).index, "loss"] = np.nan
    run.loc[5, "loss"] = np.inf
    ex = detect_explosion(run)
    assert ex.step == pytest.approx(1201, abs=6)
    assert "non-finite" in ex.reason

    tiny = synthetic_run(np.array([20.0, 2000.0]))
    assert detect_explosion(tiny).step is None
    assert "too few" in detect_explosion(tiny).reason
    empty = tiny.iloc[:0]
    assert detect_explosion(empty).step is None
    all_nan = synthetic_run(np.full(50, np.nan))
    assert detect_explosion(all_nan).step is None
    with pytest.raises(KeyError):
        detect_explosion(pd.DataFrame({"step": [1, 2, 3]}))


def test_rise_at_the_very_end_of_an_incomplete_run_is_not_reported():
    ex = detect_explosion(synthetic_run(step_curve(N - 20)))
    assert ex.step is None
    assert "run ends" in ex.reason


def test_unsorted_rows_give_the_same_answer():
    run = synthetic_run(step_curve(1200))
    shuffled = run.sample(frac=1.0, random_state=1)
    assert detect_explosion(shuffled).step == detect_explosion(run).step


# ---------------------------------------------------------------------------
# triggers
# ---------------------------------------------------------------------------

def test_collapse_is_classified_first():
    unique = np.r_[np.linspace(1.0, 1 / B, 30), np.full(N - 30, 1 / B)]
    run = synthetic_run(np.full(N, 20.0), unique=unique)
    run["unique_frac"] = unique  # exactly 1/64: every sample the same
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "collapse"
    assert trig.phrase.startswith("Collapsed immediately (all same output)")
    assert trig.collapse_step is not None and trig.collapse_step <= 30


def test_late_collapse_is_not_the_memo_collapse():
    unique = np.r_[np.full(1500, 0.9), np.full(N - 1500, 1 / B)]
    run = synthetic_run(np.full(N, 20.0), unique=unique)
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "never"
    assert trig.collapse_step == pytest.approx(1501, abs=15)


def test_no_explosion_is_never():
    run = synthetic_run(np.full(N, 20.0))
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "never"
    assert trig.phrase.startswith("No explosion")


def test_reward_jump_trigger_with_length_driven_log_pf_fall():
    # memo reward-C shape: reward 0.06 → 0.79, log_pf −20.6 → −64, length 10 → 30
    run = synthetic_run(step_curve(1200), reward=ramp(1200, 0.06, 0.79),
                        length=ramp(1200, 10.0, 30.0), per_action=ramp(1200, -1.87, -2.07))
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "reward_jump"
    assert trig.reward_before == pytest.approx(0.06, abs=0.02)
    assert trig.reward_after == pytest.approx(0.79, abs=0.02)
    assert "reward jumps 0.06 → 0.79" in trig.phrase
    assert trig.driver is not None and trig.driver.driver == "length"
    assert trig.driver.length_share > 0.8


def test_flat_reward_log_pf_drop_from_per_action_confidence_loss():
    # length fixed at 10; per-action log-prob falls −1.9 → −3.5: log_pf −20.9 → −38.5
    run = synthetic_run(step_curve(1200), reward=0.44, length=10.0,
                        per_action=ramp(1200, -1.9, -3.5))
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "log_pf_drop_flat_reward"
    assert "reward stays flat (0.44) but log_pf drops" in trig.phrase
    assert trig.driver.driver == "per-action loss of confidence"
    assert trig.log_pf_before - trig.log_pf_after == pytest.approx(17.6, abs=1.0)


def test_flat_reward_log_pf_drop_from_length_is_length_runaway():
    run = synthetic_run(step_curve(1200), reward=0.44, length=ramp(1200, 10.0, 30.0),
                        per_action=-1.9)
    trig = classify_trigger(run, detect_explosion(run))
    assert trig.label == "length_runaway"
    assert trig.driver.driver == "length"
    assert trig.driver.length_share == pytest.approx(1.0, abs=0.05)
    assert "10.0 → 30.0 residues" in trig.phrase


def test_steady_reward_climb_and_unexplained_explosion():
    climb = synthetic_run(step_curve(1200), reward=np.linspace(0.05, 0.6, N))
    trig = classify_trigger(climb, detect_explosion(climb))
    assert trig.label == "reward_climb"
    assert trig.phrase.startswith("reward climbs steadily from start")

    bare = synthetic_run(step_curve(1200), reward=0.3)  # nothing else changes
    trig = classify_trigger(bare, detect_explosion(bare))
    assert trig.label == "other"
    assert trig.phrase.startswith("unexplained")


# ---------------------------------------------------------------------------
# log_pf decomposition
# ---------------------------------------------------------------------------

def test_midpoint_decomposition_is_exact():
    rng = np.random.default_rng(0)
    for _ in range(200):
        l0, l1 = rng.uniform(5, 35, 2)
        a0, a1 = rng.uniform(-3.1, -0.1, 2)
        d = attribute_log_pf_change(l0, a0, l1, a1)
        assert d.length_term + d.per_action_term == pytest.approx(l1 * a1 - l0 * a0, abs=1e-12)
        assert d.length_share + d.per_action_share == pytest.approx(1.0, abs=1e-9)


def test_memo_numbers_log_pf_fall_is_length_driven():
    # field notes: −20.6 over ~11 actions, −64.3 over ~31 actions
    d = attribute_log_pf_change(11, -20.6 / 11, 31, -64.3 / 31)
    assert d.total_change == pytest.approx(-43.7)
    assert d.driver == "length"
    assert d.length_share == pytest.approx(0.903, abs=0.002)
    # a genuinely more confident policy at fixed length raises log_pf
    up = attribute_log_pf_change(20, -2.5, 20, -1.0)
    assert up.total_change > 0 and up.driver == "per-action confidence"
    assert attribute_log_pf_change(10, -2.0, 10, -2.0).driver == "none"


def test_decompose_log_pf_is_exact_for_ratio_of_sums():
    rng = np.random.default_rng(1)
    rows = []
    for step in range(1, 21):
        actions = rng.integers(11, 32, B).astype(float)
        log_pf = actions * rng.uniform(-3.0, -1.0, B)
        rows.append({"step": step, "mean_log_pf": log_pf.mean(), "mean_actions": actions.mean(),
                     "log_pf_per_action": log_pf.sum() / actions.sum(),
                     "mean_per_seq_ratio": (log_pf / actions).mean()})
    df = pd.DataFrame(rows)
    dec = decompose_log_pf(df)
    assert np.allclose(dec["gap"], 0.0, atol=1e-10)
    # the mean of per-sequence ratios is a different quantity: the identity is not exact
    df_ratio = df.assign(log_pf_per_action=df["mean_per_seq_ratio"])
    dec_ratio = decompose_log_pf(df_ratio)
    assert np.abs(dec_ratio["gap"]).max() > 1e-3
    # ... and the driver reports that difference as its residual
    d = log_pf_fall_driver(df_ratio, 1, 20)
    assert d.residual == pytest.approx(dec_ratio["gap"].iloc[-1] - dec_ratio["gap"].iloc[0])
    assert d.residual != pytest.approx(0.0, abs=1e-6)
    assert log_pf_fall_driver(df, 1, 20).residual == pytest.approx(0.0, abs=1e-9)
    # with only mean_length, actions = length + 1 and the per-action column is derived
    df_len = df[["step", "mean_log_pf"]].assign(mean_length=df["mean_actions"] - 1)
    dec_len = decompose_log_pf(df_len)
    assert np.allclose(dec_len["mean_actions"], df["mean_actions"])
    assert np.allclose(dec_len["gap"], 0.0)


def test_log_pf_fall_driver_between_steps():
    run = synthetic_run(np.full(N, 20.0), length=ramp(1200, 10.0, 30.0), per_action=-2.0)
    d = log_pf_fall_driver(run, 1000, 1500)
    assert d.driver == "length"
    assert d.total_change == pytest.approx(d.length_term + d.per_action_term)
    assert d.residual == pytest.approx(0.0, abs=1e-9)   # single rows, ratio-of-sums exact
    smoothed = log_pf_fall_driver(run, 1000, 1500, half_width=10)
    assert smoothed.residual == pytest.approx(0.0, abs=1e-9)  # block ratio-of-sums exact
    assert smoothed.log_pf_start == pytest.approx(-22.0, abs=0.5)
    assert smoothed.log_pf_end == pytest.approx(-62.0, abs=0.5)


# ---------------------------------------------------------------------------
# "What's Happening"
# ---------------------------------------------------------------------------

def test_describe_phase_on_the_memo_table():
    rows = [r for _, r in MEMO_REWARD_C_TABLE.iterrows()]
    assert describe_phase(None, rows[0]).startswith("Policy exploring, low reward")
    p6000 = describe_phase(rows[0], rows[1])
    assert "Still exploring" in p6000 and "Loss decreasing (32 → 21)" in p6000
    p7000 = describe_phase(rows[1], rows[2])
    assert "Policy found high-reward mode (reward 0.06 → 0.79)" in p7000
    assert "Loss exploding (21 → 1327)" in p7000
    assert "length unknown" in p7000   # the memo's table cannot separate length from confidence


def test_describe_phase_with_length_separates_length_from_confidence():
    prev = {"mean_reward": 0.79, "loss": 1327, "mean_log_pf": -20.6, "mean_length": 10}
    cur = {"mean_reward": 0.93, "loss": 2362, "mean_log_pf": -64.3, "mean_length": 30}
    phrase = describe_phase(prev, cur)
    assert "Sequences lengthening (10.0 → 30.0 residues)" in phrase
    assert "Policy less confident per action" in phrase
    assert "Loss rising" in phrase
    confident = describe_phase({"mean_reward": 0.3, "mean_log_pf": -30.0, "mean_length": 19},
                               {"mean_reward": 0.3, "mean_log_pf": -10.0, "mean_length": 19})
    assert "Policy more confident per action" in confident and "Reward flat" in confident


def test_summary_table_reads_smoothed_rows():
    run = synthetic_run(step_curve(1200), reward=ramp(1200, 0.06, 0.79),
                        length=ramp(1200, 10.0, 30.0))
    table = summary_table(run, [1000, 1100, 1400, 1600])
    assert table["step"].tolist() == [1000, 1100, 1400, 1600]
    assert "found high-reward mode" in table.loc[2, "whats_happening"]
    assert "Loss exploding" in table.loc[2, "whats_happening"]
    assert "Sequences lengthening" in table.loc[2, "whats_happening"]


# ---------------------------------------------------------------------------
# implied log_Z, budget
# ---------------------------------------------------------------------------

def test_memo_implied_log_z_is_12_13_15_16_on_the_lagging_root():
    t = implied_log_z_rows(MEMO_REWARD_C_TABLE)
    assert np.round(t["log_z_lagging"]).tolist() == [12, 13, 15, 16]
    assert t["log_z_lagging"].tolist() == pytest.approx([12.13, 13.30, 14.64, 15.63], abs=0.01)
    assert (t["log_z_leading"] > 20).all()
    # the memo's table is left untouched
    assert MEMO_REWARD_C_TABLE["loss"].tolist() == [32.0, 21.0, 1327.0, 2362.0]


def test_implied_log_z_roots_reproduce_the_loss():
    lag, lead = implied_log_z(21.0, -20.7, 0.06)
    for log_z in (lag, lead):
        residual = log_z + (-20.7) - math.log(0.06)
        assert residual ** 2 == pytest.approx(21.0)
    assert isinstance(lag, float)
    # a residual spread reduces |mean residual|; loss = mean² + std²
    lag2, _ = implied_log_z(25.0, -10.0, 1.0, residual_std=3.0)
    assert lag2 == pytest.approx(10.0 - 4.0)
    arr_lag, arr_lead = implied_log_z(np.array([4.0, 9.0]), np.array([-5.0, -5.0]), 1.0)
    assert arr_lag.tolist() == [3.0, 2.0] and arr_lead.tolist() == [7.0, 8.0]


def test_budget_at_step_6000_matches_the_memo():
    b = budget_at_step(6000, batch_size=64, warmup_steps=1000, lr=3e-4)
    assert b["gradient_updates"] == 6000
    assert b["sequences_sampled"] == 384_000
    assert b["effective_steps"] == 5000
    assert b["lr_steps_rough"] == pytest.approx(1.5)
    assert b["lr_sum_exact"] == pytest.approx(1.5 + 3e-4 * 1001 / 2)
    # memo: "At step 500: only 32,000 sequences sampled; still in warmup"
    b500 = budget_at_step(500)
    assert b500["sequences_sampled"] == 32_000 and b500["effective_steps"] == 0
    assert b500["lr_sum_exact"] == pytest.approx(3e-4 * 500 * 501 / 2000)
    # exact sum equals a brute-force sum of the schedule
    lrs = [3e-4 * min(t / 1000, 1.0) for t in range(1, 6001)]
    assert b["lr_sum_exact"] == pytest.approx(sum(lrs))
    assert budget_at_step(100, warmup_steps=0)["lr_sum_exact"] == pytest.approx(0.03)


def test_memo_trigger_table_is_the_memos():
    assert len(MEMO_TRIGGER_TABLE) == 6
    b = MEMO_TRIGGER_TABLE.set_index("run").loc["reward-B-esm2pll"]
    assert pd.isna(b["explosion_step_low"]) and b["trigger"].startswith("Collapsed")


def test_min_actions_for_an_on_policy_log_pf():
    """On-policy E[log pi(a)] = -H(pi) >= -ln(#actions): the memo's -51.3 needs >= 16.8 actions."""
    import math

    import torch

    from gfn_lib.analysis import min_actions_for_log_pf

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2000, 21, generator=g) * torch.rand(2000, 1, generator=g) * 6  # sharp to flat
    logp = logits.log_softmax(-1)
    expected_log_prob = (logp.exp() * logp).sum(-1)  # E_{a~pi}[log pi(a)] = -H
    assert (expected_log_prob >= -math.log(21) - 1e-6).all()
    assert min_actions_for_log_pf(-51.3) == pytest.approx(16.85, abs=0.01)
    assert min_actions_for_log_pf(-math.log(21) * 11) == pytest.approx(11.0)
