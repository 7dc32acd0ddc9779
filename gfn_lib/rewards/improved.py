"""reward-C-improved: a composite that is hard to hack with degenerate sequences.

::

    R_C(x) = p_AMP(x) * N(x) * S(x)

* ``p_AMP``: reward-A's classifier (:mod:`gfn_lib.rewards.classifier`) - is it antimicrobial?
* ``N = sigmoid((PLL(x)/L - m) / s)``: naturalness from the masked LM's
  per-residue pseudo-log-likelihood, the reward-B transform
  (:mod:`gfn_lib.rewards.esm2pll`) - does it look like a real peptide?
* ``S``: product of the three sanity gates of :mod:`gfn_lib.rewards.sanity`
  (composition entropy, largest residue fraction, distinct 3-mer ratio) - is
  it free of low-complexity repeats? This is the term that removes what both
  other terms reward wrongly: the classifier scores ``KLKLKLKLKLKLKLKL`` and
  ``WWWWWWWWWWWWWWW`` near 1, and masked LMs give repeats a high PLL.

Each factor is in (0, 1) and smooth, so R_C is too; a natural AMP scores
~0.8 while random peptides sit ~0.03 and degenerate probes at the floor.
Stand-in for the memo's reward-C-improved.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards import classifier
from gfn_lib.rewards.base import Reward, register
from gfn_lib.rewards.esm2pll import shared_scorer
from gfn_lib.rewards.sanity import SanityGates, sanity_terms


@register("improved")
class ImprovedReward(Reward):
    """``p_AMP * naturalness * sanity`` (module docstring)."""

    name = "improved"

    def __init__(self, env: PeptideEnv, device: torch.device, checkpoint: str | None = None,
                 classifier_config: dict[str, Any] | None = None, mlm_config: dict[str, Any] | None = None,
                 gates: dict[str, float] | None = None, pll_stride: int | None = None) -> None:  # fmt: skip
        super().__init__(env, device)
        self.cfg = classifier.ClassifierConfig(**(classifier_config or {}))
        model, self.clf_metrics = classifier.load_or_train(self.cfg)
        self.classifier = model.to(device).eval()
        self.scorer = shared_scorer(device, checkpoint, pll_stride, **(mlm_config or {}))
        self.gates = SanityGates(**(gates or {}))

    def components(self, actions: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every factor ``[B]``: ``p_amp``, ``naturalness``, ``entropy``, ``max_fraction``, ``repeats``."""
        with torch.no_grad():
            p = self.classifier(actions, lengths)  # [B] (also validates the ids)
            nat = self.scorer.naturalness(self.scorer.per_residue(actions, lengths))  # [B]
            return {"p_amp": p, "naturalness": nat, **sanity_terms(actions, lengths, self.gates)}

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        c = self.components(actions, lengths)
        return c["p_amp"] * c["naturalness"] * c["entropy"] * c["max_fraction"] * c["repeats"]  # [B]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "formula": "p_AMP * sigmoid((PLL/L - m)/s) * gate_entropy * gate_max_fraction * gate_distinct_3mers",
            "classifier": {"heldout_roc_auc": self.clf_metrics["heldout_roc_auc"], "config": asdict(self.cfg),
                           "cache_key": self.clf_metrics["cache_key"]},  # fmt: skip
            "plm": self.scorer.describe(),
            "gates": asdict(self.gates),
            "stand_in_for": "the memo's reward-C-improved",
        }
