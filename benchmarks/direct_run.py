"""One study run without Jupyter: the same ``gfn_lib.study.notebook`` calls as ``notebooks/train.ipynb``.

For machines without papermill/Jupyter (a bare GPU node): it writes the same run
folder (``run.json``, ``config``, ``metrics.csv``, ``samples.csv``, checkpoints,
``FINISHED`` last) except the executed notebook, and resumes from a checkpoint.
``gfn-study list`` and the report read its folders like any other.

    python benchmarks/direct_run.py gflownet-baseline-10k --profile full            # the run's first seed (42)
    python benchmarks/direct_run.py gflownet-reward-C-improved-10k --profile full --seed 43
"""

from __future__ import annotations

import argparse
import json
import sys

from gfn_lib.study import notebook
from gfn_lib.config import ConfigError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run in params/ or a YAML path")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--seed", type=int, default=None, help="default: the run's first seed (its params' seeds)")
    parser.add_argument("--wandb", choices=["offline", "online", "disabled"], default=None)
    args = parser.parse_args()
    params = {"run": args.run, "profile": args.profile, "seed": args.seed}
    if args.wandb:
        params["wandb_mode"] = args.wandb
    try:
        setup = notebook.setup_run(params)
    except ConfigError as err:
        print(f"direct_run: error: {err}", file=sys.stderr)
        return 2
    print(f"{setup.spec.name} | profile {setup.profile.name} | seed {setup.seed} -> {setup.folder}", flush=True)
    trainer = notebook.make_trainer(setup)
    trainer.train(progress=False)
    print(json.dumps(notebook.finish_run(setup, trainer), default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
