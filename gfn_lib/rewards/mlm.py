"""Masked protein language models for reward-B: in-project ESM-style MLM or real ESM-2.

Pseudo-log-likelihood (Salazar et al. 2020; used for proteins with ESM, e.g.
Lin et al. 2023)::

    PLL(x) = sum_{i=1}^{L} log p(x_i | x with position i replaced by <mask>)

All L masked copies of every sequence in a batch go through the model in one
forward pass (chunked to bound memory), and only the masked position's hidden
state reaches the LM head.

Two sources of the model:

* ``checkpoint=<local dir>``: real ESM-2 weights (e.g. facebook/esm2_t6_8M_UR50D
  saved with ``save_pretrained``) loaded through transformers'
  ``EsmForMaskedLM`` + ``EsmTokenizer`` (transformers is then required; nothing
  is downloaded).
* otherwise :class:`ESMStyleMLM`, the ESM-2 architecture (pre-LayerNorm
  Transformer encoder, rotary position embeddings, GELU feed-forward, final
  LayerNorm, LM head tied to the input embedding) at a tiny size, trained here
  on the modlAMP corpus (:func:`gfn_lib.rewards.data.load_corpus`) with BERT
  masking (15 %; 80/10/10) on random 10-30-residue windows; deterministic and
  cached (:mod:`gfn_lib.rewards.cache`). A 10 % 8-mer-grouped hold-out
  measures per-residue PLL against the unigram (residue frequency) baseline.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from gfn_lib.env import AMINO_ACIDS, PeptideEnv
from gfn_lib.rewards import cache, data

N_RES = len(AMINO_ACIDS)
CLS, EOS, MASK, PAD = N_RES, N_RES + 1, N_RES + 2, N_RES + 3
"""In-project MLM token ids: residues 0..19 as in :class:`PeptideEnv`, then specials."""
MLM_VOCAB = N_RES + 4


@dataclass(frozen=True)
class MLMConfig:
    """Size and training recipe of the in-project ESM-style MLM (part of the cache key)."""

    layers: int = 2
    dim: int = 64
    heads: int = 4
    ffn: int = 128
    steps: int = 1500
    batch: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup: int = 100
    mask_prob: float = 0.15
    min_crop: int = 10
    max_crop: int = 30
    heldout_folds: int = 10
    seed: int = 0
    threads: int = 1
    """Torch CPU threads while training: 1 beat 2 on the shared 2-core machine for this size."""


# ---- the model --------------------------------------------------------------------------
def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021), as in ESM-2."""

    def __init__(self, head_dim: int) -> None:
        super().__init__()
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)))

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``q, k [B, H, T, Dh]`` -> rotated ``q, k``."""
        t = torch.arange(q.shape[-2], device=q.device, dtype=self.inv_freq.dtype)
        freqs = torch.outer(t, self.inv_freq)  # [T, Dh/2]
        emb = torch.cat((freqs, freqs), dim=-1)  # [T, Dh]
        cos, sin = emb.cos().to(q.dtype), emb.sin().to(q.dtype)
        return q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin


class EncoderLayer(nn.Module):
    """Pre-LN self-attention + GELU feed-forward (ESM-2 layer)."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.rope = RotaryEmbedding(dim // heads)
        self.ln2 = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, ffn), nn.GELU(), nn.Linear(ffn, dim))

    def forward(self, x: torch.Tensor, key_pad: torch.Tensor) -> torch.Tensor:
        """``x [B, T, D]``, ``key_pad [B, T]`` (True = padding) -> ``[B, T, D]``."""
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = self.rope(q, k)  # [B, H, T, Dh]
        bias = torch.zeros(b, 1, 1, t, dtype=x.dtype, device=x.device).masked_fill(
            key_pad[:, None, None, :], float("-inf")
        )  # [B, 1, 1, T]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)  # [B, H, T, Dh]
        x = x + self.out(att.transpose(1, 2).reshape(b, t, d))
        return x + self.ff(self.ln2(x))


class ESMStyleMLM(nn.Module):
    """Tiny ESM-2-architecture masked LM over :data:`MLM_VOCAB` tokens."""

    def __init__(self, cfg: MLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(MLM_VOCAB, cfg.dim, padding_idx=PAD)
        self.layers = nn.ModuleList(EncoderLayer(cfg.dim, cfg.heads, cfg.ffn) for _ in range(cfg.layers))
        self.ln_after = nn.LayerNorm(cfg.dim)
        self.head = nn.Sequential(nn.Linear(cfg.dim, cfg.dim), nn.GELU(), nn.LayerNorm(cfg.dim))
        self.head_bias = nn.Parameter(torch.zeros(MLM_VOCAB))

    def hidden(self, tokens: torch.Tensor) -> torch.Tensor:
        """``tokens [B, T]`` -> final hidden states ``[B, T, D]``."""
        pad = tokens == PAD  # [B, T]
        x = self.embed(tokens)  # [B, T, D]
        for layer in self.layers:
            x = layer(x, pad)
        return self.ln_after(x)

    def logits_from_hidden(self, h: torch.Tensor) -> torch.Tensor:
        """``h [..., D]`` -> logits ``[..., V]`` (LM head tied to the embedding)."""
        return self.head(h) @ self.embed.weight.T + self.head_bias

    def masked_logprobs(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        """log-softmax over residues at one position per row: ``tokens [N, T]``, ``pos [N]`` -> ``[N, 20]``."""
        h = self.hidden(tokens)  # [N, T, D]
        h = h[torch.arange(len(pos), device=h.device), pos]  # [N, D]
        return self.logits_from_hidden(h)[:, :N_RES].log_softmax(-1)


class HFEsmAdapter(nn.Module):
    """Real ESM-2 (transformers ``EsmForMaskedLM``) behind :meth:`masked_logprobs`.

    Our token ids (residues 0..19, CLS, EOS, MASK, PAD) are mapped to the
    checkpoint's vocabulary through its tokenizer; nothing is downloaded.
    """

    def __init__(self, checkpoint: str | Path) -> None:
        super().__init__()
        try:
            from transformers import EsmForMaskedLM, EsmTokenizer
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("a local ESM-2 checkpoint needs the 'transformers' package") from err
        path = Path(checkpoint)
        if not path.exists():
            raise FileNotFoundError(f"ESM checkpoint {path} does not exist (no download is attempted)")
        tok = EsmTokenizer.from_pretrained(str(path), local_files_only=True)
        self.model = EsmForMaskedLM.from_pretrained(str(path), local_files_only=True).eval()
        ids = tok.convert_tokens_to_ids(list(AMINO_ACIDS))
        specials = [tok.cls_token_id, tok.eos_token_id, tok.mask_token_id, tok.pad_token_id]
        self.register_buffer("to_esm", torch.tensor(ids + specials))  # [MLM_VOCAB]
        self.register_buffer("residue_ids", torch.tensor(ids))  # [20]
        self.pad_id = tok.pad_token_id
        self.source = str(path)

    def masked_logprobs(self, tokens: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
        ids = self.to_esm[tokens]  # [N, T]
        logits = self.model(input_ids=ids, attention_mask=(ids != self.pad_id).long()).logits  # [N, T, V]
        logits = logits[torch.arange(len(pos), device=ids.device), pos][:, self.residue_ids]  # [N, 20]
        return logits.log_softmax(-1)


# ---- tokens and PLL ---------------------------------------------------------------------
def to_mlm_tokens(actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Env tokens ``[B, L]`` -> ``<cls> x_1..x_n <eos> <pad>..`` ``[B, max(n)+2]``."""
    width = int(lengths.max()) if len(lengths) else 0
    pos = torch.arange(width + 2, device=actions.device).unsqueeze(0)  # [1, T]
    n = lengths.unsqueeze(1)  # [B, 1]
    body = F.pad(actions[:, :width], (1, 1), value=PAD)  # [B, T]
    tok = torch.where(pos <= n, body, torch.full_like(body, PAD))
    tok = torch.where(pos == 0, torch.full_like(tok, CLS), tok)
    return torch.where(pos == n + 1, torch.full_like(tok, EOS), tok)  # [B, T]


@torch.inference_mode()
def pseudo_log_likelihood(model: nn.Module, actions: torch.Tensor, lengths: torch.Tensor,
                          max_rows: int = 4096, stride: int | None = None, bucket: int = 8) -> torch.Tensor:  # fmt: skip
    """PLL ``[B]`` (sum over residues, nats): every masked copy in one batched pass per length bucket.

    ``max_rows`` bounds the masked copies per forward (memory), not the batching.
    ``stride`` (optional, a speed/fidelity trade-off): instead of one copy per residue
    (exact PLL, L copies), make ``stride`` copies, copy ``r`` masking every residue
    ``i`` with ``i % stride == r`` at once, and read all its masked positions. Each
    residue is still predicted once, from a context with every ``stride``-th residue
    masked; ``stride >= L`` is exact. Costs ``stride`` instead of ``L`` forwards.
    ``bucket``: sequences are scored in groups of similar length (``bucket`` residues
    wide), so a batch of short sequences with one long one is not padded to the long
    one (padding is masked out of attention, so the values do not depend on it).
    """
    group = (lengths - 1).clamp(min=0) // bucket  # [B]
    keys = group.unique().tolist()
    if len(keys) <= 1:
        return _pll(model, actions, lengths, max_rows, stride)
    out = torch.empty(len(lengths), dtype=torch.float32, device=actions.device)
    for k in keys:
        idx = (group == k).nonzero().squeeze(1)  # [b_k]
        out[idx] = _pll(model, actions[idx], lengths[idx], max_rows, stride)
    return out


def _pll(model: nn.Module, actions: torch.Tensor, lengths: torch.Tensor, max_rows: int,
         stride: int | None) -> torch.Tensor:  # fmt: skip
    """PLL ``[B]`` of one batch, padded to its longest sequence (see :func:`pseudo_log_likelihood`)."""
    if stride is not None and stride < int(lengths.max()) and hasattr(model, "hidden"):
        return _strided_pll(model, actions, lengths, stride)
    tok = to_mlm_tokens(actions, lengths)  # [B, T]
    b, t = tok.shape
    pos = torch.arange(1, t - 1, device=tok.device)  # residue positions 1..max_len
    keep = pos.unsqueeze(0) <= lengths.unsqueeze(1)  # [B, T-2]
    row, col = keep.nonzero(as_tuple=True)  # [N]
    mpos = col + 1  # masked position in tokens
    target = tok[row, mpos]  # [N]
    out = torch.zeros(b, dtype=torch.float32, device=tok.device)
    for s in range(0, len(row), max_rows):
        r, p, y = row[s : s + max_rows], mpos[s : s + max_rows], target[s : s + max_rows]
        copies = tok[r].clone()  # [n, T]
        copies[torch.arange(len(r), device=tok.device), p] = MASK
        lp = model.masked_logprobs(copies, p).float()  # [n, 20]
        out.index_add_(0, r, lp.gather(1, y.unsqueeze(1)).squeeze(1))
    return out


def _strided_pll(model: nn.Module, actions: torch.Tensor, lengths: torch.Tensor, stride: int) -> torch.Tensor:
    """Approximate PLL with ``stride`` masked copies per sequence (see :func:`pseudo_log_likelihood`).

    All copies go through one forward, and the LM head runs only at masked positions
    (each residue is masked in exactly one copy)."""
    tok = to_mlm_tokens(actions, lengths)  # [B, T]
    b, t = tok.shape
    pos = torch.arange(t, device=tok.device)  # [T]
    residue = (pos >= 1).unsqueeze(0) & (pos.unsqueeze(0) <= lengths.unsqueeze(1))  # [B, T]
    phase = torch.arange(stride, device=tok.device).view(stride, 1, 1)  # [S, 1, 1]
    masked = residue.unsqueeze(0) & ((pos - 1) % stride == phase)  # [S, B, T]
    copies = torch.where(masked, torch.full_like(tok, MASK), tok.unsqueeze(0))  # [S, B, T]
    h = model.hidden(copies.view(stride * b, t)).view(stride, b, t, -1)  # [S, B, T, D]
    logp = model.logits_from_hidden(h[masked])[:, :N_RES].float().log_softmax(-1)  # [N, 20]
    target = tok.unsqueeze(0).expand_as(masked)[masked]  # [N]
    row = torch.arange(b, device=tok.device).view(1, b, 1).expand_as(masked)[masked]  # [N]
    out = torch.zeros(b, dtype=torch.float32, device=tok.device)
    return out.index_add_(0, row, logp.gather(1, target.unsqueeze(1)).squeeze(1))


# ---- training ---------------------------------------------------------------------------
def _crops(seqs: list[str], rng: random.Random, cfg: MLMConfig) -> list[str]:
    """A random window of 10-30 residues (or the whole sequence if shorter) per sequence."""
    out = []
    for s in seqs:
        n = min(len(s), rng.randint(cfg.min_crop, cfg.max_crop))
        start = rng.randint(0, len(s) - n)
        out.append(s[start : start + n])
    return out


def _mask_batch(tok: torch.Tensor, lengths: torch.Tensor, gen: torch.Generator, p: float
                ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """BERT masking: 15 % of residues are targets; of those 80 % <mask>, 10 % random, 10 % kept."""
    is_res = tok < N_RES  # [B, T]
    u = torch.rand(tok.shape, generator=gen)
    target = is_res & (u < p)
    none = ~target.any(1)  # guarantee one target per row
    first = torch.zeros_like(target)
    first[none, 1] = True
    target = target | (first & is_res)
    v = torch.rand(tok.shape, generator=gen)
    rand_tok = torch.randint(0, N_RES, tok.shape, generator=gen)
    inp = torch.where(target & (v < 0.8), torch.full_like(tok, MASK), tok)
    inp = torch.where(target & (v >= 0.8) & (v < 0.9), rand_tok, inp)
    labels = torch.where(target, tok, torch.full_like(tok, -100))
    return inp, labels


def _encode(seqs: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    a, l = PeptideEnv().encode(seqs, check_length=False)
    return to_mlm_tokens(a, l), l


def evaluate(model: nn.Module, heldout: list[str], train_seqs: list[str], cfg: MLMConfig) -> dict[str, float]:
    """Per-residue held-out PLL vs the unigram baseline on the first ``max_crop`` residues."""
    held = [s[: cfg.max_crop] for s in heldout]
    a, l = PeptideEnv().encode(held, check_length=False)
    pll = torch.cat([pseudo_log_likelihood(model, a[i : i + 256], l[i : i + 256]) for i in range(0, len(held), 256)])
    counts = torch.ones(N_RES)  # add-one smoothing
    for s in train_seqs:
        for c in s:
            counts[AMINO_ACIDS.index(c)] += 1
    logp = (counts / counts.sum()).log()
    mask = torch.arange(a.shape[1]).unsqueeze(0) < l.unsqueeze(1)
    uni = logp[a.clamp(max=N_RES - 1)][mask].sum()
    n = float(l.sum())
    return {"heldout_pll_per_residue": float(pll.sum()) / n, "unigram_per_residue": float(uni) / n,
            "uniform_per_residue": -math.log(N_RES), "heldout_residues": n, "heldout_sequences": len(held)}  # fmt: skip


def train(cfg: MLMConfig = MLMConfig()) -> tuple[ESMStyleMLM, dict[str, Any]]:
    """Train on 9/10 of the corpus (8-mer-grouped), evaluate and calibrate on the rest."""
    t0 = time.perf_counter()
    corpus = data.load_corpus()
    folds = data.grouped_folds(corpus, cfg.heldout_folds, 8, cfg.seed)
    train_seqs = [s for s, f in zip(corpus, folds) if f != 0]
    heldout = [s for s, f in zip(corpus, folds) if f == 0]
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        torch.set_num_threads(cfg.threads)
        torch.manual_seed(cfg.seed)
        model = ESMStyleMLM(cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt,
            lambda s: min(1.0, (s + 1) / cfg.warmup)
            * 0.5 * (1 + math.cos(math.pi * min(1.0, s / cfg.steps))),
        )  # fmt: skip
        rng = random.Random(cfg.seed)
        gen = torch.Generator().manual_seed(cfg.seed)
        order: list[str] = []
        model.train()
        for step in range(cfg.steps):
            if len(order) < cfg.batch:
                extra = list(train_seqs)
                rng.shuffle(extra)
                order += extra
            batch, order = order[: cfg.batch], order[cfg.batch :]
            tok, l = _encode(_crops(batch, rng, cfg))
            inp, labels = _mask_batch(tok, l, gen, cfg.mask_prob)
            h = model.hidden(inp)  # [B, T, D]
            sel = labels != -100
            loss = F.cross_entropy(model.logits_from_hidden(h[sel]), labels[sel])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
        model.eval()
        train_seconds = time.perf_counter() - t0
        metrics = evaluate(model, heldout, train_seqs, cfg)
        metrics.update(calibrate(model, heldout, cfg))
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(det)
    metrics.update({"train_seconds": train_seconds, "final_loss": loss.item(), "n_train": len(train_seqs),
                    "n_params": sum(p.numel() for p in model.parameters())})  # fmt: skip
    return model, metrics


@torch.no_grad()
def calibrate(model: nn.Module, natural: list[str], cfg: MLMConfig, n_random: int = 512,
              stride: int | None = None) -> dict[str, float]:  # fmt: skip
    """Mean per-residue PLL of natural peptides (first ``max_crop`` residues) and of uniform random ones.

    These two anchors define the PLL -> (0, 1] transforms of reward-B and C.
    """
    env = PeptideEnv()
    nat = [s[: cfg.max_crop] for s in natural if len(s) >= cfg.min_crop]
    a, l = env.encode(nat, check_length=False)
    nat_pp = torch.cat([pseudo_log_likelihood(model, a[i : i + 256], l[i : i + 256], stride=stride) / l[i : i + 256]
                        for i in range(0, len(nat), 256)])  # fmt: skip
    g = torch.Generator().manual_seed(cfg.seed + 1)
    rl = torch.randint(cfg.min_crop, cfg.max_crop + 1, (n_random,), generator=g)
    ra = torch.randint(0, N_RES, (n_random, cfg.max_crop + 1), generator=g)
    rand_pp = torch.cat([pseudo_log_likelihood(model, ra[i : i + 256], rl[i : i + 256], stride=stride) / rl[i : i + 256]
                         for i in range(0, n_random, 256)])  # fmt: skip
    return {"natural_pll_per_residue_mean": float(nat_pp.mean()), "natural_pll_per_residue_std": float(nat_pp.std()),
            "random_pll_per_residue_mean": float(rand_pp.mean()), "random_pll_per_residue_std": float(rand_pp.std())}  # fmt: skip


def cache_key(cfg: MLMConfig) -> str:
    """Key from the corpus fingerprint + code version (data, this module) + config."""
    return cache.cache_key(
        "esm-style-mlm",
        data=data.data_fingerprint(data.CORPUS_SETS),
        code=cache.code_version(data, sys.modules[__name__]),
        torch=torch.__version__.split("+")[0],
        cfg=asdict(cfg),
    )


def load_or_train(cfg: MLMConfig = MLMConfig()) -> tuple[ESMStyleMLM, dict[str, Any]]:
    """The cached in-project MLM for ``cfg`` (trained and stored on a miss) and its metrics."""
    return cache.load_or_build_model(cache_key(cfg), lambda: ESMStyleMLM(cfg), lambda: train(cfg), asdict(cfg))  # type: ignore[return-value]
