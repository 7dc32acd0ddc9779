"""What a run *is*: its spec (``params/<run>.yaml``), a profile (``params/profiles/<name>.yaml``)
and the :class:`~gfn_lib.config.TrainConfig` the two resolve to.

A params file is flat (``papermill notebooks/train.ipynb out.ipynb -f params/<run>.yaml``
works as typed): run metadata (:data:`META_FIELDS`) plus the TrainConfig fields in which the
run differs from the memo's configuration. A profile is an overlay applied on top, never an
edit: ``scale`` multiplies fields (e.g. ``n_steps: 0.25``), ``set`` fixes runtime fields. It
also compresses the step axis: memo step *s* is step ``round(s × step_scale)`` of a profile
(:func:`memo_to_run_step`, the one mapping).

Contents: paths; run specs (:class:`RunSpec`, :func:`load_run`, :func:`list_runs` in
:data:`GROUP_ORDER`); profiles (:class:`Profile`, :func:`load_profile`); the step mapping;
:func:`resolve_config`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from gfn_lib.config import ConfigError, TrainConfig, make_config, read_yaml

REPO = Path(__file__).resolve().parents[2]
PARAMS_DIR = REPO / "params"
PROFILES_DIR = PARAMS_DIR / "profiles"
SETUPS_DIR = PARAMS_DIR / "setups"

# ---- run specs -----------------------------------------------------------------------------
META_FIELDS: dict[str, str] = {
    "run": "run name (the memo's name for documented runs)",
    "group": "documented | ablation | sensitivity | user",
    "description": "one line: what this run changes",
    "memo_id": "the memo's wandb run ID",
    "memo_state": "the memo's recorded state",
    "memo_created": "the memo's creation date",
    "base": "the run in params/ this one is an ablation of (a label for lists and readers: its fields are not inherited; `setup` shares fields)",
    "memo_prediction": "what the memo predicts for this change",
    "assumptions": "{field: reason} for settings the memo does not state",
    "setup": "a shared training setup in params/setups/ whose fields this run starts from (its own fields win)",
    "seeds": "the run's seeds (the first is the published one); --seeds N takes the first N, extended by +1",
}
"""Run metadata keys allowed in a params file besides TrainConfig fields."""

NOTEBOOK_FIELDS = {"profile": "full | cpu | smoke", "out_root": "outputs folder"}
"""Parameters of the train notebook that are neither metadata nor config."""

GROUP_ORDER = ("documented", "ablation", "sensitivity")
"""The groups of ``params/`` runs, in the order lists and the report show them; any other
group (``user``: a run of your own) comes after them."""


def group_rank(group: str) -> int:
    """Position of ``group`` in :data:`GROUP_ORDER` (any other group: after all of them)."""
    return GROUP_ORDER.index(group) if group in GROUP_ORDER else len(GROUP_ORDER)


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
    if "base" in meta and not run_file(meta["base"]).is_file():
        raise ConfigError(f"{source}: field 'base': unknown run {meta['base']!r} (no params/{meta['base']}.yaml; "
                          "see 'gfn-study list')")  # fmt: skip
    if "setup" in meta:
        fields = {**load_setup(meta["setup"], source), **fields}
    seeds = meta.get("seeds", [0])
    if not (isinstance(seeds, list) and seeds and all(isinstance(x, int) and x >= 0 for x in seeds)):
        raise ConfigError(f"{source}: field 'seeds': expected a non-empty list of seeds >= 0, got {seeds!r}")
    make_config(fields, source)  # validate types and ranges now, before anything runs
    meta["run"] = name
    return RunSpec(name, meta, fields, source)


def load_setup(name: str, source: str) -> dict[str, Any]:
    """The config fields of ``params/setups/<name>.yaml`` (validated). The file's ``sources`` name the
    evidence for each field and ``differences`` what our re-run does otherwise (both for the report)."""
    path = SETUPS_DIR / f"{name}.yaml"
    if not path.exists():
        available = ", ".join(sorted(p.stem for p in SETUPS_DIR.glob("*.yaml")))
        raise ConfigError(f"{source}: field 'setup': unknown setup {name!r} (available: {available})")
    data = read_yaml(path)
    unknown = set(data) - {"description", "fields", "sources", "differences"}
    if unknown:
        raise ConfigError(
            f"{path}: field '{sorted(unknown)[0]}': unknown field (expected description, fields, sources, differences)"
        )
    fields = dict(data.get("fields") or {})
    for key in fields:
        if key not in TrainConfig.model_fields:
            raise ConfigError(f"{path}: field 'fields.{key}': unknown TrainConfig field")
    make_config(fields, str(path))
    return fields


def run_file(name: str) -> Path:
    """Where run ``name`` is documented: ``params/<name>.yaml`` (it may not exist)."""
    return PARAMS_DIR / f"{name}.yaml"


def load_run(name_or_path: str | Path) -> RunSpec:
    """A run by name (``params/<name>.yaml``) or a path to a user's YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = run_file(str(name_or_path))
        if not path.exists():
            raise ConfigError(f"unknown run '{name_or_path}' (no {path}; see 'gfn-study list')")
    values = read_yaml(path)
    if not values:
        raise ConfigError(f"{path}: empty file (expected run metadata and TrainConfig fields)")
    return spec_from_mapping(values, str(path), default_name=path.stem)


def run_seeds(spec: RunSpec, n: int | None = None) -> list[int]:
    """The run's seeds (``seeds`` in its params file, default ``[0]``); ``n``: the first ``n``,
    continued by +1 past the listed ones (``seeds: [42]``, n = 3 -> 42, 43, 44)."""
    seeds = list(spec.meta.get("seeds", [0]))
    if n is None:
        return seeds
    while len(seeds) < n:
        seeds.append(seeds[-1] + 1)
    return seeds[:n]


def params_files() -> list[Path]:
    """Every run file of ``params/``, by name."""
    return sorted(PARAMS_DIR.glob("*.yaml"))


def list_runs(group: str | None = None) -> list[RunSpec]:
    """Every run in ``params/`` (optionally one group), by :data:`GROUP_ORDER`, memo date, name."""
    specs = [load_run(p) for p in params_files()]
    specs.sort(key=lambda s: (group_rank(s.group), str(s.meta.get("memo_created", "")), s.name))
    return [s for s in specs if group is None or s.group == group]


# ---- profiles ------------------------------------------------------------------------------
def memo_to_run_step(memo_step: float, step_scale: float) -> int:
    """A memo step on a profile's step axis: ``round(memo_step × step_scale)``, at least 1
    (memo step 6000 is step 1200 of the cpu profile, scale 0.2)."""
    return max(1, int(round(memo_step * step_scale)))


def run_to_memo_step(step: float | None, step_scale: float) -> float | None:
    """The inverse of :func:`memo_to_run_step` (unrounded; None stays None)."""
    return None if step is None else float(step) / step_scale


@dataclass
class Profile:
    """An overlay: ``scale`` multiplies fields, ``set`` fixes them, ``reward_options``
    adds options per reward name (a run's own ``reward_options`` win)."""

    name: str
    description: str = ""
    scale: dict[str, float] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    reward_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    """``{run: number of seeds}`` this profile runs by default (``make study``) and its report
    lists; empty: every documented run with all its seeds."""

    def default_specs(self) -> list[tuple[RunSpec, list[int]]]:
        """``[(spec, seeds)]`` of a plain ``gfn-study sweep`` / ``make study`` in this profile."""
        if self.runs:
            specs = [load_run(name) for name in self.runs]
            return [(spec, run_seeds(spec, self.runs[spec.name])) for spec in specs]
        return [(spec, run_seeds(spec)) for spec in list_runs("documented")]

    def default_runs(self) -> dict[str, list[int]]:
        """``{run: seeds}`` of :meth:`default_specs`."""
        return {spec.name: seeds for spec, seeds in self.default_specs()}

    @property
    def step_scale(self) -> float:
        """How memo step numbers map onto this profile (:func:`memo_to_run_step`)."""
        return float(self.scale.get("n_steps", 1.0))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.yaml"))


def default_profile() -> str:
    """``$GFN_PROFILE``, else ``full`` with CUDA and ``cpu`` without."""
    env = os.environ.get("GFN_PROFILE")
    if env:
        return env
    return "full" if torch.cuda.is_available() else "cpu"


def load_profile(name: str | None) -> Profile:
    name = name or default_profile()
    path = PROFILES_DIR / f"{name}.yaml"
    if not path.exists():
        raise ConfigError(f"unknown profile '{name}' (available: {', '.join(available_profiles())})")
    data = read_yaml(path)
    unknown = set(data) - {"description", "scale", "set", "reward_options", "runs"}
    if unknown:
        raise ConfigError(
            f"{path}: field '{sorted(unknown)[0]}': unknown field (expected description, scale, set, reward_options, runs)"
        )
    for key in (*data.get("scale", {}), *data.get("set", {})):
        if key not in TrainConfig.model_fields:
            raise ConfigError(f"{path}: field '{key}': unknown TrainConfig field")
    scale = dict(data.get("scale") or {})
    if abs(scale.get("log_z_lr", 1.0) * scale.get("n_steps", 1.0) - 1.0) > 1e-4:  # decimals like 1/60 round
        raise ConfigError(
            f"{path}: field 'scale.log_z_lr': must be 1 / scale.n_steps ({1 / scale.get('n_steps', 1.0):g}) so that "
            "log Z travels as far as in the memo (sum of lr_Z over the run)"
        )
    runs = dict(data.get("runs") or {})
    for run, n in runs.items():
        if not run_file(run).exists():
            raise ConfigError(f"{path}: field 'runs.{run}': unknown run (no params/{run}.yaml)")
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"{path}: field 'runs.{run}': number of seeds must be an integer >= 1, got {n!r}")
    return Profile(
        name, data.get("description", ""), dict(data.get("scale") or {}), dict(data.get("set") or {}),
        dict(data.get("reward_options") or {}), runs,
    )  # fmt: skip


# ---- the resolved config -------------------------------------------------------------------
def resolve_config(spec: RunSpec, profile: Profile, seed: int = 0, **overrides: Any) -> TrainConfig:
    """TrainConfig defaults <- run fields <- profile (scale, set, reward_options) <- seed, overrides."""
    defaults = TrainConfig.model_construct()
    values = dict(spec.fields)
    for key, factor in profile.scale.items():
        base = values.get(key, getattr(defaults, key))
        if key == "log_z_lr" and base is None:  # "same as lr": scale the lr it stands for
            base = values.get("lr", defaults.lr)
        values[key] = max(1, round(base * factor)) if isinstance(base, int) else float(f"{base * factor:.12g}")
    values.update(profile.set)
    reward = overrides.get("reward", values.get("reward", defaults.reward))
    if profile.reward_options.get(reward):
        values["reward_options"] = {**profile.reward_options[reward], **values.get("reward_options", {})}
    values.update(seed=seed, **overrides)
    overridden = f"; overridden: {', '.join(sorted(overrides))}" if overrides else ""  # a bad --set names itself
    return make_config(values, f"{spec.source} (profile {profile.name}{overridden})")
