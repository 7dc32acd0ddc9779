import torch

from gfn_lib.env import PeptideEnv
from gfn_lib.policy import PolicyStack, TransformerPolicy


def _policy(env, **kw):
    torch.manual_seed(0)
    return TransformerPolicy(env, n_layers=2, d_model=32, n_heads=4, **kw)


def test_samples_respect_length_window_and_stop_padding():
    env = PeptideEnv("ABCDE", min_len=3, max_len=7)
    policy = _policy(env)
    traj = policy.sample(256, torch.Generator().manual_seed(1))
    assert traj.actions.shape == (256, env.horizon)
    assert traj.lengths.min() >= 3 and traj.lengths.max() <= 7
    for row, n in zip(traj.actions.tolist(), traj.lengths.tolist()):
        assert env.stop not in row[:n]  # no early STOP
        assert all(a == env.stop for a in row[n:])  # STOP then padding


def test_kv_cache_sampling_matches_teacher_forced_log_probs():
    """The cached sampler and the one-pass evaluator must agree exactly on log pi(a|s)."""
    env = PeptideEnv("ABCDE", min_len=2, max_len=9)
    policy = _policy(env)
    traj = policy.sample(64, torch.Generator().manual_seed(2))
    ev = policy.evaluate(traj.actions, traj.lengths, trim=False)
    torch.testing.assert_close(ev.log_pf_steps, traj.sampler_log_probs, atol=1e-5, rtol=1e-5)
    assert (ev.log_pf_steps <= 0).all() and torch.isfinite(ev.log_pf).all()
    assert (ev.log_pf_steps[~ev.valid] == 0).all() and (ev.entropy_steps[~ev.valid] == 0).all()


def test_forced_stop_costs_nothing_and_entropy_is_bounded():
    env = PeptideEnv("ABC", min_len=1, max_len=3)
    policy = _policy(env)
    actions, lengths = env.encode(["ABC", "A"])
    ev = policy.evaluate(actions, lengths)
    assert ev.log_pf_steps[0, 3].item() == 0.0  # STOP forced at max_len: probability 1
    assert ev.entropy_steps[0, 3].item() == 0.0
    assert ev.entropy_steps[0, 0] <= torch.log(torch.tensor(3.0)) + 1e-6  # STOP illegal at t=0
    assert ev.entropy_steps[1, 1] <= torch.log(torch.tensor(4.0)) + 1e-6


def test_temperature_and_epsilon_change_only_the_sampler():
    env = PeptideEnv("ABCDE", min_len=2, max_len=6)
    policy = _policy(env)
    hot = policy.sample(512, torch.Generator().manual_seed(3), temperature=50.0)
    ev = policy.evaluate(hot.actions, hot.lengths, trim=False)
    # the sampler's log-probs are those of the flattened distribution, the evaluator's are not
    assert not torch.allclose(ev.log_pf_steps, hot.sampler_log_probs, atol=1e-3)
    eps = policy.sample(512, torch.Generator().manual_seed(3), epsilon=1.0)
    # epsilon = 1 is uniform over legal actions: 5 residues at t=0
    assert torch.allclose(eps.sampler_log_probs[:, 0], torch.log(torch.tensor(0.2)), atol=1e-6)


def test_state_flow_head_only_when_asked():
    env = PeptideEnv("ABC", 1, 4)
    actions, lengths = env.encode(["AB"])
    assert _policy(env).evaluate(actions, lengths).log_flows is None
    flows = _policy(env, state_flow=True).evaluate(actions, lengths).log_flows
    assert flows.shape == (1, 3)  # s_0, s_1, s_2 of a 2-residue trajectory (trimmed)


def test_trimming_padding_columns_changes_nothing_but_shape():
    env = PeptideEnv("ABCDE", min_len=1, max_len=12)
    policy = _policy(env, state_flow=True)
    actions, lengths = env.encode(["AB", "ABCDE", "A"])
    full = policy.evaluate(actions, lengths, trim=False)
    short = policy.evaluate(actions, lengths)
    assert short.log_pf_steps.shape == (3, 6) and full.log_pf_steps.shape == (3, 13)
    torch.testing.assert_close(short.log_pf, full.log_pf)
    torch.testing.assert_close(short.log_flows, full.log_flows[:, :6])


def test_scoring_under_the_sampling_masks_gives_the_sampled_log_probs():
    """With dropout, one draw of masks serves both passes: the teacher-forced scores are then exactly the
    log-probabilities the actions were sampled with (early-stopping and static sampler alike)."""
    env = PeptideEnv("ABCDE", min_len=2, max_len=9)
    stack = PolicyStack([_policy(env, dropout=0.3)])
    masks = stack.draw_masks([torch.Generator().manual_seed(4)], 64)
    assert masks.embed.shape == (1, 64, env.horizon, 32) and masks.attention[1].shape == (1, 64, 4, env.horizon, env.horizon)
    for static in (False, True):
        traj = stack.sample(64, [torch.Generator().manual_seed(2)], [1.0], [0.0], static=static, masks=masks)
        ev = stack.evaluate(traj.actions, traj.lengths, trim=not static, masks=masks)
        L = ev.log_pf_steps.shape[-1]
        torch.testing.assert_close(ev.log_pf_steps, traj.sampler_log_probs[..., :L], atol=1e-5, rtol=1e-5)
    fresh = stack.evaluate(traj.actions, traj.lengths, [torch.Generator().manual_seed(5)], trim=False)
    assert not torch.allclose(fresh.log_pf_steps, traj.sampler_log_probs, atol=1e-3)  # other masks, other scores
    drawn = stack.draw_masks([torch.Generator().manual_seed(4)], 64)
    refilled = stack.draw_masks([torch.Generator().manual_seed(4)], 64, reuse=masks)  # the next step's, in the spent buffer
    assert refilled.storage.data_ptr() == masks.storage.data_ptr() != drawn.storage.data_ptr()
    torch.testing.assert_close(refilled.storage, drawn.storage, rtol=0, atol=0)


def test_scoring_pass_traces_as_one_graph_for_torch_compile():
    """The fixed-shape scoring pass (``compile=true`` on CUDA) with the sampler's masks is one graph for
    torch.compile (traced here with the eager backend: the CPU cannot run the CUDA path) and scores alike."""
    env = PeptideEnv("ABCDE", min_len=2, max_len=9)
    torch.manual_seed(0)
    stack = PolicyStack([TransformerPolicy(env, 2, 32, 4, dropout=0.1) for _ in range(2)])
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    masks = stack.draw_masks(gens, 16)
    traj = stack.sample(16, gens, [1.0, 1.0], [0.0, 0.0], static=True, masks=masks)
    compiled = torch.compile(PolicyStack.evaluate, backend="eager", fullgraph=True)
    ev = compiled(stack, traj.actions, traj.lengths, trim=False, masks=masks)
    torch.testing.assert_close(ev.log_pf_steps, traj.sampler_log_probs, atol=1e-5, rtol=1e-5)


def test_nudge_moves_each_nonzero_weight_one_float_step_by_its_own_coins():
    env = PeptideEnv("ABC", 1, 4)
    base = _policy(env, init="xavier")
    before = {n: p.detach().clone() for n, p in base.named_parameters()}
    base.nudge(1)
    ups = total = 0
    for n, p in base.named_parameters():
        b = before[n]
        assert torch.equal(p[b == 0], b[b == 0]), n  # zeros stay (no subnormals)
        moved, old = p[b != 0], b[b != 0]
        up = torch.nextafter(old, torch.full_like(old, torch.inf))
        down = torch.nextafter(old, torch.full_like(old, -torch.inf))
        assert bool(((moved == up) | (moved == down)).all()), n  # exactly one step, one way or the other
        ups, total = ups + int((moved == up).sum()), total + old.numel()
    assert 0.4 < ups / total < 0.6  # fair coins
    twin, other = _policy(env, init="xavier"), _policy(env, init="xavier")
    twin.nudge(1)
    other.nudge(2)
    assert all(torch.equal(a, b) for a, b in zip(base.parameters(), twin.parameters()))  # same coins, same nudge
    assert any(not torch.equal(a, b) for a, b in zip(base.parameters(), other.parameters()))
