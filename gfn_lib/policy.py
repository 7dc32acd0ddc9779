"""The forward policy P_F: a small causal Transformer (nanoGPT-style, pre-LayerNorm).

:class:`TransformerPolicy` holds one run's parameters. :class:`PolicyStack` computes with the
parameters of R policies of one shape at once (stacked along a leading run dimension: grouped
matmuls), so that R independent runs share every kernel launch; one policy alone is R = 1 of the
same code (``TransformerPolicy.sample`` / ``.evaluate`` call it), so there is one computation.

* ``sample`` generates trajectories token by token with a key/value cache (one position per
  token, not the whole prefix). ``static=True`` decodes all ``T`` positions with masking instead of
  stopping once every sequence has ended: fixed shapes, for CUDA graphs / ``torch.compile``.
* ``evaluate`` scores given trajectories with a single teacher-forced forward: per-step log P_F,
  per-step entropy and (for SubTB) per-state log-flows. The loss always uses these, i.e. log P_F
  under the current policy without temperature or exploration.

With dropout, each pass's :class:`~gfn_lib.randomness.DropoutMasks` are drawn in one go, at the
static shape: the sampler applies position t's slice, the scoring pass all of them. The scoring pass
may be given the sampler's own masks, so that each action's log P_F is scored under the masks it was
sampled with (``TrainConfig.dropout_scoring``; by default it draws its own). Randomness (Gumbel noise
and dropout) comes from each run's own generator through a :class:`~gfn_lib.randomness.RandomTape`,
never from the global RNG, so a run draws the same numbers whether it is computed alone or stacked
with others, and the static and the early-stopping sampler agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from gfn_lib.env import PeptideEnv
from gfn_lib.randomness import DropoutMasks, RandomTape, fork_generators, fresh_generator

if TYPE_CHECKING:
    from gfn_lib.graphs import SamplerGraph


class Block(nn.Module):
    """Parameters of one pre-LN Transformer block: causal self-attention + GELU MLP (the computation,
    for one run or many at once, is :class:`PolicyStack`'s)."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))


@dataclass
class Trajectories:
    """A batch of sampled trajectories (one run: ``[B, ...]``; a stack of R runs: ``[R, B, ...]``)."""

    actions: torch.Tensor
    """``[B, T]`` action ids; STOP at index ``lengths``, STOP-padding after."""
    lengths: torch.Tensor
    """``[B]`` residues per sequence."""
    sampler_log_probs: torch.Tensor
    """``[B, T]`` log-probability of each action under the *sampling* distribution
    (temperature, epsilon included); 0 after STOP. Diagnostics only: the loss uses
    :meth:`TransformerPolicy.evaluate`."""

    def run(self, r: int) -> Trajectories:
        """Run ``r`` of a stack."""
        return Trajectories(self.actions[r], self.lengths[r], self.sampler_log_probs[r])


@dataclass
class Evaluation:
    """Teacher-forced scores of a batch of trajectories under the current policy (``[R, B, T]`` for a stack)."""

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
        return self.log_pf_steps.sum(-1)

    def run(self, r: int) -> Evaluation:
        """Run ``r`` of a stack."""
        flows = self.log_flows[r] if self.log_flows is not None else None
        return Evaluation(self.log_pf_steps[r], self.entropy_steps[r], self.valid[r], flows)


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
    Dropout (on embeddings, attention weights, attention output and both feed-forward layers, as
    ``nn.TransformerEncoderLayer``) is active in train mode, while sampling and scoring.
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
        self.blocks = nn.ModuleList(Block(d_model) for _ in range(n_layers))
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

    @torch.no_grad()
    def nudge(self, seed: int) -> None:
        """Move every nonzero weight one float32 step up or down (``TrainConfig.init_nudge``): each
        direction a fair coin from a CPU generator seeded with ``seed``, so the same on every device.
        Zeros stay zero (one step from 0 is a subnormal, slow on CPUs)."""
        coins = torch.Generator().manual_seed(seed)
        for p in self.parameters():
            up = torch.rand(p.shape, generator=coins) < 0.5  # [*p.shape]
            toward = torch.where(up, torch.inf, -torch.inf).to(p.device, p.dtype)
            p.copy_(torch.where(p != 0, torch.nextafter(p, toward), p))

    @property
    def shape_key(self) -> tuple:
        """What policies must share to be computed as one stack (parameter shapes and layout)."""
        return (self.env, self.n_heads, self.dropout, self.pos_emb is None,
                tuple((n, tuple(p.shape)) for n, p in self.named_parameters()))  # fmt: skip

    def sample(self, batch_size: int, generator: torch.Generator | None = None, temperature: float = 1.0,
               epsilon: float = 0.0, static: bool = False) -> Trajectories:  # fmt: skip
        """Sample ``batch_size`` trajectories (:meth:`PolicyStack.sample` with this policy alone);
        ``epsilon`` mixes in uniform-over-legal actions. No generator: one seeded from torch's global RNG."""
        gen = generator if generator is not None else fresh_generator(self.head.weight.device)
        return PolicyStack([self]).sample(batch_size, [gen], [temperature], [epsilon], static).run(0)

    def evaluate(self, actions: torch.Tensor, lengths: torch.Tensor, trim: bool = True,
                 generator: torch.Generator | None = None) -> Evaluation:  # fmt: skip
        """Score ``actions [B, T]`` in one forward pass (:meth:`PolicyStack.evaluate` with this policy
        alone). ``generator`` draws the dropout masks (none: one seeded from torch's global RNG)."""
        gens = [generator] if generator is not None else None
        return PolicyStack([self]).evaluate(actions.unsqueeze(0), lengths.unsqueeze(0), gens, trim).run(0)


def _linear(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-run ``x @ w.T + b``: ``x [R, ..., in]``, ``w [R, out, in]``, ``b [R, out]`` -> ``[R, ..., out]``."""
    R, n_in = x.shape[0], x.shape[-1]
    if R == 1:  # one run: the plain GEMM (addmm, and mm in the backward) is faster on CPU than a batch of one
        return F.linear(x[0], w[0], b[0]).unsqueeze(0)
    y = torch.baddbmm(b.unsqueeze(1), x.reshape(R, -1, n_in), w.transpose(1, 2))  # [R, N, out]
    return y.view(*x.shape[:-1], w.shape[1])


def _layer_norm(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-run LayerNorm over the last dim: ``x [R, ..., D]``, ``w, b [R, D]``."""
    shape = (w.shape[0],) + (1,) * (x.dim() - 2) + (w.shape[-1],)
    return torch.addcmul(b.view(shape), F.layer_norm(x, x.shape[-1:]), w.view(shape))


class PolicyStack:
    """R :class:`TransformerPolicy` s of one shape (:attr:`TransformerPolicy.shape_key`) computed as one:
    their parameters are stacked along a leading run dimension for each call (gradients flow back to
    each policy's own parameters), and every tensor carries that dimension: ``[R, B, ...]``."""

    def __init__(self, policies: Sequence[TransformerPolicy]) -> None:
        if not policies:
            raise ValueError("PolicyStack needs at least one policy")
        first = policies[0]
        if any(p.shape_key != first.shape_key for p in policies[1:]):
            raise ValueError("policies of different shapes cannot be stacked")
        self.policies, self.first, self.env = list(policies), first, first.env
        self.R, self.H, self.D = len(policies), first.n_heads, first.d_model
        self.n_layers, self.p_drop = len(first.blocks), first.dropout if first.training else 0.0
        self.device = first.head.weight.device

    # ---- parameters -------------------------------------------------------------------------
    def _params(self) -> dict[str, torch.Tensor]:
        """``{name: [R, *shape]}``; a view for R = 1, a (differentiable) stack otherwise."""
        named = [dict(p.named_parameters()) for p in self.policies]
        if self.R == 1:
            return {n: t.unsqueeze(0) for n, t in named[0].items()}
        return {n: torch.stack([d[n] for d in named]) for n in named[0]}

    # ---- pieces ------------------------------------------------------------------------------
    def draw_masks(self, generators: Sequence[torch.Generator] | None, batch_size: int,
                   reuse: DropoutMasks | None = None) -> DropoutMasks | None:  # fmt: skip
        """One step's :class:`DropoutMasks` (``None`` without dropout or in eval mode); run r's from
        ``generators[r]`` (none: generators seeded from torch's global RNG); ``reuse``: spent masks
        whose buffer may be overwritten (:meth:`DropoutMasks.draw`)."""
        if not self.p_drop:
            return None
        gens = generators if generators is not None else [fresh_generator(self.device) for _ in range(self.R)]
        return DropoutMasks.draw(gens, batch_size, self.env.horizon, self.n_layers, self.D, self.H, self.p_drop,
                                 self.device, reuse)  # fmt: skip

    @staticmethod
    def _drop(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """Dropout of ``x`` with the multipliers ``mask`` (same shape; ``None``: no dropout)."""
        return x if mask is None else x * mask

    def _embed(self, P: dict, tokens: torch.Tensor, t0: int, masks: DropoutMasks | None) -> torch.Tensor:
        """``tokens [R, B, L]`` at positions ``t0..t0+L-1`` -> ``[R, B, L, D]`` (token + position, dropout)."""
        R, L = self.R, tokens.shape[-1]
        table = P["tok_emb.weight"]  # [R, V + 2, D]
        offset = torch.arange(R, device=tokens.device).view(R, 1, 1) * table.shape[1]
        x = F.embedding(tokens + offset, table.reshape(-1, self.D))  # [R, B, L, D]
        if "pos_emb.weight" in P:
            x = x + P["pos_emb.weight"][:, t0 : t0 + L].unsqueeze(1)
        else:
            x = x + self.first.pos_table[t0 : t0 + L]
        return self._drop(x, masks and masks.embed)

    def _qkv(self, P: dict, i: int, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x [R, B, L, D]`` -> q, k, v ``[R, B, H, L, Dh]``."""
        b = f"blocks.{i}."
        h = _layer_norm(x, P[b + "ln1.weight"], P[b + "ln1.bias"])
        q, k, v = _linear(h, P[b + "qkv.weight"], P[b + "qkv.bias"]).split(self.D, dim=-1)
        shape = x.shape[:-1] + (self.H, self.D // self.H)
        return tuple(t.reshape(shape).transpose(2, 3) for t in (q, k, v))

    def _merge(self, P: dict, i: int, x: torch.Tensor, y: torch.Tensor, masks: DropoutMasks | None) -> torch.Tensor:
        """Attention output ``y [R, B, H, L, Dh]`` -> residual + projection, then residual + MLP."""
        b = f"blocks.{i}."
        y = y.transpose(2, 3).reshape(x.shape)  # [R, B, L, D]
        x = x + self._drop(_linear(y, P[b + "proj.weight"], P[b + "proj.bias"]), masks and masks.proj[i])
        h = _linear(_layer_norm(x, P[b + "ln2.weight"], P[b + "ln2.bias"]), P[b + "mlp.0.weight"], P[b + "mlp.0.bias"])
        h = self._drop(F.gelu(h), masks and masks.hidden[i])  # [R, B, L, 4D]
        return x + self._drop(_linear(h, P[b + "mlp.2.weight"], P[b + "mlp.2.bias"]), masks and masks.out[i])

    def _block(self, P: dict, i: int, x: torch.Tensor, masks: DropoutMasks | None) -> torch.Tensor:
        """Full causal pass of block ``i``: ``x [R, B, L, D] -> [R, B, L, D]``."""
        L = x.shape[2]
        q, k, v = self._qkv(P, i, x)  # [R, B, H, L, Dh]
        att = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # [R, B, H, L, L]
        causal = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        att = self._drop(att.masked_fill(causal, float("-inf")).softmax(-1), masks and masks.attention[i])
        return self._merge(P, i, x, att @ v, masks)

    def _block_step(self, P: dict, i: int, x: torch.Tensor, cache: torch.Tensor, t: int,
                    masks: DropoutMasks | None, static: bool) -> torch.Tensor:  # fmt: skip
        """One new position ``t`` of block ``i``: ``x [R, B, 1, D]``; ``cache [2, T, R, B, H, Dh]`` is
        filled at ``t`` (position-major: one contiguous block per position); ``masks``: position t's.
        The query is the newest position, so attending to the whole prefix is causal; ``static``
        attends to all ``T`` slots with the future masked (fixed shapes)."""
        T = self.env.horizon
        q, k, v = self._qkv(P, i, x)  # [R, B, H, 1, Dh]
        cache[0, t] = k[:, :, :, 0]
        cache[1, t] = v[:, :, :, 0]
        width = T if static else t + 1
        k_all, v_all = cache[0, :width], cache[1, :width]  # [width, R, B, H, Dh]
        # for one query, broadcast-multiply-and-sum beats SDPA and bmm (tiny matrices) on CPU
        att = (k_all * q[:, :, :, 0]).sum(-1) * q.shape[-1] ** -0.5  # [width, R, B, H]
        if static:
            att = att.masked_fill((torch.arange(T, device=x.device) > t).view(T, 1, 1, 1), float("-inf"))
        att = att.softmax(0)
        if masks is not None:
            att = att * masks.attention[i][..., 0, :].permute(3, 0, 1, 2)  # [R, B, H, width] -> [width, R, B, H]
        y = (att.unsqueeze(-1) * v_all).sum(0)  # [R, B, H, Dh]
        return self._merge(P, i, x, y.unsqueeze(3), masks)

    def _logits(self, P: dict, h: torch.Tensor, t0: int) -> torch.Tensor:
        """``h [R, B, L, D]`` at positions ``t0..`` -> logits ``[R, B, L, A]``, illegal actions at -inf."""
        if "ln_f.weight" in P:
            h = _layer_norm(h, P["ln_f.weight"], P["ln_f.bias"])
        logits = _linear(h, P["head.weight"], P["head.bias"]).float()
        mask = self.first.action_masks[t0 : t0 + h.shape[2]]  # [L, A]
        return logits.masked_fill(~mask, float("-inf"))

    def _inputs(self, actions: torch.Tensor) -> torch.Tensor:
        """Shift right: ``[R, B, T]`` actions -> inputs ``[BOS, a_0, ..., a_{T-2}]``."""
        bos = torch.full_like(actions[..., :1], self.env.bos)
        return torch.cat([bos, actions[..., :-1]], dim=-1)

    # ---- teacher-forced scoring -----------------------------------------------------------------
    def evaluate(self, actions: torch.Tensor, lengths: torch.Tensor,
                 generators: Sequence[torch.Generator] | None = None, trim: bool = True,
                 masks: DropoutMasks | None = None) -> Evaluation:  # fmt: skip
        """Score ``actions [R, B, T]`` (``lengths [R, B]``) in one forward pass, with dropout ``masks``
        (the sampler's, to score each action under the masks it was sampled with, or a draw of their own);
        none given: run r's are drawn from ``generators[r]`` (none: generators seeded from torch's global RNG).

        ``trim`` drops the all-padding columns past the longest trajectory first (outputs are then
        ``[R, B, max(lengths) + 1]``), which saves most of the work while sequences are short; pass
        ``False`` for fixed shapes (``torch.compile``)."""
        if trim:
            actions = actions[..., : int(lengths.max()) + 1]
        L = actions.shape[-1]
        if masks is None:
            masks = self.draw_masks(generators, actions.shape[1])
        masks = masks and masks.positions(0, L, L)
        P = self._params()
        x = self._embed(P, self._inputs(actions), 0, masks)  # [R, B, L, D]
        for i in range(self.n_layers):
            x = self._block(P, i, x, masks)
        logits = self._logits(P, x, 0)  # [R, B, L, A]
        logp = logits.log_softmax(-1)
        valid = self.env.valid_steps(lengths)[..., : actions.shape[-1]]  # [R, B, L]
        log_pf_steps = logp.gather(-1, actions.unsqueeze(-1)).squeeze(-1)  # [R, B, L]
        log_pf_steps = torch.where(valid, log_pf_steps, torch.zeros_like(log_pf_steps))
        p_logp = logp.exp() * logp.masked_fill(~logits.isfinite(), 0.0)  # 0 * -inf would poison the gradient
        entropy_steps = torch.where(valid, -p_logp.sum(-1), torch.zeros_like(log_pf_steps))
        log_flows = None
        if "flow_head.weight" in P:
            log_flows = _linear(x, P["flow_head.weight"], P["flow_head.bias"]).squeeze(-1).float()  # [R, B, L]
        return Evaluation(log_pf_steps, entropy_steps, valid, log_flows)

    # ---- sampling with a KV cache ---------------------------------------------------------------
    @torch.no_grad()
    def sample(self, batch_size: int, generators: Sequence[torch.Generator], temperature: Sequence[float],
               epsilon: Sequence[float], static: bool = False, masks: DropoutMasks | None = None,
               graph: SamplerGraph | None = None) -> Trajectories:  # fmt: skip
        """``batch_size`` trajectories per run (``[R, B, T]``), by Gumbel-max on each position's log-probs
        with run r's noise from ``generators[r]``; ``temperature[r]``, ``epsilon[r]`` (uniform-over-legal
        mixed in) shape run r's sampling distribution. ``static``: no early stop (fixed shapes). Dropout
        uses ``masks`` (pass the same to :meth:`evaluate`); none given: drawn from generators forked
        from ``generators``. ``graph``: replay the static decode loop as a CUDA graph
        (:class:`gfn_lib.graphs.SamplerGraph`; same numbers as ``static``)."""
        env, dev, R, B, T = self.env, self.device, self.R, batch_size, self.env.horizon
        if masks is None and self.p_drop:
            masks = self.draw_masks(fork_generators(generators), B)
        # Gumbel noise, one refill per call: position t reads [:, t], as T takes of [B, A] in turn would
        uniforms = RandomTape(generators, dev, chunk=B * env.n_actions * T).take(T, B, env.n_actions)  # [R, T, B, A]
        temp = torch.tensor(list(temperature), device=dev).view(R, 1, 1)
        eps = torch.tensor(list(epsilon), device=dev).view(R, 1, 1)
        mix = any(e > 0 for e in epsilon)  # decided on the host: no device sync, nothing data-dependent to capture
        if graph is not None:
            return graph.replay(self, uniforms, masks, temp, eps, mix)
        return self.decode(uniforms, masks, temp, eps, mix, static)

    def _pick(self, logits: torch.Tensor, t: int, temp: torch.Tensor, eps: torch.Tensor, mix: bool,
              uniforms: torch.Tensor, done: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """Position t's actions by Gumbel-max on the sampling distribution: ``logits [R, B, A]`` at temperature
        ``temp``, epsilon mixed in (``mix``), noise ``uniforms [R, B, A]``; STOP where ``done``. Returns the
        actions ``[R, B]`` and their log-probability under that distribution (0 where ``done``)."""
        probs = (logits / temp).softmax(-1)  # [R, B, A]
        if mix:
            legal = self.first.action_masks[t].float()
            probs = (1 - eps) * probs + eps * legal / legal.sum()
        gumbel = -(-uniforms.log()).log()  # [R, B, A]
        token = (probs.log() + gumbel).argmax(-1)  # [R, B]
        token = torch.where(done, torch.full_like(token, self.env.stop), token)
        picked = probs.gather(-1, token.unsqueeze(-1)).squeeze(-1).log()  # [R, B]
        return token, torch.where(done, torch.zeros_like(picked), picked)

    def decode(self, uniforms: torch.Tensor, masks: DropoutMasks | None, temp: torch.Tensor, eps: torch.Tensor,
               mix: bool, static: bool) -> Trajectories:  # fmt: skip
        """The decode loop of :meth:`sample` on pre-drawn randomness: ``uniforms [R, T, B, A]`` (Gumbel
        noise of each position), ``masks`` (dropout), ``temp`` and ``eps [R, 1, 1]``; ``mix``: whether any
        epsilon is positive. With ``static`` it reads nothing back from the device (no early stop, no
        data-dependent branch), so it can be captured as one CUDA graph."""
        env, dev, R, B, T = self.env, self.device, self.R, uniforms.shape[2], self.env.horizon
        P = self._params()
        # early stop reads only the positions written so far; the static loop reads all T (the future ones
        # weighted 0, so they must hold finite numbers, not whatever the memory held)
        new_cache = torch.zeros if static else torch.empty
        caches = new_cache(self.n_layers, 2, T, R, B, self.H, self.D // self.H, device=dev, dtype=P["head.weight"].dtype)
        actions = torch.full((R, B, T), env.stop, dtype=torch.long, device=dev)
        done = torch.zeros(R, B, dtype=torch.bool, device=dev)
        lengths = torch.full((R, B), env.max_len, dtype=torch.long, device=dev)
        token = torch.full((R, B), env.bos, dtype=torch.long, device=dev)
        sampler_log_probs = torch.zeros(R, B, T, device=dev)
        for t in range(T):
            here = masks and masks.positions(t, t + 1, T if static else t + 1)
            x = self._embed(P, token.unsqueeze(-1), t, here)  # [R, B, 1, D]
            for i in range(self.n_layers):
                x = self._block_step(P, i, x, caches[i], t, here, static)
            token, sampler_log_probs[:, :, t] = self._pick(self._logits(P, x, t)[:, :, 0], t, temp, eps, mix,
                                                           uniforms[:, t], done)  # fmt: skip
            actions[:, :, t] = token
            just_stopped = (token == env.stop) & ~done
            lengths = torch.where(just_stopped, torch.full_like(lengths, t), lengths)
            done |= just_stopped
            if not static and bool(done.all()):
                break
        return Trajectories(actions, lengths, sampler_log_probs)

    # ---- the published sampler: the whole prefix recomputed at every position -------------------
    def sample_recomputing(self, batch_size: int, generators: Sequence[torch.Generator],
                           mask_generators: Sequence[torch.Generator], temperature: Sequence[float],
                           epsilon: Sequence[float], static: bool = False) -> tuple[Trajectories, Evaluation]:  # fmt: skip
        """Sample and score at once, as the published sampler did (``dropout_scoring: recompute``): position
        t is one full forward pass over the prefix ``[BOS, a_0, ..., a_{t-1}]`` with dropout masks drawn for
        that pass alone (run r's from ``mask_generators[r]``), its action is drawn from that pass (the same
        Gumbel noise as :meth:`sample`, from ``generators``) and scored by it, with autograd kept. So each
        action's log P_F is the probability it was drawn with, and the prefix's masks are redrawn at every
        position. T passes over 1..T positions: about T / 2 times the work of :meth:`sample` and
        :meth:`evaluate` together. ``static``: no early stop (all T passes)."""
        env, dev, R, B, T = self.env, self.device, self.R, batch_size, self.env.horizon
        uniforms = RandomTape(generators, dev, chunk=B * env.n_actions * T).take(T, B, env.n_actions)  # [R, T, B, A]
        temp = torch.tensor(list(temperature), device=dev).view(R, 1, 1)
        eps = torch.tensor(list(epsilon), device=dev).view(R, 1, 1)
        mix = any(e > 0 for e in epsilon)
        P = self._params()
        tokens = torch.full((R, B, T), env.bos, dtype=torch.long, device=dev)  # inputs: [BOS, a_0, ..., a_{T-2}]
        actions = torch.full((R, B, T), env.stop, dtype=torch.long, device=dev)
        done = torch.zeros(R, B, dtype=torch.bool, device=dev)
        lengths = torch.full((R, B), env.max_len, dtype=torch.long, device=dev)
        sampler_log_probs = torch.zeros(R, B, T, device=dev)
        log_pf, entropy, flows = [], [], []  # per position: [R, B]
        for t in range(T):
            L = t + 1
            masks = None  # this pass's own masks, for its L positions only
            if self.p_drop:
                masks = DropoutMasks.draw(mask_generators, B, L, self.n_layers, self.D, self.H, self.p_drop, dev)
            x = self._embed(P, tokens[..., :L], 0, masks)  # [R, B, L, D]
            for i in range(self.n_layers):
                x = self._block(P, i, x, masks)
            h = x[:, :, t:]  # [R, B, 1, D]: the newest position predicts a_t
            logits = self._logits(P, h, t)[:, :, 0]  # [R, B, A]
            logp = logits.log_softmax(-1)
            with torch.no_grad():
                token, sampler_log_probs[:, :, t] = self._pick(logits, t, temp, eps, mix, uniforms[:, t], done)
            actions[:, :, t] = token
            if t + 1 < T:
                tokens[:, :, t + 1] = token
            log_pf.append(logp.gather(-1, token.unsqueeze(-1)).squeeze(-1))  # [R, B]
            p_logp = logp.exp() * logp.masked_fill(~logits.isfinite(), 0.0)  # 0 * -inf would poison the gradient
            entropy.append(-p_logp.sum(-1))
            if "flow_head.weight" in P:
                flows.append(_linear(h, P["flow_head.weight"], P["flow_head.bias"])[:, :, 0, 0].float())
            just_stopped = (token == env.stop) & ~done
            lengths = torch.where(just_stopped, torch.full_like(lengths, t), lengths)
            done = done | just_stopped
            if not static and bool(done.all()):
                break
        n = len(log_pf)
        valid = env.valid_steps(lengths)  # [R, B, T]

        def steps(per_position: list[torch.Tensor]) -> torch.Tensor:
            """``[R, B, T]`` from the positions computed, 0 where no action was taken (and past the last pass)."""
            x = torch.stack(per_position, -1)  # [R, B, n]
            x = F.pad(x, (0, T - n))
            return torch.where(valid, x, torch.zeros_like(x))

        log_flows = F.pad(torch.stack(flows, -1), (0, T - n)) if flows else None
        ev = Evaluation(steps(log_pf), steps(entropy), valid, log_flows)
        return Trajectories(actions, lengths, sampler_log_probs), ev
