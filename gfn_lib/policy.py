"""The forward policy P_F: a small causal Transformer (nanoGPT-style, pre-LayerNorm).

Two ways in:

* :meth:`TransformerPolicy.sample` generates trajectories token by token with a
  key/value cache, so each new token costs one position, not the whole prefix.
* :meth:`TransformerPolicy.evaluate` scores given trajectories with a single
  teacher-forced forward: per-step log P_F, per-step entropy and (for SubTB)
  per-state log-flows. The loss always uses these, i.e. log P_F under the
  current policy without temperature or exploration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gfn_lib.env import PeptideEnv


class Block(nn.Module):
    """Pre-LN Transformer block: causal self-attention + GELU MLP, with ``nn.TransformerEncoderLayer``'s
    dropouts (attention weights, attention output, feed-forward hidden and output)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(D, dim=-1)  # 3 x [B, L, D]
        shape = (B, L, self.n_heads, D // self.n_heads)
        return tuple(t.view(shape).transpose(1, 2) for t in (q, k, v))  # 3 x [B, H, L, Dh]

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x

    def _merge(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        B, H, L, Dh = y.shape
        x = x + self._drop(self.proj(y.transpose(1, 2).reshape(B, L, H * Dh)))
        up, act, down = self.mlp
        return x + self._drop(down(self._drop(act(up(self.ln2(x))))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full causal pass: ``x [B, L, D] -> [B, L, D]``."""
        q, k, v = self._heads(x)
        p = self.dropout if self.training else 0.0
        return self._merge(x, F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p))

    def step(self, x: torch.Tensor, cache: torch.Tensor, t: int) -> torch.Tensor:
        """One new position ``t``: ``x [B, 1, D]``; ``cache [2, B, H, T, Dh]`` is filled at ``t``."""
        q, k, v = self._heads(x)  # [B, H, 1, Dh]
        cache[0, :, :, t] = k[:, :, 0]
        cache[1, :, :, t] = v[:, :, 0]
        # the query is the newest position, so attending to the whole prefix is causal;
        # for one query, broadcast-multiply-and-sum beats SDPA and bmm (tiny matrices) on CPU
        k_all, v_all = cache[0, :, :, : t + 1], cache[1, :, :, : t + 1]  # [B, H, t+1, Dh]
        att = (k_all * q).sum(-1, keepdim=True) * q.shape[-1] ** -0.5  # [B, H, t+1, 1]
        y = (self._drop(att.softmax(-2)) * v_all).sum(-2, keepdim=True)  # [B, H, 1, Dh]
        return self._merge(x, y)


@dataclass
class Trajectories:
    """A batch of sampled trajectories."""

    actions: torch.Tensor
    """``[B, T]`` action ids; STOP at index ``lengths``, STOP-padding after."""
    lengths: torch.Tensor
    """``[B]`` residues per sequence."""
    sampler_log_probs: torch.Tensor
    """``[B, T]`` log-probability of each action under the *sampling* distribution
    (temperature, epsilon included); 0 after STOP. Diagnostics only: the loss uses
    :meth:`TransformerPolicy.evaluate`."""


@dataclass
class Evaluation:
    """Teacher-forced scores of a batch of trajectories under the current policy."""

    log_pf_steps: torch.Tensor
    """``[B, T]`` log pi(a_t | s_t); 0 after STOP."""
    entropy_steps: torch.Tensor
    """``[B, T]`` entropy of pi(. | s_t) over legal actions; 0 after STOP."""
    valid: torch.Tensor
    """``[B, T]`` bool, positions that hold an action."""
    log_flows: torch.Tensor | None
    """``[B, T]`` log F(s_t) from the state-flow head (SubTB only), else ``None``."""

    @property
    def log_pf(self) -> torch.Tensor:
        """``[B]`` log P_F(trajectory) = sum_t log pi(a_t | s_t)."""
        return self.log_pf_steps.sum(1)


def sinusoidal_positions(n: int, d: int) -> torch.Tensor:
    """``[n, d]`` fixed position codes of Vaswani et al. (2017): sin on even, cos on odd dims."""
    pos = torch.arange(n, dtype=torch.float32).unsqueeze(1)  # [n, 1]
    freq = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10_000.0) / d))  # [d/2]
    table = torch.zeros(n, d)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table


class TransformerPolicy(nn.Module):
    """Causal Transformer over ``[BOS, a_1, ..., a_t]`` predicting ``a_{t+1}``.

    ``state_flow=True`` adds a linear head giving log F(s) per state (SubTB). ``dropout``, ``init``,
    ``final_layernorm`` and ``positions`` are the :class:`~gfn_lib.config.TrainConfig` fields of the
    same names (defaults: nanoGPT-style; the published setup is ``0.1, "xavier", False, "sinusoidal"``).
    """

    def __init__(self, env: PeptideEnv, n_layers: int = 4, d_model: int = 256, n_heads: int = 8,
                 state_flow: bool = False, dropout: float = 0.0, init: str = "normal",
                 final_layernorm: bool = True, positions: str = "learned"):  # fmt: skip
        super().__init__()
        self.env = env
        self.n_heads, self.d_model, self.dropout = n_heads, d_model, dropout
        self.tok_emb = nn.Embedding(env.n_actions + 1, d_model)  # residues, STOP, BOS
        if positions not in ("learned", "sinusoidal"):
            raise ValueError(f"unknown positions {positions!r}")
        self.pos_emb = nn.Embedding(env.horizon, d_model) if positions == "learned" else None
        if positions == "sinusoidal":
            self.register_buffer("pos_table", sinusoidal_positions(env.horizon, d_model), persistent=False)  # [T, D]
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model) if final_layernorm else nn.Identity()
        self.head = nn.Linear(d_model, env.n_actions)
        self.flow_head = nn.Linear(d_model, 1) if state_flow else None
        self.register_buffer("action_masks", env.action_masks.clone(), persistent=False)  # [T, A]
        if init == "normal":
            self._init_normal()
        elif init == "xavier":
            self._init_xavier()
        else:
            raise ValueError(f"unknown init {init!r}")

    def _init_normal(self) -> None:
        """N(0, 0.02) on every weight matrix and embedding, zero biases (nanoGPT)."""

        def init(m: nn.Module) -> None:
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if isinstance(m, nn.Linear) and m.bias is not None:
                    nn.init.zeros_(m.bias)

        self.apply(init)

    def _init_xavier(self) -> None:
        """Xavier-uniform on every parameter with >= 2 dims; biases as ``nn.TransformerEncoderLayer``
        leaves them (attention in/out projections 0, feed-forward and head PyTorch's default uniform)."""
        for block in self.blocks:
            nn.init.zeros_(block.qkv.bias)
            nn.init.zeros_(block.proj.bias)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.xavier_uniform_(p)

    def _embed(self, tokens: torch.Tensor, t0: int) -> torch.Tensor:
        """``tokens [B, L]`` at positions ``t0..t0+L-1`` -> ``[B, L, D]`` (token + position, dropout)."""
        table = self.pos_emb.weight if self.pos_emb is not None else self.pos_table  # [T, D]
        x = self.tok_emb(tokens) + table[t0 : t0 + tokens.shape[1]]
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x

    # ---- helpers ----------------------------------------------------------------------------
    def _masked_logits(self, h: torch.Tensor, t0: int) -> torch.Tensor:
        """``h [B, L, D]`` at positions ``t0..t0+L-1`` -> logits ``[B, L, A]`` with illegal actions at -inf."""
        logits = self.head(self.ln_f(h)).float()
        mask = self.action_masks[t0 : t0 + h.shape[1]]  # [L, A]
        return logits.masked_fill(~mask, float("-inf"))

    def _inputs(self, actions: torch.Tensor) -> torch.Tensor:
        """Shift right: ``[B, T]`` actions -> ``[B, T]`` inputs ``[BOS, a_0, ..., a_{T-2}]``."""
        bos = torch.full_like(actions[:, :1], self.env.bos)
        return torch.cat([bos, actions[:, :-1]], dim=1)

    # ---- teacher-forced scoring -----------------------------------------------------------------
    def evaluate(self, actions: torch.Tensor, lengths: torch.Tensor, trim: bool = True) -> Evaluation:
        """Score ``actions [B, T]`` in one forward pass.

        ``trim`` drops the all-padding columns past the longest trajectory first (outputs
        are then ``[B, max(lengths) + 1]``), which saves most of the work while sequences
        are short; pass ``False`` for fixed shapes (``torch.compile``)."""
        if trim:
            actions = actions[:, : int(lengths.max()) + 1]
        B, T = actions.shape
        x = self._embed(self._inputs(actions), 0)  # [B, T, D]
        for block in self.blocks:
            x = block(x)
        logits = self._masked_logits(x, 0)  # [B, T, A]
        logp = logits.log_softmax(-1)  # [B, T, A]
        valid = self.env.valid_steps(lengths)[:, :T]  # [B, T]
        log_pf_steps = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # [B, T]
        log_pf_steps = torch.where(valid, log_pf_steps, torch.zeros_like(log_pf_steps))
        legal = logits.isfinite()  # [B, T, A]
        p_logp = logp.exp() * logp.masked_fill(~legal, 0.0)  # 0 * -inf would poison the gradient
        entropy_steps = torch.where(valid, -p_logp.sum(-1), torch.zeros_like(log_pf_steps))
        log_flows = self.flow_head(x).squeeze(-1).float() if self.flow_head is not None else None  # [B, T]
        return Evaluation(log_pf_steps, entropy_steps, valid, log_flows)

    # ---- sampling with a KV cache ---------------------------------------------------------------
    @torch.no_grad()
    def sample(
        self,
        batch_size: int,
        generator: torch.Generator | None = None,
        temperature: float = 1.0,
        epsilon: float = 0.0,
    ) -> Trajectories:
        """Sample ``batch_size`` trajectories; ``epsilon`` mixes in uniform-over-legal actions."""
        env, device = self.env, self.head.weight.device
        T, H = env.horizon, self.n_heads
        dtype = self.head.weight.dtype
        caches = torch.empty(len(self.blocks), 2, batch_size, H, T, self.d_model // H, device=device, dtype=dtype)
        actions = torch.full((batch_size, T), env.stop, dtype=torch.long, device=device)
        done = torch.zeros(batch_size, dtype=torch.bool, device=device)
        lengths = torch.full((batch_size,), env.max_len, dtype=torch.long, device=device)
        token = torch.full((batch_size,), env.bos, dtype=torch.long, device=device)
        sampler_log_probs = torch.zeros(batch_size, T, device=device)
        for t in range(T):
            x = self._embed(token.unsqueeze(1), t)  # [B, 1, D]
            for block, cache in zip(self.blocks, caches):
                x = block.step(x, cache, t)
            logits = self._masked_logits(x, t)[:, 0] / temperature  # [B, A]
            probs = logits.softmax(-1)
            if epsilon > 0:
                legal = self.action_masks[t].float()
                probs = (1 - epsilon) * probs + epsilon * legal / legal.sum()
            token = torch.multinomial(probs, 1, generator=generator).squeeze(1)  # [B]
            token = torch.where(done, torch.full_like(token, env.stop), token)
            actions[:, t] = token
            picked = probs.gather(1, token.unsqueeze(1)).squeeze(1).log()  # [B]
            sampler_log_probs[:, t] = torch.where(done, torch.zeros_like(picked), picked)
            just_stopped = (token == env.stop) & ~done
            lengths = torch.where(just_stopped, torch.full_like(lengths, t), lengths)
            done |= just_stopped
            if bool(done.all()):
                break
        return Trajectories(actions, lengths, sampler_log_probs)
