"""Figures shared by the notebooks (matplotlib + seaborn styling)."""

from __future__ import annotations

import matplotlib

if matplotlib.get_backend().lower() not in ("module://matplotlib_inline.backend_inline", "inline"):
    matplotlib.use("Agg", force=False)  # headless outside Jupyter
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from gfn_lib.analysis import smooth

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
