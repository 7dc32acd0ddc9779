"""Many runs per device: throughput of R runs trained as one stack (``gfn_lib.trainer.train_steps``)
against the same runs one at a time, measured side by side in one sitting.

For each policy shape and R in ``--runs``: R runs of the published setup (dropout 0.1, Xavier init,
AdamW, clipping; seeds 0..R-1; a lookup-table reward so the policy is what is timed) take ``--steps``
stacked steps after ``--warmup`` unmeasured ones, all rows of a shape interleaved round by round.
R = 1 is gfn_lib's single run (the KV-cached sampler and one-pass scoring, as every run uses); ``ref``
is an independent plain-PyTorch single run of the same work (``reference_step.py``), so the stack is
also judged against code it does not share. Printed per row: ms per stacked step, ms per run-step,
steps/s of one run, run-steps/s of all R together, the speed-up over R = 1 (median, and its range over
the rounds) and over ``ref`` (six separate runs one after another give the single run's run-steps/s).
Under each shape, :func:`stack_model`'s line: the stacked step split into a part all R runs share
(launches, Python, the decode loop's overheads) and a part each run adds (its arithmetic, memory
traffic, masks, rewards), and what that allows: the speed-up over R = 1 tends to (shared + per run) / per run.

    python benchmarks/bench_multirun.py                       # small + memo shapes, R = 1, 6, 18
    python benchmarks/bench_multirun.py --shapes small --runs 1 6
    python benchmarks/bench_multirun.py --set device=cuda                    # the sampler as a CUDA graph (default)
    python benchmarks/bench_multirun.py --set device=cuda cuda_graph=false   # eager, stopping early
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import reference_step
import torch

from gfn_lib.cli import parse_overrides
from gfn_lib.config import make_config
from gfn_lib.study.specs import load_setup
from gfn_lib.trainer import Trainer, train_steps

SHAPES = {name: dict(zip(("n_layers", "d_model", "n_heads"), shape)) for name, shape in reference_step.SHAPES.items()}
"""small: the earlier cpu profile's policy; memo: the memo's (the cpu and full profiles')."""


RUNTIME_FIELDS = {"device", "cuda_graph", "cuda_graph_training", "static_shapes", "compile"}
"""Overrides that change how a step runs, not what it computes (the reference is still comparable)."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def benchmark_runs(shape: str, r: int, overrides: dict, seed0: int = 0) -> list[Trainer]:
    """R runs of the published setup for the benchmarks: policy ``shape``, seeds seed0..seed0+R-1, a
    lookup-table reward (so the policy is what is timed), no warmup, no end, no tracking; ``overrides`` last."""
    published = load_setup("published", "benchmarks/bench_multirun.py")
    base = {**published, "reward": "table", "wandb_mode": "disabled", "warmup_steps": 0, "n_steps": 10**6}
    return [Trainer(make_config({**base, **SHAPES[shape], "seed": seed0 + s, **overrides})) for s in range(r)]


def contenders(shape: str, runs: list[int], overrides: dict, reference: bool,
               seed0: int = 0) -> tuple[dict[str, Callable[[], object]], torch.device]:  # fmt: skip
    """One step function per row: ``"ref"`` (the plain single run, default setup only) and each R
    (:func:`benchmark_runs`)."""
    steps: dict[str, Callable[[], object]] = {}
    for r in runs:
        trainers = benchmark_runs(shape, r, overrides, seed0)
        steps[str(r)] = functools.partial(train_steps, trainers)
    device = trainers[0].device
    if reference and set(overrides) <= RUNTIME_FIELDS:  # the reference knows the default setup only
        steps = {"ref": reference_step.ReferenceRun(*reference_step.SHAPES[shape], device=device.type).step, **steps}
    return steps, device


def measure(steps: dict[str, Callable[[], object]], device: torch.device, rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each contender, interleaved: every round steps each once, so a slow spell of
    the machine hits all rows alike (this 2-core VM drifts by +-15% over minutes)."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for i in range(warmup + rounds):
        for name, step in steps.items():
            _sync(device)
            t0 = time.perf_counter()
            step()
            _sync(device)
            if i >= warmup:
                times[name].append(time.perf_counter() - t0)
    return times


def stack_model(seconds: dict[int, float]) -> tuple[float, float]:
    """``(shared, per_run)``: the least-squares line ``t(R) = shared + per_run * R`` through the median
    seconds of a stacked step for each R (at least two distinct R). Stacking saves only ``shared``: R runs
    together beat R runs one at a time by ``R (shared + per_run) / (shared + R per_run)``, which tends to
    ``(shared + per_run) / per_run`` as R grows, and reaches ``S`` at a given R only when
    ``per_run / shared <= (R - S) / (R (S - 1))`` (R = 6, S = 2: 0.67)."""
    rs = sorted(seconds)
    if len(rs) < 2:
        raise ValueError("stack_model needs stacked-step times for at least two values of R")
    mean_r = sum(rs) / len(rs)
    mean_t = sum(seconds[r] for r in rs) / len(rs)
    per_run = sum((r - mean_r) * (seconds[r] - mean_t) for r in rs) / sum((r - mean_r) ** 2 for r in rs)
    return mean_t - per_run * mean_r, per_run


def describe_stack_model(seconds: dict[int, float]) -> str:
    """:func:`stack_model`'s line in words, or why there is none (each run costs more in a bigger stack)."""
    shared, per_run = stack_model(seconds)
    if shared > 0 and per_run > 0:
        return (f"a stacked step = {shared * 1e3:.1f} ms shared + {per_run * 1e3:.1f} ms per run (per run / shared = "
                f"{per_run / shared:.2f}; 2x at R = 6 needs <= 0.67); the line's limit for large R: "
                f"{(shared + per_run) / per_run:.2f}x over R = 1")  # fmt: skip
    # e.g. memory-bound shapes, or a noisy sitting
    return (f"no shared part (the least-squares line has {shared * 1e3:.0f} ms shared, {per_run * 1e3:.0f} ms per "
            "run): the time per run grows with R")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--runs", nargs="+", type=int, default=[1, 6, 18])
    parser.add_argument("--steps", type=int, default=5, help="measured rounds (each steps every row once)")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured rounds first")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--no-reference", dest="reference", action="store_false", help="skip the plain single-run reference")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    print(f"threads={torch.get_num_threads()} overrides={overrides or '-'} (published setup, batch 64, lengths 10-30)")
    print(f"{'shape':>6} {'R':>3} {'ms/stack-step':>14} {'ms/run-step':>12} {'steps/s/run':>12} {'run-steps/s':>12} "
          f"{'vs R=1':>7} {'(rounds)':>12} {'vs ref':>7}")  # fmt: skip
    for shape in args.shapes:
        steps, device = contenders(shape, args.runs, overrides, args.reference)
        times = measure(steps, device, args.steps, args.warmup)
        median = {name: statistics.median(ts) for name, ts in times.items()}
        for name, t in median.items():
            r = 1 if name == "ref" else int(name)
            if "1" in times and name != "ref":  # per round: R = 1's time x R / this row's time
                per_round = [one * r / t_r for one, t_r in zip(times["1"], times[name])]
                vs_one, spread = f"{median['1'] * r / t:6.2f}x", f"{min(per_round):.2f}-{max(per_round):.2f}"
            else:
                vs_one, spread = "-", ""
            vs_ref = f"{median['ref'] * r / t:6.2f}x" if "ref" in median else "-"
            print(f"{shape:>6} {name:>3} {t * 1e3:14.1f} {t * 1e3 / r:12.1f} {1 / t:12.2f} {r / t:12.2f} "
                  f"{vs_one:>7} {spread:>12} {vs_ref:>7}", flush=True)  # fmt: skip
        stacked = {int(name): t for name, t in median.items() if name != "ref"}
        if len(stacked) >= 2:
            print(f"{shape:>6} model: {describe_stack_model(stacked)}", flush=True)


if __name__ == "__main__":
    main()
