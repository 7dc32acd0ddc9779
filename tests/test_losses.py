import math

import pytest
import torch

from gfn_lib.losses import LogPartitionVariance, SubTrajectoryBalance, TrajectoryBalance, make_loss


def test_tb_is_squared_residual_with_learnable_log_z():
    tb = TrajectoryBalance(log_z_init=2.0)
    log_pf = torch.tensor([-3.0, -1.0])
    log_r = torch.tensor([-0.5, -2.0])
    out = tb(log_pf=log_pf, log_reward=log_r)
    expected = torch.tensor([2.0 - 3.0 + 0.5, 2.0 - 1.0 + 2.0])
    torch.testing.assert_close(out.residual, expected)
    assert out.loss.item() == pytest.approx(float(expected.pow(2).mean()))
    out.loss.backward()
    assert tb.log_z.grad.item() == pytest.approx(float(2 * expected.mean()))
    assert tb.logz_parameters() == [tb.log_z]


def _consistent_batch(B=5, T=6, seed=0):
    """Per-step log-probs, lengths and flows that satisfy detailed balance exactly."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T - 1, (B,), generator=g)
    n = lengths + 1
    steps = -torch.rand(B, T, generator=g) * 2
    steps = torch.where(torch.arange(T) < n.unsqueeze(1), steps, torch.zeros(()))
    log_z = 1.7
    cum = steps.cumsum(1)
    flows = log_z + torch.cat([torch.zeros(B, 1), cum[:, :-1]], 1)  # log F(s_t) = log Z + sum_{<t}
    log_r = log_z + steps.sum(1)
    return steps, flows, lengths, log_r, log_z


def test_subtb_is_zero_on_consistent_flows_and_positive_otherwise():
    steps, flows, lengths, log_r, log_z = _consistent_batch()
    subtb = SubTrajectoryBalance(lamda=0.9, log_z_init=log_z)
    out = subtb(log_pf=steps.sum(1), log_reward=log_r, log_pf_steps=steps, log_flows=flows, lengths=lengths)
    assert out.loss.item() == pytest.approx(0.0, abs=1e-9)
    assert out.residual.abs().max().item() == pytest.approx(0.0, abs=1e-5)
    bad = subtb(log_pf=steps.sum(1), log_reward=log_r, log_pf_steps=steps, log_flows=flows + 0.3 * torch.randn(flows.shape), lengths=lengths)
    assert bad.loss.item() > 1e-3


def test_subtb_with_tiny_lambda_reduces_to_mean_single_step_residuals():
    """lambda -> 0 keeps only length-1 sub-trajectories (detailed balance), equally weighted."""
    steps, flows, lengths, log_r, log_z = _consistent_batch(B=1, T=4, seed=1)
    flows = flows.clone()
    flows[0, 1] += 1.0  # break one inner flow: the two transitions around s_1 are off by 1
    out = SubTrajectoryBalance(lamda=1e-6, log_z_init=log_z)(
        log_pf=steps.sum(1), log_reward=log_r, log_pf_steps=steps, log_flows=flows, lengths=lengths
    )
    n = int(lengths[0]) + 1
    assert out.loss.item() == pytest.approx(2.0 / n, rel=1e-3)


def test_logvar_has_no_log_z_and_vanishes_when_log_r_minus_log_pf_is_constant():
    lv = LogPartitionVariance()
    assert lv.logz_parameters() == []
    log_pf = torch.tensor([-3.0, -5.0, -1.0])
    out = lv(log_pf=log_pf, log_reward=log_pf + 4.0)
    assert out.loss.item() == pytest.approx(0.0, abs=1e-12)
    assert out.log_z.item() == pytest.approx(4.0)
    out2 = lv(log_pf=log_pf, log_reward=torch.tensor([0.0, 0.0, 0.0]))
    assert out2.loss.item() == pytest.approx(float(log_pf.var(unbiased=False)))


def test_make_loss_names():
    assert isinstance(make_loss("tb", 3.0), TrajectoryBalance)
    assert isinstance(make_loss("subtb"), SubTrajectoryBalance)
    assert isinstance(make_loss("logvar"), LogPartitionVariance)
    assert make_loss("tb", 3.0).log_z.item() == pytest.approx(3.0)
    with pytest.raises(ValueError):
        make_loss("db")
    assert math.isfinite(make_loss("subtb", 0.5).log_z.item())
