"""Many runs as one computation (gfn_lib.trainer.train_steps / gfn_lib.policy.PolicyStack): each run
of a stack gets exactly what it gets alone (metrics, checkpoints, resume)."""

import pandas as pd
import pytest
import torch

from gfn_lib import trainer as trainer_module
from gfn_lib.policy import PolicyStack, TransformerPolicy
from gfn_lib.randomness import RandomTape, realised_dropout
from gfn_lib.trainer import METRIC_COLUMNS, TIMING_COLUMNS, Trainer, train_together

COMPARED = [c for c in METRIC_COLUMNS if c not in TIMING_COLUMNS]


@pytest.fixture
def three_runs(tiny_config):
    """Three runs that share the policy's shape and differ in seed and in settings a stack keeps per run."""
    base = tiny_config.model_copy(update={"dropout": 0.1, "n_steps": 20, "optimizer": "adamw", "weight_decay": 0.01})
    return [
        base.model_copy(update={"seed": 1}),
        base.model_copy(update={"seed": 2, "log_z_lr": 0.3, "entropy_weight": 0.1, "lr_schedule": "constant-then-cosine"}),
        base.model_copy(update={"seed": 3, "grad_clip": 0.5, "epsilon": 0.1, "temperature": 2.0, "log_z_init": 5.0}),
    ]


def _alone(cfg, out_dir=None) -> pd.DataFrame:
    return Trainer(cfg, out_dir).train(progress=False)


def _together(cfgs, dirs=None) -> list[pd.DataFrame]:
    trainers = [Trainer(c, d) for c, d in zip(cfgs, dirs or [None] * len(cfgs))]
    train_together(trainers, progress=False)
    return [t.metrics_frame() for t in trainers]


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a[COMPARED].reset_index(drop=True), b[COMPARED].reset_index(drop=True),
                                  check_dtype=False, rtol=1e-4, atol=1e-5)  # fmt: skip


def test_three_stacked_runs_equal_three_single_runs(three_runs):
    together = _together(three_runs)
    for cfg, df in zip(three_runs, together):
        assert len(df) == cfg.n_steps
        _assert_same(df, _alone(cfg))
    assert not together[0]["loss"].equals(together[1]["loss"])  # the runs really differ


def test_stacked_runs_resume_exactly(three_runs, tmp_path):
    """Runs 0 and 2 stop at step 10 (as if killed after a checkpoint), then all three go on as one stack:
    0 and 2 resume, 1 starts fresh (its cosine schedule depends on n_steps, so it never resumes with another)."""
    dirs = [tmp_path / f"run{i}" for i in range(3)]
    _together([three_runs[i].model_copy(update={"n_steps": 10}) for i in (0, 2)], [dirs[0], dirs[2]])
    for cfg, df in zip(three_runs, _together(three_runs, dirs)):
        _assert_same(df, _alone(cfg))


def test_runs_of_different_lengths_finish_each_at_its_own_step(three_runs):
    cfgs = [three_runs[0].model_copy(update={"n_steps": 7}), three_runs[2]]
    a, b = _together(cfgs)
    assert len(a) == 7 and len(b) == 20
    _assert_same(b, _alone(cfgs[1]))


def test_static_shapes_give_the_early_stopping_numbers(three_runs):
    cfg = three_runs[0]
    _assert_same(_alone(cfg.model_copy(update={"static_shapes": True})), _alone(cfg))


def test_stacking_refuses_policies_of_different_shapes(tiny_config):
    env = tiny_config.env
    with pytest.raises(ValueError, match="different shapes"):
        PolicyStack([TransformerPolicy(env, 1, 32, 2), TransformerPolicy(env, 2, 32, 2)])
    with pytest.raises(ValueError, match="same device, batch_size"):
        train_together([Trainer(tiny_config), Trainer(tiny_config.model_copy(update={"batch_size": 16}))], progress=False)


def test_random_tape_gives_a_run_the_same_numbers_alone_and_stacked():
    def tape(seeds, keep=None, chunk=1000):
        return RandomTape([torch.Generator().manual_seed(s) for s in seeds], torch.device("cpu"), keep, chunk)

    for keep in (None, 0.9):
        alone, stacked, big = tape([7], keep), tape([3, 7, 9], keep), tape([7], keep, chunk=1 << 20)
        big.MASK_PASS = 64  # masks of a refill made in many passes (of 4096 lanes)
        for shape in [(5,), (2, 400), (3, 3), (1700,), (999,)]:  # crosses refills of 1000 values, and one of more
            a, s, b = alone.take(*shape), stacked.take(*shape), big.take(*shape)
            assert a.shape == (1, *shape) and s.shape == (3, *shape)
            torch.testing.assert_close(a[0], s[1], rtol=0, atol=0)
            torch.testing.assert_close(a, b, rtol=0, atol=0)  # refill and pass sizes never change the numbers
            assert not torch.equal(s[0], s[1])
        if keep is not None:
            torch.testing.assert_close(torch.unique(s), torch.tensor([0.0, 1 / keep]))


def test_dropout_masks_drop_the_realised_share():
    p = 0.1
    tape = RandomTape([torch.Generator().manual_seed(0), torch.Generator().manual_seed(1)], torch.device("cpu"), keep=1 - p)
    masks = tape.take(2_000_000)  # [2, n]
    assert realised_dropout(p) == 6554 / 65536
    dropped = (masks == 0).double().mean(1)
    se = (realised_dropout(p) * (1 - realised_dropout(p)) / masks.shape[1]) ** 0.5
    assert ((dropped - realised_dropout(p)).abs() < 4 * se).all(), dropped
    assert torch.all((masks == 0) | (masks == masks.max())) and masks.max().item() == pytest.approx(1 / (1 - p))


def test_runs_sharing_a_reward_model_score_as_alone(tiny_config, monkeypatch, count_backbone_calls):
    """The full profile's mix in small: three runs whose published rewards share one backbone (two of
    reward-C's, one baseline) call it once a step as a stack, and each gets what it gets alone (on the
    CPU too for this test: by default only a GPU shares, ``SHARED_REWARD_FORWARD_DEVICES``)."""
    monkeypatch.setattr(trainer_module, "SHARED_REWARD_FORWARD_DEVICES", ("cpu", "cuda"))
    base = tiny_config.model_copy(update={
        "alphabet": "ACDEFGHIKLMNPQRSTVWY", "min_len": 10, "max_len": 16, "batch_size": 12, "n_steps": 6,
        "dropout": 0.1, "reward": "improved-published", "log_reward_eps": 1e-8, "top_k": 0,
    })  # fmt: skip
    cfgs = [base.model_copy(update={"seed": 1}), base.model_copy(update={"seed": 2, "log_z_lr": 0.3}),
            base.model_copy(update={"seed": 3, "reward": "baseline-published"})]  # fmt: skip
    trainers = [Trainer(c) for c in cfgs]
    backbone = trainers[0].reward.shared_model()
    assert all(tr.reward.shared_model() is backbone for tr in trainers)
    calls = count_backbone_calls(backbone)
    train_together(trainers, progress=False)
    assert calls == [3 * 12] * 6  # one backbone call a step, for all three runs
    for cfg, tr in zip(cfgs, trainers):
        _assert_same(tr.metrics_frame(), _alone(cfg))


def test_on_the_cpu_each_run_calls_its_reward_model(tiny_config, count_backbone_calls):
    """By default a CPU stack does not share the rewards' backbone (slower there): one call per run a step."""
    base = tiny_config.model_copy(update={
        "alphabet": "ACDEFGHIKLMNPQRSTVWY", "min_len": 10, "max_len": 16, "batch_size": 12, "n_steps": 2,
        "reward": "improved-published", "top_k": 0, "device": "cpu",
    })  # fmt: skip
    trainers = [Trainer(base.model_copy(update={"seed": s})) for s in (1, 2)]
    calls = count_backbone_calls(trainers[0].reward.shared_model())
    train_together(trainers, progress=False)
    assert calls == [12] * 4
