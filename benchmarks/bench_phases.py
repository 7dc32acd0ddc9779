"""Where a stacked step's time goes, phase by phase, for several R side by side (CPU, or CUDA run eagerly).

Each phase is timed by a wall clock wrapped around the trainer's own piece of the step (no profiler, so its
overhead is not in the figures): the dropout masks (both draws), the decode loop, the rewards, the scoring pass,
the losses, the backward pass, clipping + optimiser steps + the step's statistics, the batch metrics; "other" is
the rest of the step. The same setup as ``bench_multirun.py`` (published setup, lookup-table reward); rows
interleaved round by round. Printed per phase: ms per stacked step for each R and its ratio to R = 1 (a phase
that gains nothing from stacking costs R times as much).

Under the table, the bound it implies: even if the decode loop of R runs cost no more than one run's, a stack
of R would beat R single runs by at most ``R t(1) / (t(R) - sampling(R) + sampling(1))``.

    python benchmarks/bench_phases.py --shape small --runs 1 6
    python benchmarks/bench_phases.py --set device=cuda cuda_graph=false     # eager CUDA (a graph hides its phases)
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections import defaultdict
from collections.abc import Callable

import torch
from bench_multirun import SHAPES, _sync, benchmark_runs

from gfn_lib import rewards
from gfn_lib import trainer as trainer_module
from gfn_lib.cli import parse_overrides
from gfn_lib.policy import PolicyStack
from gfn_lib.trainer import Trainer, train_steps

PHASES: dict[str, tuple[object, str]] = {
    "dropout masks": (PolicyStack, "draw_masks"),
    "decode loop": (PolicyStack, "sample"),
    "rewards": (rewards.Reward, "log_reward"),
    "scoring pass": (trainer_module, "_evaluate"),
    "losses": (Trainer, "_loss"),
    "backward": (torch.Tensor, "backward"),
    "clip + optimiser": (Trainer, "_update"),
    "batch metrics": (trainer_module, "stack_metrics"),
}
"""Phase -> the (owner, attribute) whose calls it times: the trainer's own pieces, looked up at each call."""


def time_phases(device: torch.device) -> dict[str, float]:
    """Wrap every piece of :data:`PHASES` in a timer; returns the dict of seconds each accumulates."""
    spent: dict[str, float] = defaultdict(float)

    def timed(phase: str, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            _sync(device)
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            _sync(device)
            spent[phase] += time.perf_counter() - t0
            return out

        return wrapper

    for phase, (owner, name) in PHASES.items():
        setattr(owner, name, timed(phase, getattr(owner, name)))
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="small", choices=list(SHAPES))
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 6])
    parser.add_argument("--steps", type=int, default=10, help="measured rounds (each steps every R once)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    stacks = {r: benchmark_runs(args.shape, r, parse_overrides(args.set)) for r in args.runs}
    device = next(iter(stacks.values()))[0].device
    spent = time_phases(device)
    rounds: dict[int, list[dict[str, float]]] = {r: [] for r in args.runs}
    for i in range(args.warmup + args.steps):
        for r, stack in stacks.items():
            spent.clear()
            _sync(device)
            t0 = time.perf_counter()
            train_steps(stack)
            _sync(device)
            wall = time.perf_counter() - t0
            if i >= args.warmup:
                rounds[r].append({**spent, "other": wall - sum(spent.values()), "step": wall})
    ms = {r: {k: 1e3 * statistics.median(x[k] for x in rs) for k in rs[0]} for r, rs in rounds.items()}
    print(f"{args.shape} policy, {device.type}, threads={torch.get_num_threads()}, medians of {args.steps} rounds: "
          "ms per stacked step (x R = 1)")  # fmt: skip
    print(f"{'phase':>18}" + "".join(f"{f'R = {r}':>12} {'x R=1':>7}" for r in args.runs))
    one = min(args.runs)
    for phase in [*PHASES, "other", "step"]:
        cells = "".join(f"{ms[r][phase]:12.1f} {ms[r][phase] / max(ms[one][phase], 1e-9):6.2f}x" for r in args.runs)
        print(f"{phase:>18}" + cells)
    if one == 1:
        for r in args.runs:
            if r > 1:
                best = ms[r]["step"] - ms[r]["decode loop"] + ms[1]["decode loop"]
                print(f"R = {r}: {r * ms[1]['step'] / ms[r]['step']:.2f}x over R = 1 now; at most "
                      f"{r * ms[1]['step'] / best:.2f}x if the decode loop of {r} runs cost what one run's does")  # fmt: skip


if __name__ == "__main__":
    main()
