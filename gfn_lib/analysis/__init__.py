"""Reading training curves the way the step-6000 memo does, with stated rules.

The memo (``shared/memo/step-6000-memo.md``) makes claims from metric tables: the TB loss
"explodes" at some step, the explosion has a "trigger" (a reward jump, a log_pf drop with flat
reward, an immediate collapse), the log_pf drop means the policy became "confident", and log_Z
"can't keep up". This package turns each of those readings into a function with explicit
thresholds, so the claims can be re-checked on our own runs. Pure numpy/pandas, no torch; it
quotes nothing from the memo (that is :mod:`gfn_lib.memo.quotes`).

Input: the per-step metrics table of one run (one row per logged step) with columns such as
``step, loss, log_z, mean_log_pf, mean_length, mean_actions, log_pf_per_action, mean_reward,
mean_log_reward, residual_mean, unique_frac``. Functions need only the columns they name;
rows are sorted by ``step`` first. Windows and persistence are counted in *rows*; they equal
steps when every step is logged, which is what our trainer does.

Modules, in reading order (every public name is also importable from ``gfn_lib.analysis``):

    explosion    smooth / default_window (the one smoother), detect_explosion, count_explosions
    log_pf       log P_F = actions × per-action log-prob: attribute_log_pf_change,
                 decompose_log_pf, log_pf_fall_driver, min_actions_for_log_pf
    trigger      classify_trigger: what changed around the explosion (the memo's "Trigger")
    phase        describe_phase / summary_table: the memo's "What's Happening" column
    arithmetic   implied_log_z (log Z implied by a loss), budget_at_step ("By Step 6000")
    trap         detect_trap: a sustained low-entropy trap (few letters) and its escape
"""

from gfn_lib.analysis.arithmetic import budget_at_step, implied_log_z, implied_log_z_rows
from gfn_lib.analysis.explosion import (
    EXPLOSION_MIN_ABS,
    EXPLOSION_RATIO,
    ONSET_RATIO,
    ExplosionResult,
    count_explosions,
    default_window,
    detect_explosion,
    nearest_row,
    smooth,
    sorted_run,
)
from gfn_lib.analysis.log_pf import (
    LogPfDriver,
    attribute_log_pf_change,
    decompose_log_pf,
    log_pf_fall_driver,
    min_actions_for_log_pf,
    window_la,
)
from gfn_lib.analysis.phase import SUMMARY_COLUMNS, describe_phase, summary_table
from gfn_lib.analysis.trap import (
    TRAP_COLUMNS,
    TRAP_ENTROPY_MAX,
    ESCAPE_MIN_FRACTION,
    TrapResult,
    detect_trap,
    trapped_rows,
)
from gfn_lib.analysis.trigger import (
    COLLAPSE_EARLY_FRAC,
    COLLAPSE_STAY_FRAC,
    COLLAPSE_UNIQUE_DISTINCT,
    LOG_PF_DROP_MIN,
    REWARD_FLAT_MAX,
    REWARD_JUMP_MIN,
    Trigger,
    classify_trigger,
)

__all__ = [
    "COLLAPSE_EARLY_FRAC", "COLLAPSE_STAY_FRAC", "COLLAPSE_UNIQUE_DISTINCT", "EXPLOSION_MIN_ABS", "EXPLOSION_RATIO",
    "LOG_PF_DROP_MIN", "ONSET_RATIO", "REWARD_FLAT_MAX", "REWARD_JUMP_MIN", "SUMMARY_COLUMNS", "TRAP_COLUMNS",
    "TRAP_ENTROPY_MAX", "ESCAPE_MIN_FRACTION", "ExplosionResult", "LogPfDriver", "TrapResult", "Trigger",
    "attribute_log_pf_change", "budget_at_step", "classify_trigger", "count_explosions", "decompose_log_pf",
    "default_window", "describe_phase", "detect_explosion", "detect_trap", "implied_log_z", "implied_log_z_rows",
    "log_pf_fall_driver", "min_actions_for_log_pf", "nearest_row", "smooth", "sorted_run", "summary_table",
    "trapped_rows", "window_la",
]  # fmt: skip
