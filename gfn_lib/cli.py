"""``gfn-study``: run the study's notebooks, list runs, build the report, sweep on Dask.

    gfn-study run [NAME ...] [--all] [--profile P] [--seeds N] [--force]   # papermill, one notebook per run
    gfn-study list [--profile P]                                   # status and key figures
    gfn-study report [--profile P]                                 # memo notebook -> outputs/<P>/memo.html
    gfn-study sweep [NAME ...] [--seeds N] [--address tcp://...]   # seeds x runs on Dask distributed
    gfn-study train --out DIR [--config FILE] [--set field=value]  # one config, no notebook
    gfn-study starts [NAME] [--profile P] [--seeds N]              # step-0 rows of N seeds -> outputs/<P>/starts/<NAME>.csv

A NAME is a run in ``params/`` (see ``gfn-study list``) or a path to your own YAML file.
Without NAMEs, ``run`` and ``sweep`` take the profile's runs (``runs`` in
``params/profiles/<P>.yaml``: the six documented runs, reward-C with three seeds); ``--all``
takes every run in ``params/``. Bad input is one
line on stderr naming the file and field, exit code 2, and nothing under ``outputs/`` changes.

Each command imports what it needs when it runs, so ``gfn-study list`` loads neither papermill
nor the trainer (``gfn_lib.study`` alone), and ``--help`` is quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """``["field=value", ...]`` -> ``{field: YAML-parsed value}``; a pair without ``=`` is a ConfigError."""
    from gfn_lib.config import ConfigError

    out: dict[str, object] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"--set: expected field=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def _require_at_least_one(**flags: int | None) -> None:
    """Counts given on the command line (``--seeds``, ``--stack``) must be >= 1: else a ConfigError naming the
    first flag that is not (``None``: not given)."""
    from gfn_lib.config import ConfigError

    for name, value in flags.items():
        if value is not None and value < 1:
            raise ConfigError(f"--{name}: must be >= 1, got {value}")


def _tasks(args: argparse.Namespace, **kw: object) -> list:
    from gfn_lib.study import execution

    overrides = parse_overrides(args.set)
    if args.wandb:
        overrides["wandb_mode"] = args.wandb
    _require_at_least_one(seeds=args.seeds)
    return execution.plan(args.names, args.profile, args.seeds, args.all, force=args.force, overrides=overrides, **kw)


def _report_results(results: list) -> int:
    failed = [r for r in results if r.status in ("failed", "running")]
    for r in results:
        line = f"{r.status:9s} {r.run} seed {r.seed}  ({r.seconds:.0f} s)  {r.folder}"
        print(line + (f"\n          {r.error}" if r.error else ""))
    if failed:
        print(f"{len(failed)} of {len(results)} runs did not finish", file=sys.stderr)
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from gfn_lib.study import execution

    tasks = _tasks(args)  # validates everything before the first write
    results = []
    with tqdm(tasks, desc=f"runs ({tasks[0].profile if tasks else '-'})", unit="run") as bar:
        for task in bar:
            bar.set_postfix_str(f"{task.spec.name} seed {task.seed}")
            results.append(execution.execute(task, progress_bar=args.verbose))
    return _report_results(results)


def cmd_sweep(args: argparse.Namespace) -> int:
    from gfn_lib.study import execution
    from gfn_lib.sweep import default_stack, default_workers, run_sweep

    tasks = _tasks(args)
    stack = args.stack or default_stack(len(tasks))
    workers = args.workers or default_workers(len(execution.stack_tasks(tasks, stack)))
    for task in tasks:  # torch threads per run: the cores shared among the workers
        task.threads = args.threads or max(1, (os.cpu_count() or 1) // workers)
    return _report_results(run_sweep(tasks, address=args.address, n_workers=workers, stack=stack))


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from gfn_lib import study

    prof = study.load_profile(args.profile)
    profile, in_profile = prof.name, prof.default_runs()
    rows = []
    for spec in study.list_runs():
        seeds = in_profile.get(spec.name, study.run_seeds(spec)[:1])
        seed_dirs = study.seed_folders(study.run_dir(profile, spec.name, seeds[0]).parent) or [
            study.run_dir(profile, spec.name, s) for s in seeds
        ]
        for folder in seed_dirs:
            summary = study.run_summary(folder)
            rows.append({"run": spec.name, "group": spec.group, "in profile": "yes" if spec.name in in_profile else "",
                         "seed": folder.name.removeprefix("seed-"), **summary})  # fmt: skip
    table = pd.DataFrame(rows).fillna("")
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.float_format", "{:.4g}".format):
        print(f"profile {profile} ({study.outputs_root() / profile})")
        print(table.to_string(index=False))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from gfn_lib.report import build_report

    html = build_report(args.profile)
    print(f"report: {html}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from gfn_lib.config import load_config
    from gfn_lib.trainer import Trainer

    cfg = load_config(args.config, **parse_overrides(args.set))
    trainer = Trainer(cfg, Path(args.out))
    df = trainer.train(progress=not args.quiet)
    last = df.iloc[-1]
    print(f"step {int(last.step)}: loss {last.loss:.4g}  log_z {last.log_z:.3f}  mean_reward {last.mean_reward:.3f}")
    return 0


def cmd_starts(args: argparse.Namespace) -> int:
    from gfn_lib import study
    from gfn_lib.memo.starts import published_start
    from gfn_lib.study import starts

    spec, profile = study.load_run(args.name), study.load_profile(args.profile)
    _require_at_least_one(seeds=args.seeds, stack=args.stack)
    overrides = parse_overrides(args.set)
    study.resolve_config(spec, profile, 0, **overrides)  # a bad --set fails here, before any work
    table = starts.starting_points(spec, profile, range(args.seeds), args.stack, overrides)
    path = starts.write_starts(table, starts.starts_path(study.outputs_root() / profile.name, spec.name))
    lo, hi = table["mean_log_pf"].min(), table["mean_log_pf"].max()
    print(f"{spec.name}, profile {profile.name}: step-0 mean log P_F of {len(table)} seeds {lo:.1f} .. {hi:.1f} -> {path}")
    if (value := published_start(spec.name)) is not None:
        print(f"published {value:g}: {starts.share_at_or_above(table, value):.1%} of the seeds start at or above it; "
              f"closest seeds {starts.closest_seeds(table, value, 3)}")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gfn-study", description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def runs_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("names", nargs="*", metavar="NAME", help="runs in params/ or YAML paths (default: the profile's runs)")
        p.add_argument("--all", action="store_true", help="every run in params/ (documented, ablation, sensitivity)")
        p.add_argument("--profile", default=None, help="full | cpu | smoke (default: full with CUDA, cpu without)")
        p.add_argument("--seeds", type=int, default=None,
                       help="the first N of each run's seeds (params 'seeds', continued +1); default: the profile's count, else 1")  # fmt: skip
        p.add_argument("--force", action="store_true", help="re-run finished runs from scratch")
        p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override config fields in every run")
        p.add_argument("--wandb", choices=["offline", "online", "disabled"], default=None, help="wandb mode (default offline)")

    p = sub.add_parser("run", help="execute runs through papermill, one notebook each (skips finished, resumes incomplete)")
    runs_args(p)
    p.add_argument("--verbose", action="store_true", help="papermill's per-cell progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="runs x seeds on a Dask distributed cluster (local by default)")
    runs_args(p)
    p.add_argument("--address", default=None, help="scheduler of a running Dask cluster (default: start a local one)")
    p.add_argument("--workers", type=int, default=None, help="local cluster workers (default: one per GPU, else one per core, up to the number of runs)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / workers)")
    p.add_argument("--stack", type=int, default=None, metavar="N",
                   help="train up to N runs of one policy shape as one stack per worker (default: the runs shared "
                        "out among the GPUs, at most 18 a stack; 1 without a GPU)")  # fmt: skip
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("list", help="each run's status (missing, running, finished, failed, incomplete) and key figures")
    p.add_argument("--profile", default=None)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("report", help="execute notebooks/memo.ipynb for a profile and export outputs/<profile>/memo.html")
    p.add_argument("--profile", default=None)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("train", help="train one config into a folder, without a notebook (resumes from its checkpoint)")
    p.add_argument("--config", type=Path, default=None, help="YAML of TrainConfig fields (default: the memo config)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override config fields")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("starts", help="where runs start: the step-0 metrics of seeds 0..N-1 of one run (outputs/<profile>/starts/<run>.csv)")
    p.add_argument("name", nargs="?", default="gflownet-reward-C-improved-10k", metavar="NAME",
                   help="a run in params/ or a YAML path (default: reward-C, whose step 0 was published)")  # fmt: skip
    p.add_argument("--profile", default=None)
    p.add_argument("--seeds", type=int, default=64, help="seeds 0..N-1 (default 64)")
    p.add_argument("--stack", type=int, default=8, help="seeds per stacked step (memory: 8 memo-shape runs ~ 1 GB)")
    p.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE", help="override config fields")
    p.set_defaults(func=cmd_starts)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)  # --help exits here, before torch is imported (0.1 s, not 3.5)
    from gfn_lib.config import ConfigError

    try:
        return args.func(args)
    except ConfigError as err:
        print(f"gfn-study: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
