"""Figures of the memo's published runs beyond the memo itself (GitHub ewijaya/gflownet-peptide:
companion notes and run logs, digested in ``shared/notes/published-setup.md``), and nothing of ours.

QUOTED, not our results: the report shows them only in columns labelled "published" and compares
our runs with them. One row per (run, step, metric); a range is ``low``..``high`` (equal for a
single figure); ``step`` None means "the run's end" or a phase given as a range in ``steps``.
"""

from __future__ import annotations

import pandas as pd

PUBLISHED_METRICS = {
    "loss": "loss",
    "log_z": "log Z",
    "mean_log_pf": "mean log P_F",
    "mean_log_reward": "mean log R",
    "mean_reward": "mean reward",
    "diversity": "diversity",
    "unique_frac": "unique fraction",
    "letters_used": "letters used",
    "composition_entropy": "composition entropy",
}
"""Metric keys (our ``metrics.csv`` columns where one exists) and their labels. ``diversity`` is
the published evaluation's 1 - mean pairwise identity of 100 samples, which we do not log."""

_C = "gflownet-reward-C-improved-10k"
_ROWS: list[tuple[str, int | None, str, float, float, str]] = [
    # run, step, metric, low, high, note
    (_C, 0, "loss", 727.0, 864.0, "two logged values at step 0"),
    (_C, 0, "log_z", 0.0, 0.0, ""),
    (_C, 0, "mean_log_pf", -27.91, -27.91, ""),
    (_C, 0, "mean_log_reward", -0.94, -0.94, ""),
    (_C, 0, "mean_reward", 0.59, 0.59, ""),
    (_C, 1000, "loss", 46.0, 46.0, ""),
    (_C, 1000, "mean_reward", 0.03, 0.03, ""),
    (_C, 1000, "diversity", 0.31, 0.31, ""),
    (_C, 5000, "loss", 32.0, 32.0, "also in the memo"),
    (_C, 5000, "mean_log_pf", -20.6, -20.6, "also in the memo"),
    (_C, 5000, "mean_reward", 0.06, 0.06, "also in the memo"),
    (_C, 5000, "diversity", 0.49, 0.49, ""),
    (_C, 6000, "loss", 21.0, 21.0, "also in the memo"),
    (_C, 6000, "log_z", 13.39, 13.39, ""),
    (_C, 6000, "mean_log_pf", -20.74, -20.74, ""),
    (_C, 6000, "mean_log_reward", -2.76, -2.76, ""),
    (_C, 6000, "mean_reward", 0.06, 0.06, ""),
    (_C, 6000, "diversity", 0.50, 0.50, ""),
    (_C, 6000, "letters_used", 2, 2, "the 'DL trap': samples use only D and L, 30 residues"),
    (_C, 6000, "composition_entropy", 0.0, 0.23, "two letters: H <= log 2 / log 20 = 0.23 (entropy gate 0.06)"),
    (_C, 6500, "loss", 502.0, 502.0, ""),
    (_C, 6500, "mean_reward", 0.37, 0.37, ""),
    (_C, 7000, "loss", 1327.0, 1327.0, "also in the memo"),
    (_C, 7000, "mean_log_pf", -51.3, -51.3, "also in the memo"),
    (_C, 7000, "mean_reward", 0.79, 0.79, "also in the memo"),
    (_C, 7000, "diversity", 0.72, 0.72, ""),
    (_C, 8000, "loss", 2362.0, 2362.0, "also in the memo"),
    (_C, 8000, "mean_log_pf", -64.3, -64.3, "also in the memo"),
    (_C, 8000, "mean_reward", 0.93, 0.93, "also in the memo"),
    (_C, 9000, "loss", 3120.0, 3139.0, ""),
    (_C, 9000, "log_z", 16.14, 16.14, ""),
    (_C, 9000, "mean_log_pf", -72.05, -72.05, ""),
    (_C, 9000, "mean_log_reward", -0.05, -0.05, ""),
    (_C, 9000, "mean_reward", 0.95, 0.95, ""),
    (_C, 9000, "diversity", 0.90, 0.90, ""),
    (_C, 10000, "loss", 3378.0, 3378.0, ""),
    (_C, 10000, "log_z", 16.2, 16.2, ""),
    (_C, 10000, "mean_reward", 0.94, 0.94, ""),
    (_C, 10000, "diversity", 0.90, 0.90, ""),
    (_C, 10000, "letters_used", 15, 15, "final samples use 15 of 20 letters, 30 residues"),
    (_C, 10000, "unique_frac", 1.0, 1.0, "final samples 100 % unique"),
    ("gflownet-baseline-10k", 0, "loss", 67.0, 67.0, ""),
    ("gflownet-baseline-10k", 0, "mean_reward", 0.4417, 0.4417, ""),
    ("gflownet-baseline-10k", 4000, "mean_reward", 0.4446, 0.4446, ""),
    ("gflownet-baseline-10k", 9000, "mean_reward", 0.4465, 0.4465, ""),
    ("gflownet-baseline-10k", 10000, "loss", 4130.0, 4130.0, "about 4100 from step 4000 on"),
    ("gflownet-baseline-10k", 10000, "log_z", 17.7, 17.7, ""),
    ("gflownet-reward-A-trained-10k", 10000, "loss", 3771.0, 3771.0, ""),
    ("gflownet-reward-A-trained-10k", 10000, "mean_reward", 0.37, 0.37, ""),
    ("gflownet-reward-A-trained-10k", 10000, "log_z", 18.9, 18.9, ""),
    ("gflownet-reward-B-esm2pll-10k", 0, "loss", 848.0, 848.0, ""),
    ("gflownet-reward-B-esm2pll-10k", 0, "mean_reward", 0.51, 0.51, ""),
    ("gflownet-reward-B-esm2pll-10k", 500, "loss", 0.02, 0.02, "collapsed to poly-M (MMMM..., 30 residues)"),
    ("gflownet-reward-B-esm2pll-10k", 500, "mean_reward", 0.96, 0.96, ""),
    ("gflownet-reward-B-esm2pll-10k", 500, "unique_frac", 0.015, 0.015, ""),
    ("gflownet-reward-B-esm2pll-10k", 10000, "log_z", -0.04, -0.04, ""),
]
for _run in ("phase3b-stb-validation-10k", "phase3b-entropy-0.00-10k"):  # the notes give both runs together
    _ROWS += [
        (_run, 1500, "loss", 130.0, 130.0, "early (steps 1-2k): ~130"),
        (_run, 1500, "mean_reward", 0.07, 0.07, "early (steps 1-2k)"),
        (_run, 1500, "diversity", 0.38, 0.38, "early (steps 1-2k)"),
        (_run, 4000, "loss", 200.0, 200.0, "mid (steps 3-5k): ~200"),
        (_run, 4000, "mean_reward", 0.07, 0.07, "mid (steps 3-5k)"),
        (_run, 4000, "diversity", 0.49, 0.49, "mid (steps 3-5k)"),
        (_run, 8000, "loss", 3200.0, 3200.0, "late (steps 7-9k): ~3200"),
        (_run, 8000, "mean_reward", 0.89, 0.89, "late (steps 7-9k)"),
        (_run, 8000, "diversity", 0.84, 0.84, "late (steps 7-9k)"),
        (_run, 10000, "mean_log_pf", -64.0, -7.0, "over the run: from about -7 to -64"),
        (_run, 10000, "log_z", 5.0, 5.0, "reaches only ~5 (log Z lr 3 x)"),
    ]

PUBLISHED_FIGURES = pd.DataFrame(_ROWS, columns=["run", "step", "metric", "low", "high", "note"]).astype({"step": "Int64"})
"""QUOTED FROM THE PUBLISHED RUNS (``shared/notes/published-setup.md``), not our results. Treat as
read-only. Phase ranges ("early 1-2k") sit at their middle step, named in ``note``."""
