"""Exact evaluation of a sampler on spaces small enough to enumerate.

The per-step training metrics live in :mod:`gfn_lib.trainer` (``METRIC_COLUMNS``);
here is the ground truth a GFlowNet researcher trusts: the sampler's exact
terminal distribution P_T(x) = prod_t pi(a_t | s_t) (one path per x, P_B = 1),
computed by scoring every sequence, compared with the target R(x) / sum R.
"""

from __future__ import annotations

import torch

from gfn_lib.policy import TransformerPolicy


@torch.no_grad()
def exact_distribution(policy: TransformerPolicy, sequences: list[str]) -> torch.Tensor:
    """P_T(x) for every ``x`` in ``sequences`` (teacher-forced, no sampling). ``[N]``."""
    device = policy.pos_emb.weight.device
    actions, lengths = policy.env.encode(sequences, device=device)
    return policy.evaluate(actions, lengths).log_pf.exp().cpu()


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """TV(p, q) = 0.5 * sum |p - q|."""
    return 0.5 * float((p - q).abs().sum())
