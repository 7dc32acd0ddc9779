"""The published sampler (``dropout_scoring: recompute``, :meth:`PolicyStack.sample_recomputing`): each
position is one forward pass over the whole prefix with masks of its own, and that pass draws and scores
the action. Checked against the KV-cached sampler, against teacher-forced passes under the same masks,
and stacked against alone."""

import pytest
import torch

from gfn_lib.policy import PolicyStack, TransformerPolicy
from gfn_lib.randomness import DropoutMasks
from gfn_lib.trainer import Trainer, train_together
from tests.test_multirun import _alone, _assert_same, _together


def _policy(env, dropout: float, seed: int = 0, **kw) -> TransformerPolicy:
    torch.manual_seed(seed)
    return TransformerPolicy(env, n_layers=2, d_model=16, n_heads=2, dropout=dropout, init="xavier", **kw)


def _gens(seed: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(seed)]


def test_without_dropout_it_samples_and_scores_what_the_kv_cache_and_one_scoring_pass_do(tiny_config):
    """No masks, so nothing to redraw: the same Gumbel noise gives the same trajectories, and each pass's
    score is the teacher-forced one."""
    env = tiny_config.env
    stack = PolicyStack([_policy(env, 0.0, state_flow=True)])
    traj, ev = stack.sample_recomputing(32, _gens(1), _gens(2), [1.0], [0.0])
    kv = stack.sample(32, _gens(1), [1.0], [0.0])
    assert torch.equal(traj.actions, kv.actions) and torch.equal(traj.lengths, kv.lengths)
    scored = stack.evaluate(kv.actions, kv.lengths, trim=False)
    torch.testing.assert_close(ev.log_pf_steps, scored.log_pf_steps)
    torch.testing.assert_close(ev.entropy_steps, scored.entropy_steps)
    assert torch.equal(ev.valid, scored.valid)
    valid = scored.valid
    torch.testing.assert_close(ev.log_flows[valid], scored.log_flows[valid])


def test_each_action_is_scored_by_the_pass_that_drew_it_under_masks_of_that_pass_alone(tiny_config):
    """With dropout: the log P_F of step t is the sampling probability of its action (temperature 1, no
    exploration), and it is what a teacher-forced pass over the prefix gives under masks drawn for that pass
    (one draw of t + 1 positions per pass, in order, from the mask generator): the prefix's masks are redrawn
    at every position."""
    env = tiny_config.env
    policy = _policy(env, 0.3)
    stack = PolicyStack([policy])
    B, T = 32, env.horizon
    traj, ev = stack.sample_recomputing(B, _gens(1), _gens(2), [1.0], [0.0], static=True)
    valid = ev.valid
    torch.testing.assert_close(ev.log_pf_steps[valid], traj.sampler_log_probs[valid])
    assert ev.log_pf_steps.requires_grad

    replay = _gens(2)
    for t in range(T):
        masks = DropoutMasks.draw(replay, B, t + 1, 2, 16, 2, 0.3, torch.device("cpu"))
        prefix = stack.evaluate(traj.actions[..., : t + 1], traj.lengths, trim=False, masks=masks)
        here = valid[..., t]
        torch.testing.assert_close(prefix.log_pf_steps[..., t][here], ev.log_pf_steps[..., t][here])
    # and not what one set of masks for the whole trajectory gives (the KV cache's `sampling` scores)
    once = stack.evaluate(traj.actions, traj.lengths, trim=False, masks=DropoutMasks.draw(_gens(2), B, T, 2, 16, 2, 0.3,
                                                                                          torch.device("cpu")))  # fmt: skip
    assert not torch.allclose(once.log_pf_steps[valid], ev.log_pf_steps[valid])


def test_early_stop_gives_the_static_numbers(tiny_config):
    env = tiny_config.env
    stack = PolicyStack([_policy(env, 0.2)])
    early = stack.sample_recomputing(16, _gens(3), _gens(4), [1.0], [0.1])
    static = stack.sample_recomputing(16, _gens(3), _gens(4), [1.0], [0.1], static=True)
    assert torch.equal(early[0].actions, static[0].actions)
    torch.testing.assert_close(early[1].log_pf_steps, static[1].log_pf_steps)


@pytest.fixture
def recompute_runs(tiny_config):
    base = tiny_config.model_copy(update={"dropout": 0.1, "dropout_scoring": "recompute", "n_steps": 12,
                                          "optimizer": "adamw", "weight_decay": 0.01})  # fmt: skip
    return [
        base.model_copy(update={"seed": 1}),
        base.model_copy(update={"seed": 2, "log_z_lr": 0.3, "lr_schedule": "constant-then-cosine"}),
    ]


def test_recomputing_runs_stacked_equal_single_runs_and_resume_exactly(recompute_runs, tmp_path):
    together = _together(recompute_runs)
    for cfg, df in zip(recompute_runs, together):
        _assert_same(df, _alone(cfg))
    # killed after step 6's checkpoint: the resumed run has the uninterrupted run's numbers
    half = recompute_runs[0].model_copy(update={"n_steps": 6, "checkpoint_every": 3})
    Trainer(half, tmp_path / "run").train(progress=False)
    resumed = Trainer(recompute_runs[0].model_copy(update={"checkpoint_every": 3}), tmp_path / "run")
    assert resumed.step == 6
    train_together([resumed], progress=False)
    _assert_same(resumed.metrics_frame(), together[0])


def test_the_three_scoring_settings_train_differently(tiny_config):
    """Same seed: ``recompute`` samples other trajectories than the KV-cached settings (its masks differ),
    and trains (SubTB too, whose state flows come from the same passes)."""
    cfg = tiny_config.model_copy(update={"dropout": 0.3, "n_steps": 3})
    rows = {s: Trainer(cfg.model_copy(update={"dropout_scoring": s})).train(progress=False) for s in ("fresh", "recompute")}
    assert not rows["fresh"]["mean_log_pf"].equals(rows["recompute"]["mean_log_pf"])
    subtb = Trainer(cfg.model_copy(update={"dropout_scoring": "recompute", "loss": "subtb"})).train(progress=False)
    assert subtb["loss"].notna().all() and (subtb["loss"] > 0).all()
