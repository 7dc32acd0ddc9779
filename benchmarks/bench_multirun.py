"""Many runs per device: throughput of R runs trained as one stack (``gfn_lib.trainer.train_steps``)
against the same runs one at a time, measured side by side in one sitting.

For each policy shape and R in ``--runs``: R runs of the published setup (dropout 0.1, Xavier init,
AdamW, clipping; seeds 0..R-1; a lookup-table reward so the policy is what is timed) take ``--steps``
stacked steps after ``--warmup`` unmeasured ones. R = 1 is gfn_lib's single run (the KV-cached
sampler and one-pass scoring, as every run uses); ``ref`` is an independent plain-PyTorch single run
of the same work (``reference_step.py``), measured in the same sitting, so the stack is also judged
against code it does not share. Printed per row: ms per stacked step, ms per run-step, steps/s of one
run, run-steps/s of all R together, and the speed-up over R = 1 and over ``ref`` (six separate runs
one after another give the single run's run-steps/s).

    python benchmarks/bench_multirun.py                       # small + memo shapes, R = 1, 6, 18
    python benchmarks/bench_multirun.py --shapes small --runs 1 6
    python benchmarks/bench_multirun.py --set device=cuda static_shapes=true
"""

from __future__ import annotations

import argparse
import statistics
import time

import reference_step
import torch

from gfn_lib.cli import parse_overrides
from gfn_lib.config import make_config
from gfn_lib.study.specs import load_setup
from gfn_lib.trainer import Trainer, train_steps

SHAPES = {name: dict(zip(("n_layers", "d_model", "n_heads"), shape)) for name, shape in reference_step.SHAPES.items()}
"""small: the earlier cpu profile's policy; memo: the memo's (the cpu and full profiles')."""


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(shape: str, n_runs: int, steps: int, warmup: int, overrides: dict) -> tuple[float, torch.device]:
    """Median seconds per stacked step of ``n_runs`` runs, and their device."""
    published = load_setup("published", "benchmarks/bench_multirun.py")
    base = {**published, "reward": "table", "wandb_mode": "disabled", "warmup_steps": 0, "n_steps": 10**6}
    trainers = [Trainer(make_config({**base, **SHAPES[shape], "seed": s, **overrides})) for s in range(n_runs)]
    device, times = trainers[0].device, []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        train_steps(trainers)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times), device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--runs", nargs="*", type=int, default=[1, 6, 18])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--no-reference", dest="reference", action="store_false", help="skip the plain single-run reference")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    print(f"threads={torch.get_num_threads()} overrides={overrides or '-'} (published setup, batch 64, lengths 10-30)")
    print(f"{'shape':>6} {'R':>3} {'ms/stack-step':>14} {'ms/run-step':>12} {'steps/s/run':>12} {'run-steps/s':>12} {'vs R=1':>7} {'vs ref':>7}")
    for shape in args.shapes:
        ref, base = None, None
        for r in args.runs:
            t, device = measure(shape, r, args.steps, args.warmup, overrides)
            if ref is None and args.reference and set(overrides) <= {"device"}:  # the reference has the default setup only
                ref = reference_step.measure(*reference_step.SHAPES[shape], args.steps, args.warmup, device.type)
                print(f"{shape:>6} {'ref':>3} {ref * 1e3:14.1f} {ref * 1e3:12.1f} {1 / ref:12.2f} {1 / ref:12.2f} {'':>7} {1.0:6.2f}x", flush=True)
            base = base or (t if r == 1 else None)
            speedup = f"{base * r / t:6.2f}x" if base else "     -"
            vs_ref = f"{ref * r / t:6.2f}x" if ref else "     -"
            print(f"{shape:>6} {r:>3} {t * 1e3:14.1f} {t * 1e3 / r:12.1f} {1 / t:12.2f} {r / t:12.2f} {speedup:>7} {vs_ref:>7}", flush=True)


if __name__ == "__main__":
    main()
