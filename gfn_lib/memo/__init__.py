"""The memo report: load one profile's runs and build every table, verdict, sentence and figure of
``notebooks/memo.ipynb`` from them. The notebook only calls these names and displays what they return.

Local run folders (``<out_root>/<profile>/runs/<run>/seed-<N>/``) are the source of truth;
nothing here holds a result. The memo's own figures appear only in columns labelled "(memo)".
Verdicts use only seeds whose folder has ``FINISHED``; tables show every seed with data and its
status, so an incomplete run is visible but never decides a verdict.

Modules, one concept each, in the order the report uses them:

    quotes      every figure quoted from the memo
    published   figures of the published runs beyond the memo (PUBLISHED_FIGURES)
    runs        load_study -> Study of RunGroup of SeedRun (the profile's default runs + any other
                run with folders); each seed's TrainConfig (seed_config), explosion, trap
    cells       how a cell is written: fmt_num, spread (median [min … max]), step_spread; styled
    rules       the rules shared by tables, verdicts and sentences, each written once: explosion
                timing against a base run, the memo's timing predictions, which seeds show a
                log_pf fall (log_pf_falls) and what drove it
    tables      the memo's own tables, re-made from our runs; runs_overview
    published_vs_ours   each published figure against our seeds at the mapped step
    traps       the low-entropy trap per seed, beside the published reward-C trap
    mechanism   beyond the memo: log_pf decomposition, implied log Z, the log Z fix
    verdicts    fidelity checks (a)-(c), claims, sensitivity runs
    assumptions stand-ins and assumptions: setup fields with sources, reward stand-ins, profile
    dropout     reward-C under each dropout_scoring setting (the published sampler and our two)
    rounding    reward-C beside the same seeds nudged by one float32 step (the escape's noise floor)
    starts      where runs start: the published step 0 among many seeds (gfn-study starts), and
                reward-C from the seeds closest to it
    text        the sentences printed next to the tables
    figures     make_figures (drawn by gfn_lib.plots)

Curve-reading rules (explosion, trigger, decomposition) are :mod:`gfn_lib.analysis`; runs,
profiles and run folders are :mod:`gfn_lib.study`.
"""

from gfn_lib.analysis import count_explosions
from gfn_lib.memo.assumptions import assumptions_table, read_setup, reward_info
from gfn_lib.memo.cells import NA, VERDICT_COLOURS, fmt_num, spread, step_spread, styled
from gfn_lib.memo.dropout import dropout_runs, dropout_scoring_sentence, dropout_scoring_table
from gfn_lib.memo.figures import make_figures
from gfn_lib.memo.mechanism import LOG_Z_FIX_RUNS, implied_log_z_table, log_pf_decomposition_table, log_z_fix_table
from gfn_lib.memo.published import PUBLISHED_FIGURES, PUBLISHED_METRICS
from gfn_lib.memo.rounding import beyond_rounding, median_escape, nudge_runs, rounding_range, rounding_sentence, rounding_table
from gfn_lib.memo.starts import START_RUN, starts_sentence, starts_table
from gfn_lib.memo.published_vs_ours import (
    MATCH_TOLERANCE,
    Comparison,
    published_comparisons,
    published_rule_text,
    published_vs_ours_table,
    value_near,
)
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
    MIN_TIMING_SEEDS,
    SAME_TIMING_FRAC,
    compare_escapes,
    compare_explosions,
    escape_steps,
    log_pf_falls,
    predicted_direction,
    prediction_verdict,
    seed_decomposition,
    timing_rows,
    timing_word,
)
from gfn_lib.memo.runs import RunGroup, SeedRun, Study, load_study, seed_config, short_name
from gfn_lib.memo.timing import (
    ablation_outcomes_table,
    escape_losses,
    escape_predictions_table,
    loss_after_escape_table,
    model_verdicts,
    timing_answer,
    timing_models_table,
    untested_runs,
)
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
    published_sentence,
    sensitivity_sentence,
    status_sentence,
    timing_predictions_sentence,
    trap_sentence,
)
from gfn_lib.memo.traps import SeedTrap, published_trap_row, seed_trap, trap_rule_text, trap_summary, trap_table
from gfn_lib.memo.verdicts import (
    DECREASING_RATIO,
    SHORT_PHASE_FRAC,
    SMALL_LOSS_MAX,
    SUPPORT_FRAC,
    Check,
    Claim,
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
    "CONFIG_ROWS", "DECREASING_RATIO", "EXAMPLE_RUN", "LOG_PF_FALL_MIN", "LOG_Z_FIX_RUNS", "MATCH_TOLERANCE",
    "MEMO_BUDGET_6000", "MEMO_CONFIG", "MEMO_EVIDENCE", "MEMO_EXPLOSION_STEP", "MEMO_FACTORS",
    "MEMO_LESS_ENTROPY", "MEMO_REWARD_C_TABLE", "MEMO_STEPS", "MEMO_TOTAL_STEPS", "MEMO_TRIGGER_TABLE",
    "MEMO_WINDOW", "MIN_TIMING_SEEDS", "NA", "PUBLISHED_FIGURES", "PUBLISHED_METRICS", "SAME_TIMING_FRAC", "SHORT_PHASE_FRAC",
    "SMALL_LOSS_MAX", "SUPPORT_FRAC", "VERDICT_COLOURS", "Check", "Claim", "Comparison", "RunGroup", "SeedRun",
    "SeedTrap", "Study", "analyzed_runs_table", "assumptions_sentence", "assumptions_table", "budget_table",
    "check_explosion_after_reward_jump", "check_short_first_phase", "check_timing_near_memo", "claims",
    "ablation_outcomes_table", "claims_sentence", "claims_table", "compare_escapes", "compare_explosions", "config_table", "count_explosions",
    "decomposition_sentence", "dropout_runs", "dropout_scoring_sentence", "dropout_scoring_table", "escape_losses", "escape_predictions_table", "escape_steps", "evidence_table", "example_sentence", "example_table", "explosion_table",
    "factors_table", "fmt_num", "implied_log_z_table", "load_study", "log_pf_decomposition_table",
    "log_pf_falls", "log_z_fix_table", "log_z_sentence", "loss_after_escape_table", "model_verdicts", "make_figures", "memo_length_bound_sentence",
    "predicted_direction", "prediction_verdict", "published_comparisons", "published_rule_text",
    "published_sentence", "published_trap_row", "published_vs_ours_table", "read_setup", "reward_info", "nudge_runs", "rounding_sentence", "rounding_table", "rounding_range", "median_escape", "beyond_rounding",
    "START_RUN", "starts_sentence", "starts_table",
    "runs_overview", "seed_config", "seed_decomposition", "seed_trap", "sensitivity_checks", "sensitivity_runs",
    "sensitivity_scores", "sensitivity_sentence", "sensitivity_table", "short_name", "spread",
    "status_sentence", "step_spread", "styled", "timing_answer", "timing_models_table", "timing_predictions_sentence",
    "timing_rows", "timing_table", "timing_word", "trap_rule_text",
    "trap_sentence", "trap_summary", "trap_table", "untested_runs", "value_near",
]  # fmt: skip
