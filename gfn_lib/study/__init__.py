"""The study: the runs as documented, what they leave behind, and how they are executed.

    specs       what a run *is*: params/<run>.yaml specs, shared setups (params/setups/),
                profiles and their run lists, seeds, the memo-step mapping, the resolved
                TrainConfig                                            (config, torch)
    folders     what a run *leaves*: outputs/<profile>/runs/<run>/seed-<N>/, run.json,
                status markers (FINISHED written last), key figures    (pandas, analysis)
    notebook    what notebooks/train.ipynb calls inside its kernel: setup, run.json, the
                Trainer, FINISHED                                      (trainer, rewards, wandb)
    execution   one (run, seed) = one papermill execution of train.ipynb; plan, execute (papermill)

``from gfn_lib import study`` gives the names of ``specs`` and ``folders``: all that the
report and ``gfn-study list`` need, without the trainer or papermill. ``notebook`` and
``execution`` are imported by name where they are used (``from gfn_lib.study import execution``).

The training loop: ``notebooks/train.ipynb`` -> :func:`gfn_lib.study.notebook.make_trainer`
-> :meth:`gfn_lib.trainer.Trainer.train` -> :meth:`gfn_lib.trainer.Trainer.train_step`.
"""

from gfn_lib.study.folders import (
    FAILED,
    FINISHED,
    RUNNING,
    mark_finished,
    outputs_root,
    read_record,
    read_samples,
    run_dir,
    run_status,
    run_summary,
    seed_folders,
    seed_of,
)
from gfn_lib.study.specs import (
    GROUP_ORDER,
    META_FIELDS,
    NOTEBOOK_FIELDS,
    PARAMS_DIR,
    PROFILES_DIR,
    REPO,
    SETUPS_DIR,
    Profile,
    RunSpec,
    available_profiles,
    default_profile,
    group_rank,
    list_runs,
    load_profile,
    load_run,
    load_setup,
    memo_to_run_step,
    params_files,
    resolve_config,
    run_seeds,
    run_to_memo_step,
    spec_from_mapping,
)

__all__ = [
    "FAILED", "FINISHED", "GROUP_ORDER", "META_FIELDS", "NOTEBOOK_FIELDS", "PARAMS_DIR", "PROFILES_DIR", "REPO",
    "RUNNING", "SETUPS_DIR", "load_setup", "run_seeds", "Profile", "RunSpec", "available_profiles", "default_profile", "group_rank", "list_runs",
    "load_profile", "load_run", "mark_finished", "memo_to_run_step", "outputs_root", "params_files",
    "read_record", "read_samples", "resolve_config", "run_dir", "run_status", "run_summary", "run_to_memo_step",
    "seed_folders", "seed_of", "spec_from_mapping",
]  # fmt: skip
