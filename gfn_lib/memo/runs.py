"""Loading one profile's runs for the report: :func:`load_study` -> :class:`Study` of
:class:`RunGroup` (one per run) of :class:`SeedRun` (one per seed folder, or a ``missing``
placeholder for a seed the profile runs that has no folder yet), in the report's order.

Which runs: the profile's default runs with their seeds (:meth:`gfn_lib.study.specs.Profile.default_runs`)
plus every other run that has folders under ``<outputs>/<profile>/runs/``.
Local run folders are the source of truth (:mod:`gfn_lib.study.folders`). Each seed carries
its metrics, its explosion (:func:`gfn_lib.analysis.detect_explosion`), its trigger
(:func:`gfn_lib.analysis.classify_trigger`), its low-entropy trap (:func:`gfn_lib.analysis.detect_trap`)
and its config as a validated :class:`~gfn_lib.config.TrainConfig`, made in one place, :func:`seed_config`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from gfn_lib.analysis import (
    TRAP_COLUMNS,
    ExplosionResult,
    TrapResult,
    Trigger,
    classify_trigger,
    detect_explosion,
    detect_trap,
)
from gfn_lib.config import ConfigError, TrainConfig, make_config
from gfn_lib.memo.cells import NA, approx_step
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_TRIGGER_TABLE
from gfn_lib.storage import read_metrics
from gfn_lib.study import (
    Profile,
    RunSpec,
    group_rank,
    list_runs,
    load_profile,
    load_run,
    memo_to_run_step,
    outputs_root,
    params_files,
    read_record,
    resolve_config,
    run_status,
    run_to_memo_step,
    seed_folders,
    seed_of,
)
from gfn_lib.study.specs import run_seeds
from gfn_lib.study.starts import read_starts, starts_path


def seed_config(record: dict[str, Any], fallback: TrainConfig | None, source: str,
                errors: list[str]) -> TrainConfig:
    """The config a seed trained with, as a validated TrainConfig: the one place it is made.

    1. ``run.json``'s ``config`` (the resolved config, dumped when the run started), through
       :func:`gfn_lib.config.make_config`. A field the record lacks (written before the field
       existed) takes its TrainConfig default, which keeps the behaviour runs had before it;
       a key TrainConfig no longer has is dropped and named in ``errors``.
    2. Else (no record yet, or an invalid one: named in ``errors``): ``fallback``, the run's
       params resolved for the profile.
    3. Else (a folder with neither): TrainConfig's defaults, named in ``errors``.
    """
    values = record.get("config")
    if isinstance(values, dict) and values:
        unknown = sorted(set(values) - set(TrainConfig.model_fields))
        if unknown:
            errors.append(f"{source}: fields no longer in TrainConfig ignored: {', '.join(unknown)}")
        try:
            return make_config({k: v for k, v in values.items() if k not in unknown}, source)
        except ConfigError as err:
            errors.append(str(err))
    if fallback is not None:
        return fallback
    errors.append(f"{source}: no config in a run record or params file: TrainConfig defaults assumed")
    return TrainConfig()


@dataclass
class SeedRun:
    """One seed folder of a run; status ``missing``: a seed the profile runs that has no folder yet
    (``seed is None``: a run without any seed, e.g. one not in the profile's default runs)."""

    run: str
    seed: int | None
    folder: Path
    status: str
    record: dict[str, Any]
    metrics: pd.DataFrame
    config: TrainConfig
    """See :func:`seed_config`."""

    @property
    def has_data(self) -> bool:
        return len(self.metrics) > 0 and "loss" in self.metrics.columns

    @property
    def finished(self) -> bool:
        return self.status == "finished" and self.has_data

    def first_value(self, column: str) -> float | None:
        """``column`` at the seed's first logged step (the initial policy's batch); None without that column."""
        return float(self.metrics.sort_values("step")[column].iloc[0]) if column in self.metrics else None

    @property
    def last_step(self) -> int | None:
        return int(self.metrics["step"].iloc[-1]) if self.has_data else None

    @cached_property
    def explosion(self) -> ExplosionResult | None:
        return detect_explosion(self.metrics) if self.has_data else None

    @cached_property
    def trigger(self) -> Trigger | None:
        if self.explosion is None:
            return None
        return classify_trigger(self.metrics, self.explosion, batch_size=self.config.batch_size)

    @property
    def explosion_step(self) -> int | None:
        return self.explosion.step if self.explosion is not None else None

    @property
    def logs_composition(self) -> bool:
        """The metrics have the trap detector's columns (runs logged before them do not)."""
        return self.has_data and all(c in self.metrics and self.metrics[c].notna().any() for c in TRAP_COLUMNS)

    @cached_property
    def trap(self) -> TrapResult | None:
        """:func:`gfn_lib.analysis.detect_trap` on the metrics; None without the columns it needs."""
        return detect_trap(self.metrics) if self.logs_composition else None


def short_name(run: str) -> str:
    """The memo's short run name: ``gflownet-baseline-10k`` → ``baseline``."""
    name = re.sub(r"^gflownet-", "", run)
    name = re.sub(r"(-validation)?-10k$", "", name)
    return name


RUNTIME_FIELDS = frozenset({"seed", "wandb_mode", "device"})
"""Config fields that say how or where a run ran, not what it trains: never "a change" between runs."""


@dataclass
class RunGroup:
    """Every seed of one run (a params file and/or a folder under ``runs/``)."""

    name: str
    group: str
    meta: dict[str, Any]
    fields: dict[str, Any]
    seeds: list[SeedRun]

    @property
    def with_data(self) -> list[SeedRun]:
        return [s for s in self.seeds if s.has_data]

    @property
    def finished(self) -> list[SeedRun]:
        return [s for s in self.seeds if s.finished]

    @property
    def seeds_text(self) -> str:
        """E.g. ``42, 43 (44 missing)``: seeds with a folder, then the profile's seeds without one."""
        have = [str(s.seed) for s in self.seeds if s.status != "missing" and s.seed is not None]
        missing = [str(s.seed) for s in self.seeds if s.status == "missing" and s.seed is not None]
        text = ", ".join(have)
        if missing:
            text += (" " if text else "") + f"({', '.join(missing)} missing)"
        return text or "—"

    @property
    def status_text(self) -> str:
        """E.g. ``finished`` (one seed), ``finished ×3``, ``2 finished, 1 incomplete``, ``missing``."""
        counts = Counter(s.status for s in self.seeds)
        if len(counts) == 1:
            (status, n), = counts.items()
            return status if n == 1 else f"{status} ×{n}"
        return ", ".join(f"{n} {st}" for st, n in sorted(counts.items()))

    @property
    def config(self) -> TrainConfig:
        """Config of the first seed (seeds differ only in ``seed``)."""
        return self.seeds[0].config

    def config_changes(self, other: RunGroup) -> dict[str, tuple[Any, Any]]:
        """``{field: (this run's value, other's)}`` for every config field the two runs set differently,
        :data:`RUNTIME_FIELDS` aside: the one rule for "what does this ablation change"."""
        mine, theirs = self.config.model_dump(), other.config.model_dump()
        return {k: (mine[k], v) for k, v in theirs.items() if k not in RUNTIME_FIELDS and mine[k] != v}

    @property
    def short_name(self) -> str:
        return short_name(self.name)


@dataclass
class Study:
    """One profile's runs, in the report's order (:func:`report_order`)."""

    profile: Profile
    root: Path
    runs: dict[str, RunGroup]
    load_errors: list[str] = field(default_factory=list)
    default_runs: dict[str, list[int]] = field(default_factory=dict)
    """``{run: seeds}`` the profile runs by default (:meth:`Profile.default_runs`); the other runs
    of :attr:`runs` are there because they have folders."""
    params_runs: tuple[str, ...] = ()
    """Every run with a params file (listed in :attr:`runs` or not)."""

    def status_of(self, name: str) -> str:
        """A run's status text; for a run not in the study, why not."""
        g = self.runs.get(name)
        if g is not None:
            return g.status_text
        return "not run (not in this profile)" if name in self.params_runs else "not in params"

    @property
    def folder(self) -> Path:
        return self.root / self.profile.name

    @cached_property
    def start_survey(self) -> pd.DataFrame | None:
        """Reward-C's survey of where seeds start (``gfn-study starts``: ``starts/<reward-C>.csv``), read once,
        like the runs' metrics, so every part of the report sees the same file; None without one (or an empty one)."""
        starts = read_starts(starts_path(self.folder, EXAMPLE_RUN))
        return starts if starts is not None and len(starts) else None

    @property
    def figures_dir(self) -> Path:
        return self.folder / "figures"

    @property
    def step_scale(self) -> float:
        return self.profile.step_scale

    def group(self, name: str) -> list[RunGroup]:
        return [g for g in self.runs.values() if g.group == name]

    def groups(self, names: tuple[str, ...] | list[str]) -> list[RunGroup]:
        """The runs of several groups, group by group in the order given."""
        return [g for name in names for g in self.group(name)]

    def get(self, name: str) -> RunGroup | None:
        return self.runs.get(name)

    def one_change_runs(self, field: str, base: str = EXAMPLE_RUN) -> list[RunGroup]:
        """``base`` (reward-C), then each ablation with seeds whose config differs from the base's in
        ``field`` alone (:meth:`RunGroup.config_changes`); ``[]`` without the base."""
        ref = self.get(base)
        if ref is None or not ref.seeds:
            return []
        return [ref, *(g for g in self.group("ablation") if g.seeds and set(ref.config_changes(g)) == {field})]

    def to_run_step(self, memo_step: float) -> int:
        """A memo step on this profile's step axis (:func:`gfn_lib.study.memo_to_run_step`)."""
        return memo_to_run_step(memo_step, self.step_scale)

    def to_memo_step(self, step: float | None) -> float | None:
        return run_to_memo_step(step, self.step_scale)

    def memo_step_cell(self, step: int | None, absent: str = NA, with_run_step: bool = False) -> str:
        """A run step as a table cell on the memo's axis, the one way every table writes it:
        ``≈ 4,800``, or ``1,600 (≈ 4,800)`` with ``with_run_step``; ``absent`` when there is none."""
        if step is None:
            return absent
        memo = approx_step(self.to_memo_step(step))
        return f"{step:,} ({memo})" if with_run_step else memo

    def to_memo_steps(self, steps: list[int | None]) -> list[int | None]:
        """Run steps as whole memo steps, None (never) kept: how the report's tables show step lists."""
        return [None if s is None else round(self.to_memo_step(s)) for s in steps]

    @property
    def n_with_data(self) -> int:
        return sum(len(g.with_data) for g in self.runs.values())


def report_order(groups: list[RunGroup]) -> list[RunGroup]:
    """By group (:data:`gfn_lib.study.GROUP_ORDER`); documented runs in the order of the memo's
    trigger table; the rest as listed (``list_runs`` order, then folder names)."""
    memo_names = list(MEMO_TRIGGER_TABLE["run"])

    def key(g: RunGroup) -> tuple[int, int]:
        pos = memo_names.index(g.short_name) if g.short_name in memo_names else len(memo_names)
        return group_rank(g.group), pos

    return sorted(groups, key=key)  # stable: ties keep list_runs order


def _specs(errors: list[str]) -> list[RunSpec]:
    """Every params file as a spec; a broken file is named in ``errors``, never hides the others."""
    try:
        return list_runs()
    except ConfigError as err:
        errors.append(str(err))
    specs = []
    for path in params_files():
        try:
            specs.append(load_run(path))
        except ConfigError as e:
            errors.append(str(e)) if str(e) not in errors else None
    return specs


def _default_runs(prof: Profile, specs: list[RunSpec], errors: list[str]) -> dict[str, list[int]]:
    """The profile's default runs; if a params file breaks that, every documented spec that loads."""
    try:
        return prof.default_runs()
    except ConfigError as err:
        errors.append(str(err)) if str(err) not in errors else None
    return {s.name: run_seeds(s) for s in specs if s.group == "documented"}


def load_study(profile: str | None = None, out_root: str | Path | None = None) -> Study:
    """The profile's default runs (with their seeds) plus any other run with folders, all seeds.

    A seed the profile runs but without a folder is a ``missing`` placeholder (its config
    resolved from its params and the profile); a run that is not one of the profile's and has
    no folder is not listed. Unreadable files never raise: the run shows as
    ``incomplete``/``missing`` and the problem is listed in ``load_errors``.
    """
    prof = load_profile(profile)
    root = Path(out_root) if out_root else outputs_root()
    errors: list[str] = []
    specs = {s.name: s for s in _specs(errors)}
    expected = _default_runs(prof, list(specs.values()), errors)
    runs_dir = root / prof.name / "runs"
    with_folders = sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    names = [*expected, *(n for n in specs if n in with_folders and n not in expected),
             *(n for n in with_folders if n not in specs and n not in expected)]

    groups: list[RunGroup] = []
    for name in names:
        spec = specs.get(name)

        def fallback(seed: int, spec: RunSpec | None = spec) -> TrainConfig | None:
            if spec is None:
                return None
            try:
                return resolve_config(spec, prof, seed)
            except ConfigError as err:
                errors.append(str(err)) if str(err) not in errors else None
                return None

        seeds = []
        for folder in seed_folders(runs_dir / name):
            record = read_record(folder)
            recorded_scale = record.get("step_scale")
            if recorded_scale is not None and abs(float(recorded_scale) - prof.step_scale) > 1e-6 * prof.step_scale:
                errors.append(f"{folder / 'run.json'}: field 'step_scale': the run was made with step scale "
                              f"{float(recorded_scale):g}, this profile maps memo steps with {prof.step_scale:g} "
                              "(the profile changed since): its ≈ memo steps are off")  # fmt: skip
            config = seed_config(record, fallback(seed_of(folder) or 0), str(folder / "run.json"), errors)
            seeds.append(SeedRun(name, seed_of(folder), folder, run_status(folder), record,
                                 read_metrics(folder / "metrics.csv"), config))
        have = {s.seed for s in seeds}
        for seed in expected.get(name, []):
            if seed not in have:
                folder = runs_dir / name / f"seed-{seed}"
                config = seed_config({}, fallback(seed), str(folder), errors)
                seeds.append(SeedRun(name, seed, folder, "missing", {}, pd.DataFrame(), config))
        seeds.sort(key=lambda s: (s.seed is None, s.seed or 0))
        if not seeds:  # a folder without seed folders
            config = seed_config({}, fallback(0), str(runs_dir / name), errors)
            seeds = [SeedRun(name, None, runs_dir / name, "missing", {}, pd.DataFrame(), config)]
        if spec is None:  # a folder without a params file: metadata from its record
            rec = next((s.record for s in seeds if s.record), {})
            meta, fields = dict(rec.get("meta") or {}), dict(rec.get("fields") or {})
            group = meta.get("group", "user")
        else:
            meta, fields, group = spec.meta, spec.fields, spec.group
        groups.append(RunGroup(name, group, meta, fields, seeds))
    ordered = report_order(groups)
    return Study(prof, root, {g.name: g for g in ordered}, errors, expected, tuple(specs))
