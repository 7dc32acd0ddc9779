"""Throughput of each reward at batch 64 (sequences/second), CPU and (if present) GPU.

Usage: ``python benchmarks/bench_rewards.py [--device cpu|cuda] [--batch 64] [--iters 20] [--json out.json]``

Each reward scores batches of uniform random peptides of length 10-30 as
token tensors (the trainer's hot path, ``Reward.log_reward``). For the PLL
rewards (``esm2pll``, ``improved``) two figures are given: ``cold`` (every
batch new, every sequence a cache miss: the full PLL cost) and ``warm`` (the
same batch again: the sequence cache). The four ``*-published`` rewards (the memo's
rewards as they ran) have no sequence cache: one figure each, timed on the training
call ``log_reward(..., eps=1e-8, update=True)`` (running min-max included).
Models load from the cache (``$GFN_CACHE_DIR``); a cold model cache trains them first
(not timed). ``--naturalness`` instead prints reward-C-published's naturalness
sigmoid(||mean embedding|| / 10) on probe sets (poly-M, natural AMPs, random, two-letter 30-mers).
``--stack`` times one stacked step's rewards for the full profile's six documented runs (each its own
batch): six calls, each with its own backbone forward, against the same calls inside
``rewards.shared_forwards`` (one backbone forward for all six), rounds interleaved.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gfn_lib import rewards
from gfn_lib.env import PeptideEnv

NAMES = ["baseline", "trained", "esm2pll", "improved"]
PUBLISHED = ["baseline-published", "trained-published", "esm2pll-published", "improved-published"]
SIX_RUNS = ["baseline-published", "trained-published", "esm2pll-published"] + ["improved-published"] * 3
"""The rewards of the memo's six documented runs (baseline, reward-A, reward-B, reward-C and both phase3b runs)."""


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
    """Seconds per batch over ``data`` (the trainer's call for that reward)."""
    kw = {"eps": 1e-8, "update": True} if r.name in PUBLISHED else {}
    sync(device)
    t0 = time.perf_counter()
    for a, l in data:
        r.log_reward(a, l, **kw)
    sync(device)
    return (time.perf_counter() - t0) / len(data)


def stacked_step(device: str, batch: int, iters: int) -> dict[str, float]:
    """ms per stacked step of :data:`SIX_RUNS`' rewards: one backbone forward per run, or one for all."""
    import statistics

    env = PeptideEnv()
    runs = [rewards.load(name, device=device) for name in SIX_RUNS]
    steps = []
    for i in range(iters + 2):
        data = batches(env, len(runs), batch, device, seed=100 + i)
        steps.append((torch.stack([a for a, _ in data]), torch.stack([n for _, n in data])))  # [R, B, T], [R, B]
    times: dict[str, list[float]] = {"one forward per run": [], "one shared forward": []}
    for i, (actions, lengths) in enumerate(steps):
        for label, shared in (("one forward per run", False), ("one shared forward", True)):
            sync(device)
            t0 = time.perf_counter()
            with rewards.shared_forwards(runs if shared else [], actions, lengths):
                for r, reward in enumerate(runs):
                    reward.log_reward(actions[r], lengths[r], eps=1e-8, update=True)
            sync(device)
            if i >= 2:  # two warm-up rounds
                times[label].append(time.perf_counter() - t0)
    out = {label: 1e3 * statistics.median(ts) for label, ts in times.items()}
    for label, ms in out.items():
        print(f"six runs' rewards, {label:20s} {ms:7.1f} ms per stacked step (median of {iters})", flush=True)
    return out


def naturalness_probes(device: str) -> dict[str, dict[str, float]]:
    """reward-C-published's naturalness (and embedding norm) on probe sets: how flat is it?"""
    import random

    from gfn_lib.env import AMINO_ACIDS
    from gfn_lib.rewards import data as rdata

    env = PeptideEnv()
    r = rewards.load("improved-published", device=device)
    rng = random.Random(0)
    d = rdata.load_labelled()
    two_letter = []
    for _ in range(200):
        k = rng.randint(5, 25)
        s = list("D" * k + "L" * (30 - k))
        rng.shuffle(s)
        two_letter.append("".join(s))
    sets = {
        "poly-M (30)": ["M" * 30],
        "magainin 2": ["GIGKFLHSAKKFGKAFVGEIMNS"],
        "published trap sample": ["DDLDDDLDDDDDDLLLDDDDLDDDLDLLLL"],
        "natural AMPs (modlAMP, 10-30)": [s for s, y in zip(d.sequences, d.labels) if y == 1 and 10 <= len(s) <= 30],
        "non-AMPs (modlAMP, 10-30)": [s for s, y in zip(d.sequences, d.labels) if y == 0 and 10 <= len(s) <= 30],
        "random (10-30)": ["".join(rng.choice(AMINO_ACIDS) for _ in range(rng.randint(10, 30))) for _ in range(300)],
        "two-letter D/L 30-mers": two_letter,
        "homopolymers (30)": [c * 30 for c in AMINO_ACIDS],
    }
    out = {}
    for k, seqs in sets.items():
        c = r.components(*env.encode(seqs, device=device, check_length=False))
        n, e = c["naturalness"], c["embedding_norm"]
        out[k] = {"n": len(seqs), "naturalness_mean": float(n.mean()), "naturalness_min": float(n.min()),
                  "naturalness_max": float(n.max()), "norm_mean": float(e.mean()), "entropy_gate_mean": float(c["entropy_gate"].mean())}  # fmt: skip
        print(f"{k:32s} n={len(seqs):5d} naturalness {n.mean():.3f} [{n.min():.3f}, {n.max():.3f}]  "
              f"norm {e.mean():.2f}  entropy gate {c['entropy_gate'].mean():.3f}", flush=True)  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    ap.add_argument("--json", default=None, help="also write the results here")
    ap.add_argument("--only", nargs="*", default=None, help="reward names (default: all eight)")
    ap.add_argument("--naturalness", action="store_true", help="print the naturalness probe table instead")
    ap.add_argument("--stack", action="store_true", help="time the six documented runs' rewards as one stacked step instead")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.stack:
        result = stacked_step(args.device, args.batch, args.iters)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(result, fh, indent=2)
        return
    if args.naturalness:
        probes = naturalness_probes(args.device)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump(probes, fh, indent=2)
        return
    names = args.only or NAMES + PUBLISHED
    env = PeptideEnv()
    results: dict[str, dict[str, float]] = {}
    for i, name in enumerate(names):
        r = rewards.load(name, device=args.device)
        r.log_reward(*batches(env, 1, args.batch, args.device, seed=999)[0])  # warm-up (and lazy init)
        data = batches(env, args.iters, args.batch, args.device, seed=1 + i)
        cold = time_batches(r, data, args.device)
        row = {"ms_per_batch": 1e3 * cold, "seq_per_s": args.batch / cold}
        if getattr(r, "scorer", None) is not None:  # a masked-PLL reward with its sequence cache
            warm = time_batches(r, data, args.device)  # the same sequences again: cache hits
            row = {"cold_ms_per_batch": 1e3 * cold, "cold_seq_per_s": args.batch / cold,
                   "warm_ms_per_batch": 1e3 * warm, "warm_seq_per_s": args.batch / warm}  # fmt: skip
        results[name] = row
        print(f"{name:18s} " + "  ".join(f"{k}={v:,.1f}" for k, v in row.items()), flush=True)
    meta = {"device": args.device, "batch": args.batch, "iters": args.iters, "threads": torch.get_num_threads(),
            "torch": torch.__version__}  # fmt: skip
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
