"""Throughput of each reward at batch 64 (sequences/second), CPU and (if present) GPU.

Usage: ``python benchmarks/bench_rewards.py [--device cpu|cuda] [--batch 64] [--iters 20] [--json out.json]``

Each reward scores batches of uniform random peptides of length 10-30 as
token tensors (the trainer's hot path, ``Reward.log_reward``). For the PLL
rewards (``esm2pll``, ``improved``) two figures are given: ``cold`` (every
batch new, every sequence a cache miss: the full PLL cost) and ``warm`` (the
same batch again: the sequence cache). Models load from the cache
(``$GFN_CACHE_DIR``); a cold model cache trains them first (not timed).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gfn_lib import rewards
from gfn_lib.env import PeptideEnv
from gfn_lib.study import PLL_REWARDS

NAMES = ["baseline", "trained", "esm2pll", "improved"]


def batches(env: PeptideEnv, n: int, batch: int, device: str, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` batches of random peptides as (actions [B, T], lengths [B]) on ``device``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        lengths = torch.randint(env.min_len, env.max_len + 1, (batch,), generator=g)
        actions = torch.randint(0, env.vocab_size, (batch, env.horizon), generator=g)
        actions[torch.arange(env.horizon).unsqueeze(0) >= lengths.unsqueeze(1)] = env.stop
        out.append((actions.to(device), lengths.to(device)))
    return out


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_batches(r: rewards.Reward, data: list[tuple[torch.Tensor, torch.Tensor]], device: str) -> float:
    """Seconds per batch over ``data``."""
    sync(device)
    t0 = time.perf_counter()
    for a, l in data:
        r.log_reward(a, l)
    sync(device)
    return (time.perf_counter() - t0) / len(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    env = PeptideEnv()
    results: dict[str, dict[str, float]] = {}
    for name in NAMES:
        r = rewards.load(name, device=args.device)
        r.log_reward(*batches(env, 1, args.batch, args.device, seed=999)[0])  # warm-up (and lazy init)
        data = batches(env, args.iters, args.batch, args.device, seed=1 + NAMES.index(name))
        cold = time_batches(r, data, args.device)
        row = {"ms_per_batch": 1e3 * cold, "seq_per_s": args.batch / cold}
        if name in PLL_REWARDS:
            warm = time_batches(r, data, args.device)  # the same sequences again: cache hits
            row = {"cold_ms_per_batch": 1e3 * cold, "cold_seq_per_s": args.batch / cold,
                   "warm_ms_per_batch": 1e3 * warm, "warm_seq_per_s": args.batch / warm}  # fmt: skip
        results[name] = row
        print(f"{name:10s} " + "  ".join(f"{k}={v:,.1f}" for k, v in row.items()), flush=True)
    meta = {"device": args.device, "batch": args.batch, "iters": args.iters, "threads": torch.get_num_threads(),
            "torch": torch.__version__}  # fmt: skip
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
