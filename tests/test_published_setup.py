"""The TrainConfig fields that express the memo's published setup (issue 11): each one changes
exactly what its docstring says, and a run that uses all of them still resumes exactly."""

import math

import pandas as pd
import pytest
import torch

from gfn_lib.config import ConfigError, make_config
from gfn_lib.env import PeptideEnv
from gfn_lib.policy import TransformerPolicy, sinusoidal_positions
from gfn_lib.trainer import TIMING_COLUMNS, Trainer, get_lr

PUBLISHED = dict(
    optimizer="adamw", weight_decay=0.01, lr_schedule="constant-then-cosine", dropout=0.1, init="xavier",
    final_layernorm=False, positions="sinusoidal", stop_action_at_max_len=False, log_reward_eps=1e-8,
    entropy_weight=0.0, grad_clip=1.0, log_z_init=0.0,
)  # fmt: skip


def _metrics(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=TIMING_COLUMNS).reset_index(drop=True)


# ---- learning-rate schedule -----------------------------------------------------------------------
def test_constant_then_cosine_matches_its_formula():
    lr = [get_lr(s, 1.0, 100, "constant-then-cosine", 1000) for s in range(1000)]
    assert lr[0] == lr[100] == 1.0  # constant first phase, no ramp
    assert lr[101] == pytest.approx(0.5 * (1 + math.cos(math.pi / 900)))
    assert lr[550] == pytest.approx(0.5)  # half way through the cosine
    assert lr[999] == pytest.approx(0.5 * (1 + math.cos(math.pi * 899 / 900)))
    assert get_lr(1000, 1.0, 100, "constant-then-cosine", 1000) == pytest.approx(0.0, abs=1e-12)
    assert all(a >= b for a, b in zip(lr, lr[1:]))


def test_cosine_needs_a_cosine_phase():
    with pytest.raises(ConfigError, match=r"params.yaml: field 'warmup_steps'"):
        make_config(dict(lr_schedule="constant-then-cosine", warmup_steps=100, n_steps=100), "params.yaml")


# ---- environment: no STOP action at max_len ------------------------------------------------------
def test_full_length_sequences_take_no_stop_action_when_configured():
    env = PeptideEnv("AB", 1, 3, stop_action_at_max_len=False)
    lengths = torch.tensor([1, 2, 3])
    assert env.n_actions_taken(lengths).tolist() == [2, 3, 3]
    assert env.valid_steps(lengths).sum(1).tolist() == [2, 3, 3]
    forced = PeptideEnv("AB", 1, 3)
    assert forced.n_actions_taken(lengths).tolist() == [2, 3, 4]


def test_composition_entropy_is_reward_c_normalisation():
    env = PeptideEnv(max_len=30)
    two_letters, lengths = env.encode(["DL" * 15, "D" * 30, "ACDEFGHIKLMNPQRSTVWY"])
    h = env.composition_entropy(two_letters, lengths)
    assert h[0].item() == pytest.approx(math.log(2) / math.log(20))  # 0.231
    assert h[1].item() == pytest.approx(0.0, abs=1e-6)
    assert h[2].item() == pytest.approx(1.0)


# ---- policy --------------------------------------------------------------------------------------
def _policy(**kw):
    torch.manual_seed(0)
    return TransformerPolicy(PeptideEnv(), n_layers=2, d_model=64, n_heads=4, **kw)


def test_xavier_init_starts_far_from_uniform_and_normal_init_near_it():
    """Published: about -2.2 nats per action at step 0 (not log 21 = -3.04) for a 2 x 64 policy."""
    per_action = {}
    for init in ("normal", "xavier"):
        policy = _policy(init=init, final_layernorm=init == "normal")
        traj = policy.sample(256, torch.Generator().manual_seed(0))
        ev = policy.evaluate(traj.actions, traj.lengths)
        per_action[init] = (ev.log_pf.sum() / ev.valid.sum()).item()
    assert per_action["normal"] == pytest.approx(-math.log(21), abs=0.1)
    assert per_action["xavier"] > -2.8


def test_xavier_init_bounds_and_published_layout():
    policy = _policy(init="xavier", final_layernorm=False, positions="sinusoidal")
    w = policy.blocks[0].qkv.weight  # [3D, D]
    bound = math.sqrt(6 / (w.shape[0] + w.shape[1]))
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
    assert (policy.blocks[0].qkv.bias == 0).all() and (policy.blocks[0].proj.bias == 0).all()
    assert isinstance(policy.ln_f, torch.nn.Identity)
    assert policy.pos_emb is None and "pos_table" not in policy.state_dict()
    torch.testing.assert_close(policy.pos_table, sinusoidal_positions(31, 64))
    assert policy.pos_table[0, 0] == 0 and policy.pos_table[0, 1] == 1  # sin(0), cos(0)


def test_published_layout_keeps_the_kv_cache_exact_without_dropout():
    policy = _policy(init="xavier", final_layernorm=False, positions="sinusoidal")
    traj = policy.sample(64, torch.Generator().manual_seed(2))
    ev = policy.evaluate(traj.actions, traj.lengths, trim=False)
    torch.testing.assert_close(ev.log_pf_steps, traj.sampler_log_probs, atol=1e-5, rtol=1e-5)


def test_dropout_is_active_in_train_mode_only():
    policy = _policy(dropout=0.1)
    traj = policy.sample(32, torch.Generator().manual_seed(3))
    a = policy.evaluate(traj.actions, traj.lengths).log_pf
    b = policy.evaluate(traj.actions, traj.lengths).log_pf
    assert not torch.equal(a, b)  # two dropout masks
    policy.eval()
    c = policy.evaluate(traj.actions, traj.lengths).log_pf
    torch.testing.assert_close(c, policy.evaluate(traj.actions, traj.lengths).log_pf)
    no_dropout = _policy(dropout=0.0)
    no_dropout.load_state_dict(policy.state_dict())
    torch.testing.assert_close(c, no_dropout.evaluate(traj.actions, traj.lengths).log_pf)


# ---- trainer -------------------------------------------------------------------------------------
@pytest.fixture
def published(tiny_config):
    return tiny_config.model_copy(update={**PUBLISHED, "warmup_steps": 10, "log_z_lr": 3e-2})


def test_adamw_decays_the_policy_but_never_log_z(published):
    tr = Trainer(published)
    assert isinstance(tr.optimizer, torch.optim.AdamW)
    policy_group, log_z_group = tr.optimizer.param_groups
    assert policy_group["weight_decay"] == 0.01 and log_z_group["weight_decay"] == 0.0
    assert isinstance(Trainer(published.model_copy(update={"optimizer": "adam"})).optimizer, torch.optim.Adam)


def test_published_run_logs_the_schedule_and_the_trap_metrics(published):
    df = Trainer(published).train(progress=False)
    want = [get_lr(s, 3e-3, 10, "constant-then-cosine", 40) for s in range(40)]
    assert df.lr.tolist() == pytest.approx(want)
    assert df.log_z_lr.tolist() == pytest.approx([x * 10 for x in want])
    assert df.composition_entropy.between(0, 1).all() and df.letters_used.between(1, 3).all()
    assert (df.mean_actions <= df.mean_length + 1).all() and (df.mean_actions >= df.mean_length).all()


def test_log_pf_penalty_is_the_published_entropy_reg(published):
    cfg = published.model_copy(update={"entropy_term": "log-pf-penalty", "entropy_weight": 0.5, "dropout": 0.0})
    row = Trainer(cfg).train_step()
    assert row["total_loss"] == pytest.approx(row["loss"] - 0.5 * row["mean_log_pf"], rel=1e-5)
    bonus = Trainer(cfg.model_copy(update={"entropy_term": "entropy-bonus"})).train_step()
    assert bonus["total_loss"] == pytest.approx(bonus["loss"] - 0.5 * bonus["entropy"], rel=1e-5)


def test_log_reward_eps_lets_a_tiny_reward_through(tiny_config):
    opts = {"table": {"AAAA": 1e-12}, "default": 1e-12}  # every sequence: 1e-12
    with_eps = Trainer(tiny_config.model_copy(update={"reward_options": opts, "log_reward_eps": 1e-8})).train_step()
    clamped = Trainer(tiny_config.model_copy(update={"reward_options": opts})).train_step()
    assert clamped["mean_log_reward"] == pytest.approx(math.log(1e-6))  # REWARD_FLOOR
    assert with_eps["mean_log_reward"] == pytest.approx(math.log(1e-8 + 1e-12), rel=1e-4)


class _Stop(Exception):
    pass


def _kill_at(step):
    def callback(row):
        if row["step"] == step:
            raise _Stop

    return callback


def test_published_setup_resumes_exactly(published, tmp_path):
    """Dropout, AdamW and the cosine schedule (which depends on n_steps) survive an interruption."""
    full = _metrics(Trainer(published, tmp_path / "full").train(progress=False))
    with pytest.raises(_Stop):
        Trainer(published, tmp_path / "split").train(progress=False, callback=_kill_at(25))
    resumed = Trainer(published, tmp_path / "split")
    assert resumed.step == 25
    pd.testing.assert_frame_equal(_metrics(resumed.train(progress=False)), full, check_exact=True)


def test_cosine_runs_refuse_a_resume_with_another_length(published, tmp_path):
    with pytest.raises(_Stop):
        Trainer(published, tmp_path).train(progress=False, callback=_kill_at(20))
    with pytest.raises(ValueError, match="different config.*n_steps"):
        Trainer(published.model_copy(update={"n_steps": 60}), tmp_path)


def test_pairwise_diversity_is_the_published_definition():
    from gfn_lib.metrics import pairwise_diversity

    env = PeptideEnv()
    actions, lengths = env.encode(["A" * 10, "A" * 10, "C" * 10, "A" * 5 + "C" * 10])
    # distinct pairs: A10/C10 identity 0; A10/A5C10 5/15; C10/A5C10 5/15 (positions 5-9)
    assert pairwise_diversity(actions, lengths) == pytest.approx(1 - (0 + 1 / 3 + 1 / 3) / 3)
    same, n = env.encode(["ACDEFGHIKL"] * 4)
    assert pairwise_diversity(same, n) == 0.0


def _distinct_rows(actions, lengths):
    """The batch's distinct rows in ``torch.unique``'s (sorted) order, with their lengths."""
    rows, inverse = torch.unique(actions, dim=0, return_inverse=True)
    return rows, torch.zeros(len(rows), dtype=lengths.dtype).scatter_(0, inverse, lengths)


def test_diversity_equals_comparing_every_pair_position_by_position():
    """The one-matrix-product diversity against the definition spelled out on ``torch.unique``'s distinct rows
    (every pair, every position below the shorter length): duplicates, lengths 0-30, more than 100 distinct
    rows (the first 100 in sorted order kept); and a stack of batches measured at once = each alone."""
    from gfn_lib.metrics import batch_diversity, pairwise_diversity

    def by_pairs(actions, lengths, max_sequences=100):
        rows, lens = _distinct_rows(actions, lengths)
        rows, lens = rows[:max_sequences].tolist(), lens[:max_sequences].tolist()
        u = len(rows)
        total = 0.0
        for i in range(u):
            for j in range(i + 1, u):
                same = sum(rows[i][t] == rows[j][t] for t in range(min(lens[i], lens[j])))
                total += same / max(lens[i], lens[j], 1)
        return 1.0 - total / (u * (u - 1) / 2) if u >= 2 else 0.0

    g = torch.Generator().manual_seed(0)
    cut = 0
    for trial in range(40):
        b, v = int(torch.randint(2, 250, (1,), generator=g)), int(torch.randint(1, 21, (1,), generator=g))
        actions = torch.randint(0, v, (b, 31), generator=g)
        lengths = torch.randint(0, 31, (b,), generator=g)
        actions[: b // 3], lengths[: b // 3] = actions[0], lengths[0]  # duplicates
        actions[torch.arange(31) >= lengths.unsqueeze(1)] = v  # STOP, then padding: equal rows, equal lengths
        cut += len(torch.unique(actions, dim=0)) > 100
        assert pairwise_diversity(actions, lengths) == pytest.approx(by_pairs(actions, lengths), abs=1e-9)
    assert cut >= 5  # the 100-sequence cut was exercised
    stack = torch.randint(0, 2, (5, 48, 31), generator=g)  # [R, B, T], two letters, short: many duplicates
    lengths = torch.randint(1, 6, (5, 48), generator=g)
    stack[torch.arange(31) >= lengths.unsqueeze(-1)] = 4
    together = batch_diversity(stack, lengths, 4)
    assert together.tolist() == [float(batch_diversity(stack[r], lengths[r], 4)) for r in range(5)]


def test_stack_metrics_are_the_batch_metrics_of_each_run():
    """unique_frac, composition entropy, letters used and diversity of R batches at once, against each
    batch's definitions written with ``torch.unique`` and the environment's composition."""
    from gfn_lib.metrics import STACK_METRICS, pairwise_diversity, stack_metrics

    env = PeptideEnv()
    seqs = [["C" * 12, "A" * 10, "C" * 12, "A" * 5 + "C" * 10, "A" * 10], ["DL" * 7, "LD" * 7, "DL" * 7, "M" * 11, "DLM" * 4]]
    enc = [env.encode(s) for s in seqs]
    actions, lengths = torch.stack([a for a, _ in enc]), torch.stack([n for _, n in enc])  # [2, 5, T], [2, 5]
    got = stack_metrics(env, actions, lengths)
    assert got.shape == (2, len(STACK_METRICS)) and got.dtype == torch.float64
    for r, (a, n) in enumerate(enc):
        composition = env.composition(a, n)
        want = [len(_distinct_rows(a, n)[0]) / 5, float(env.entropy_of_composition(composition).mean()),
                int((composition.sum(0) > 0).sum()), pairwise_diversity(a, n)]  # fmt: skip
        assert got[r].tolist() == pytest.approx(want, abs=1e-12)
    assert got[:, 0].tolist() == [3 / 5, 4 / 5] and got[:, 2].tolist() == [2, 3]
