"""Step time of a collapsed policy with subnormal floats kept against flushed to zero (``gfn_lib.runtime``).

A policy that collapses onto one repeated letter (log P_F = 0, reward at its floor, as `ablation-lr-1e-3`
seed 44 does at the cpu profile from its 5th step) soon computes in float32's subnormal range (below
1.2e-38), which x86 CPUs handle in microcode: that seed's steps went from ~1 s to 27-31 s by step 30. This
trains such a run (flushed, so quickly) for ``--train`` steps, then times training steps in rounds that
alternate the two settings in one process (one thread, as a CPU sweep runs each run); prints the median ms
per step of each. The first use trains the run's reward models (a few minutes; cached after).

    python benchmarks/bench_subnormals.py                                    # ablation-lr-1e-3, seed 44, cpu
    python benchmarks/bench_subnormals.py --run ablation-log-z-init-90 --seed 42 --train 40
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gfn_lib.study import load_run
from gfn_lib.study.specs import load_profile, resolve_config
from gfn_lib.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="ablation-lr-1e-3")
    parser.add_argument("--seed", type=int, default=44)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--train", type=int, default=30, help="steps trained (flushed) before the timed rounds")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = load_run(args.run)
    cfg = resolve_config(spec, load_profile(args.profile), args.seed)
    trainer = Trainer(cfg.model_copy(update={"wandb_mode": "disabled"}))  # in memory; flushes subnormals
    for _ in range(args.train):
        row = trainer.train_step()
    print(f"{spec.name} seed {args.seed} after {args.train} steps: letters {row['letters_used']:.0f}, "
          f"mean log P_F {row['mean_log_pf']:.3g}, log Z {row['log_z']:.1f}")
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.rounds):
        for flush in (False, True):
            torch.set_flush_denormal(flush)
            t0 = time.perf_counter()
            trainer.train_step()
            times[flush].append(1000 * (time.perf_counter() - t0))
    torch.set_flush_denormal(True)
    kept, flushed = statistics.median(times[False]), statistics.median(times[True])
    print(f"subnormals kept {kept:,.0f} ms/step, flushed {flushed:,.0f} ms/step ({kept / flushed:.1f}x); "
          f"rounds: kept {', '.join(f'{t:,.0f}' for t in times[False])}; flushed {', '.join(f'{t:,.0f}' for t in times[True])}")


if __name__ == "__main__":
    main()
