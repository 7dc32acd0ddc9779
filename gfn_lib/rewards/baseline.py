"""baseline: a hand-set physicochemical AMP-likeness reward (no training, no data).

Stand-in for the memo's ``baseline`` run. Antimicrobial peptides are mostly
cationic amphipathic helices, so the reward multiplies smooth windows on
three modlAMP-defined descriptors (:mod:`gfn_lib.rewards.features`)::

    R(x) = eps + (1 - eps) * w(Q; 2, 9, 0.5) * w(muH; 0.25, inf, 0.05) * w(H; -0.6, 0.6, 0.1)

    w(v; lo, hi, s) = sigmoid((v - lo) / s) * sigmoid((hi - v) / s)

with Q the net charge at pH 7.4 (amidated), muH the global Eisenberg
hydrophobic moment at 100 degrees, H the mean Eisenberg hydrophobicity and
eps = 0.01 so log R >= log 0.01.
"""

from __future__ import annotations

from typing import Any

import torch

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards.base import Reward, register
from gfn_lib.rewards.features import PeptideFeatures


def window(v: torch.Tensor, lo: float, hi: float, width: float) -> torch.Tensor:
    """Smooth indicator of ``lo <= v <= hi``: ``sigmoid((v-lo)/w) * sigmoid((hi-v)/w)``."""
    return torch.sigmoid((v - lo) / width) * torch.sigmoid((hi - v) / width)


@register("baseline")
class BaselineReward(Reward):
    """Windows on net charge, hydrophobic moment and hydrophobicity (module docstring)."""

    name = "baseline"

    def __init__(self, env: PeptideEnv, device: torch.device, charge: tuple[float, float] = (2.0, 9.0),
                 charge_width: float = 0.5, min_moment: float = 0.25, moment_width: float = 0.05,
                 hydrophobicity: tuple[float, float] = (-0.6, 0.6), hydrophobicity_width: float = 0.1,
                 eps: float = 0.01) -> None:  # fmt: skip
        super().__init__(env, device)
        self.features = PeptideFeatures(env.alphabet).to(device)
        self.params = {"charge": charge, "charge_width": charge_width, "min_moment": min_moment,
                       "moment_width": moment_width, "hydrophobicity": hydrophobicity,
                       "hydrophobicity_width": hydrophobicity_width, "eps": eps}  # fmt: skip

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        p = self.params
        oh, _ = self.features.one_hot(actions, lengths)  # [B, L, V]
        q = self.features.net_charge(oh.sum(1))  # [B]
        h = oh @ self.features.hydrophobicity  # [B, L]
        h_mean = h.sum(1) / lengths.clamp(min=1)  # [B]
        mu = self.features.hydrophobic_moment(h, lengths, actions.shape[1])  # [B] global moment
        w = (
            window(q, p["charge"][0], p["charge"][1], p["charge_width"])
            * torch.sigmoid((mu - p["min_moment"]) / p["moment_width"])
            * window(h_mean, p["hydrophobicity"][0], p["hydrophobicity"][1], p["hydrophobicity_width"])
        )
        return p["eps"] + (1 - p["eps"]) * w  # [B]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": "eps + (1-eps) * w(Q) * sigmoid((muH - m0)/s) * w(H)",
            "params": self.params,
            "descriptors": "modlAMP definitions: charge pH 7.4 amidated (Bjellqvist), Eisenberg muH at 100 deg",
            "model": None,
            "data": None,
            "stand_in_for": "the memo's 'baseline' physicochemical reward",
        }
