"""What ``notebooks/train.ipynb`` calls, in its order: one run, inside the notebook's kernel.

:func:`notebook_parameters` + :func:`setup_run` (papermill's parameters -> a :class:`RunSetup`:
spec, profile, seed, resolved config, folder), :func:`describe_setup` (where each config
value came from), :func:`make_trainer` (writes ``run.json``, then builds the
:class:`~gfn_lib.trainer.Trainer`), and :func:`finish_run` (``FINISHED``, last).

The training loop lives in :mod:`gfn_lib.trainer`: the notebook calls ``trainer.train()``,
which calls :meth:`~gfn_lib.trainer.Trainer.train_step` once per update
(``notebooks/train.ipynb`` -> ``study.notebook.make_trainer`` -> ``Trainer.train`` ->
``Trainer.train_step``).
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from gfn_lib import __version__, rewards
from gfn_lib.config import TrainConfig
from gfn_lib.storage import atomic_write_text
from gfn_lib.study.folders import mark_finished, run_dir, run_summary
from gfn_lib.study.specs import (
    Profile, RunSpec, load_profile, load_run, resolve_config, run_file, run_seeds, spec_from_mapping,
)  # fmt: skip
from gfn_lib.tracking import WandbTracker, mode_in_effect
from gfn_lib.trainer import Trainer, select_device, train_together


@dataclass
class RunSetup:
    spec: RunSpec
    profile: Profile
    seed: int
    cfg: TrainConfig
    folder: Path
    overrides: dict[str, Any] = field(default_factory=dict)
    """Fields the user set for this execution (they win over the run and the profile)."""


def notebook_parameters(namespace: Mapping[str, Any], names_before: Iterable[str]) -> dict[str, Any]:
    """The names the parameters cell and papermill's injected cell defined."""
    before = set(names_before)
    return {
        k: v for k, v in namespace.items()
        if k not in before and not k.startswith("_") and k not in ("In", "Out", "get_ipython", "exit", "quit")
    }  # fmt: skip


def setup_run(params: Mapping[str, Any]) -> RunSetup:
    """Resolve notebook parameters into a run, with the planner's rule (overrides apply last).

    The run's own fields are its params file's (when ``run`` names one in ``params/``); a config
    field given with another value than the file's (``papermill -p n_steps 400``), and every
    field of the ``overrides`` parameter (``gfn-study --set``), is an *override*: applied after
    the profile's scaling, so it is the value that runs. Metadata and fields of a run without a
    params file (a user's YAML) are the run's own. Unknown parameters are an error naming them."""
    params = {k: v for k, v in params.items() if v is not None}
    profile = load_profile(params.pop("profile", None))
    out_root = params.pop("out_root", None)
    seed = params.pop("seed", None)
    overrides = dict(params.pop("overrides", None) or {})
    name = params.get("run")
    values: dict[str, Any] = {}
    if name and run_file(name).exists():
        values = load_run(name).parameters()
        for key in list(params):
            if key in TrainConfig.model_fields and values.get(key) != params[key]:
                overrides.setdefault(key, params.pop(key))
    values.update(params)
    spec = spec_from_mapping(values, source="notebook parameters")
    seed = int(seed) if seed is not None else run_seeds(spec)[0]
    cfg = resolve_config(spec, profile, seed, **overrides)
    folder = run_dir(profile.name, spec.name, seed, Path(out_root) if out_root else None)
    return RunSetup(spec, profile, seed, cfg, folder, overrides)


def describe_setup(setup: RunSetup) -> pd.DataFrame:
    """Table of the resolved config: value, memo default, and where each value came from."""
    defaults = TrainConfig.model_construct()
    assumptions = setup.spec.meta.get("assumptions", {})
    rows = []
    for name, value in setup.cfg.model_dump().items():
        if name in setup.overrides:
            source = "override"
        elif name in setup.profile.set or name in setup.profile.scale:
            source = f"profile {setup.profile.name}"
        elif name in assumptions:
            source = f"assumption: {assumptions[name]}"
        elif name in setup.spec.fields:
            source = "run"
        else:
            source = "memo default"
        rows.append({"field": name, "value": value, "memo default": getattr(defaults, name), "source": source})
    return pd.DataFrame(rows).set_index("field")


SPEED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "CUDA_VISIBLE_DEVICES")
"""Environment variables that change a run's speed, recorded in ``run.json``."""
KERNEL_ENV = ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR", "ONEDNN_MAX_CPU_ISA")
"""Settings that choose which instruction set torch's CPU kernels (ATen, MKL, oneDNN) use."""


def cpu_numerics() -> dict[str, Any]:
    """What decides a CPU run's numbers besides the code, the config and the seed: the processor, the
    instruction set torch's kernels run on (ATen's capability; MKL and oneDNN choose theirs alike, see
    :data:`KERNEL_ENV`) and the threads. The same run is bit for bit the same only where these agree: here
    (an AVX-512 Xeon, 2026-11-30) forcing AVX2 kernels changed reward-C's metrics within 6 steps, and a
    fresh ``make study`` moved reward-C's escapes by up to 2,200 memo steps from the earlier sessions'."""
    cpuinfo: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if not key.strip():
                break  # the first processor is enough
            cpuinfo.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    ident = " ".join(f"{k} {cpuinfo[k]}" for k in ("cpu family", "model", "stepping") if k in cpuinfo)
    return {
        "processor": cpuinfo.get("model name") or platform.processor(),
        "cpuid": ident or None,
        "kernels": torch.backends.cpu.get_cpu_capability(),
        "threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in KERNEL_ENV if k in os.environ},
    }


def write_run_record(setup: RunSetup, reward_info: Mapping[str, Any] | None = None) -> None:
    """``run.json``: metadata, profile, seed, resolved config and reward provenance. ``started`` is the
    first start (a resumed run keeps it; ``last_started`` is this start): timing predictions are told
    from post-hoc fits by it (:data:`gfn_lib.analysis.timing.STATED`)."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    try:
        started = json.loads((setup.folder / "run.json").read_text()).get("started") or now
    except (OSError, ValueError, AttributeError):
        started = now
    record = {
        "run": setup.spec.name,
        "meta": setup.spec.meta,
        "fields": setup.spec.fields,
        "overrides": setup.overrides,
        "profile": setup.profile.name,
        "step_scale": setup.profile.step_scale,
        "seed": setup.seed,
        "config": setup.cfg.model_dump(),
        "reward": dict(reward_info or {}),
        "gfn_lib": __version__,
        "torch": torch.__version__,
        "host": socket.gethostname(),
        "env": {k: os.environ.get(k) for k in SPEED_ENV},
        "cpu": cpu_numerics(),  # runs agree bit for bit only on the same kernels
        "wandb": mode_in_effect(setup.cfg.wandb_mode),  # what logged: the config's mode, or the environment's "disabled"
        "started": started,
        "last_started": now,
    }
    setup.folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(setup.folder / "run.json", json.dumps(record, indent=2, default=str))


def make_trainer(setup: RunSetup) -> Trainer:
    """The run's :class:`~gfn_lib.trainer.Trainer` (resuming if a checkpoint exists), with wandb
    logging unless ``wandb_mode`` or the environment's ``WANDB_MODE`` is ``disabled``; writes ``run.json``."""
    cfg = setup.cfg
    reward = rewards.load(cfg.reward, cfg.env, select_device(cfg.device), **cfg.reward_options)
    write_run_record(setup, reward.describe())
    tracker, mode = None, mode_in_effect(cfg.wandb_mode)
    if mode != "disabled":
        tracker = WandbTracker(
            setup.folder, setup.spec.name, setup.seed, setup.profile.name,
            config={**cfg.model_dump(), **setup.spec.meta, "profile": setup.profile.name}, mode=mode,
        )  # fmt: skip
    return Trainer(cfg, setup.folder, reward=reward, tracker=tracker)


def finish_run(setup: RunSetup, trainer: Trainer) -> dict[str, Any]:
    """Close logging and write the ``FINISHED`` marker last; returns the run's key figures."""
    if trainer.tracker is not None:
        trainer.tracker.finish()
    summary = run_summary(setup.folder)
    summary.pop("status", None)
    summary["train_seconds"] = trainer.elapsed_s
    mark_finished(setup.folder, summary)
    return summary


def setup_runs(runs: Iterable[Mapping[str, Any]], common: Mapping[str, Any]) -> list[RunSetup]:
    """:func:`setup_run` for each member of a stack (``notebooks/train_group.ipynb``): each member's
    parameters, with the ``common`` ones (profile, overrides, out_root) added; all must stack."""
    setups = [setup_run({**dict(run), **dict(common)}) for run in runs]
    keys = {s.cfg.stack_key for s in setups}
    if len(keys) > 1:
        raise ValueError(f"runs {[s.spec.name for s in setups]} cannot be trained as one stack (their shapes differ)")
    return setups


def train_group(setups: list[RunSetup], progress: bool = True) -> list[Trainer]:
    """Build every member's trainer (:func:`make_trainer`; each resumes on its own) and train them
    together (:func:`gfn_lib.trainer.train_together`)."""
    trainers = [make_trainer(s) for s in setups]
    train_together(trainers, progress)
    return trainers
