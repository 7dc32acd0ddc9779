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


def _execute_on_worker(task: Task) -> TaskResult:
    """Runs inside a Dask worker: pin this worker's GPU, then execute the task."""
    from distributed import get_worker

    gpu = get_worker().state.available_resources.get("GPU")  # declared -> one GPU per worker
    name = str(get_worker().name)
    if gpu is not None and name.isdigit() and "CUDA_VISIBLE_DEVICES" not in os.environ:
        os.environ["CUDA_VISIBLE_DEVICES"] = name
    return execute(task)


def run_sweep(tasks: list[Task], address: str | None = None, n_workers: int | None = None) -> list[TaskResult]:
    """Execute ``tasks`` on a Dask cluster and return their results (in task order)."""
    from distributed import Client, LocalCluster, as_completed
    from tqdm import tqdm

    gpus = _gpu_count()
    cluster = None
    need: dict[str, int] = {}
    if address is None:
        n = n_workers or gpus or max(1, min(os.cpu_count() or 1, len(tasks)))
        # one run per worker at a time: the scheduler holds the rest until a slot frees
        # (without it, Dask may queue several long runs on one worker while another idles)
        need = {"RUN": 1, **({"GPU": 1} if gpus else {})}
        cluster = LocalCluster(
            n_workers=n, threads_per_worker=1, processes=True, resources=need,
            dashboard_address=None, silence_logs=logging.ERROR,
        )  # fmt: skip
    client = Client(cluster or address)
    try:
        kw = {"resources": need} if need else {}
        futures = [
            client.submit(_execute_on_worker, t, key=f"{t.spec.name}-{t.profile}-seed{t.seed}", pure=False, **kw)
            for t in tasks
        ]
        order = {f.key: i for i, f in enumerate(futures)}
        results: list[TaskResult | None] = [None] * len(futures)
        for future in tqdm(as_completed(futures), total=len(futures), desc="sweep", unit="run"):
            results[order[future.key]] = future.result()
        return [r for r in results if r is not None]
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
