"""How to lay many runs out on one machine's cores: processes x runs per stack x threads per process.

``bench_multirun.py`` compares a stack with one run at a time in one process. A sweep on a CPU does
neither: ``gfn-study sweep`` gives each Dask worker one thread and one run (``--stack N``: N runs as one
stack), with one worker per core. This times such layouts side by side. Each layout ``PxRxT`` starts P
processes at once, each training R runs of ``bench_multirun.py``'s setup (published setup, lookup-table
reward, seeds apart) as one stack on T threads. Every process steps ``--warmup`` times on its own, then
all start their ``--steps`` timed steps together (a barrier); a layout's run-steps/s are all its runs'
timed steps over the time until its last process is done, as a sweep sees it. Layouts take turns round
by round (this 2-core VM drifts by +-15% within minutes); medians over ``--rounds``.

    python benchmarks/bench_layouts.py                                   # 2x1x1 2x3x1 1x6x2, small policy
    python benchmarks/bench_layouts.py --layouts 2x1x1 1x6x2 --shape memo --steps 3 --warmup 1
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import statistics
import time

import bench_multirun
import torch


def parse_layout(text: str) -> tuple[int, int, int]:
    """``"PxRxT"`` -> (processes, runs per stack, threads per process), each >= 1."""
    parts = text.lower().split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) >= 1 for p in parts):
        raise argparse.ArgumentTypeError(f"layout {text!r}: expected PxRxT with positive integers, e.g. 2x3x1")
    processes, runs, threads = (int(p) for p in parts)
    return processes, runs, threads


def layout_name(layout: tuple[int, int, int]) -> str:
    """(processes, runs per stack, threads) -> ``"PxRxT"`` (what :func:`parse_layout` reads)."""
    return "x".join(map(str, layout))


def _process(shape: str, runs: int, seed0: int, threads: int, steps: int, warmup: int, barrier, finished) -> None:  # noqa: ANN001
    """One process of a layout: ``runs`` runs (seeds ``seed0``..) as one stack on ``threads`` threads;
    puts the monotonic times its timed steps began and ended on ``finished`` (or an error's text)."""
    try:
        torch.set_num_threads(threads)
        contenders, _ = bench_multirun.contenders(shape, [runs], {}, reference=False, seed0=seed0)
        step = contenders[str(runs)]
        for _ in range(warmup):
            step()
        barrier.wait()  # the layout's processes start their timed steps together
        began = time.monotonic()
        for _ in range(steps):
            step()
        finished.put((began, time.monotonic()))
    except Exception as error:  # noqa: BLE001 - reported by the parent, which exits non-zero
        barrier.abort()  # the others stop waiting (and report the broken barrier)
        finished.put(f"{type(error).__name__}: {error}")


def run_layout(layout: tuple[int, int, int], shape: str, steps: int, warmup: int) -> float:
    """Run-steps/s of one layout: its processes' timed steps, from the moment they start them together
    until the last one is done."""
    processes, runs, threads = layout
    name = layout_name(layout)
    context = mp.get_context("spawn")  # fresh interpreters: each sets its own torch threads
    barrier, finished = context.Barrier(processes), context.Queue()
    procs = [context.Process(target=_process, args=(shape, runs, p * runs, threads, steps, warmup, barrier, finished))
             for p in range(processes)]  # fmt: skip
    for proc in procs:
        proc.start()
    results: list = []
    while len(results) < processes:
        try:
            results.append(finished.get(timeout=1.0))
        except queue.Empty:
            # a process that ends normally has put its result first; one killed (OOM, a signal) puts nothing
            if any(proc.exitcode not in (None, 0) for proc in procs) and finished.empty():
                for proc in procs:
                    proc.terminate()
                raise SystemExit(f"bench_layouts.py: layout {name}: a process died (exit codes "
                                 f"{[proc.exitcode for proc in procs]})") from None  # fmt: skip
    for proc in procs:
        proc.join()
    errors = [r for r in results if isinstance(r, str)]
    if errors:
        raise SystemExit(f"bench_layouts.py: layout {name}: {errors[0]}")
    return processes * runs * steps / (max(end for _, end in results) - min(began for began, _ in results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", nargs="+", type=parse_layout, default=[(2, 1, 1), (2, 3, 1), (1, 6, 2)],
                        metavar="PxRxT", help="processes x runs per stack x threads per process")  # fmt: skip
    parser.add_argument("--shape", default="small", choices=list(bench_multirun.SHAPES))
    parser.add_argument("--steps", type=int, default=15, help="timed steps per process")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per process first")
    parser.add_argument("--rounds", type=int, default=3, help="every layout once per round")
    args = parser.parse_args()
    print(f"cores={os.cpu_count()} shape={args.shape} (published setup, batch 64, table reward); run-steps/s of all "
          f"processes together (timed steps / time until the last is done), median over {args.rounds} rounds")  # fmt: skip
    names = [layout_name(layout) for layout in args.layouts]
    results: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(args.rounds):
        for name, layout in zip(names, args.layouts):
            results[name].append(run_layout(layout, args.shape, args.steps, args.warmup))
    first = statistics.median(results[names[0]])
    print(f"{'layout':>8} {'runs':>5} {'run-steps/s':>12} {'(rounds)':>14} {'vs ' + names[0]:>12}")
    for name, layout in zip(names, args.layouts):
        rates = results[name]
        rate = statistics.median(rates)
        print(f"{name:>8} {layout[0] * layout[1]:>5} {rate:12.2f} {min(rates):6.2f}-{max(rates):<6.2f} "
              f"{rate / first:11.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
