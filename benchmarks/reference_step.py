"""An independent single-run reference for the stack benchmark: one TB step written the plain way.

``gfn_lib`` computes one run as R = 1 of its stacked code (:class:`gfn_lib.policy.PolicyStack`), so
"R runs stacked vs one at a time" compares the stack with itself. This file is the outside yardstick:
an ordinary ``nn.Module`` policy (``nn.Linear``, ``nn.LayerNorm``, ``nn.Dropout`` on torch's global
RNG), a key/value-cached sampler that stops once every sequence has ended, one teacher-forced scoring
pass, the TB loss, clipping and AdamW. Same work per step as a ``gfn_lib`` run of the published setup
(dropout 0.1 in train mode while sampling and scoring, no final LayerNorm, batch 64, lengths 10-30,
a lookup-table reward), none of its code. Timing only: ``bench_multirun.py`` steps it beside the stack
(its ``ref`` rows); nothing here is used by a study run.
"""

from __future__ import annotations

import torch
from torch import nn

from gfn_lib.env import PeptideEnv


SHAPES = {"small": (2, 64, 4), "memo": (4, 256, 8)}
"""(layers, d_model, heads) of the benchmark's two policies (``bench_multirun.SHAPES``)."""


class RefBlock(nn.Module):
    """Pre-LN block; ``step`` extends a key/value cache by one position."""

    def __init__(self, d: int, heads: int, p: float) -> None:
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.ff = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Dropout(p), nn.Linear(4 * d, d), nn.Dropout(p))
        self.attn_drop, self.out_drop = nn.Dropout(p), nn.Dropout(p)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, D] -> [B, H, L, Dh]
        B, L, D = x.shape
        return x.view(B, L, self.heads, D // self.heads).transpose(1, 2)

    def _attend(self, q, k, v, causal: bool) -> torch.Tensor:
        scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # [B, H, Lq, Lk]
        if causal:
            L = scores.shape[-1]
            scores = scores.masked_fill(torch.ones(L, L, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
        y = self.attn_drop(scores.softmax(-1)) @ v  # [B, H, Lq, Dh]
        return y.transpose(1, 2).flatten(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, L, D], causal
        q, k, v = (self._heads(t) for t in self.qkv(self.ln1(x)).chunk(3, -1))
        x = x + self.out_drop(self.out(self._attend(q, k, v, causal=True)))
        return x + self.ff(self.ln2(x))

    def step(self, x: torch.Tensor, cache: list) -> torch.Tensor:  # x [B, 1, D]
        q, k, v = (self._heads(t) for t in self.qkv(self.ln1(x)).chunk(3, -1))
        if cache:
            k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
        cache[:] = [k, v]
        x = x + self.out_drop(self.out(self._attend(q, k, v, causal=False)))
        return x + self.ff(self.ln2(x))


class RefPolicy(nn.Module):
    def __init__(self, env: PeptideEnv, layers: int, d: int, heads: int, p: float = 0.1) -> None:
        super().__init__()
        self.env = env
        self.tok, self.pos = nn.Embedding(env.n_actions + 1, d), nn.Embedding(env.horizon, d)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(RefBlock(d, heads, p) for _ in range(layers))
        self.head = nn.Linear(d, env.n_actions)
        self.register_buffer("masks", env.action_masks.clone())  # [T, A]

    @torch.no_grad()
    def sample(self, B: int) -> tuple[torch.Tensor, torch.Tensor]:
        env, dev = self.env, self.head.weight.device
        caches = [[] for _ in self.blocks]
        token = torch.full((B,), env.bos, device=dev)
        actions = torch.full((B, env.horizon), env.stop, device=dev)
        lengths = torch.full((B,), env.max_len, device=dev)
        done = torch.zeros(B, dtype=torch.bool, device=dev)
        for t in range(env.horizon):
            x = self.drop(self.tok(token)[:, None] + self.pos.weight[t])  # [B, 1, D]
            for block, cache in zip(self.blocks, caches):
                x = block.step(x, cache)
            logits = self.head(x[:, 0]).masked_fill(~self.masks[t], float("-inf"))  # [B, A]
            token = torch.multinomial(logits.softmax(-1), 1)[:, 0]
            token = torch.where(done, env.stop, token)
            actions[:, t] = token
            stopped = (token == env.stop) & ~done
            lengths = torch.where(stopped, t, lengths)
            done |= stopped
            if bool(done.all()):
                break
        return actions, lengths

    def log_pf(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        L = int(lengths.max()) + 1
        actions = actions[:, :L]
        inputs = torch.cat([torch.full_like(actions[:, :1], self.env.bos), actions[:, :-1]], 1)
        x = self.drop(self.tok(inputs) + self.pos.weight[:L])  # [B, L, D]
        for block in self.blocks:
            x = block(x)
        logp = self.head(x).masked_fill(~self.masks[:L], float("-inf")).log_softmax(-1)  # [B, L, A]
        picked = logp.gather(-1, actions[..., None])[..., 0]
        valid = self.env.valid_steps(lengths)[:, :L]
        return torch.where(valid, picked, 0.0).sum(-1)  # [B]


class ReferenceRun:
    """One run: policy, log Z, AdamW, a lookup-table reward; :meth:`step` is one TB update."""

    def __init__(self, layers: int, d: int, heads: int, seed: int = 0, batch: int = 64, device: str = "cpu") -> None:
        torch.manual_seed(seed)
        self.env, self.batch, self.device = PeptideEnv(), batch, torch.device(device)
        self.policy = RefPolicy(self.env, layers, d, heads).train().to(self.device)
        self.log_z = nn.Parameter(torch.zeros((), device=self.device))
        self.table = torch.rand(self.env.horizon, self.env.n_actions, device=self.device).log() / self.env.max_len  # [T, A]
        self.opt = torch.optim.AdamW([{"params": self.policy.parameters()},
                                      {"params": [self.log_z], "lr": 1e-2, "weight_decay": 0.0}], lr=1e-4)  # fmt: skip

    def step(self) -> float:
        actions, lengths = self.policy.sample(self.batch)
        valid = self.env.valid_steps(lengths)
        log_r = torch.where(valid, self.table.gather(1, actions.T).T, 0.0).sum(-1)  # [B]
        loss = (self.log_z + self.policy.log_pf(actions, lengths) - log_r).pow(2).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), 1.0)
        self.opt.step()
        return loss.item()
