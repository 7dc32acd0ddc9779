"""GFlowNet objectives for autoregressive generation (tree-shaped DAG, so P_B = 1).

One loss per class. Each returns a :class:`LossOutput` whose ``loss`` is what
the optimiser minimises *before* the entropy bonus (the trainer subtracts
``entropy_weight * H``). ``logz_parameters()`` is the log Z parameter group that
gets its own learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class LossOutput:
    loss: torch.Tensor
    """Scalar objective."""
    residual: torch.Tensor
    """``[B]`` per-trajectory TB residual log Z + log P_F(x) - log R(x) (with this loss's log Z estimate)."""
    log_z: torch.Tensor
    """Scalar log Z estimate used for the residual."""


class TrajectoryBalance(nn.Module):
    """Trajectory Balance (Malkin et al., 2022, "Trajectory balance: Improved credit
    assignment in GFlowNets", NeurIPS): ``(log Z + log P_F(tau) - log R(x) - log P_B(tau|x))^2``,
    with P_B = 1 here. log Z is a learnable scalar."""

    def __init__(self, log_z_init: float = 0.0) -> None:
        super().__init__()
        self.log_z = nn.Parameter(torch.tensor(float(log_z_init)))

    def logz_parameters(self) -> list[nn.Parameter]:
        return [self.log_z]

    def forward(self, log_pf: torch.Tensor, log_reward: torch.Tensor, **_: torch.Tensor) -> LossOutput:
        residual = self.log_z + log_pf - log_reward  # [B]
        return LossOutput(residual.pow(2).mean(), residual.detach(), self.log_z.detach().clone())


class SubTrajectoryBalance(nn.Module):
    """SubTB(lambda) (Madan et al., 2023, "Learning GFlowNets from partial episodes for
    improved convergence and stability", ICML), ``geometric_within`` weighting as in
    torchgfn: for every sub-trajectory s_i -> s_j (0 <= i < j <= n) of a trajectory with
    n actions, the residual ``log F(s_i) + sum_{i<=t<j} log pi(a_t|s_t) - log F(s_j)`` is
    squared and weighted by lambda^(j-i), normalised within the trajectory; the batch loss
    is the mean over trajectories. Boundary conditions: log F(s_0) = log Z (a learnable
    scalar, own parameter group), log F(terminal x) = log R(x); intermediate log F(s_t)
    come from the policy's state-flow head.
    """

    def __init__(self, lamda: float = 0.9, log_z_init: float = 0.0) -> None:
        super().__init__()
        self.lamda = lamda
        self.log_z = nn.Parameter(torch.tensor(float(log_z_init)))

    def logz_parameters(self) -> list[nn.Parameter]:
        return [self.log_z]

    def forward(
        self,
        log_pf: torch.Tensor,
        log_reward: torch.Tensor,
        log_pf_steps: torch.Tensor,
        log_flows: torch.Tensor,
        lengths: torch.Tensor,
        **_: torch.Tensor,
    ) -> LossOutput:
        B, T = log_pf_steps.shape
        n = lengths + 1  # [B] actions per trajectory (residues + STOP)
        idx = torch.arange(T + 1, device=log_pf.device)  # states s_0..s_T
        # log F at every state: s_0 -> log Z, s_n -> log R, inner -> flow head
        flows = torch.cat([log_flows, torch.zeros_like(log_flows[:, :1])], dim=1)  # [B, T+1]
        flows[:, 0] = self.log_z
        flows = torch.where(idx.unsqueeze(0) == n.unsqueeze(1), log_reward.unsqueeze(1), flows)
        cum = torch.cat([torch.zeros_like(log_pf_steps[:, :1]), log_pf_steps.cumsum(1)], dim=1)  # [B, T+1]
        u = flows - cum  # [B, T+1]: residual(i, j) = u_i - u_j = F_i + (cum_j - cum_i) - F_j
        residual = u.unsqueeze(2) - u.unsqueeze(1)  # [B, T+1, T+1]
        i, j = idx.view(-1, 1), idx.view(1, -1)
        pair = (i < j).unsqueeze(0) & (j.unsqueeze(0) <= n.view(B, 1, 1))  # [B, T+1, T+1]
        weight = torch.where(pair, self.lamda ** (j - i).float().clamp(min=0), 0.0)  # [B, T+1, T+1]
        weight = weight / weight.sum((1, 2), keepdim=True)
        loss = (weight * residual.pow(2)).sum((1, 2)).mean()
        tb_residual = self.log_z + log_pf - log_reward  # [B]
        return LossOutput(loss, tb_residual.detach(), self.log_z.detach().clone())


class LogPartitionVariance(nn.Module):
    """log Z-free objective: the variance over the batch of log P_F(tau) - log R(x)
    (the "VarGrad"/log-partition-variance loss of Zhang et al., 2023, "Robust scheduling
    with GFlowNets", and Richter et al., 2020, "VarGrad"). Each trajectory implies
    log Z_i = log R(x_i) - log P_F(tau_i); the loss is their variance, and their mean is
    the reported log Z estimate. No parameter to tune."""

    def logz_parameters(self) -> list[nn.Parameter]:
        return []

    def forward(self, log_pf: torch.Tensor, log_reward: torch.Tensor, **_: torch.Tensor) -> LossOutput:
        implied_log_z = log_reward - log_pf  # [B]
        log_z = implied_log_z.mean()
        residual = log_pf - log_reward + log_z  # [B]
        return LossOutput(residual.pow(2).mean(), residual.detach(), log_z.detach())


def make_loss(name: str, log_z_init: float = 0.0, subtb_lambda: float = 0.9) -> nn.Module:
    """``tb`` | ``subtb`` | ``logvar`` -> loss module."""
    if name == "tb":
        return TrajectoryBalance(log_z_init)
    if name == "subtb":
        return SubTrajectoryBalance(subtb_lambda, log_z_init)
    if name == "logvar":
        return LogPartitionVariance()
    raise ValueError(f"unknown loss {name!r}")
