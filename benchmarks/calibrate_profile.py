"""Which cheap configuration still shows the published reward-C dynamics (trap -> escape -> explosion)?

Runs the documented reward-C run (published setup, reward ``improved-published``) under candidate
profiles for a number of steps, in memory, and prints one row per candidate: seconds per step, the
trap (:func:`gfn_lib.analysis.trap.detect_trap`) and its escape in run steps and in memo steps,
log Z at the escape, and the largest smoothed loss after it. The README's calibration table comes
from this script; the profile in ``params/profiles/cpu.yaml`` is the cheapest candidate that kept
the phenomenon.

    python benchmarks/calibrate_profile.py                       # every candidate, seed 42
    python benchmarks/calibrate_profile.py --only memo-1/10 --seeds 42 43 --csv out.csv

A candidate is a profile overlay (``scale`` / ``set``, as in params/profiles/). Compressing the step
axis by k scales log Z's learning rate by 1/k so that log Z's travel (sum of lr_Z over the run,
which Adam turns into roughly that many nats while the gradient keeps its sign) is the memo's.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
import torch

from gfn_lib.analysis.trap import detect_trap
from gfn_lib.memo.traps import after_escape
from gfn_lib.study.specs import Profile, load_run, resolve_config
from gfn_lib.trainer import Trainer

RUN = "gflownet-reward-C-improved-10k"


def _compressed(k: int, **shape: float) -> dict:
    """Memo steps / k, warmup / k, log Z lr x k (same travel); ``shape`` scales the policy."""
    return {"n_steps": 1 / k, "warmup_steps": 1 / k, "log_z_lr": float(k), **shape}


CANDIDATES: dict[str, dict] = {
    "memo-1/1": {},
    "memo-1/10": _compressed(10),
    "memo-1/20": _compressed(20),
    "memo-1/40": _compressed(40),
    "3x256x8-1/10": _compressed(10, n_layers=0.75),
    "2x256x8-1/10": _compressed(10, n_layers=0.5),
    "4x128x4-1/10": _compressed(10, d_model=0.5, n_heads=0.5),
    "2x64x4-1/10": _compressed(10, n_layers=0.5, d_model=0.25, n_heads=0.5),
}
"""Name -> ``scale`` overlay on the published reward-C run."""


def calibrate(name: str, scale: dict, seed: int, steps: int | None) -> dict:
    cfg = resolve_config(load_run(RUN), Profile(name, scale=scale, set={"wandb_mode": "disabled", "top_k": 0}), seed)
    trainer = Trainer(cfg)
    n = min(steps or cfg.n_steps, cfg.n_steps)
    t0 = time.perf_counter()
    rows = [trainer.train_step() for _ in range(n)]
    seconds = (time.perf_counter() - t0) / n
    df = pd.DataFrame(rows)
    trap = detect_trap(df)
    k = cfg.n_steps / 10_000  # run steps per memo step
    loss_after, log_z_at_escape = after_escape(df, trap.escape_step)  # read as the report's trap table does

    def memo(step: int | None) -> float | None:
        return None if step is None else round(step / k)

    return {
        "candidate": name, "seed": seed, "policy": f"{cfg.n_layers}x{cfg.d_model}x{cfg.n_heads}",
        "steps_run": n, "n_steps": cfg.n_steps, "log_z_lr": cfg.log_z_lr, "s_per_step": round(seconds, 3),
        "trap_onset": trap.onset_step, "trap_onset_memo": memo(trap.onset_step),
        "letters": trap.letters, "composition_entropy": round(trap.composition_entropy, 3),
        "single_sequence": trap.single_sequence, "escape": trap.escape_step,
        "escape_memo": memo(trap.escape_step), "log_z_at_escape": round(log_z_at_escape, 2),
        "max_loss_after_escape": round(loss_after, 1), "final_log_z": round(float(df.log_z.iloc[-1]), 2),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=list(CANDIDATES), choices=list(CANDIDATES))
    ap.add_argument("--seeds", nargs="*", type=int, default=[42])
    ap.add_argument("--steps", type=int, default=None, help="stop each candidate after this many steps")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--csv", default=None, help="also write the table here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in args.only:
        for seed in args.seeds:
            rows.append(calibrate(name, CANDIDATES[name], seed, args.steps))
            print(pd.DataFrame(rows[-1:]).to_string(index=False), flush=True)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if args.csv:
        table.to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
