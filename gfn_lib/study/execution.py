"""How runs are executed: one (run, seed) is one papermill execution of ``notebooks/train.ipynb``
into its run folder (:mod:`gfn_lib.study.notebook` is what that notebook calls).

:func:`plan` validates every run, its profile and its resolved config before anything is
written and returns :class:`Task` s (picklable, for Dask: :mod:`gfn_lib.sweep`);
:func:`execute` runs one: skips it if finished, resumes it if incomplete, and on a failure keeps
the executed notebook and writes ``FAILED``.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfn_lib.config import TrainConfig
from gfn_lib.storage import atomic_write_text
from gfn_lib.study.folders import FAILED, RUNNING, run_dir, run_status
from gfn_lib.study.specs import REPO, RunSpec, list_runs, load_profile, load_run, resolve_config, run_seeds

NOTEBOOKS_DIR = REPO / "notebooks"


@dataclass
class Task:
    """One (run, seed) of a profile, picklable for a distributed engine."""

    spec: RunSpec
    profile: str
    seed: int
    force: bool = False
    out_root: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None
    cost: float = 1.0
    """Relative compute estimate (:func:`relative_cost`): sweeps start the costliest first."""

    @property
    def folder(self) -> Path:
        return run_dir(self.profile, self.spec.name, self.seed, Path(self.out_root) if self.out_root else None)


@dataclass
class TaskResult:
    run: str
    seed: int
    status: str
    folder: str
    error: str = ""
    seconds: float = 0.0


PLL_REWARDS = ("esm2pll", "improved")
"""Rewards that run a masked LM on every new sequence (pseudo-log-likelihood): the costly ones."""


def relative_cost(cfg: TrainConfig) -> float:
    """A rough, unitless estimate of a run's compute, for scheduling the longest runs first.

    steps x batch x layers x width, x2 for rewards that run a masked LM every step
    (:data:`PLL_REWARDS`), x1.5 for SubTB (flow head; in our runs it stays at maximum
    length longest). Measured in the cpu profile: 0.07 s/step (baseline, trained),
    0.09-0.12 (PLL rewards, short sequences), 0.18 (SubTB at maximum length)."""
    cost = cfg.n_steps * cfg.batch_size * cfg.n_layers * max(cfg.d_model, 64)
    return cost * (2.0 if cfg.reward in PLL_REWARDS else 1.0) * (1.5 if cfg.loss == "subtb" else 1.0)


def plan(names: Iterable[str | Path], profile: str | None, seeds: int | None = None, all_runs: bool = False,
         **task_kw: Any) -> list[Task]:  # fmt: skip
    """Validate every run, its profile and its resolved config before anything is written.

    Which runs: ``names``; else every run in ``params/`` (``all_runs``); else the profile's own
    list (:meth:`~gfn_lib.study.specs.Profile.default_runs`). Which seeds: the first ``seeds`` of
    each run's ``seeds`` (:func:`~gfn_lib.study.specs.run_seeds`); by default the profile's count
    for that run, else all of a run's listed seeds for ``all_runs``, else its first seed."""
    prof = load_profile(profile)
    if names:
        specs = [load_run(n) for n in names]
        runs = [(spec, run_seeds(spec, seeds or prof.runs.get(spec.name, 1))) for spec in specs]
    elif all_runs:
        runs = [(spec, run_seeds(spec, seeds)) for spec in list_runs()]
    else:
        runs = [(spec, run_seeds(spec, seeds) if seeds else listed) for spec, listed in prof.default_specs()]
    overrides = task_kw.get("overrides", {})
    tasks = []
    for spec, run_seed_list in runs:
        for seed in run_seed_list:
            cfg = resolve_config(spec, prof, seed, **overrides)
            tasks.append(Task(spec, prof.name, seed, cost=relative_cost(cfg), **task_kw))
    return tasks


@functools.cache
def _ipc_kernel_manager() -> type:
    """A kernel manager whose kernel talks over IPC sockets in a private temporary folder instead of TCP
    on localhost (no "Kernel is running over TCP without encryption" warning per run, no open ports).
    Made on first use: jupyter_client and papermill take ~2.5 s to import, which planning, ``list`` and a
    bad-input error never need."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kw: Any) -> None:
            super().__init__(**kw)
            self.transport = "ipc"
            self.ip = str(Path(tempfile.mkdtemp(prefix="gfn-kernel-")) / "kernel")

    return IPCKernelManager


def run_notebook(source: Path, output: Path, parameters: dict[str, Any], progress_bar: bool = False) -> None:
    """papermill: execute ``source`` with ``parameters`` into ``output`` (the one way this project
    runs a notebook: the train notebook per run, the memo notebook for the report)."""
    # papermill warns about parameters the notebook's parameters cell does not name; the
    # notebooks validate every parameter themselves (unknown ones are an error naming them)
    import papermill as pm

    logging.getLogger("papermill").setLevel(logging.ERROR)
    pm.execute_notebook(
        str(source), str(output), parameters=parameters, kernel_name="python3", progress_bar=progress_bar,
        cwd=str(REPO), log_output=False, kernel_manager_class=_ipc_kernel_manager(),
    )  # fmt: skip


def _not_to_run(task: Task) -> TaskResult | None:
    """The result of a task that must not run now (another process runs it; finished and not forced)."""
    status = run_status(task.folder)
    if status == "running":
        return TaskResult(task.spec.name, task.seed, "running", str(task.folder), "another process is running it")
    if status == "finished" and not task.force:
        return TaskResult(task.spec.name, task.seed, "skipped", str(task.folder))
    return None


def _claim(task: Task) -> None:
    """Before a task runs: a fresh folder if forced, no stale ``FAILED``, ``RUNNING`` written, its threads set."""
    if task.force and task.folder.exists():
        shutil.rmtree(task.folder)
    task.folder.mkdir(parents=True, exist_ok=True)
    (task.folder / FAILED).unlink(missing_ok=True)
    atomic_write_text(task.folder / RUNNING, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    if task.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(task.threads)


def _error_text(err: Exception) -> str:
    """One line for a failed notebook (papermill.PapermillExecutionError and kernel deaths alike)."""
    return f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}".splitlines()[0]


def _settle(task: Task, error: str, t0: float) -> TaskResult:
    """After the notebook: a folder without ``FINISHED`` gets ``FAILED`` (the error, or that the marker is missing)."""
    status = run_status(task.folder)
    if status != "finished":
        atomic_write_text(task.folder / FAILED, (error or "notebook finished without writing FINISHED") + "\n")
        status = "failed"
    return TaskResult(task.spec.name, task.seed, status, str(task.folder), error if status == "failed" else "",
                      time.time() - t0)  # fmt: skip


def execute(task: Task, progress_bar: bool = False) -> TaskResult:
    """Run one task through ``notebooks/train.ipynb`` with papermill (skip if finished,
    resume if incomplete). A failure keeps the executed notebook and writes ``FAILED``."""
    t0 = time.time()
    if (result := _not_to_run(task)) is not None:
        return result
    _claim(task)
    # the run's own parameters, and the user's overrides apart: they apply after the profile
    params = {**task.spec.parameters(), "overrides": task.overrides, "profile": task.profile, "seed": task.seed}
    if task.out_root:
        params["out_root"] = task.out_root
    error = ""
    try:
        run_notebook(NOTEBOOKS_DIR / "train.ipynb", task.folder / "train.ipynb", params, progress_bar)
    except Exception as err:  # papermill.PapermillExecutionError and kernel deaths alike
        error = _error_text(err)
    finally:
        (task.folder / RUNNING).unlink(missing_ok=True)
    return _settle(task, error, t0)


def stack_tasks(tasks: list[Task], stack: int) -> list[list[Task]]:
    """Tasks in groups of at most ``stack`` that can be trained as one stack (same
    :attr:`~gfn_lib.config.TrainConfig.stack_key`), in the order of their first member."""
    groups: dict[tuple, list[list[Task]]] = {}
    order: list[list[Task]] = []
    for task in tasks:
        key = resolve_config(task.spec, load_profile(task.profile), task.seed, **task.overrides).stack_key
        open_groups = groups.setdefault(key, [])
        if not open_groups or len(open_groups[-1]) >= max(1, stack):
            open_groups.append([])
            order.append(open_groups[-1])
        open_groups[-1].append(task)
    return order


def execute_group(tasks: list[Task], progress_bar: bool = False) -> list[TaskResult]:
    """Run tasks as one stack through ``notebooks/train_group.ipynb`` (one task: :func:`execute`).

    Finished members are skipped (unless forced) and running ones left alone, as in :func:`execute`;
    the others train together, each resuming from its own checkpoint. Every member's folder gets
    ``RUNNING`` while the stack trains, a copy of the executed notebook, and ``FAILED`` if it fails."""
    if len(tasks) == 1:
        return [execute(tasks[0], progress_bar)]
    t0, results, members = time.time(), {}, []
    for task in tasks:
        if (result := _not_to_run(task)) is not None:
            results[id(task)] = result
        else:
            members.append(task)
    if len(members) == 1:
        results[id(members[0])] = execute(members[0], progress_bar)
    elif members:
        for task in members:
            _claim(task)
        first = members[0]
        params = {
            "runs": [{**t.spec.parameters(), "seed": t.seed} for t in members],
            "profile": first.profile, "overrides": first.overrides, "out_root": first.out_root,
        }  # fmt: skip
        executed = first.folder / "train_group.ipynb"
        error = ""
        try:
            run_notebook(NOTEBOOKS_DIR / "train_group.ipynb", executed, params, progress_bar)
        except Exception as err:  # papermill.PapermillExecutionError and kernel deaths alike
            error = _error_text(err)
        finally:
            for task in members:
                (task.folder / RUNNING).unlink(missing_ok=True)
                if task is not first and executed.exists():
                    shutil.copyfile(executed, task.folder / "train_group.ipynb")
        for task in members:
            results[id(task)] = _settle(task, error, t0)
    return [results[id(t)] for t in tasks]
