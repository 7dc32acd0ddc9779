"""Seeds x runs on Dask distributed: a local cluster by default, or a running one by address.

Each task is one papermill execution (:func:`gfn_lib.study.execution.execute`), so a sweep writes
exactly what ``gfn-study run`` writes and can be resumed the same way. With GPUs, the local
cluster has one worker per GPU and every task asks for the worker resource ``GPU=1``, so
each run gets a GPU of its own; the worker pins its GPU with ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import dask
import torch
from distributed import Client, LocalCluster, as_completed, get_worker
from tqdm import tqdm

from gfn_lib import rewards
from gfn_lib.study import load_profile, resolve_config
from gfn_lib.study.execution import PLL_REWARDS, Task, TaskResult, execute_group, stack_tasks


def _gpu_count() -> int:
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_workers(n_tasks: int) -> int:
    """Local cluster size: one worker per GPU, else one per core, never more than the runs."""
    return _gpu_count() or max(1, min(os.cpu_count() or 1, n_tasks))


MAX_GPU_STACK = 18
"""The most runs :func:`default_stack` puts in one stack (the largest R measured on a GPU: README, "On a GPU")."""


def default_stack(n_tasks: int) -> int:
    """Runs per stack when a sweep is not told: on GPUs the runs shared out evenly among them (at most
    :data:`MAX_GPU_STACK`; the full profile's eight runs on one H200 make one stack, ≈ 21 minutes for all eight);
    on CPUs 1 (a stack gains ~1.8x at most there, and one run per core keeps both cores busy)."""
    gpus = _gpu_count()
    return min(MAX_GPU_STACK, -(-n_tasks // gpus)) if gpus else 1


def _execute_on_worker(group: list[Task]) -> tuple[list[TaskResult], str]:
    """Runs inside a Dask worker: pin this worker's GPU, execute the group (one stack), say where it ran."""
    worker = get_worker()
    name = str(worker.name)
    # Dask's nanny sets MALLOC_TRIM_THRESHOLD_=65536 for its workers (a remote cluster may too);
    # inherited by a run's kernel, glibc then hands memory back to the OS after nearly every
    # torch op (page faults, ~1.6x slower steps). Runs get the default allocator behaviour.
    os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    if _gpu_count() and name.isdigit() and "CUDA_VISIBLE_DEVICES" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = name  # local cluster: worker i <-> GPU i
    return execute_group(group), worker.address


def _warm_reward(name: str, options_json: str, env: object) -> str:
    """Runs inside a Dask worker: build (train or load from the cache) the models of one reward."""
    rewards.load(name, env, **json.loads(options_json))
    return name


def warm_rewards(client: object, tasks: list[Task], workers: list[str]) -> list[str]:
    """Build every reward model the tasks need once, spread over the workers, before any run.

    On a cold cache the runs would otherwise each wait for the same training behind one lock
    while the other workers idle (classifier ~1 min, MLM ~2 min on one core)."""
    needed: dict[tuple[str, str], object] = {}
    for task in tasks:
        cfg = resolve_config(task.spec, load_profile(task.profile), task.seed, **task.overrides)
        needed.setdefault((cfg.reward, json.dumps(cfg.reward_options, sort_keys=True)), cfg.env)
    order = sorted(needed, key=lambda k: k[0] not in PLL_REWARDS)  # the masked LM takes longest: first
    futures = [
        client.submit(_warm_reward, name, opts, needed[(name, opts)], key=f"warm-{name}-{i}", pure=False,
                      workers=[workers[i % len(workers)]])
        for i, (name, opts) in enumerate(order)
    ]  # fmt: skip
    return client.gather(futures, errors="skip")  # a reward that fails to build fails its runs, visibly


def run_sweep(tasks: list[Task], address: str | None = None, n_workers: int | None = None, stack: int = 1) -> list[TaskResult]:
    """Execute ``tasks`` on a Dask cluster, one unit per worker at a time; results in task order.

    A unit is one run, or with ``stack`` > 1 up to ``stack`` runs that share the policy's shape,
    trained as one stack (:func:`gfn_lib.study.execution.stack_tasks`, ``notebooks/train_group.ipynb``):
    one worker then carries many runs. Each worker gets its next unit as soon as its last one ends
    (placed explicitly: left to itself the scheduler may queue several hour-long runs behind one
    worker while another idles), costliest first (``Task.cost``; longest-processing-time order
    shortens the whole sweep).
    """
    cluster = None
    groups = stack_tasks(tasks, stack)
    if address is None:
        n = n_workers or default_workers(len(groups))
        # no MALLOC_TRIM_THRESHOLD_ in the workers: it slows torch on the CPU ~2x (see _execute_on_worker)
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(
                n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
            )
    client = Client(cluster or address)
    try:
        workers = list(client.scheduler_info()["workers"])
        warm_rewards(client, tasks, workers)
        queue = sorted(groups, key=lambda g: -sum(t.cost for t in g))  # stable: ties keep task order

        def submit(worker: str) -> object:
            group = queue.pop(0)
            names = "+".join(f"{t.spec.name}-seed{t.seed}" for t in group)
            return client.submit(
                _execute_on_worker, group, key=f"{names}-{group[0].profile}", pure=False,
                workers=[worker], allow_other_workers=False,
            )  # fmt: skip

        running = as_completed([submit(w) for w in workers[: len(queue)]])
        results: list[TaskResult | None] = [None] * len(tasks)
        with tqdm(total=len(tasks), desc="sweep", unit="run") as bar:
            for future in running:
                group_results, worker = future.result()
                for result in group_results:
                    results[_index(tasks, result)] = result
                bar.update(len(group_results))
                if queue:
                    running.add(submit(worker))
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _index(tasks: list[Task], result: TaskResult) -> int:
    """The task a result belongs to (results come back from other processes: match by run and seed)."""
    for i, t in enumerate(tasks):
        if t.spec.name == result.run and t.seed == result.seed and Path(result.folder) == t.folder:
            return i
    raise KeyError(f"no task for {result.run} seed {result.seed}")
