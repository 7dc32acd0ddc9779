"""Figures shared by the notebooks (matplotlib + seaborn styling): one run's curves
(:func:`plot_run`, the train notebook) and the report's figures (which runs go in which figure:
:func:`gfn_lib.memo.figures.make_figures`)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import NamedTuple

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
    matplotlib.use("Agg", force=False)  # headless outside Jupyter
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from gfn_lib.analysis import TRAP_ENTROPY_MAX, default_window, smooth

RUN_PANELS = [
    ("loss", "TB loss (log scale)", True),
    ("log_z", "log Z", False),
    ("mean_log_pf", "mean log P_F (nats)", False),
    ("mean_reward", "mean reward R(x)", False),
    ("mean_length", "mean length (residues)", False),
    ("entropy", "policy entropy per action (nats)", False),
]


def plot_run(df: pd.DataFrame, title: str = "", window: int = 25) -> plt.Figure:
    """One run's curves: raw (light) and smoothed (dark) per metric, on a shared step axis."""
    sns.set_theme(style="whitegrid", context="notebook")
    fig, axes = plt.subplots(2, 3, figsize=(15, 7), sharex=True)
    for ax, (col, label, log) in zip(axes.flat, RUN_PANELS):
        if col not in df or df[col].isna().all():
            ax.set_visible(False)
            continue
        ax.plot(df.step, df[col], color="tab:blue", alpha=0.25, lw=0.8)
        ax.plot(df.step, smooth(df[col], window), color="tab:blue", lw=1.8)
        ax.set_title(label)
        if log:
            ax.set_yscale("log")
    for ax in axes[-1]:
        ax.set_xlabel("training step")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# ---- memo report figures (gfn_lib.memo.figures.make_figures) ----------------------------------
# Each takes {run label: [SeedCurve(seed, metrics DataFrame, explosion step or None, trap), ...]}
# (plain 3-tuples without a trap work too): every seed of a run is drawn in the run's colour
# (first seed solid, others thinner), smoothed with the analysis module's default window. Runs
# without data are listed in the legend as "(no data)".


class SeedCurve(NamedTuple):
    seed: int | None
    df: pd.DataFrame
    explosion: int | None = None
    trap: tuple[int, int | None] | None = None
    """(onset step, escape step or None: never left) of a low-entropy trap, None without one."""


SeedCurves = list[SeedCurve]
TRAP_LANE = 0.035
"""A trap is drawn as a band along the bottom of the axes, onset to escape, one lane (this
fraction of the axes' height) per run with a trap, so the runs' bands never overlap."""


def _trap_of(item: tuple) -> tuple[int, int | None] | None:
    return item[3] if len(item) > 3 else None


def _has_trap(runs: dict[str, SeedCurves]) -> bool:
    return any(_trap_of(item) for seeds in runs.values() for item in seeds)


def _trap_legend(ax: plt.Axes) -> None:
    """Legend entries for the trap marks of :func:`_draw`."""
    ax.fill_between([], [], color="0.5", alpha=0.6, label="low-entropy trap (band at the bottom, run's colour)")
    ax.plot([], [], marker="v", ms=8, color="0.3", mec="black", ls="none", label="trap onset")
    ax.plot([], [], marker="^", ms=8, color="0.3", mec="black", ls="none", label="trap escape")


def _palette(runs: dict) -> dict[str, tuple]:
    """Distinct colours for the runs that have data (tab10 up to 10 runs, then husl)."""
    labels = [k for k, v in runs.items() if v] if isinstance(runs, dict) else list(runs)
    colors = sns.color_palette("tab10" if len(labels) <= 10 else "husl", max(len(labels), 1))
    return {**{k: "0.5" for k in runs}, **dict(zip(labels, colors))}


def _smoothed(df: pd.DataFrame, col: str) -> pd.Series:
    return smooth(pd.to_numeric(df[col], errors="coerce"), default_window(len(df)))


def _memo_axis(ax: plt.Axes, step_scale: float) -> None:
    """A top axis in memo steps (memo step = our step / step_scale)."""
    if step_scale and step_scale != 1.0:
        sec = ax.secondary_xaxis("top", functions=(lambda x: x / step_scale, lambda x: x * step_scale))
        sec.set_xlabel("≈ memo step", fontsize=9)
        sec.tick_params(labelsize=8)


def _no_data(ax: plt.Axes, text: str = "no run with metrics yet") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=12, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def _draw(ax: plt.Axes, runs: dict[str, SeedCurves], col: str, colors: dict, positive: bool = False,
          transform=None, mark_explosion: bool = False, mark_trap: bool = False) -> bool:
    """Each seed's smoothed ``col``; an X at its explosion; its trap as a band along the bottom of
    the axes from onset to escape (or the run's end), with ▼ at the onset and ▲ at the escape."""
    drew = False
    lanes = {label: k for k, label in enumerate(lab for lab, seeds in runs.items() if any(map(_trap_of, seeds)))}
    for label, seeds in runs.items():
        for i, item in enumerate(seeds):
            seed, df, ex_step = item[:3]
            if col not in df or df[col].isna().all():
                continue
            y = _smoothed(df, col)
            if transform is not None:
                y = transform(y)
            if positive:
                y = y.where(y > 0)
            name = f"{label}" + (f" (seeds: {len(seeds)})" if len(seeds) > 1 else "")
            ax.plot(df["step"], y, color=colors[label], lw=1.8 if i == 0 else 0.9,
                    alpha=1.0 if i == 0 else 0.6, label=name if i == 0 else None)
            drew = True
            if mark_explosion and ex_step is not None:
                j = (df["step"] - ex_step).abs().idxmin()
                ax.plot([ex_step], [y.loc[j]], marker="X", ms=11, color=colors[label], mec="black",
                        mew=0.8, ls="none", zorder=5)
            trap = _trap_of(item)
            if mark_trap and trap:
                onset, escape = trap
                lane = lanes[label] * TRAP_LANE
                ax.axvspan(onset, escape if escape is not None else df["step"].max(), lane, lane + 0.8 * TRAP_LANE,
                           color=colors[label], alpha=0.6 if i == 0 else 0.35, lw=0, zorder=4)
                for x, marker in ((onset, "v"), (escape, "^")):
                    if x is not None:
                        j = (df["step"] - x).abs().idxmin()
                        ax.plot([x], [y.loc[j]], marker=marker, ms=8, color=colors[label], mec="black",
                                mew=0.6, ls="none", zorder=5)
    return drew


def plot_loss_explosions(panels: dict[str, dict[str, SeedCurves]], step_scale: float = 1.0,
                         memo_window: tuple[int, int] | None = None, title: str = "") -> plt.Figure:
    """TB loss (smoothed, log scale) of every run, one panel per group of runs, each detected
    explosion marked with an X, each low-entropy trap as a band along the bottom (▼ onset,
    ▲ escape); the memo's explosion window (steps 5000–7000 mapped) shaded grey."""
    sns.set_theme(style="whitegrid", context="notebook")
    panels = {k: v for k, v in panels.items() if v} or {"runs": {}}
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 4.6 * len(panels)), squeeze=False)
    for ax, (ptitle, runs) in zip(axes[:, 0], panels.items()):
        colors = _palette(runs)
        drew = _draw(ax, runs, "loss", colors, positive=True, mark_explosion=True, mark_trap=True)
        if not drew:
            _no_data(ax)
            ax.set_title(ptitle)
            continue
        ax.set_yscale("log")
        if memo_window:
            ax.axvspan(*memo_window, color="0.85", zorder=0, label="memo's explosion window (5000–7000)")
        ax.plot([], [], marker="X", ms=9, color="0.3", mec="black", ls="none", label="detected explosion")
        if _has_trap(runs):
            _trap_legend(ax)
        ax.set_title(ptitle, pad=30 if step_scale and step_scale != 1.0 else 6)
        ax.set_ylabel("TB loss (nats², log scale)")
        ax.set_xlabel("training step (this profile)")
        _memo_axis(ax, step_scale)
        missing = [k for k, v in runs.items() if not v]
        if missing:  # wrapped, so a long list cannot squeeze the axes
            ax.plot([], [], ls="none", label=textwrap.fill("no data: " + ", ".join(missing), 45))
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    fig.suptitle(title + "\n(smoothed: centred rolling median over ~1% of the run)", fontsize=13)
    fig.tight_layout()
    return fig


METRIC_PANELS = [
    ("mean_log_pf", "mean log P_F (nats)"),
    ("mean_reward", "mean reward R(x) (0–1)"),
    ("log_z", "log Z (nats)"),
]


def plot_metric_panels(runs: dict[str, SeedCurves], step_scale: float = 1.0, title: str = "",
                       panels: list[tuple[str, str]] | None = None, mark_trap: bool = True) -> plt.Figure:
    """mean_log_pf, mean_reward and log_Z (smoothed) of every run on a shared step axis, one
    panel per metric; explosions marked with an X on each curve, low-entropy traps (``mark_trap``) as a
    band along the bottom (▼ onset, ▲ escape): too many runs' bands would fill the panel."""
    sns.set_theme(style="whitegrid", context="notebook")
    panels = panels or METRIC_PANELS
    fig, axes = plt.subplots(len(panels), 1, figsize=(13, 3.3 * len(panels)), sharex=True, squeeze=False)
    colors = _palette(runs)
    any_drawn = False
    for ax, (col, label) in zip(axes[:, 0], panels):
        drew = _draw(ax, runs, col, colors, mark_explosion=True, mark_trap=mark_trap)
        any_drawn |= drew
        if not drew:
            _no_data(ax)
        ax.set_ylabel(label)
    if any_drawn:
        axes[0, 0].plot([], [], marker="X", ms=9, color="0.3", mec="black", ls="none", label="detected explosion")
        if mark_trap and _has_trap(runs):
            _trap_legend(axes[0, 0])
        _memo_axis(axes[0, 0], step_scale)
    axes[-1, 0].set_xlabel("training step (this profile)")
    fig.suptitle(title, fontsize=13)
    fig.tight_layout()
    if any_drawn:  # after the layout: a long legend runs down beside the panels instead of squeezing them
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return fig


def plot_tb_residual(runs: dict[str, SeedCurves], step_scale: float = 1.0, title: str = "") -> plt.Figure:
    """Per run (first seed with data): the mean TB residual log Z + log P_F − log R′ and its
    parts log Z, mean log P_F and −mean log R′ (smoothed; nats). The parts sum to the residual."""
    sns.set_theme(style="whitegrid", context="notebook")
    items = [(k, v[0]) for k, v in runs.items() if v]
    n = max(len(items), 1)
    ncols = min(3, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.6 * nrows + 0.8), sharex=True,
                             squeeze=False)
    parts = [("residual_mean", "residual (mean)", "black", 2.2, None),
             ("log_z", "log Z", "tab:green", 1.4, None),
             ("mean_log_pf", "mean log P_F", "tab:blue", 1.4, None),
             ("mean_target_log_reward", "− mean log R′", "tab:red", 1.4, lambda y: -y)]
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    if not items:
        _no_data(axes[0, 0])
    for ax, (label, (seed, df, ex_step, *_)) in zip(axes.flat, items):
        for col, name, color, lw, tf in parts:
            if col in df and not df[col].isna().all():
                y = _smoothed(df, col)
                ax.plot(df["step"], tf(y) if tf else y, color=color, lw=lw, label=name)
        if ex_step is not None:
            ax.axvline(ex_step, color="0.3", ls="--", lw=1, label="detected explosion")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.set_title(f"{label}" + (f" (seed {seed})" if seed is not None else ""), fontsize=10)
        ax.set_ylabel("nats")
    for ax in axes[-1]:
        ax.set_xlabel("training step (this profile)")
    if items:
        handles, labels = axes.flat[0].get_legend_handles_labels()
        extra = [(h, l) for ax in axes.flat[:n] for h, l in zip(*ax.get_legend_handles_labels())
                 if l not in labels]
        for h, l in extra:
            if l not in labels:
                handles.append(h)
                labels.append(l)
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=10)
    fig.suptitle(title, fontsize=13)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_log_pf_decomposition(runs: dict[str, SeedCurves], step_scale: float = 1.0,
                              title: str = "", n_actions: int = 21) -> plt.Figure:
    """mean actions per trajectory and log P_F per action (smoothed), one line per run: a fall
    of mean log P_F is either longer sequences (top) or a less confident policy (bottom: per-action
    log-prob falling away from 0). Dashed: a uniform policy over ``n_actions`` actions."""
    panels = [("mean_actions", "actions per sequence\n(residues + STOP)"),
              ("log_pf_per_action", "log P_F per action (nats)\n0 = certain")]
    fig = plot_metric_panels(runs, step_scale, title, panels)
    ax = fig.axes[1]
    if ax.lines:
        ax.axhline(-np.log(n_actions), color="0.4", ls="--", lw=1)
        ax.text(0.005, -np.log(n_actions), f" uniform over {n_actions} actions", transform=ax.get_yaxis_transform(),
                va="bottom", fontsize=8, color="0.3")
    return fig


TWO_LETTER_ENTROPY = math.log(2) / math.log(20)
"""Composition entropy of a 50/50 two-letter sequence (/ log 20): 0.23."""


def plot_composition(runs: dict[str, SeedCurves], step_scale: float = 1.0, title: str = "",
                     published_trap: tuple[int, int] | None = None) -> plt.Figure:
    """Composition entropy (batch mean, / log 20) and letters used in the batch (smoothed) per
    run, traps marked as in :func:`plot_metric_panels` (▼ onset, ▲ escape). Dashed: the trap detector's entropy threshold
    (:data:`gfn_lib.analysis.TRAP_ENTROPY_MAX`; letters are shown, not used by the rule);
    dotted: a 50/50 two-letter sequence; ``published_trap`` (our steps): the published reward-C
    trap, hatched."""
    panels = [("composition_entropy", "composition entropy\n(/ log 20; 1 = uniform)"),
              ("letters_used", "letters used\nin the batch (of 20)")]
    fig = plot_metric_panels(runs, step_scale, title, panels)
    ax_h, ax_l = fig.axes[0], fig.axes[1]
    if ax_h.lines:
        ax_h.axhline(TRAP_ENTROPY_MAX, color="0.3", ls="--", lw=1, label=f"trap threshold ({TRAP_ENTROPY_MAX:g})")
        ax_h.axhline(TWO_LETTER_ENTROPY, color="0.3", ls=":", lw=1,
                     label=f"two letters 50/50 ({TWO_LETTER_ENTROPY:.2f})")
    if ax_l.lines:
        ax_l.axhline(2, color="0.3", ls=":", lw=1, label="two letters (the published trap)")
        ax_l.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    if published_trap and (ax_h.lines or ax_l.lines):
        for ax in (ax_h, ax_l):
            ax.axvspan(*published_trap, facecolor="none", edgecolor="0.7", hatch="//", lw=0, zorder=0,
                       label="published reward-C trap" if ax is ax_h else None)
    if ax_h.lines:
        ax_h.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    return fig


def plot_escape_grid(base: tuple[str, SeedCurves], variants: dict[str, SeedCurves], step_scale: float = 1.0,
                     title: str = "", col: str = "composition_entropy", ncols: int = 4) -> plt.Figure:
    """One small panel per variant: its seeds' smoothed ``col`` (composition entropy by default) in colour over
    the base run's seeds in grey, each trap's escape marked ▲ (a trap held to the end: ▶ at the last step), the
    trap detector's threshold dashed. For many ablations at once, where one shared axis is unreadable."""
    sns.set_theme(style="whitegrid", context="notebook")
    names = [k for k, v in variants.items() if v] or ["runs"]
    nrows = math.ceil(len(names) / ncols)
    fig, axes = plt.subplots(nrows, min(ncols, len(names)), figsize=(3.6 * min(ncols, len(names)), 2.5 * nrows),
                             sharex=True, sharey=True, squeeze=False)
    base_name, base_seeds = base
    for i, (ax, name) in enumerate(zip(axes.flat, names)):
        if i < axes.shape[1]:  # the top row carries the memo-step axis
            _memo_axis(ax, step_scale)
        seeds = variants.get(name, [])
        if not seeds:
            _no_data(ax)
            continue
        for curves, color, z in ((base_seeds, "0.65", 1), (seeds, "C3", 2)):
            for c in curves:
                if col not in c.df or c.df[col].isna().all():
                    continue
                y = _smoothed(c.df, col)
                ax.plot(c.df["step"], y, color=color, lw=1.1, zorder=z)
                if c.trap is not None and color != "0.65":
                    end = c.trap[1] if c.trap[1] is not None else int(c.df["step"].max())
                    j = (c.df["step"] - end).abs().idxmin()
                    ax.plot([end], [y.loc[j]], marker="^" if c.trap[1] is not None else ">", ms=7, color=color,
                            mec="black", mew=0.5, ls="none", zorder=3)
        ax.axhline(TRAP_ENTROPY_MAX, color="0.3", ls="--", lw=0.8)
        ax.set_title(name, fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    for ax in axes[:, 0]:
        ax.set_ylabel(col.replace("_", " "), fontsize=9)
    for ax in axes[-1]:
        ax.set_xlabel("training step (this profile)", fontsize=9)
    fig.suptitle(f"{title}\n(grey: {base_name}'s seeds; colour: the run's seeds; ▲ escape, ▶ trap held to the end; "
                 f"dashed: the trap threshold {TRAP_ENTROPY_MAX:g})", fontsize=11)
    fig.tight_layout()
    return fig


def plot_starts(survey: pd.Series | None, published: float | None, marks: dict[str, list[float]],
                title: str = "") -> plt.Figure:
    """Where runs start: a histogram of the surveyed seeds' step-0 mean log P_F (``survey``), the published
    value (quoted) as a dashed line, and each run's seeds (``marks``: label -> values) as ticks under it."""
    fig, ax = plt.subplots(figsize=(8, 3.6))
    if survey is None or survey.empty:
        _no_data(ax, "no survey of starting points (gfn-study starts)")
    else:
        ax.hist(survey, bins=30, color="0.75", edgecolor="white", label=f"surveyed seeds ({len(survey)})")
        for i, (label, values) in enumerate(marks.items()):
            ax.plot(values, [-0.4 - 0.5 * i] * len(values), "|", ms=14, mew=2, color=sns.color_palette("colorblind")[i],
                    label=label)  # fmt: skip
        if published is not None:
            ax.axvline(published, color="0.2", ls="--", lw=1.2, label=f"published reward-C ({published:g}, quoted)")
        ax.set_xlabel("step-0 mean log P_F (nats)")
        ax.set_ylabel("seeds")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    ax.set_title(title, fontsize=11)
    fig.tight_layout()
    return fig


def save_figure(fig: plt.Figure, folder, name: str, dpi: int = 110) -> list:
    """Write ``<folder>/<name>.png`` and ``.svg``; returns the two paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.svg"]
    fig.savefig(paths[0], dpi=dpi, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    return paths
