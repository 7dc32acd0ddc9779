import pytest

from gfn_lib.env import AMINO_ACIDS, PeptideEnv


def test_default_env_matches_memo():
    env = PeptideEnv()
    assert env.alphabet == AMINO_ACIDS and len(AMINO_ACIDS) == 20
    assert env.n_actions == 21  # 20 amino acids + STOP
    assert (env.min_len, env.max_len) == (10, 30)


def test_stop_masked_before_min_and_forced_at_max():
    env = PeptideEnv("ABC", min_len=2, max_len=4)
    m = env.action_masks  # [T, A]
    assert m.shape == (5, 4)
    assert not m[0, env.stop] and not m[1, env.stop]  # fewer than min_len residues
    assert m[2, env.stop] and m[3, env.stop]
    assert m[4].tolist() == [False, False, False, True]  # only STOP at max_len
    assert m[:4, :3].all()


def test_encode_decode_round_trip():
    env = PeptideEnv("ABC", 1, 4)
    seqs = ["A", "CBA", "ABCA"]
    actions, lengths = env.encode(seqs)
    assert actions.shape == (3, 5)
    assert lengths.tolist() == [1, 3, 4]
    assert actions[1].tolist() == [2, 1, 0, env.stop, env.stop]
    assert env.decode(actions, lengths) == seqs
    valid = env.valid_steps(lengths)
    assert valid.sum(1).tolist() == [2, 4, 5]  # residues + STOP


def test_encode_rejects_foreign_letters_and_bad_lengths():
    env = PeptideEnv("ABC", 2, 4)
    with pytest.raises(ValueError, match="letter 'X'"):
        env.encode(["AXB"])
    with pytest.raises(ValueError, match="length 1"):
        env.encode(["A"])
    actions, lengths = env.encode(["ABCABCABC"], check_length=False)
    assert lengths.tolist() == [9] and actions.shape[1] == 10


def test_enumerate_all_counts():
    env = PeptideEnv("ABC", 1, 4)
    seqs = env.enumerate_all()
    assert len(seqs) == 3 + 9 + 27 + 81 == len(set(seqs))


@pytest.mark.parametrize("bad", [dict(alphabet="AAB"), dict(min_len=5, max_len=4), dict(min_len=0)])
def test_env_rejects_bad_settings(bad):
    with pytest.raises(ValueError):
        PeptideEnv(**bad)
