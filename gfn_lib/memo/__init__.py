"""The memo report: load one profile's runs and build every table, verdict, sentence and figure of
``notebooks/memo.ipynb`` from them. The notebook only calls these names and displays what they return.

Local run folders (``<out_root>/<profile>/runs/<run>/seed-<N>/``) are the source of truth;
nothing here holds a result. The memo's own figures appear only in columns labelled "(memo)".
Verdicts use only seeds whose folder has ``FINISHED``; tables show every seed with data and its
status, so an incomplete run is visible but never decides a verdict.

Modules, one concept each, in the order the report uses them:

    quotes      every figure quoted from the memo (and room for more published ones)
    runs        load_study -> Study of RunGroup of SeedRun; each seed's TrainConfig (seed_config)
    cells       how a cell is written: fmt_num, spread (median [min … max]), step_spread; styled
    rules       the rules shared by tables, verdicts and sentences, each written once: explosion
                timing against a base run, the memo's timing predictions, which seeds show a
                log_pf fall (log_pf_falls) and what drove it
    tables      the memo's own tables, re-made from our runs; runs_overview
    mechanism   beyond the memo: log_pf decomposition, implied log Z, the log Z fix
    verdicts    fidelity checks (a)-(c), claims, assumptions, sensitivity runs
    text        the sentences printed next to the tables
    figures     make_figures (drawn by gfn_lib.plots)

Curve-reading rules (explosion, trigger, decomposition) are :mod:`gfn_lib.analysis`; runs,
profiles and run folders are :mod:`gfn_lib.study`.
"""

from gfn_lib.analysis import count_explosions
from gfn_lib.memo.cells import NA, VERDICT_COLOURS, fmt_num, spread, step_spread, styled
from gfn_lib.memo.figures import make_figures
from gfn_lib.memo.mechanism import LOG_Z_FIX_RUNS, implied_log_z_table, log_pf_decomposition_table, log_z_fix_table
from gfn_lib.memo.quotes import (
    EXAMPLE_RUN,
    MEMO_BUDGET_6000,
    MEMO_CONFIG,
    MEMO_EVIDENCE,
    MEMO_EXPLOSION_STEP,
    MEMO_FACTORS,
    MEMO_LESS_ENTROPY,
    MEMO_REWARD_C_TABLE,
    MEMO_STEPS,
    MEMO_TOTAL_STEPS,
    MEMO_TRIGGER_TABLE,
    MEMO_WINDOW,
)
from gfn_lib.memo.rules import (
    LOG_PF_FALL_MIN,
    SAME_TIMING_FRAC,
    compare_explosions,
    log_pf_falls,
    predicted_direction,
    prediction_verdict,
    seed_decomposition,
    timing_rows,
    timing_word,
)
from gfn_lib.memo.runs import RunGroup, SeedRun, Study, load_study, seed_config, short_name
from gfn_lib.memo.tables import (
    CONFIG_ROWS,
    analyzed_runs_table,
    budget_table,
    config_table,
    evidence_table,
    example_table,
    explosion_table,
    factors_table,
    runs_overview,
    timing_table,
)
from gfn_lib.memo.text import (
    assumptions_sentence,
    claims_sentence,
    decomposition_sentence,
    example_sentence,
    log_z_sentence,
    memo_length_bound_sentence,
    sensitivity_sentence,
    status_sentence,
)
from gfn_lib.memo.verdicts import (
    DECREASING_RATIO,
    SHORT_PHASE_FRAC,
    SMALL_LOSS_MAX,
    SUPPORT_FRAC,
    Check,
    Claim,
    assumptions_table,
    check_explosion_after_reward_jump,
    check_short_first_phase,
    check_timing_near_memo,
    claims,
    claims_table,
    sensitivity_checks,
    sensitivity_runs,
    sensitivity_scores,
    sensitivity_table,
)

__all__ = [
    "CONFIG_ROWS", "DECREASING_RATIO", "EXAMPLE_RUN", "LOG_PF_FALL_MIN", "LOG_Z_FIX_RUNS", "MEMO_BUDGET_6000",
    "MEMO_CONFIG", "MEMO_EVIDENCE", "MEMO_EXPLOSION_STEP", "MEMO_FACTORS", "MEMO_LESS_ENTROPY",
    "MEMO_REWARD_C_TABLE", "MEMO_STEPS", "MEMO_TOTAL_STEPS", "MEMO_TRIGGER_TABLE", "MEMO_WINDOW", "NA",
    "SAME_TIMING_FRAC", "SHORT_PHASE_FRAC", "SMALL_LOSS_MAX", "SUPPORT_FRAC", "VERDICT_COLOURS", "Check", "Claim",
    "RunGroup", "SeedRun", "Study", "analyzed_runs_table", "assumptions_sentence", "assumptions_table",
    "budget_table", "check_explosion_after_reward_jump", "check_short_first_phase", "check_timing_near_memo",
    "claims", "claims_sentence", "claims_table", "compare_explosions", "config_table", "count_explosions",
    "decomposition_sentence", "evidence_table", "example_sentence", "example_table", "explosion_table",
    "factors_table", "fmt_num", "implied_log_z_table", "load_study", "log_pf_decomposition_table", "log_pf_falls",
    "log_z_fix_table", "log_z_sentence", "make_figures", "memo_length_bound_sentence", "predicted_direction",
    "prediction_verdict", "runs_overview", "seed_config", "seed_decomposition", "sensitivity_checks",
    "sensitivity_runs", "sensitivity_scores", "sensitivity_sentence", "sensitivity_table", "short_name", "spread",
    "status_sentence", "step_spread", "styled", "timing_rows", "timing_table", "timing_word",
]  # fmt: skip
