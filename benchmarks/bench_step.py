"""Training-step speed at the memo configuration (4 layers x 256 dim x 8 heads,
batch 64, lengths 10-30) on this machine's device.

Prints sampling ms/step (KV-cached generation), training ms/step (reward + one
teacher-forced forward + backward + Adam) and the total, as medians over
``--steps`` steps after ``--warmup`` unmeasured ones.

    python benchmarks/bench_step.py                 # memo config, auto device
    python benchmarks/bench_step.py --set n_layers=2 d_model=64 n_heads=4   # cpu-profile policy
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from gfn_lib.cli import parse_overrides
from gfn_lib.config import make_config
from gfn_lib.graphs import SamplerGraph
from gfn_lib.policy import PolicyStack
from gfn_lib.trainer import Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args()
    overrides = parse_overrides(args.set)
    cfg = make_config({"reward": "table", "wandb_mode": "disabled", "warmup_steps": 0, **overrides})
    trainer = Trainer(cfg)
    dev = trainer.device
    stack, graph = PolicyStack([trainer.policy]), SamplerGraph() if trainer._graphed else None  # the trainer's sampler
    sample_ms, total_ms = [], []
    for i in range(args.warmup + args.steps):
        _sync(dev)
        t0 = time.perf_counter()
        stack.sample(cfg.batch_size, [trainer.generator], [cfg.temperature], [cfg.epsilon], static=trainer._static, graph=graph)
        _sync(dev)
        t1 = time.perf_counter()
        trainer.train_step()  # samples again: the step as the trainer runs it
        _sync(dev)
        t2 = time.perf_counter()
        if i >= args.warmup:
            sample_ms.append((t1 - t0) * 1e3)
            total_ms.append((t2 - t1) * 1e3)
    s, tot = statistics.median(sample_ms), statistics.median(total_ms)
    print(
        f"device={dev} threads={torch.get_num_threads()} policy={cfg.n_layers}x{cfg.d_model}x{cfg.n_heads} "
        f"batch={cfg.batch_size} lengths={cfg.min_len}-{cfg.max_len} reward={cfg.reward}"
    )
    print(f"sampling  {s:8.1f} ms/step")
    print(f"training  {tot - s:8.1f} ms/step  (reward + forward + backward + Adam)")
    print(f"total     {tot:8.1f} ms/step  ({1e3 / tot:.2f} steps/s)")


if __name__ == "__main__":
    main()
