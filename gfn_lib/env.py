"""The peptide environment: sequences built left to right, one residue per action.

A state is a prefix of residues; an action appends one of the ``len(alphabet)``
residues or STOP. Every state has exactly one parent, so the state graph is a
tree and the backward policy is P_B = 1 (no learned or uniform P_B needed).

Token ids (shared by the policy, the rewards and the trainer)::

    0 .. V-1   residues, in ``alphabet`` order          (V = len(alphabet))
    V          STOP  (also used as padding after STOP)
    V + 1      BOS   (input-only start token, never an action)

A trajectory is an action tensor ``actions [B, T]`` with ``T = max_len + 1``:
``length`` residues followed by STOP at index ``length``; positions after
STOP are padding and carry no probability.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

import torch

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
"""The 20 canonical amino acids, one-letter codes, alphabetical."""


@dataclass(frozen=True)
class PeptideEnv:
    """Autoregressive sequence environment with a length window."""

    alphabet: str = AMINO_ACIDS
    """Residue letters; each is one action. Must be unique characters."""
    min_len: int = 10
    """STOP is masked while fewer residues than this have been placed."""
    max_len: int = 30
    """STOP is forced once this many residues have been placed."""
    stop_action_at_max_len: bool = True
    """Whether the forced STOP at ``max_len`` counts as an action. It has probability 1 (log 0), so
    log P_F is unchanged; ``False`` (the published setup) ends a full-length sequence without it."""

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or not self.alphabet:
            raise ValueError(f"alphabet must be non-empty unique letters, got {self.alphabet!r}")
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")

    # ---- sizes and special tokens ------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Number of residues V."""
        return len(self.alphabet)

    @property
    def n_actions(self) -> int:
        """V residues + STOP."""
        return self.vocab_size + 1

    @property
    def stop(self) -> int:
        return self.vocab_size

    @property
    def bos(self) -> int:
        return self.vocab_size + 1

    @property
    def horizon(self) -> int:
        """T: the most actions a trajectory can take (max_len residues + STOP)."""
        return self.max_len + 1

    # ---- masks ----------------------------------------------------------------------
    @cached_property
    def action_masks(self) -> torch.Tensor:
        """``[T, A]`` bool: which actions are legal after ``t`` residues."""
        t = torch.arange(self.horizon).unsqueeze(1)  # [T, 1]
        is_stop = torch.arange(self.n_actions).unsqueeze(0) == self.stop  # [1, A]
        stop_ok = t >= self.min_len
        residue_ok = t < self.max_len
        return torch.where(is_stop, stop_ok, residue_ok)  # [T, A]

    def valid_steps(self, lengths: torch.Tensor) -> torch.Tensor:
        """``[..., B, T]`` bool: positions that hold an action (residues and the STOP)."""
        t = torch.arange(self.horizon, device=lengths.device)  # [T]
        valid = t <= lengths.unsqueeze(-1)  # [..., B, T] (any leading run dims)
        if not self.stop_action_at_max_len:
            valid &= t < self.max_len
        return valid

    def n_actions_taken(self, lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` actions per trajectory: residues + STOP (no STOP at ``max_len`` when it is not an action)."""
        n = lengths + 1
        if not self.stop_action_at_max_len:
            n = n.clamp(max=self.max_len)
        return n

    # ---- composition ------------------------------------------------------------------
    def composition(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B, V]`` residue counts of each sequence (STOP and padding excluded)."""
        T = actions.shape[1]
        residue = torch.arange(T, device=actions.device).unsqueeze(0) < lengths.unsqueeze(1)  # [B, T]
        ids = torch.where(residue, actions, torch.full_like(actions, self.vocab_size))  # [B, T]
        counts = torch.zeros(actions.shape[0], self.vocab_size + 1, device=actions.device)
        counts.scatter_add_(1, ids, torch.ones_like(ids, dtype=counts.dtype))
        return counts[:, : self.vocab_size]

    def composition_entropy(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``[B]`` Shannon entropy of each sequence's residue composition / log V, in [0, 1]
        (the published reward C's H: a 50/50 two-letter sequence has 0.23 with V = 20)."""
        return self.entropy_of_composition(self.composition(actions, lengths))

    def entropy_of_composition(self, counts: torch.Tensor) -> torch.Tensor:
        """``counts [B, V]`` (:meth:`composition`) -> ``[B]`` composition entropy / log V."""
        p = counts / counts.sum(1, keepdim=True).clamp(min=1)
        return -(p * p.clamp(min=1e-30).log()).sum(1) / math.log(self.vocab_size)

    # ---- strings <-> tokens -----------------------------------------------------------
    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.alphabet)}

    def encode(
        self, sequences: list[str], device: torch.device | str = "cpu", check_length: bool = True
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Strings -> (``actions [B, T]`` ending in STOP then padding, ``lengths [B]``).

        Raises ``ValueError`` naming the sequence and letter for a residue outside
        the alphabet, and (when ``check_length``) for a length outside
        ``[min_len, max_len]``. With ``check_length=False`` (scoring real data of
        any length) the width grows to the longest sequence + 1.
        """
        width = max([self.horizon] + [len(s) + 1 for s in sequences])
        actions = torch.full((len(sequences), width), self.stop, dtype=torch.long)
        lengths = torch.empty(len(sequences), dtype=torch.long)
        for i, seq in enumerate(sequences):
            if check_length and not self.min_len <= len(seq) <= self.max_len:
                raise ValueError(
                    f"sequence {seq!r} has length {len(seq)}, outside [{self.min_len}, {self.max_len}]"
                )
            try:
                actions[i, : len(seq)] = torch.tensor([self._index[c] for c in seq], dtype=torch.long)
            except KeyError as err:
                raise ValueError(
                    f"sequence {seq!r} has letter {err.args[0]!r}, not in alphabet {self.alphabet!r}"
                ) from None
            lengths[i] = len(seq)
        return actions.to(device), lengths.to(device)

    def decode(self, actions: torch.Tensor, lengths: torch.Tensor) -> list[str]:
        """Inverse of :meth:`encode`."""
        rows = actions.tolist()
        return ["".join(self.alphabet[a] for a in row[:n]) for row, n in zip(rows, lengths.tolist())]

    def enumerate_all(self) -> list[str]:
        """Every terminal sequence (only sensible for tiny alphabets and lengths)."""
        return [
            "".join(p)
            for n in range(self.min_len, self.max_len + 1)
            for p in itertools.product(self.alphabet, repeat=n)
        ]
