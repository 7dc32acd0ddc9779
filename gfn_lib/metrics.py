"""What a sampler's output is worth beyond the loss.

* Exact evaluation on spaces small enough to enumerate: the sampler's terminal distribution
  P_T(x) = prod_t pi(a_t | s_t) (one path per x, P_B = 1), computed by scoring every sequence,
  compared with the target R(x) / sum R: the ground truth a GFlowNet researcher trusts.
* :func:`pairwise_diversity` of a batch, the published runs' "diversity".

The per-step training metrics are assembled in :mod:`gfn_lib.trainer` (``METRIC_COLUMNS``).
"""

from __future__ import annotations

import torch

from gfn_lib.policy import TransformerPolicy


@torch.no_grad()
def exact_distribution(policy: TransformerPolicy, sequences: list[str]) -> torch.Tensor:
    """P_T(x) for every ``x`` in ``sequences`` (teacher-forced, no sampling). ``[N]``."""
    device = policy.head.weight.device
    actions, lengths = policy.env.encode(sequences, device=device)
    return policy.evaluate(actions, lengths).log_pf.exp().cpu()


def total_variation(p: torch.Tensor, q: torch.Tensor) -> float:
    """TV(p, q) = 0.5 * sum |p - q|."""
    return 0.5 * float((p - q).abs().sum())


def distinct_sequences(actions: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The batch's distinct rows ``[U, T]`` (sorted, as ``torch.unique``) and their lengths ``[U]``."""
    rows, first = torch.unique(actions, dim=0, return_inverse=True)
    # the length of each distinct row (identical rows have identical lengths)
    lens = torch.zeros(rows.shape[0], dtype=lengths.dtype, device=lengths.device).scatter_(0, first, lengths)
    return rows, lens


def pairwise_diversity(actions: torch.Tensor, lengths: torch.Tensor, max_sequences: int = 100) -> float:
    """1 - mean pairwise identity over the batch's distinct sequences (at most ``max_sequences``):
    identity(x, y) = (positions i < min(|x|, |y|) with x_i = y_i) / max(|x|, |y|). The published
    runs' evaluation "sequence_diversity" (there on 500 samples in eval mode, first 100 distinct).
    One distinct sequence: 0."""
    return diversity_of_distinct(*distinct_sequences(actions, lengths), max_sequences)


def diversity_of_distinct(rows: torch.Tensor, lens: torch.Tensor, max_sequences: int = 100) -> float:
    """:func:`pairwise_diversity` from :func:`distinct_sequences`' output (a caller that needs both).
    The matching positions of every pair come from one matrix product of the rows' one-hot codes (each row's
    positions past its length zeroed, so a pair counts positions below the shorter length): whole numbers,
    exact in float32, so the same value as comparing the ``[U, U, T]`` pairs one by one, at 1/3 of the time."""
    if rows.shape[0] < 2:
        return 0.0
    rows, lens = rows[:max_sequences], lens[:max_sequences]  # [U, T], [U]
    inside = torch.arange(rows.shape[1], device=rows.device) < lens.unsqueeze(1)  # [U, T]
    codes = torch.nn.functional.one_hot(torch.where(inside, rows, 0), int(rows.max()) + 1).float()  # [U, T, V]
    codes = (codes * inside.unsqueeze(-1)).flatten(1)  # [U, T * V]
    same = codes @ codes.T  # [U, U] positions i < min(|x|, |y|) with x_i = y_i
    identity = same / torch.maximum(lens.unsqueeze(1), lens.unsqueeze(0)).clamp(min=1)  # [U, U]
    u = rows.shape[0]
    return float(1.0 - identity.triu(1).sum() / (u * (u - 1) / 2))
