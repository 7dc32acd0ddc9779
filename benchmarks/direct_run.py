"""Study runs without Jupyter: the same ``gfn_lib.study.notebook`` calls as ``notebooks/train.ipynb``
(one run) or ``notebooks/train_group.ipynb`` (several runs trained as one stack).

For machines without papermill/Jupyter (a bare GPU node): it writes the same run
folders (``run.json``, ``config``, ``metrics.csv``, ``samples.csv``, checkpoints,
``FINISHED`` last) except the executed notebook, and resumes from checkpoints.
``gfn-study list`` and the report read its folders like any other.

    python benchmarks/direct_run.py gflownet-baseline-10k --profile full            # the run's first seed (42)
    python benchmarks/direct_run.py gflownet-reward-C-improved-10k --profile full --seed 43
    python benchmarks/direct_run.py gflownet-reward-C-improved-10k:42 gflownet-reward-C-improved-10k:43 \\
        gflownet-baseline-10k --profile full                                       # one stack of three runs
    python benchmarks/direct_run.py gflownet-baseline-10k --profile full --set cuda_graph=true
    python benchmarks/direct_run.py --profile full    # no names: the profile's runs, one seed each, one stack
                                                      # (the six documented runs: benchmarks/gpu_*.sh)
"""

from __future__ import annotations

import argparse
import json
import sys

from gfn_lib.cli import parse_overrides
from gfn_lib.config import ConfigError
from gfn_lib.study import load_profile, load_run, notebook


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="*", metavar="RUN[:SEED]",
                        help="runs in params/ or YAML paths (several: one stack); none: the profile's runs")  # fmt: skip
    parser.add_argument("--profile", default=None)
    parser.add_argument("--seed", type=int, default=None, help="default: each run's first seed (its params' seeds)")
    parser.add_argument("--wandb", choices=["offline", "online", "disabled"], default=None)
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="config overrides (e.g. cuda_graph=true)")
    args = parser.parse_args()
    try:
        overrides = {**parse_overrides(args.set), **({"wandb_mode": args.wandb} if args.wandb else {})}
        common = {"profile": args.profile, "overrides": overrides or None}
        members = []
        for item in args.runs or list(load_profile(args.profile).runs):
            name, _, seed = item.partition(":")
            members.append({**load_run(name).parameters(), "seed": int(seed) if seed else args.seed})
        setups = notebook.setup_runs(members, common)
    except (ConfigError, ValueError) as err:
        print(f"direct_run: error: {err}", file=sys.stderr)
        return 2
    for s in setups:
        print(f"{s.spec.name} | profile {s.profile.name} | seed {s.seed} -> {s.folder}", flush=True)
    trainers = notebook.train_group(setups, progress=False)
    for s, t in zip(setups, trainers):
        print(json.dumps(notebook.finish_run(s, t), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
