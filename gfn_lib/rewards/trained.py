"""reward-A-trained: p(AMP) from the trained classifier, optionally sharpened.

``R(x) = p_AMP(x) ** beta`` (``beta = 1`` by default; ``beta > 1`` sharpens the
reward towards the classifier's confident region, ``beta < 1`` flattens it).
``p_AMP`` is :class:`gfn_lib.rewards.classifier.AMPClassifier` trained on
modlAMP AMPvsUniProt + AMPvsTM; it is a stand-in for the memo's trained AMP
proxy. It is hackable: homopolymers and dipeptide repeats such as
``KLKLKLKLKLKLKLKL`` score near 1 (see reward-C).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards import classifier
from gfn_lib.rewards.base import Reward, register


@register("trained")
class TrainedReward(Reward):
    """``p_AMP(x) ** beta`` on ``device`` (model cached under ``$GFN_CACHE_DIR``)."""

    name = "trained"

    def __init__(self, env: PeptideEnv, device: torch.device, beta: float = 1.0, **config: Any) -> None:
        super().__init__(env, device)
        if beta <= 0:
            raise ValueError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)
        self.cfg = classifier.ClassifierConfig(**config)
        model, self.metrics = classifier.load_or_train(self.cfg)
        self.model = model.to(device).eval()

    def p_amp(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Classifier probability ``[B]``."""
        with torch.no_grad():
            return self.model(actions, lengths)

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.p_amp(actions, lengths) ** self.beta  # [B]

    def describe(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "name": self.name,
            "formula": f"p_AMP(x) ** {self.beta}",
            "model": "MLP ensemble on torch descriptors (composition, charge, hydrophobicity, moments)",
            "data": "modlAMP 4.3.3 AMPvsUniProt + AMPvsTM (dedup, conflicting labels dropped)",
            "heldout_roc_auc": m["heldout_roc_auc"],
            "split": m["split"],
            "config": asdict(self.cfg),
            "cache_key": m["cache_key"],
            "stand_in_for": "the memo's reward-A-trained proxy",
        }
