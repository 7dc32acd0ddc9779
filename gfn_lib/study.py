"""The study layer: run specs (``params/*.yaml``), profiles, run folders and their status,
and executing a run through papermill.

A params file is flat (``papermill notebooks/train.ipynb out.ipynb -f params/<run>.yaml``
works as typed): run metadata (:data:`META_FIELDS`) plus the :class:`~gfn_lib.config.TrainConfig`
fields in which the run differs from the memo's configuration. A profile
(``params/profiles/<name>.yaml``) is an overlay applied on top, never an edit: ``scale``
multiplies fields (e.g. ``n_steps: 0.25``), ``set`` fixes runtime fields.

Run folder: ``outputs/<profile>/runs/<run>/seed-<N>/`` with ``train.ipynb`` (executed),
``config.yaml``, ``run.json``, ``metrics.csv``, ``samples.csv``, ``checkpoint.pt``,
``wandb/`` and, written last, ``FINISHED`` (or ``FAILED``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gfn_lib.config import ConfigError, TrainConfig, make_config, read_yaml
from gfn_lib.storage import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
PARAMS_DIR = REPO / "params"
PROFILES_DIR = PARAMS_DIR / "profiles"
NOTEBOOKS_DIR = REPO / "notebooks"

META_FIELDS: dict[str, str] = {
    "run": "run name (the memo's name for documented runs)",
    "group": "documented | ablation | sensitivity | user",
    "description": "one line: what this run changes",
    "memo_id": "the memo's wandb run ID",
    "memo_state": "the memo's recorded state",
    "memo_created": "the memo's creation date",
    "base": "the run this one is an ablation of",
    "memo_prediction": "what the memo predicts for this change",
    "assumptions": "{field: reason} for settings the memo does not state",
}
"""Run metadata keys allowed in a params file besides TrainConfig fields."""

NOTEBOOK_FIELDS = {"profile": "full | cpu | smoke", "out_root": "outputs folder"}
"""Parameters of the train notebook that are neither metadata nor config."""

FINISHED, FAILED, RUNNING = "FINISHED", "FAILED", "RUNNING"


def outputs_root() -> Path:
    """``$GFN_OUTPUTS`` or ``<repo>/outputs``."""
    return Path(os.environ.get("GFN_OUTPUTS", REPO / "outputs"))


# ---- run specs -----------------------------------------------------------------------------
@dataclass
class RunSpec:
    """A run as documented: metadata + the config fields it sets (before any profile)."""

    name: str
    meta: dict[str, Any]
    fields: dict[str, Any]
    source: str

    @property
    def group(self) -> str:
        return self.meta.get("group", "user")

    def parameters(self) -> dict[str, Any]:
        """Flat papermill parameters (what the params file holds)."""
        return {"run": self.name, **{k: v for k, v in self.meta.items() if k != "run"}, **self.fields}


def spec_from_mapping(values: Mapping[str, Any], source: str, default_name: str | None = None) -> RunSpec:
    """Split a flat mapping into metadata and config fields; reject unknown keys."""
    config_fields = set(TrainConfig.model_fields)
    meta, fields = {}, {}
    for key, value in values.items():
        if key in META_FIELDS:
            meta[key] = value
        elif key in config_fields:
            fields[key] = value
        elif key not in NOTEBOOK_FIELDS:
            raise ConfigError(f"{source}: field '{key}': unknown field (not a TrainConfig field or run metadata)")
    name = str(meta.get("run") or default_name or "")
    if not name:
        raise ConfigError(f"{source}: field 'run': missing run name")
    if "assumptions" in meta and not isinstance(meta["assumptions"], dict):
        raise ConfigError(f"{source}: field 'assumptions': expected a mapping of field: reason")
    for key in meta.get("assumptions", {}):
        if key not in fields:
            raise ConfigError(f"{source}: field 'assumptions.{key}': assumption names a field the file does not set")
    make_config(fields, source)  # validate types and ranges now, before anything runs
    meta["run"] = name
    return RunSpec(name, meta, fields, source)


def load_run(name_or_path: str | Path) -> RunSpec:
    """A run by name (``params/<name>.yaml``) or a path to a user's YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = PARAMS_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            raise ConfigError(f"unknown run '{name_or_path}' (no {path}; see 'gfn-study list')")
    return spec_from_mapping(read_yaml(path), str(path), default_name=path.stem)


def list_runs(group: str | None = None) -> list[RunSpec]:
    """Every run in ``params/`` (optionally one group), documented runs first in memo order."""
    specs = [load_run(p) for p in sorted(PARAMS_DIR.glob("*.yaml"))]
    order = {"documented": 0, "ablation": 1, "sensitivity": 2}
    specs.sort(key=lambda s: (order.get(s.group, 3), str(s.meta.get("memo_created", "")), s.name))
    return [s for s in specs if group is None or s.group == group]


# ---- profiles ------------------------------------------------------------------------------
@dataclass
class Profile:
    """An overlay: ``scale`` multiplies fields, ``set`` fixes them, ``reward_options``
    adds options per reward name (a run's own ``reward_options`` win)."""

    name: str
    description: str = ""
    scale: dict[str, float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    reward_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def step_scale(self) -> float:
        """How memo step numbers map onto this profile (``memo_step * step_scale``)."""
        return float(self.scale.get("n_steps", 1.0))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def default_profile() -> str:
    """``$GFN_PROFILE``, else ``full`` with CUDA and ``cpu`` without."""
    env = os.environ.get("GFN_PROFILE")
    if env:
        return env
    import torch

    return "full" if torch.cuda.is_available() else "cpu"


def load_profile(name: str | None) -> Profile:
    name = name or default_profile()
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown profile '{name}' (available: {', '.join(available_profiles())})")
    data = read_yaml(path)
    unknown = set(data) - {"description", "scale", "set", "reward_options"}
    if unknown:
        raise ConfigError(
            f"{path}: field '{sorted(unknown)[0]}': unknown field (expected description, scale, set, reward_options)"
        )
    for key in (*data.get("scale", {}), *data.get("set", {})):
        if key not in TrainConfig.model_fields:
            raise ConfigError(f"{path}: field '{key}': unknown TrainConfig field")
    return Profile(
        name, data.get("description", ""), dict(data.get("scale") or {}), dict(data.get("set") or {}),
        dict(data.get("reward_options") or {}),
    )  # fmt: skip


def resolve_config(spec: RunSpec, profile: Profile, seed: int = 0, **overrides: Any) -> TrainConfig:
    """TrainConfig defaults <- run fields <- profile (scale, set, reward_options) <- seed, overrides."""
    defaults = TrainConfig.model_construct()
    values = dict(spec.fields)
    for key, factor in profile.scale.items():
        base = values.get(key, getattr(defaults, key))
        values[key] = max(1, round(base * factor)) if isinstance(base, int) else base * factor
    values.update(profile.set)
    reward = overrides.get("reward", values.get("reward", defaults.reward))
    if profile.reward_options.get(reward):
        values["reward_options"] = {**profile.reward_options[reward], **values.get("reward_options", {})}
    values.update(seed=seed, **overrides)
    return make_config(values, f"{spec.source} (profile {profile.name})")


# ---- run folders and status ----------------------------------------------------------------
def run_dir(profile: str, run: str, seed: int, root: Path | None = None) -> Path:
    return (root or outputs_root()) / profile / "runs" / run / f"seed-{seed}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(folder: Path) -> str:
    """``missing`` | ``running`` | ``finished`` | ``failed`` | ``incomplete``."""
    if (folder / FINISHED).exists():
        return "finished"
    lock = folder / RUNNING
    if lock.exists():
        try:
            info = json.loads(lock.read_text())
            if info.get("host") == socket.gethostname() and _pid_alive(int(info["pid"])):
                return "running"
        except (ValueError, KeyError):
            pass
    if (folder / FAILED).exists():
        return "failed"
    if folder.exists() and any(folder.iterdir()):
        return "incomplete"
    return "missing"


def run_summary(folder: Path) -> dict[str, Any]:
    """Key figures of a run folder for ``gfn-study list`` and the report."""
    from gfn_lib.analysis import detect_explosion
    from gfn_lib.storage import read_metrics

    out: dict[str, Any] = {"status": run_status(folder)}
    df = read_metrics(folder / "metrics.csv")
    if len(df):
        last = df.iloc[-1]
        out.update(
            steps=int(last.step), final_loss=float(last.loss), max_loss=float(df.loss.max()),
            final_reward=float(last.mean_reward), final_log_z=float(last.log_z),
            explosion_step=detect_explosion(df).step,
        )  # fmt: skip
    return out


# ---- notebook side -------------------------------------------------------------------------
@dataclass
class RunSetup:
    spec: RunSpec
    profile: Profile
    seed: int
    cfg: TrainConfig
    folder: Path


def notebook_parameters(namespace: Mapping[str, Any], names_before: Iterable[str]) -> dict[str, Any]:
    """The names the parameters cell and papermill's injected cell defined."""
    before = set(names_before)
    return {
        k: v for k, v in namespace.items()
        if k not in before and not k.startswith("_") and k not in ("In", "Out", "get_ipython", "exit", "quit")
    }  # fmt: skip


def setup_run(params: Mapping[str, Any]) -> RunSetup:
    """Resolve notebook parameters into a run: the params file of ``run`` (if there is one)
    overlaid with every parameter given; unknown parameters are an error naming them."""
    params = dict(params)
    profile = load_profile(params.pop("profile", None))
    out_root = params.pop("out_root", None)
    seed = int(params.pop("seed", 0) or 0)
    name = params.get("run")
    values: dict[str, Any] = {}
    if name and (PARAMS_DIR / f"{name}.yaml").exists():
        values.update(load_run(name).parameters())
    values.update({k: v for k, v in params.items() if v is not None})
    spec = spec_from_mapping(values, source="notebook parameters")
    cfg = resolve_config(spec, profile, seed)
    folder = run_dir(profile.name, spec.name, seed, Path(out_root) if out_root else None)
    return RunSetup(spec, profile, seed, cfg, folder)


SPEED_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_", "CUDA_VISIBLE_DEVICES")
"""Environment variables that change a run's speed, recorded in ``run.json``."""


def write_run_record(setup: RunSetup, reward_info: Mapping[str, Any] | None = None) -> None:
    """``run.json``: metadata, profile, seed, resolved config and reward provenance."""
    import torch

    from gfn_lib import __version__

    record = {
        "run": setup.spec.name,
        "meta": setup.spec.meta,
        "fields": setup.spec.fields,
        "profile": setup.profile.name,
        "step_scale": setup.profile.step_scale,
        "seed": setup.seed,
        "config": setup.cfg.model_dump(),
        "reward": dict(reward_info or {}),
        "gfn_lib": __version__,
        "torch": torch.__version__,
        "host": socket.gethostname(),
        "env": {k: os.environ.get(k) for k in SPEED_ENV},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    setup.folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(setup.folder / "run.json", json.dumps(record, indent=2, default=str))


def describe_setup(setup: RunSetup) -> Any:
    """Table of the resolved config: value, memo default, and where each value came from."""
    import pandas as pd

    defaults = TrainConfig.model_construct()
    assumptions = setup.spec.meta.get("assumptions", {})
    rows = []
    for name, value in setup.cfg.model_dump().items():
        if name in setup.profile.set or name in setup.profile.scale:
            source = f"profile {setup.profile.name}"
        elif name in assumptions:
            source = f"assumption: {assumptions[name]}"
        elif name in setup.spec.fields:
            source = "run"
        else:
            source = "memo default"
        rows.append({"field": name, "value": value, "memo default": getattr(defaults, name), "source": source})
    return pd.DataFrame(rows).set_index("field")


def make_trainer(setup: RunSetup) -> Any:
    """The run's :class:`~gfn_lib.trainer.Trainer` (resuming if a checkpoint exists), with wandb
    logging unless ``wandb_mode`` is ``disabled``; writes ``run.json``."""
    from gfn_lib import rewards
    from gfn_lib.trainer import Trainer, select_device

    cfg = setup.cfg
    reward = rewards.load(cfg.reward, cfg.env, select_device(cfg.device), **cfg.reward_options)
    write_run_record(setup, reward.describe())
    tracker = None
    if cfg.wandb_mode != "disabled":
        from gfn_lib.tracking import WandbTracker

        tracker = WandbTracker(
            setup.folder, setup.spec.name, setup.seed, setup.profile.name,
            config={**cfg.model_dump(), **setup.spec.meta, "profile": setup.profile.name}, mode=cfg.wandb_mode,
        )  # fmt: skip
    return Trainer(cfg, setup.folder, reward=reward, tracker=tracker)


def read_samples(folder: Path) -> Any:
    """``samples.csv`` of a run folder (empty frame if none)."""
    import pandas as pd

    path = folder / "samples.csv"
    return pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["step", "rank", "sequence", "reward"])


def finish_run(setup: RunSetup, trainer: Any) -> dict[str, Any]:
    """Close logging and write the ``FINISHED`` marker last; returns the run's key figures."""
    if trainer.tracker is not None:
        trainer.tracker.finish()
    summary = run_summary(setup.folder)
    summary.pop("status", None)
    summary["train_seconds"] = trainer.elapsed_s
    mark_finished(setup.folder, summary)
    return summary


def mark_finished(folder: Path, summary: Mapping[str, Any] | None = None) -> None:
    """The explicit marker, written last: only a run with it counts as finished."""
    (folder / FAILED).unlink(missing_ok=True)
    atomic_write_text(folder / FINISHED, json.dumps(dict(summary or {}), indent=2, default=str))


# ---- executing runs through papermill ----------------------------------------------------------
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


def relative_cost(cfg: TrainConfig) -> float:
    """A rough, unitless estimate of a run's compute, for scheduling the longest runs first.

    steps x batch x layers x width, x2 for rewards that run a masked LM every step
    (``esm2pll``, ``improved``), x1.5 for SubTB (flow head; in our runs it stays at maximum
    length longest). Measured in the cpu profile: 0.07 s/step (baseline, trained),
    0.09-0.12 (PLL rewards, short sequences), 0.18 (SubTB at maximum length)."""
    cost = cfg.n_steps * cfg.batch_size * cfg.n_layers * max(cfg.d_model, 64)
    return cost * (2.0 if cfg.reward in PLL_REWARDS else 1.0) * (1.5 if cfg.loss == "subtb" else 1.0)


def plan(names: Iterable[str | Path], profile: str | None, seeds: int = 1, **task_kw: Any) -> list[Task]:
    """Validate every run, its profile and its resolved config before anything is written."""
    prof = load_profile(profile)
    specs = [load_run(n) for n in names] if names else list_runs("documented")
    overrides = task_kw.get("overrides", {})
    tasks = []
    for spec in specs:
        for seed in range(seeds):
            cfg = resolve_config(spec, prof, seed, **overrides)
            tasks.append(Task(spec, prof.name, seed, cost=relative_cost(cfg), **task_kw))
    return tasks


def execute(task: Task, progress_bar: bool = False) -> TaskResult:
    """Run one task through ``notebooks/train.ipynb`` with papermill (skip if finished,
    resume if incomplete). A failure keeps the executed notebook and writes ``FAILED``."""
    import logging

    import papermill as pm

    # papermill warns about parameters the notebook's parameters cell does not name; the
    # notebook validates every parameter itself (unknown ones are an error naming them)
    logging.getLogger("papermill").setLevel(logging.ERROR)
    folder, t0 = task.folder, time.time()
    status = run_status(folder)
    if status == "running":
        return TaskResult(task.spec.name, task.seed, "running", str(folder), "another process is running it")
    if status == "finished" and not task.force:
        return TaskResult(task.spec.name, task.seed, "skipped", str(folder))
    if task.force and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FAILED).unlink(missing_ok=True)
    atomic_write_text(folder / RUNNING, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}))
    if task.threads:
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(task.threads)
    params = {**task.spec.parameters(), **task.overrides, "profile": task.profile, "seed": task.seed}
    if task.out_root:
        params["out_root"] = task.out_root
    try:
        pm.execute_notebook(
            str(NOTEBOOKS_DIR / "train.ipynb"), str(folder / "train.ipynb"), parameters=params,
            kernel_name="python3", progress_bar=progress_bar, cwd=str(REPO), log_output=False,
        )  # fmt: skip
    except Exception as err:  # papermill.PapermillExecutionError and kernel deaths alike
        msg = f"{getattr(err, 'ename', type(err).__name__)}: {getattr(err, 'evalue', err)}".splitlines()[0]
        atomic_write_text(folder / FAILED, msg + "\n")
        return TaskResult(task.spec.name, task.seed, "failed", str(folder), msg, time.time() - t0)
    finally:
        (folder / RUNNING).unlink(missing_ok=True)
    status = run_status(folder)
    if status != "finished":  # the notebook ran but never wrote its marker
        atomic_write_text(folder / FAILED, "notebook finished without writing FINISHED\n")
        status = "failed"
    return TaskResult(task.spec.name, task.seed, status, str(folder), seconds=time.time() - t0)
