"""Each run's randomness from its own generator, the same alone or stacked with other runs.

:class:`RandomTape` hands out R runs' uniforms or dropout multipliers in order, run r's from generator r;
:class:`DropoutMasks` are one step's dropout multipliers of every site of :class:`~gfn_lib.policy.PolicyStack`
at the static shape (the sampler takes position t's slice, the scoring pass all of them);
:func:`fork_generators` gives each run a child generator per pass. Nothing here reads torch's global RNG
except :func:`fresh_generator`, for callers that pass no generator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


def fresh_generator(device: torch.device) -> torch.Generator:
    """A generator seeded from torch's global RNG (for callers that pass none)."""
    return torch.Generator(device).manual_seed(int(torch.randint(0, 2**62, (1,))))


def fork_generators(generators: Sequence[torch.Generator]) -> list[torch.Generator]:
    """One child generator per run, seeded by one draw from the run's own generator. A pass that draws
    from the child consumes the same amount of the parent whatever it does (stop early or not)."""
    return [
        torch.Generator(g.device).manual_seed(int(torch.randint(0, 2**62, (1,), generator=g, device=g.device)))
        for g in generators
    ]  # fmt: skip


class RandomTape:
    """Random numbers for R runs, each run's from its own generator, handed out in order.

    ``take(*shape) -> [R, *shape]``: uniforms in [0, 1), or, with ``keep`` = 1 - p, dropout multipliers
    (0 with probability p, else 1 / (1 - p)). Run r's numbers depend only on its generator and on the
    sequence of shapes taken, never on the other runs or on R (a run stacked with others draws exactly
    what it draws alone), and a shorter sequence of takes reads a prefix of a longer one (the sampler
    that stops early uses the numbers the static one uses). Refills draw at least ``chunk`` per run.

    Dropout masks come four to a 64-bit draw: each 16-bit lane is kept when it is not among the lowest
    round(p * 2^16) of its 2^16 values, so the realised drop probability is :func:`realised_dropout`
    (0.1 -> 6554 / 65536 = 0.100006). Half the cost of one float uniform per mask, which was a quarter
    of a small-policy step. Masks are made in passes of ~``MASK_PASS`` lanes over all runs, so that the
    words, their comparisons and the masks stay in cache: six memo-scale runs' masks (~350 MB a step)
    take 336 instead of 485 ms. Each pass compares the 16-bit lanes straight into the float masks
    (through a bool tensor it took five times as long: six small runs' masks 43 -> 36 ms). (Filling the
    R rows from R threads at once was tried too: on a 2-core CPU it is slower, because torch's OpenMP
    threads spin between kernels and compete with the fill threads.)"""

    CHUNK = 1 << 18
    MASK_PASS = 1 << 20

    def __init__(self, generators: Sequence[torch.Generator], device: torch.device, keep: float | None = None,
                 chunk: int = CHUNK, storage: torch.Tensor | None = None) -> None:  # fmt: skip
        """``storage``: an ``[R, n]`` tensor the first refill fills instead of allocating, when it needs
        exactly ``n`` per run (a buffer reused across steps)."""
        self.generators, self.device, self.keep, self.chunk = list(generators), device, keep, chunk
        self.storage = storage
        self.buffer = torch.empty(len(self.generators), 0, device=device)  # [R, n]
        self.pos = 0

    def take(self, *shape: int) -> torch.Tensor:
        n = math.prod(shape)
        if self.pos + n > self.buffer.shape[1]:
            self._refill(n)
        out = self.buffer[:, self.pos : self.pos + n]
        self.pos += n
        return out.view(len(self.generators), *shape)

    def _refill(self, n: int) -> None:
        """Keep the unread rest, then append at least ``max(chunk, n - rest)`` fresh numbers per run
        (masks: a multiple of 4, whole 64-bit draws), run r's from generator r."""
        R, rest = len(self.generators), self.buffer.shape[1] - self.pos
        m = max(self.chunk, n - rest)
        if self.keep is not None:
            m = -(-m // 4) * 4
        if self.storage is not None and rest == 0 and self.storage.shape == (R, m):
            buffer = self.storage  # [R, m]
        else:
            buffer = torch.empty(R, rest + m, device=self.device)  # [R, rest + m]
        self.storage = None
        buffer[:, :rest] = self.buffer[:, self.pos :]
        if self.keep is None:
            for r, gen in enumerate(self.generators):  # in place, no stacked copy
                buffer[r, rest:].uniform_(generator=gen)
        else:  # in passes of MASK_PASS lanes over all runs, so words, comparisons and masks stay in cache
            # lanes per run in one pass; on CUDA one pass (few launches; and its generators' numbers depend
            # on how a draw is split, so the split must not depend on R)
            span = m if self.device.type == "cuda" else min(m, max(1 << 12, self.MASK_PASS // R // 4 * 4))
            words = torch.empty(R, span // 4, dtype=torch.int64, device=self.device)  # [R, span / 4]
            for a in range(rest, rest + m, span):
                b = min(a + span, rest + m)
                w = words[:, : (b - a) // 4]
                for r, gen in enumerate(self.generators):  # each generator draws in order: passes never change the numbers
                    w[r].random_(-(2**63), None, generator=gen)  # all 64 bits uniform
                # signed 16-bit lanes compared straight into the float masks (5x faster than via a bool tensor)
                torch.ge(w.view(torch.int16), _lane_threshold(1.0 - self.keep), out=buffer[:, a:b]).mul_(1.0 / self.keep)
        self.buffer, self.pos = buffer, 0


def _lane_threshold(p: float) -> int:
    """A signed 16-bit lane is dropped when below this: the lowest round(p * 2^16) of its values."""
    return round(p * 2**16) - 2**15


def realised_dropout(p: float) -> float:
    """The drop probability the masks realise for a configured ``p`` (a multiple of 2^-16)."""
    return (_lane_threshold(p) + 2**15) / 2**16


@dataclass
class DropoutMasks:
    """Dropout multipliers (0 or 1 / (1 - p)) of one step's forward passes, for R runs, at the static
    shape: every position ``t < T`` of every site where :class:`~gfn_lib.policy.TransformerPolicy`
    drops. The sampler takes position t's slice (:meth:`positions`), the scoring pass all positions:
    given the sampler's masks, it computes the sampler's network, and each action is scored under the
    masks it was sampled with."""

    embed: torch.Tensor
    """``[R, B, T, D]`` token + position embedding."""
    attention: list[torch.Tensor]
    """Per layer ``[R, B, H, T, T]`` attention weights (query, key)."""
    proj: list[torch.Tensor]
    """Per layer ``[R, B, T, D]`` attention output."""
    hidden: list[torch.Tensor]
    """Per layer ``[R, B, T, 4D]`` feed-forward hidden layer."""
    out: list[torch.Tensor]
    """Per layer ``[R, B, T, D]`` feed-forward output."""
    storage: torch.Tensor
    """``[R, n]``: the one buffer all of the above view."""

    @classmethod
    def draw(cls, generators: Sequence[torch.Generator], batch_size: int, horizon: int, n_layers: int,
             d_model: int, n_heads: int, p: float, device: torch.device, reuse: DropoutMasks | None = None) -> DropoutMasks:  # fmt: skip
        """Run r's masks from ``generators[r]`` alone (one :class:`RandomTape` refill, sites in a fixed
        order), so a run draws the same masks alone or stacked. ``reuse``: spent masks of the same shape
        whose buffer is refilled (overwritten) instead of allocating a new one: six small runs' 51 MB
        fresh each step cost 58 against 41 ms to draw (page faults) on this workplace's CPU."""
        B, T, D, H = batch_size, horizon, d_model, n_heads
        per_layer = [(B, H, T, T), (B, T, D), (B, T, 4 * D), (B, T, D)]
        total = B * T * D + n_layers * sum(math.prod(s) for s in per_layer)
        storage = reuse.storage if reuse is not None and reuse.storage.device == device else None
        tape = RandomTape(generators, device, keep=1.0 - p, chunk=total, storage=storage)
        embed = tape.take(B, T, D)
        layers = [[tape.take(*s) for s in per_layer] for _ in range(n_layers)]
        return cls(embed, *(list(site) for site in zip(*layers)), storage=tape.buffer)

    def copy_to(self, storage: torch.Tensor) -> DropoutMasks:
        """The same masks in ``storage`` (an ``[R, n]`` buffer like :attr:`storage`, overwritten): every
        site a view at the same place (a CUDA graph's fixed inputs)."""
        storage.copy_(self.storage)
        base = self.storage.storage_offset()

        def move(m: torch.Tensor) -> torch.Tensor:
            return storage.as_strided(m.shape, m.stride(), storage.storage_offset() + m.storage_offset() - base)

        return DropoutMasks(move(self.embed), [move(m) for m in self.attention], [move(m) for m in self.proj],
                            [move(m) for m in self.hidden], [move(m) for m in self.out], storage)  # fmt: skip

    def positions(self, start: int, stop: int, keys: int) -> DropoutMasks:
        """The masks of query positions ``start..stop-1`` (attention: keys ``0..keys-1``)."""
        def cut(m: torch.Tensor) -> torch.Tensor:
            return m[:, :, start:stop]

        return DropoutMasks(cut(self.embed), [m[..., start:stop, :keys] for m in self.attention], [cut(m) for m in self.proj],
                            [cut(m) for m in self.hidden], [cut(m) for m in self.out], self.storage)  # fmt: skip
