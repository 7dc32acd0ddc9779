"""reward-B with a local ESM-2 checkpoint (transformers ``EsmForMaskedLM``), no download.

Real ESM-2 weights cannot be fetched here, so the tests save small ESM-2-architecture
checkpoints with ``save_pretrained`` (ESM-2's own 33-token vocabulary) and load them
through the same path a user's ``facebook/esm2_t6_8M_UR50D`` copy takes:
``rewards.load("esm2pll", checkpoint=DIR)`` or ``$GFN_ESM2_CHECKPOINT``.

* a context-free checkpoint (LM head = fixed residue log-frequencies) has a PLL we
  know in closed form, so the token mapping (our ids -> ESM ids) is checked exactly;
* a random contextual checkpoint is compared with a reference PLL computed straight
  from the tokenizer + model on strings, one masked copy per residue.
"""

from __future__ import annotations

import math

import pytest
import torch

transformers = pytest.importorskip("transformers")

from gfn_lib import rewards  # noqa: E402
from gfn_lib.env import AMINO_ACIDS, PeptideEnv  # noqa: E402
from gfn_lib.rewards import data, esm2pll, mlm  # noqa: E402

# ESM-2's vocabulary, in its order (facebook/esm2_t6_8M_UR50D vocab.txt)
ESM2_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
PEPTIDES = ["GIGKFLHSAKKFGKAFVGEIMNS", "KWKLFKKIEKVGQNIRDGIIKAGPAVAVVGQATQIAK"[:30], "ACDEFGHIKL", "WWWWWWWWWWWW"]


def save_checkpoint(path, seed: int, residue_logfreq: dict[str, float] | None = None) -> None:
    """A small ESM-2-architecture MLM + tokenizer saved like a downloaded checkpoint.

    With ``residue_logfreq`` the LM head ignores the context (zero decoder weights)
    and scores each residue by the given log-frequency (other tokens: -30)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(ESM2_VOCAB) + "\n")
    tok = transformers.EsmTokenizer(str(path / "vocab.txt"))
    torch.manual_seed(seed)
    cfg = transformers.EsmConfig(
        vocab_size=len(ESM2_VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        intermediate_size=64, max_position_embeddings=128, position_embedding_type="rotary",
        token_dropout=True, mask_token_id=ESM2_VOCAB.index("<mask>"), pad_token_id=ESM2_VOCAB.index("<pad>"),
        emb_layer_norm_before=False, tie_word_embeddings=False,
    )  # fmt: skip
    model = transformers.EsmForMaskedLM(cfg).eval()
    if residue_logfreq is not None:
        with torch.no_grad():
            model.lm_head.decoder.weight.zero_()
            bias = torch.full((len(ESM2_VOCAB),), -30.0)
            for aa, lf in residue_logfreq.items():
                bias[ESM2_VOCAB.index(aa)] = lf
            model.lm_head.bias.copy_(bias)
    tok.save_pretrained(str(path))
    model.save_pretrained(str(path))


@pytest.fixture(scope="module")
def natural_logfreq() -> dict[str, float]:
    """Residue log-frequencies of the shipped natural peptides (a unigram 'language model')."""
    counts = {aa: 1.0 for aa in AMINO_ACIDS}
    for s in data.load_corpus():
        for c in s:
            if c in counts:
                counts[c] += 1
    total = sum(counts.values())
    return {aa: math.log(c / total) for aa, c in counts.items()}


@pytest.fixture()
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GFN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(esm2pll.CHECKPOINT_ENV, raising=False)
    esm2pll._SCORERS.clear()
    yield
    esm2pll._SCORERS.clear()


def test_token_mapping_is_exact_on_a_context_free_checkpoint(tmp_path, natural_logfreq) -> None:
    save_checkpoint(tmp_path / "esm", seed=0, residue_logfreq=natural_logfreq)
    adapter = mlm.HFEsmAdapter(tmp_path / "esm")
    actions, lengths = PeptideEnv().encode(PEPTIDES)
    pll = mlm.pseudo_log_likelihood(adapter, actions, lengths)  # [B]
    # the adapter renormalises over the 20 residues: log q(a) = lf(a) - logsumexp(lf)
    log_norm = torch.logsumexp(torch.tensor(list(natural_logfreq.values())), 0).item()
    expected = [sum(natural_logfreq[c] - log_norm for c in s) for s in PEPTIDES]
    assert pll.tolist() == pytest.approx(expected, abs=1e-3)


def test_pll_matches_a_reference_computed_from_the_tokenizer(tmp_path) -> None:
    save_checkpoint(tmp_path / "esm", seed=1)
    adapter = mlm.HFEsmAdapter(tmp_path / "esm")
    tok = transformers.EsmTokenizer.from_pretrained(str(tmp_path / "esm"), local_files_only=True)
    model = transformers.EsmForMaskedLM.from_pretrained(str(tmp_path / "esm"), local_files_only=True).eval()
    residue_ids = tok.convert_tokens_to_ids(list(AMINO_ACIDS))
    reference = []
    with torch.no_grad():
        for s in PEPTIDES:
            ids = tok(s, return_tensors="pt")["input_ids"][0]  # <cls> s <eos>
            assert len(ids) == len(s) + 2
            total = 0.0
            for i in range(1, len(s) + 1):
                masked = ids.clone()
                masked[i] = tok.mask_token_id
                logits = model(input_ids=masked.unsqueeze(0)).logits[0, i, residue_ids]
                total += logits.log_softmax(-1)[residue_ids.index(int(ids[i]))].item()
            reference.append(total)
    actions, lengths = PeptideEnv().encode(PEPTIDES)
    pll = mlm.pseudo_log_likelihood(adapter, actions, lengths)
    assert pll.tolist() == pytest.approx(reference, abs=1e-3)
    # a context-dependent model: the same residue scores differently in different sequences
    assert len({round(v / n, 4) for v, n in zip(reference, map(len, PEPTIDES))}) == len(PEPTIDES)


@pytest.mark.parametrize("how", ["option", "env"])
def test_reward_b_uses_a_configured_checkpoint_and_records_it(tmp_path, natural_logfreq, isolated_cache,
                                                              monkeypatch, how) -> None:  # fmt: skip
    ckpt = tmp_path / "esm2_t6_8M_UR50D"
    save_checkpoint(ckpt, seed=0, residue_logfreq=natural_logfreq)
    if how == "env":
        monkeypatch.setenv(esm2pll.CHECKPOINT_ENV, str(ckpt))
        reward = rewards.load("esm2pll")
    else:
        reward = rewards.load("esm2pll", checkpoint=str(ckpt))
    d = reward.describe()
    assert d["model"].startswith("ESM-2 checkpoint") and d["checkpoint"] == str(ckpt)
    # calibrated on this checkpoint: natural composition beats uniform random peptides
    assert d["scale_s"] > 0  # s = (mu_nat - mu_rand) / 4
    r = reward(PEPTIDES)
    assert torch.isfinite(r).all() and (r > 0).all() and (r <= 1).all()
    assert torch.equal(r, reward(PEPTIDES))  # deterministic (and cached)
    # a unigram model ranks a K/L-rich AMP above an all-W peptide (W is rare in the corpus)
    assert r[0] > r[3]


def test_missing_checkpoint_is_a_clear_error_without_download(tmp_path, isolated_cache) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        rewards.load("esm2pll", checkpoint=str(tmp_path / "nowhere"))


def test_a_checkpoint_that_prefers_random_peptides_is_refused(tmp_path, natural_logfreq, isolated_cache) -> None:
    inverted = {aa: -lf for aa, lf in natural_logfreq.items()}  # rare residues made common
    save_checkpoint(tmp_path / "esm", seed=0, residue_logfreq=inverted)
    with pytest.raises(RuntimeError, match="does not prefer natural peptides"):
        rewards.load("esm2pll", checkpoint=str(tmp_path / "esm"))
