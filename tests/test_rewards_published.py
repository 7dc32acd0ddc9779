"""The memo's rewards as published (``*-published``): gate formulas, the running min-max and its
checkpointed state, the fast (unmasked) PLL, the fixed random baseline, and named stand-ins.

Hand-computed values follow the published formulas (``ewijaya/gflownet-peptide``:
``rewards/improved_reward.py``, ``rewards/esm2_reward.py``, ``rewards/composite_reward.py``,
``models/reward_model.py``); see ``docs/rewards.md``. Models come from the cache
(``$GFN_CACHE_DIR``); a cold cache trains the MLM and the classifier first (~2-3 min).
"""

from __future__ import annotations

import io
import math
import random
from collections import Counter

import pytest
import torch

from gfn_lib import rewards
from gfn_lib.env import AMINO_ACIDS, PeptideEnv
from gfn_lib.rewards import data, mlm, published

PUBLISHED = ["baseline-published", "trained-published", "esm2pll-published", "improved-published"]
TODAY = ["baseline", "trained", "esm2pll", "improved"]
TRAP = "DDLDDDLDDDDDDLLLDDDDLDDDLDLLLL"  # a published reward-C sample from its "DL trap" (steps ~1000-6000)
ENV = PeptideEnv()


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def ref_entropy(seq: str) -> float:
    """The published definition, written out: Shannon entropy (bits) of the composition / log2(20)."""
    n = len(seq)
    return -sum(c / n * math.log2(c / n) for c in Counter(seq).values()) / math.log2(20)


def random_peptides(n: int, seed: int = 0, lo: int = 10, hi: int = 30) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(AMINO_ACIDS) for _ in range(rng.randint(lo, hi))) for _ in range(n)]


def enc(seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    return ENV.encode(seqs, check_length=False)


@pytest.fixture(scope="module")
def amps() -> list[str]:
    d = data.load_labelled()
    return [s for s, y in zip(d.sequences, d.labels) if y == 1 and 10 <= len(s) <= 30][::20]


def test_registry_has_published_and_todays_rewards() -> None:
    assert set(PUBLISHED + TODAY) <= set(rewards.available())


# ---- gates ---------------------------------------------------------------------------------
def test_gates_match_hand_computed_values() -> None:
    seqs = [AMINO_ACIDS, "A" * 20, "DL" * 15, "GIGKFLHSAKKFGKAFVGEIMNS", "KLKLKLKLKLKL", "WWWWWWWWWWC"]
    a, l = enc(seqs)
    h = published.composition_entropy(a, l)
    torch.testing.assert_close(h, torch.tensor([ref_entropy(s) for s in seqs]), rtol=0, atol=1e-6)
    assert h[0].item() == pytest.approx(1.0) and h[1].item() == 0.0
    assert h[2].item() == pytest.approx(math.log(2) / math.log(20))  # 0.2314
    eg = published.entropy_gate(a, l)
    want = [sig(10 * (ref_entropy(s) - 0.5)) for s in seqs]
    torch.testing.assert_close(eg, torch.tensor(want), rtol=0, atol=1e-6)
    assert eg[0].item() == pytest.approx(sig(5.0)) and eg[1].item() == pytest.approx(sig(-5.0))  # 0.9933, 0.0067
    lg = published.length_gate(torch.tensor([5, 10, 12, 20, 30]))
    torch.testing.assert_close(lg, torch.tensor([sig(-2.5), 0.5, sig(1.0), sig(5.0), sig(10.0)]))


def test_two_letter_30mers_are_gated_to_at_most_0_064() -> None:
    """Any two-letter 30-mer: H <= log 2 / log 20 = 0.2314, gate <= sigmoid(10 (0.2314 - 0.5)) = 0.0638
    (the balanced 15/15 one); the published trap sample (19 D, 11 L) gets 0.057."""
    seqs = ["D" * k + "L" * (30 - k) for k in range(1, 30)] + [TRAP, "DL" * 15]
    g = published.entropy_gate(*enc(seqs))
    bound = sig(10 * (math.log(2) / math.log(20) - 0.5))
    assert bound == pytest.approx(0.06379, abs=1e-5)
    assert (g <= bound + 1e-7).all()
    assert g[-2].item() <= 0.063 and g[-2].item() == pytest.approx(sig(10 * (ref_entropy(TRAP) - 0.5)), abs=1e-6)


# ---- running min-max ------------------------------------------------------------------------
def test_running_minmax_rules() -> None:
    rm = published.RunningMinMax()
    first = torch.tensor([0.3, 0.5, 0.4])
    assert torch.equal(rm(first, update=True), first.double())  # <= 10 scores seen: raw
    rm(torch.full((7,), 0.45), update=True)  # 10 scores: still raw
    assert rm.count == 10
    out = rm(torch.tensor([0.2, 0.6]), update=True)  # 12 > 10: normalised, this batch included
    assert out.tolist() == [0.0, 1.0]
    assert (rm.min, rm.max, rm.count) == (pytest.approx(0.2), pytest.approx(0.6), 12)
    mid = rm(torch.tensor([0.4]), update=False)  # update=False: state unchanged
    assert mid.item() == pytest.approx(0.5) and rm.count == 12
    low = rm(torch.tensor([0.5, 0.1]), update=True)  # a new all-time low scores exactly 0
    assert low[1].item() == 0.0 and low[0].item() == pytest.approx(0.8)
    flat = published.RunningMinMax()
    assert flat(torch.full((11,), 0.7), update=True).tolist() == [0.5] * 11  # max == min
    with pytest.raises(KeyError):
        flat.load_state_dict({"min": 0.0})


@pytest.fixture(scope="module")
def improved() -> rewards.Reward:
    return rewards.load("improved-published")


def test_first_batch_and_new_low_give_exactly_zero(improved) -> None:
    r = rewards.load("improved-published")
    a, l = enc(random_peptides(16, seed=1))
    raw = r.components(a, l)["raw"]
    lr = r.log_reward(a, l, eps=1e-8, update=True)  # 16 > 10 scores: normalised by this batch's own range
    assert r.state_dict()["running_minmax"]["count"] == 16
    i = int(raw.argmin())
    assert lr[i].item() == pytest.approx(math.log(1e-8)) and lr.max().item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(lr).all()
    # a batch with a new all-time low (a homopolymer: entropy gate 0.0067)
    b, m = enc(["M" * 30] + random_peptides(3, seed=2))
    r2 = r.score(b, m, update=True)
    assert r2[0].item() == 0.0
    assert r.log_reward(b, m, eps=1e-8)[0].item() == pytest.approx(math.log(1e-8))
    assert r.log_reward(b, m)[0].item() == pytest.approx(math.log(rewards.REWARD_FLOOR))  # eps=None: today's floor


def test_update_false_and_call_leave_state_alone(improved) -> None:
    r = rewards.load("improved-published")
    a, l = enc(random_peptides(32, seed=3))
    r.log_reward(a, l, eps=1e-8, update=True)
    before = dict(r.state_dict()["running_minmax"])
    b, m = enc(["M" * 30, "W" * 12] + random_peptides(8, seed=4))
    r.log_reward(b, m, eps=1e-8)  # update defaults to False
    r.score(b, m)
    r(b, m)
    r(["MMMMMMMMMMMMMMMMMMMM"])
    r.components(b, m)
    assert r.state_dict()["running_minmax"] == before


@pytest.mark.parametrize("name", ["improved-published", "esm2pll-published"])
def test_state_round_trip_resumes_bit_exactly(name: str) -> None:
    batches = [enc(random_peptides(16, seed=10 + k)) for k in range(6)]
    go_on = rewards.load(name)
    for a, l in batches[:3]:
        go_on.log_reward(a, l, eps=1e-8, update=True)
    buf = io.BytesIO()
    torch.save(go_on.state_dict(), buf)  # what a checkpoint stores
    buf.seek(0)
    resumed = rewards.load(name)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    assert resumed.state_dict() == go_on.state_dict()
    for a, l in batches[3:]:
        x = go_on.log_reward(a, l, eps=1e-8, update=True)
        y = resumed.log_reward(a, l, eps=1e-8, update=True)
        assert torch.equal(x, y)
    assert resumed.state_dict() == go_on.state_dict()


def test_state_matters(improved) -> None:
    """The same batch scores differently after a different history (the reward is non-stationary)."""
    a, l = enc(random_peptides(16, seed=20))
    r1, r2 = rewards.load("improved-published"), rewards.load("improved-published")
    r2.log_reward(*enc(["M" * 30] + random_peptides(15, seed=21)), update=True)  # history with a very low score
    assert not torch.equal(r1.score(a, l, update=True), r2.score(a, l, update=True))


def test_stateless_rewards_keep_todays_log_reward() -> None:
    r = rewards.load("baseline")
    a, l = enc(random_peptides(8, seed=5) + ["W" * 15])
    old = r.score_tokens(a, l).float().clamp(rewards.REWARD_FLOOR, 1.0).log()
    assert torch.equal(r.log_reward(a, l), old)
    assert torch.equal(r.log_reward(a, l, update=True), old)
    torch.testing.assert_close(r.log_reward(a, l, eps=1e-8), (r.score_tokens(a, l).clamp(0, 1) + 1e-8).log())
    assert r.state_dict() == {}


# ---- reward-C components -----------------------------------------------------------------------
def test_improved_raw_is_the_product_of_its_components(improved, amps) -> None:
    seqs = amps[:10] + random_peptides(10, seed=6) + [TRAP, "M" * 30]
    c = improved.components(*enc(seqs))
    torch.testing.assert_close(c["raw"], c["naturalness"] * c["entropy_gate"] * c["length_gate"])
    torch.testing.assert_close(c["naturalness"], torch.sigmoid(c["embedding_norm"] / 10.0))
    assert (c["naturalness"] > 0.5).all() and (c["naturalness"] < 1).all()
    assert c["entropy_gate"][-2].item() < 0.063 and c["entropy_gate"][-1].item() < 0.007
    hot = rewards.load("improved-published", embedding_temperature=2.0)
    torch.testing.assert_close(hot.components(*enc(seqs))["naturalness"], torch.sigmoid(c["embedding_norm"] / 2.0))
    assert any("temperature 2" in s for s in hot.describe()["stand_ins"])


def test_naturalness_is_the_mean_pooled_last_layer_norm(improved) -> None:
    model = improved.backbone.model
    for s in ["GIGKFLHSAKKFGKAFVGEIMNS", "MMMMMMMMMMMMMMMMMMMMMMMMMMMMMM", "ACDEFGHIKL"]:
        tok = mlm.to_mlm_tokens(*enc([s]))  # one sequence, no padding: <cls> x <eos>
        with torch.no_grad():
            e = model.hidden(tok)[0, 1 : len(s) + 1].mean(0)
        c = improved.components(*enc([s]))
        assert c["embedding_norm"].item() == pytest.approx(e.norm().item(), rel=1e-5)
    # batching (padding) does not change it
    seqs = ["GIGKFLHSAKKFGKAFVGEIMNS", "ACDEFGHIKL", "M" * 30]
    batched = improved.components(*enc(seqs))["embedding_norm"]
    single = torch.cat([improved.components(*enc([s]))["embedding_norm"] for s in seqs])
    torch.testing.assert_close(batched, single, rtol=1e-5, atol=1e-5)


# ---- reward-B: the fast PLL is one unmasked forward -----------------------------------------------
def test_esm2pll_published_is_one_unmasked_forward() -> None:
    r = rewards.load("esm2pll-published")
    model = r.backbone.model
    seqs = ["GIGKFLHSAKKFGKAFVGEIMNS", "M" * 30, "ACDEFGHIKL", "KLKLKLKLKLKLKLKLKL"]
    calls: list[torch.Tensor] = []
    orig = model.hidden

    def counting(tok: torch.Tensor) -> torch.Tensor:
        calls.append(tok.clone())
        return orig(tok)

    model.hidden = counting
    try:
        raw = r.components(*enc(seqs))["raw"]
    finally:
        del model.hidden
    assert len(calls) == 1 and not (calls[0] == mlm.MASK).any()  # one forward, nothing masked
    for i, s in enumerate(seqs):  # direct: full-vocabulary log-softmax at each visible residue
        tok = mlm.to_mlm_tokens(*enc([s]))
        with torch.no_grad():
            lp = model.logits_from_hidden(model.hidden(tok))[0].log_softmax(-1)  # [T, 24]
        direct = sum(lp[p, tok[0, p]].item() for p in range(1, len(s) + 1)) / len(s)
        assert raw[i].item() == pytest.approx(direct, abs=1e-5)
    masked = mlm.pseudo_log_likelihood(model, *enc(seqs)) / torch.tensor([len(s) for s in seqs])
    assert (raw > masked + 0.1).all()  # seeing the residue makes it far easier than the masked PLL


def test_esm2pll_published_normalises_and_collapses_to_repeats() -> None:
    r = rewards.load("esm2pll-published")
    seqs = random_peptides(20, seed=8) + ["M" * 30]
    out = r.score(*enc(seqs), update=True)
    assert out.min().item() == 0.0 and out.max().item() == 1.0
    raw = r.components(*enc(seqs))["raw"]
    assert int(raw.argmin()) == int(out.argmin()) and int(raw.argmax()) == int(out.argmax())


# ---- reward-A and the baseline --------------------------------------------------------------------
def test_trained_published_formula(amps) -> None:
    r = rewards.load("trained-published")
    seqs = amps[:8] + random_peptides(8, seed=9) + [TRAP]
    a, l = enc(seqs)
    c = r.components(a, l)
    p_amp = rewards.load("trained").p_amp(a, l)
    torch.testing.assert_close(c["stability"], p_amp)
    want = p_amp * published.entropy_gate(a, l) * published.length_gate(l) * c["naturalness"].sqrt()
    torch.testing.assert_close(c["raw"], want)
    torch.testing.assert_close(r(a, l), want.clamp(rewards.REWARD_FLOOR, 1))
    assert r.state_dict() == {}  # no running normalisation in the published reward-A


def test_baseline_published_is_a_fixed_flat_random_function(amps) -> None:
    seqs = amps[:20] + random_peptides(20, seed=11) + [TRAP, "M" * 30, "KLKLKLKLKLKLKLKL"]
    state = torch.get_rng_state()
    r1 = rewards.load("baseline-published")
    assert torch.equal(torch.get_rng_state(), state)  # building it does not touch the global stream
    torch.manual_seed(1234)
    r2 = rewards.load("baseline-published")
    a, l = enc(seqs)
    x, y = r1(a, l), r2(a, l)
    assert torch.equal(x, y)  # fixed seed: the same function in every instance
    other = rewards.load("baseline-published", seed=7)(a, l)
    assert not torch.equal(x, other)
    assert (x > 0.1).all() and (x < 1.0).all()  # never clamped here
    assert x.std().item() < 0.1 * x.mean().item(), (x.mean(), x.std())  # flat: the published ~0.44 everywhere
    c = r1.components(a, l)
    torch.testing.assert_close(c["raw"], c["stability"] * c["binding"] * c["naturalness"].sqrt())


def test_baseline_published_pooling_follows_the_batch() -> None:
    """Published pooling averages columns 1..T-2 of the padded batch (a short sequence's <eos>/<pad> too);
    ``pooling="residues"`` makes it a function of the sequence alone."""
    short, long_ = "GIGKFLHSAKKFGK", "M" * 30
    pub = rewards.load("baseline-published")
    alone, padded = pub([short]), pub([short, long_])[0]
    assert alone.item() != padded.item()
    res = rewards.load("baseline-published", pooling="residues")
    assert res([short]).item() == pytest.approx(res([short, long_])[0].item(), rel=1e-5)
    assert res([short]).item() == pytest.approx(alone.item(), rel=1e-5)  # alone: no padding, same mean


# ---- provenance ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PUBLISHED)
def test_describe_names_every_stand_in(name: str) -> None:
    r = rewards.load(name)
    d = r.describe()
    assert d["name"] == name and d["formula"] and d["published_as"]
    assert isinstance(d["stand_ins"], list) and d["stand_ins"] and all(isinstance(s, str) for s in d["stand_ins"])
    text = " ".join(d["stand_ins"])
    assert "ESM-2" in text and "in-project ESM-style MLM" in text
    if name == "trained-published":
        assert "FLIP" in text and "AMP classifier" in text
    if name == "baseline-published":
        assert "650M" in text and "seed 42" in text


@pytest.mark.parametrize("name", PUBLISHED)
def test_rejects_bad_tokens(name: str) -> None:
    r = rewards.load(name)
    a, l = enc(["GIGKFLHSAKKFGKAFVGEIMNS"])
    a[0, 3] = 21
    with pytest.raises(ValueError, match="residue ids"):
        r(a, l)


# ---- a local ESM-2 checkpoint (transformers) -----------------------------------------------------------
ESM2_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]


def test_checkpoint_backbone_matches_a_direct_computation(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    (tmp_path / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
    tok = transformers.EsmTokenizer(str(tmp_path / "vocab.txt"))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cfg = transformers.EsmConfig(
            vocab_size=len(ESM2_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
            intermediate_size=64, max_position_embeddings=128, position_embedding_type="rotary", token_dropout=True,
            mask_token_id=ESM2_VOCAB.index("<mask>"), pad_token_id=ESM2_VOCAB.index("<pad>"),
            emb_layer_norm_before=False, tie_word_embeddings=False,
        )  # fmt: skip
        model = transformers.EsmForMaskedLM(cfg).eval()
    tok.save_pretrained(str(tmp_path))
    model.save_pretrained(str(tmp_path))
    seqs = ["GIGKFLHSAKKFGKAFVGEIMNS", "ACDEFGHIKL", "M" * 30]
    b = rewards.load("esm2pll-published", checkpoint=str(tmp_path))
    c = rewards.load("improved-published", checkpoint=str(tmp_path))
    raw_b = b.components(*enc(seqs))["raw"]
    norm_c = c.components(*enc(seqs))["embedding_norm"]
    for i, s in enumerate(seqs):  # straight from the tokenizer + model, one string at a time
        ids = tok(s, return_tensors="pt")["input_ids"]  # <cls> s <eos>
        with torch.no_grad():
            out = model(input_ids=ids, output_hidden_states=True)
        lp = out.logits[0].log_softmax(-1)
        direct = sum(lp[p, ids[0, p]].item() for p in range(1, len(s) + 1)) / len(s)
        assert raw_b[i].item() == pytest.approx(direct, abs=1e-5)
        emb = out.hidden_states[-1][0, 1 : len(s) + 1].mean(0)
        assert norm_c[i].item() == pytest.approx(emb.norm().item(), rel=1e-5)
    assert "local checkpoint" in " ".join(c.describe()["stand_ins"])


# ---- one backbone forward for a stack of runs ------------------------------------------------
def test_shared_forward_scores_each_run_as_alone(count_backbone_calls) -> None:
    """Six runs' rewards (the full profile's mix: improved x3, trained, esm2pll, baseline) on batches of
    different longest lengths: inside ``shared_forwards`` the backbone runs once, and every run's log R
    and running state are what its reward gives on its batch alone (the baseline's batch-padded pooling
    depends on the run's own width)."""
    names = ["improved-published"] * 3 + ["trained-published", "esm2pll-published", "baseline-published"]
    batches = [enc(random_peptides(12, seed=40 + r, hi=his)) for r, his in enumerate([30, 14, 22, 17, 30, 12])]
    actions, lengths = torch.stack([a for a, _ in batches]), torch.stack([n for _, n in batches])  # [R, B, T], [R, B]
    assert len(set((lengths.amax(1)).tolist())) > 3  # the runs' widths differ
    alone_rewards, shared_rewards = [rewards.load(n) for n in names], [rewards.load(n) for n in names]
    backbone = shared_rewards[0].shared_model()  # every published reward of the process calls this one
    calls = count_backbone_calls(backbone)
    for step in range(2):  # the second step is normalised by the running state (> 10 scores)
        alone = [rw.log_reward(actions[r], lengths[r], eps=1e-8, update=True) for r, rw in enumerate(alone_rewards)]
        assert calls == [12] * 6
        calls.clear()
        with rewards.shared_forwards(shared_rewards, actions, lengths):
            shared = [rw.log_reward(actions[r], lengths[r], eps=1e-8, update=True)
                      for r, rw in enumerate(shared_rewards)]  # fmt: skip
        assert calls == [6 * 12]  # one forward, all six batches
        calls.clear()
        for a, s in zip(alone, shared):
            torch.testing.assert_close(s, a, rtol=1e-5, atol=1e-5)
        for x, y in zip(shared_rewards, alone_rewards):
            sx, sy = x.state_dict().get("running_minmax", {}), y.state_dict().get("running_minmax", {})
            assert sx.keys() == sy.keys() and all(sx[k] == pytest.approx(sy[k], rel=1e-6) for k in sx)
    # closed: calls go to the model again, and a batch the stack did not hold is never answered from it
    assert not backbone._shared
    other = enc(random_peptides(12, seed=99))
    with rewards.shared_forwards(shared_rewards, actions, lengths):
        torch.testing.assert_close(shared_rewards[0].components(*other)["raw"],
                                   alone_rewards[0].components(*other)["raw"])  # fmt: skip


def test_a_reward_alone_in_a_stack_shares_nothing() -> None:
    """One run per backbone: nothing is computed ahead (the table reward has no model to share)."""
    mixed = [rewards.load("improved-published"), rewards.load("table")]
    a, n = enc(random_peptides(8, seed=5))
    with rewards.shared_forwards(mixed, torch.stack([a, a]), torch.stack([n, n])):
        assert not mixed[0].shared_model()._shared
