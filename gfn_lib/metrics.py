"""What a sampler's output is worth beyond the loss.

* Exact evaluation on spaces small enough to enumerate: the sampler's terminal distribution
  P_T(x) = prod_t pi(a_t | s_t) (one path per x, P_B = 1), computed by scoring every sequence,
  compared with the target R(x) / sum R: the ground truth a GFlowNet researcher trusts.
* :func:`pairwise_diversity` of a batch, the published runs' "diversity" (:func:`batch_diversity`: of
  many batches at once, on their device, as the trainer logs it).

The per-step training metrics are assembled in :mod:`gfn_lib.trainer` (``METRIC_COLUMNS``).
"""

from __future__ import annotations

import torch

from gfn_lib.env import PeptideEnv
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


def first_occurrences(actions: torch.Tensor) -> torch.Tensor:
    """``actions [..., B, T]`` -> ``[..., B]``: True at the first row of each distinct sequence of a batch (rows are
    equal exactly when their sequences are: each ends in STOP, then padding). Static shapes, no read-back."""
    equal = (actions.unsqueeze(-2) == actions.unsqueeze(-3)).all(-1)  # [..., B, B]: row i == row j
    B = actions.shape[-2]
    earlier = torch.ones(B, B, dtype=torch.bool, device=actions.device).tril(-1)  # [B, B]: j < i
    return ~(equal & earlier).any(-1)


def lexicographic_rank(actions: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """``[..., B]``: each row's place among the ``keep`` rows (``[..., B]``, distinct) in ascending lexicographic
    order, ``torch.unique(dim=0)``'s order: the number of kept rows that sort before it."""
    differ = actions.unsqueeze(-2) != actions.unsqueeze(-3)  # [..., B, B, T]
    at = differ.int().argmax(-1, keepdim=True)  # [..., B, B, 1]: first position where rows i and j differ
    mine = actions.unsqueeze(-2).expand(differ.shape).gather(-1, at).squeeze(-1)  # [..., B, B]: row i there
    theirs = actions.unsqueeze(-3).expand(differ.shape).gather(-1, at).squeeze(-1)  # [..., B, B]: row j there
    before = differ.any(-1) & (theirs < mine)  # [..., B, B]: row j sorts before row i
    return (before & keep.unsqueeze(-2)).sum(-1)


def batch_diversity(actions: torch.Tensor, lengths: torch.Tensor, n_letters: int | None = None, max_sequences: int = 100,
                    distinct: torch.Tensor | None = None) -> torch.Tensor:  # fmt: skip
    """:func:`pairwise_diversity` of each batch: ``actions [..., B, T]`` (residue ids below ``n_letters`` within
    ``lengths [..., B]``) -> ``[...]`` float64. ``distinct``: :func:`first_occurrences`, if the caller has it.

    The sequences compared are the batch's distinct ones, the first ``max_sequences`` in ``torch.unique``'s
    order. The matching positions of every pair come from one matrix product of the rows' one-hot codes (each
    row's positions past its length zeroed, so a pair counts positions below the shorter length): whole
    numbers, exact in float32; each pair's identity is divided and summed in float64. Static shapes, no read-back, so
    a stack's R batches are measured in one go on its device (``n_letters`` None: read from the batch)."""
    if distinct is None:
        distinct = first_occurrences(actions)
    B = actions.shape[-2]
    chosen = distinct if B <= max_sequences else distinct & (lexicographic_rank(actions, distinct) < max_sequences)
    inside = torch.arange(actions.shape[-1], device=actions.device) < lengths.unsqueeze(-1)  # [..., B, T]
    residues = torch.where(inside, actions, 0)  # [..., B, T]
    n_letters = n_letters or int(residues.max()) + 1
    codes = torch.nn.functional.one_hot(residues, n_letters).float()  # [..., B, T, V]
    codes = (codes * inside.unsqueeze(-1)).flatten(-2)  # [..., B, T * V]
    same = codes @ codes.transpose(-1, -2)  # [..., B, B]: positions i < min(|x|, |y|) with x_i = y_i
    longer = torch.maximum(lengths.unsqueeze(-1), lengths.unsqueeze(-2)).clamp(min=1)  # [..., B, B]
    pairs = chosen.unsqueeze(-1) & chosen.unsqueeze(-2)  # [..., B, B]
    pairs &= torch.ones(B, B, dtype=torch.bool, device=actions.device).triu(1)  # each pair once
    identity = torch.where(pairs, same.double() / longer, 0.0).sum((-1, -2))  # [...]
    n = chosen.sum(-1).double()  # [...]
    return torch.where(n >= 2, 1.0 - identity / (n * (n - 1) / 2).clamp(min=1), 0.0)


def pairwise_diversity(actions: torch.Tensor, lengths: torch.Tensor, max_sequences: int = 100) -> float:
    """1 - mean pairwise identity over the batch's distinct sequences (at most ``max_sequences``):
    identity(x, y) = (positions i < min(|x|, |y|) with x_i = y_i) / max(|x|, |y|). The published
    runs' evaluation "sequence_diversity" (there on 500 samples in eval mode, first 100 distinct).
    One distinct sequence: 0. ``actions [B, T]``, ``lengths [B]`` (:func:`batch_diversity` of one batch)."""
    return float(batch_diversity(actions, lengths, max_sequences=max_sequences))


STACK_METRICS = ["unique_frac", "composition_entropy", "letters_used", "diversity"]
"""The per-step metrics of a batch's sequences (``METRIC_COLUMNS`` in :mod:`gfn_lib.trainer`)."""


def stack_metrics(env: PeptideEnv, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """:data:`STACK_METRICS` of R runs' batches ``actions [R, B, T]``, ``lengths [R, B]`` -> ``[R, 4]`` on their
    device, no read-back: the fraction of distinct sequences, the mean composition entropy (/ log V), the number
    of residues used anywhere in the batch, :func:`batch_diversity`."""
    R, B, T = actions.shape
    distinct = first_occurrences(actions)  # [R, B]
    composition = env.composition(actions.reshape(R * B, T), lengths.reshape(R * B))  # [R B, V]
    entropy = env.entropy_of_composition(composition).view(R, B).mean(1)  # [R]
    letters = (composition.view(R, B, -1).sum(1) > 0).sum(1)  # [R]
    diversity = batch_diversity(actions, lengths, env.vocab_size, distinct=distinct)  # [R]
    return torch.stack([distinct.sum(1).double() / B, entropy.double(), letters.double(), diversity], 1)  # [R, 4]
