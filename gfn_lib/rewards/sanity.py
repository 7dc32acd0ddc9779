"""Sequence-sanity terms for reward-C: penalise low complexity, one dominant residue, repeats.

Each term is a smooth sigmoid gate in (0, 1) on a length-normalised statistic
(``mask [B, L]``-aware, batched, any device). Thresholds sit just below the
1st percentile of the 1402 natural AMPs of length 10-30 in modlAMP's
AMPvsUniProt + AMPvsTM (normalised entropy 0.47, max residue fraction 0.47,
distinct 3-mer ratio 0.63), so natural peptides pass (~1) and degenerate
ones (homopolymers, di/tri-peptide repeats) are gated to ~0:

* normalised composition entropy ``H_n = -sum_a f_a log f_a / log(min(L, 20))``,
  gate ``sigmoid((H_n - 0.5) / 0.05)``;
* largest residue fraction ``f_max = max_a f_a``, gate ``sigmoid((0.45 - f_max) / 0.04)``;
* distinct 3-mer ratio ``d_3 = #distinct 3-mers / (L - 2)`` (1 for no repeated
  3-mer, 2/(L-2) for ``KLKL...``), gate ``sigmoid((d_3 - 0.6) / 0.05)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SanityGates:
    """Centres and widths of the three sigmoid gates (see module docstring)."""

    entropy_centre: float = 0.5
    entropy_width: float = 0.05
    max_frac_centre: float = 0.45
    max_frac_width: float = 0.04
    distinct3_centre: float = 0.6
    distinct3_width: float = 0.05


def composition(actions: torch.Tensor, lengths: torch.Tensor, v: int = 20) -> torch.Tensor:
    """Residue fractions ``[B, V]`` over the first ``lengths`` tokens."""
    mask = torch.arange(actions.shape[1], device=actions.device).unsqueeze(0) < lengths.unsqueeze(1)  # [B, L]
    oh = torch.nn.functional.one_hot(actions.clamp(0, v - 1), v).float() * mask.unsqueeze(-1)  # [B, L, V]
    return oh.sum(1) / lengths.clamp(min=1).unsqueeze(1).float()  # [B, V]


def normalised_entropy(comp: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``-sum f log f / log(min(L, V))`` ``[B]`` (1 = as diverse as the length allows)."""
    h = -(comp * comp.clamp(min=1e-12).log()).sum(1)  # [B]
    top = lengths.clamp(min=2, max=comp.shape[1]).float().log()  # [B]
    return h / top


def distinct_kmer_ratio(actions: torch.Tensor, lengths: torch.Tensor, k: int = 3, v: int = 20) -> torch.Tensor:
    """``#distinct k-mers / #k-mers`` ``[B]`` (1 when L < k + 1)."""
    b, l = actions.shape
    n = (lengths - k + 1).clamp(min=0)  # [B] k-mers per row
    if l < k:
        return torch.ones(b, device=actions.device)
    a = actions.clamp(0, v - 1)
    code = torch.zeros(b, l - k + 1, dtype=torch.long, device=actions.device)  # [B, L-k+1]
    for j in range(k):
        code = code * v + a[:, j : l - k + 1 + j]
    pos = torch.arange(l - k + 1, device=actions.device).unsqueeze(0)  # [1, L-k+1]
    valid = pos < n.unsqueeze(1)
    sentinel = v**k + pos  # distinct, larger than any real code: sorts after the valid ones
    code = torch.where(valid, code, sentinel.expand_as(code))
    s = code.sort(1).values  # [B, L-k+1]
    new = torch.ones_like(s, dtype=torch.bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    distinct = (new & valid).sum(1).float()  # valid ones are exactly the first n after sorting
    return torch.where(n > 0, distinct / n.clamp(min=1).float(), torch.ones_like(distinct))


def sanity_terms(actions: torch.Tensor, lengths: torch.Tensor, gates: SanityGates = SanityGates()
                 ) -> dict[str, torch.Tensor]:  # fmt: skip
    """The three gates ``[B]`` each, keyed ``entropy``, ``max_fraction``, ``repeats``."""
    comp = composition(actions, lengths)
    hn = normalised_entropy(comp, lengths)
    fmax = comp.max(1).values
    d3 = distinct_kmer_ratio(actions, lengths, 3)
    return {
        "entropy": torch.sigmoid((hn - gates.entropy_centre) / gates.entropy_width),
        "max_fraction": torch.sigmoid((gates.max_frac_centre - fmax) / gates.max_frac_width),
        "repeats": torch.sigmoid((d3 - gates.distinct3_centre) / gates.distinct3_width),
    }


def sanity_score(actions: torch.Tensor, lengths: torch.Tensor, gates: SanityGates = SanityGates()) -> torch.Tensor:
    """Product of the three gates ``[B]`` in (0, 1)."""
    t = sanity_terms(actions, lengths, gates)
    return t["entropy"] * t["max_fraction"] * t["repeats"]


__all__ = ["SanityGates", "composition", "distinct_kmer_ratio", "normalised_entropy", "sanity_score", "sanity_terms"]
