"""The learning-rate schedule: one small function, shared by the trainer and the analysis
(which predicts log Z's path from it without importing torch)."""

from __future__ import annotations

import math


def get_lr(step: int, base_lr: float, warmup_steps: int, schedule: str = "linear-warmup", n_steps: int = 0) -> float:
    """The lr of update ``step`` (counting from 0).

    ``linear-warmup`` (nanoGPT): ``base_lr * (step + 1) / warmup_steps`` for the first ``warmup_steps``
    updates, then ``base_lr``. ``constant-then-cosine`` (the published setup: a cosine annealing
    stepped once per update after the first phase): ``base_lr`` up to ``warmup_steps``, then
    ``base_lr * (1 + cos(pi * (step - warmup_steps) / (n_steps - warmup_steps))) / 2``, reaching 0 at
    ``n_steps``."""
    if schedule == "constant-then-cosine":
        done = max(0, step - warmup_steps) / max(1, n_steps - warmup_steps)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    return base_lr
