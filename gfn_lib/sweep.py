"""Seeds x runs on Dask distributed: a local cluster by default, or a running one by address.

Each task is one papermill execution (:func:`gfn_lib.study.execute`), so a sweep writes
exactly what ``gfn-study run`` writes and can be resumed the same way. With GPUs, the local
cluster has one worker per GPU and every task asks for the worker resource ``GPU=1``, so
each run gets a GPU of its own; the worker pins its GPU with ``CUDA_VISIBLE_DEVICES``.
"""

from __future__ import annotations

import logging
import os

from gfn_lib.study import Task, TaskResult, execute


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def default_workers(n_tasks: int) -> int:
    """Local cluster size: one worker per GPU, else one per core, never more than the runs."""
    return _gpu_count() or max(1, min(os.cpu_count() or 1, n_tasks))


def _execute_on_worker(task: Task) -> tuple[TaskResult, str]:
    """Runs inside a Dask worker: pin this worker's GPU, execute the task, say where it ran."""
    from distributed import get_worker

    worker = get_worker()
    name = str(worker.name)
    if _gpu_count() and name.isdigit() and "CUDA_VISIBLE_DEVICES" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = name  # local cluster: worker i <-> GPU i
    return execute(task), worker.address


def run_sweep(tasks: list[Task], address: str | None = None, n_workers: int | None = None) -> list[TaskResult]:
    """Execute ``tasks`` on a Dask cluster, one run per worker at a time; results in task order.

    Each worker gets its next run as soon as its last one ends (placed explicitly: left to
    itself the scheduler may queue several hour-long runs behind one worker while another idles).
    """
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    cluster = None
    if address is None:
        n = n_workers or default_workers(len(tasks))
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
        )
    client = Client(cluster or address)
    try:
        workers = list(client.scheduler_info()["workers"])
        queue = list(enumerate(tasks))
        index: dict[str, int] = {}

        def submit(worker: str) -> object:
            i, task = queue.pop(0)
            future = client.submit(
                _execute_on_worker, task, key=f"{task.spec.name}-{task.profile}-seed{task.seed}", pure=False,
                workers=[worker], allow_other_workers=False,
            )  # fmt: skip
            index[future.key] = i
            return future

        running = as_completed([submit(w) for w in workers[: len(queue)]])
        results: list[TaskResult | None] = [None] * len(tasks)
        with tqdm(total=len(tasks), desc="sweep", unit="run") as bar:
            for future in running:
                result, worker = future.result()
                results[index[future.key]] = result
                bar.update(1)
                if queue:
                    running.add(submit(worker))
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
