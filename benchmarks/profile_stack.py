"""Where a stacked step's time goes: ``torch.profiler`` over a few steps of R runs (``bench_multirun.py``'s
setup), printing wall ms per step, the device's busy time per step (its kernels' times, summed), and
the top operators by self device time (annotations such as the optimiser's step range included) and by
self CPU time.

    python benchmarks/profile_stack.py --shape memo --runs 6 --set device=cuda cuda_graph=true
"""

from __future__ import annotations

import argparse
import time

from bench_multirun import SHAPES, _sync, benchmark_runs
from torch.profiler import ProfilerActivity, profile

from gfn_lib.cli import parse_overrides
from gfn_lib.trainer import train_steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="memo", choices=list(SHAPES))
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    trainers = benchmark_runs(args.shape, args.runs, parse_overrides(args.set))
    device = trainers[0].device
    for _ in range(args.warmup):
        train_steps(trainers)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    _sync(device)
    t0 = time.perf_counter()
    with profile(activities=activities) as prof:
        for _ in range(args.steps):
            train_steps(trainers)
        _sync(device)
    wall = (time.perf_counter() - t0) / args.steps
    events = prof.key_averages()
    # kernels only: ranges such as "Optimizer.step#AdamW.step" are annotations around kernels counted already
    kernels = [e for e in prof.events() if e.device_type.name == "CUDA" and not getattr(e, "is_user_annotation", False)]
    busy = sum(e.device_time for e in kernels) / args.steps / 1e3  # us -> ms
    print(f"{args.shape} R={args.runs} {parse_overrides(args.set) or '-'}: {wall * 1e3:.1f} ms/step wall (profiled), "
          f"device busy {busy:.1f} ms/step ({busy / (wall * 1e3):.0%})")  # fmt: skip
    if device.type == "cuda":
        print(events.table(sort_by="self_device_time_total", row_limit=args.top, max_name_column_width=48))
    print(events.table(sort_by="self_cpu_time_total", row_limit=args.top, max_name_column_width=48))


if __name__ == "__main__":
    main()
