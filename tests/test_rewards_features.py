"""Torch descriptors and data handling checked against modlAMP on real sequences."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from modlamp.core import count_aas
from modlamp.descriptors import GlobalDescriptor, PeptideDescriptor

from gfn_lib.env import PeptideEnv
from gfn_lib.rewards import data
from gfn_lib.rewards.features import PeptideFeatures
from gfn_lib.rewards.sanity import distinct_kmer_ratio, normalised_entropy, composition


@pytest.fixture(scope="module")
def real() -> tuple[list[str], torch.Tensor, torch.Tensor, torch.Tensor]:
    seqs = data.load_labelled().sequences[::12]  # ~400 real peptides/proteins, lengths 7-174
    a, l = PeptideEnv().encode(seqs, check_length=False)
    feat = PeptideFeatures()
    return seqs, a, l, feat(a, l).double()


def col(name: str) -> int:
    return PeptideFeatures().names.index(name)


def test_composition_matches_modlamp(real) -> None:
    seqs, _, _, x = real
    env = PeptideEnv()
    ref = np.array([[count_aas(s, scale="relative")[c] for c in env.alphabet] for s in seqs])
    np.testing.assert_allclose(x[:, :20].numpy(), ref, atol=1e-6)


def test_net_charge_matches_modlamp(real) -> None:
    seqs, _, _, x = real
    d = GlobalDescriptor(seqs)
    d.calculate_charge()  # modlAMP defaults: pH 7.4, amidated; rounds to 3 decimals
    np.testing.assert_allclose(x[:, col("net_charge")].numpy(), d.descriptor[:, 0], atol=6e-4)


def test_hydrophobicity_and_moments_match_modlamp(real) -> None:
    seqs, _, _, x = real
    d = PeptideDescriptor(seqs, "eisenberg")
    d.calculate_global()
    np.testing.assert_allclose(x[:, col("hydrophobicity")].numpy(), d.descriptor[:, 0], atol=1e-5)
    d.calculate_moment()  # global moment, 100 degrees
    np.testing.assert_allclose(x[:, col("moment_global")].numpy(), d.descriptor[:, 0], atol=1e-5)
    d.calculate_moment(window=11)  # max over 11-residue windows
    np.testing.assert_allclose(x[:, col("moment_max11")].numpy(), d.descriptor[:, 0], atol=1e-5)


def test_features_ignore_padding() -> None:
    env = PeptideEnv()
    a, l = env.encode(["GIGKFLHSAKKFGKAFVGEIMNS"])
    wide = torch.cat([a, torch.full((1, 9), env.stop)], 1)
    f = PeptideFeatures()
    torch.testing.assert_close(f(a, l), f(wide, l))


def test_sanity_statistics_match_python(real) -> None:
    seqs, a, l, _ = real
    d3 = distinct_kmer_ratio(a, l, 3)
    ref = [len({s[i : i + 3] for i in range(len(s) - 2)}) / (len(s) - 2) for s in seqs]
    np.testing.assert_allclose(d3.numpy(), ref, atol=1e-6)
    hn = normalised_entropy(composition(a, l), l)
    ref_h = []
    for s in seqs:
        f = np.array([s.count(c) / len(s) for c in set(s)])
        ref_h.append(-(f * np.log(f)).sum() / np.log(min(len(s), 20)))
    np.testing.assert_allclose(hn.numpy(), ref_h, atol=1e-5)


def test_cleaning_counts_match_the_issue() -> None:
    d = data.load_labelled(("AMPvsUniProt",))
    assert d.n_raw == 5200
    assert d.n_duplicate_rows == 558
    assert d.n_conflicting == 22
    assert len(d.sequences) == len(set(d.sequences)) == 5200 - 558 - 22


def test_grouped_folds_keep_shared_8mers_on_one_side() -> None:
    seqs = data.load_labelled().sequences
    folds = data.grouped_folds(seqs, 5)
    owner: dict[str, int] = {}
    for s, f in zip(seqs, folds):
        for i in range(len(s) - 7):
            assert owner.setdefault(s[i : i + 8], f) == f
    assert sorted(set(folds)) == [0, 1, 2, 3, 4]
    assert folds == data.grouped_folds(list(seqs), 5)  # deterministic


def test_kmer_groups_union_transitively() -> None:
    a, b, c = "AAAAAAAACCCCCCCC", "CCCCCCCCDDDDDDDD", "DDDDDDDDEEEEEEEE"
    g = data.kmer_groups([a, b, c, "WWWWWWWWW"])
    assert g[0] == g[1] == g[2] != g[3]
