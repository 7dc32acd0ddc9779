"""A fingerprint of the stacked trainer's numbers, for refactors that should not move them.

Three runs of the small policy (published setup, reward-C as published, log Z lr 0.01 / 0.02 / 0.03), trained
as one stack for 15 steps, once with each scoring mode given (default: ``fresh`` and ``sampling``); prints the
first 16 hex digits of the SHA-256 of every non-timing metric column, as CSV. Equal before and after a change:
the change moved no number of this path on this machine (docs/speed.md names the hashes of each session).

    python benchmarks/metrics_hash.py                      # fresh + sampling
    python benchmarks/metrics_hash.py --scoring recompute
"""

from __future__ import annotations

import argparse
import hashlib

from gfn_lib.config import make_config
from gfn_lib.study.specs import load_setup
from gfn_lib.trainer import METRIC_COLUMNS, TIMING_COLUMNS, Trainer, train_together


def metrics_hash(scorings: list[str]) -> str:
    published = load_setup("published", "benchmarks/metrics_hash.py")
    base = {**published, "reward": "improved-published", "wandb_mode": "disabled", "warmup_steps": 3, "n_steps": 15,
            "n_layers": 2, "d_model": 64, "n_heads": 4}  # fmt: skip
    compared = [c for c in METRIC_COLUMNS if c not in TIMING_COLUMNS]
    tables = []
    for scoring in scorings:
        runs = [Trainer(make_config({**base, "seed": s, "dropout_scoring": scoring, "log_z_lr": 0.01 * (s + 1)}))
                for s in range(3)]  # fmt: skip
        train_together(runs, progress=False)
        tables += [run.metrics_frame()[compared].to_csv(index=False) for run in runs]
    return hashlib.sha256("".join(tables).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scoring", nargs="+", default=["fresh", "sampling"], choices=["fresh", "sampling", "recompute"])
    args = parser.parse_args()
    print(metrics_hash(args.scoring))


if __name__ == "__main__":
    main()
