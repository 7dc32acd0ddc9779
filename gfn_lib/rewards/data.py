"""Real labelled peptide data shipped with modlAMP (BSD-3), loaded offline.

Sets (``modlamp.datasets``): ``load_AMPvsUniProt`` (2600 APD3 antimicrobial
peptides vs 2600 UniProt sequences), ``load_AMPvsTM`` (206 AMPs vs 206
transmembrane segments) and ``load_ACPvsTM`` (413 anticancer peptides vs 413
transmembrane segments). Cleaning: strip + upper-case, drop sequences with a
letter outside the 20 canonical residues, drop exact duplicates, and drop
sequences that carry both labels (AMPvsUniProt: 558 duplicate rows, 22 such
sequences).

Held-out splits are grouped by shared k-mers: sequences that share any 8-mer
are joined (union-find) and whole groups go to one side, so near-identical
family members never straddle train and test.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from gfn_lib.env import AMINO_ACIDS

LABELLED_SETS: dict[str, tuple[str, str]] = {
    "AMPvsUniProt": ("load_AMPvsUniProt", "AMPvsUniProt.csv"),
    "AMPvsTM": ("load_AMPvsTM", "AMPvsTMset.csv"),
    "ACPvsTM": ("load_ACPvsTM", "ACP_CancPPD_vs_TM.csv"),
}
"""Set name -> (modlamp loader, CSV file under ``modlamp/data``)."""

AMP_SETS: tuple[str, ...] = ("AMPvsUniProt", "AMPvsTM")
"""Sets whose positive label means 'antimicrobial' (the classifier's training data)."""

CORPUS_SETS: tuple[str, ...] = ("AMPvsUniProt", "AMPvsTM", "ACPvsTM")
"""Sets whose sequences (both labels) form the masked-LM corpus."""


@dataclass(frozen=True)
class PeptideData:
    """Cleaned, deduplicated sequences (sorted) with binary labels."""

    sequences: list[str]
    labels: list[int]
    sources: tuple[str, ...]
    n_raw: int
    n_duplicate_rows: int
    n_conflicting: int
    n_bad_letters: int


def data_fingerprint(sets: Sequence[str]) -> str:
    """sha256 (16 hex) of the raw CSV bytes of ``sets`` plus the modlamp version."""
    import modlamp  # lazy: keeps ``import gfn_lib.rewards`` light

    h = hashlib.sha256(modlamp.__version__.encode())
    root = Path(modlamp.__file__).parent / "data"
    for name in sets:
        h.update(name.encode())
        h.update((root / LABELLED_SETS[name][1]).read_bytes())
    return h.hexdigest()[:16]


def _load_set(name: str) -> tuple[list[str], list[int]]:
    """Raw (sequences, labels) of one modlAMP set (no network access)."""
    from modlamp import datasets  # lazy: keeps ``import gfn_lib.rewards`` light

    bunch = getattr(datasets, LABELLED_SETS[name][0])()
    return [str(s) for s in bunch.sequences], [int(y) for y in bunch.target]


def load_labelled(sets: Sequence[str] = AMP_SETS) -> PeptideData:
    """Union of ``sets``, cleaned as described in the module docstring."""
    labels: dict[str, set[int]] = {}
    n_raw = n_bad = 0
    for name in sets:
        for seq, y in zip(*_load_set(name)):
            n_raw += 1
            s = str(seq).strip().upper()
            if not s or any(c not in AMINO_ACIDS for c in s):
                n_bad += 1
                continue
            labels.setdefault(s, set()).add(int(y))
    n_kept_rows = n_raw - n_bad
    conflicting = {s for s, ys in labels.items() if len(ys) > 1}
    seqs = sorted(s for s in labels if s not in conflicting)
    return PeptideData(
        sequences=seqs,
        labels=[next(iter(labels[s])) for s in seqs],
        sources=tuple(sets),
        n_raw=n_raw,
        n_duplicate_rows=n_kept_rows - len(labels),
        n_conflicting=len(conflicting),
        n_bad_letters=n_bad,
    )


def load_corpus(sets: Sequence[str] = CORPUS_SETS) -> list[str]:
    """Unique clean sequences of ``sets`` (labels ignored, conflicts kept), sorted."""
    seen: set[str] = set()
    for name in sets:
        for seq in _load_set(name)[0]:
            s = str(seq).strip().upper()
            if s and all(c in AMINO_ACIDS for c in s):
                seen.add(s)
    return sorted(seen)


def kmer_groups(sequences: Sequence[str], k: int = 8) -> list[int]:
    """Group id per sequence: connected components of 'shares a k-mer' (union-find).

    A sequence shorter than ``k`` shares nothing and forms its own group.
    """
    parent = list(range(len(sequences)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_owner: dict[str, int] = {}
    for i, s in enumerate(sequences):
        for j in range(len(s) - k + 1):
            kmer = s[j : j + k]
            owner = first_owner.setdefault(kmer, i)
            if owner != i:
                a, b = find(owner), find(i)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return [find(i) for i in range(len(sequences))]


def grouped_folds(sequences: Sequence[str], n_folds: int = 5, k: int = 8, seed: int = 0) -> list[int]:
    """Fold id in ``[0, n_folds)`` per sequence, every k-mer-sharing group in one fold.

    Deterministic: a group's fold is ``floor(n_folds * u)`` with ``u`` the
    sha256 of ``seed`` and the group's smallest member mapped to [0, 1), so
    folds do not depend on input order or on Python's hash seed.
    """
    groups = kmer_groups(sequences, k)
    rep: dict[int, str] = {}
    for s, g in zip(sequences, groups):
        rep[g] = min(rep.get(g, s), s)
    fold_of: dict[int, int] = {}
    for g, r in rep.items():
        u = int(hashlib.sha256(f"{seed}:{r}".encode()).hexdigest()[:8], 16) / 2**32
        fold_of[g] = int(u * n_folds)
    return [fold_of[g] for g in groups]


def grouped_split(
    sequences: Sequence[str], n_folds: int = 5, test_fold: int = 0, k: int = 8, seed: int = 0
) -> tuple[list[int], list[int]]:
    """(train indices, test indices): fold ``test_fold`` of :func:`grouped_folds` held out."""
    folds = grouped_folds(sequences, n_folds, k, seed)
    train = [i for i, f in enumerate(folds) if f != test_fold]
    test = [i for i, f in enumerate(folds) if f == test_fold]
    return train, test
