# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Why does the TB loss explode around step 6000? The memo, re-run
#
# This report re-creates every table and figure of the memo *Why TB Loss Explodes Around
# Step 6000* (2025-12-28) from our own runs, then tests the memo's claims. The six documented
# runs use the memo's **published setup** (the training code as it actually ran:
# `params/setups/published.yaml`) and re-implementations of its published rewards; what stands in
# for what we cannot have (ESM-2 weights, the published reward heads) is listed at the end. Every
# number in a table comes from the run folders (`metrics.csv`, `run.json`) of one profile; columns
# marked **(memo)** quote the memo, **published** the published runs' own logs, for comparison.
# Runs that are missing or unfinished are shown as such; verdicts use finished runs only. Where
# several seeds exist, cells read *median [min … max]* over seeds.
#
# Scaled profiles run fewer steps: a memo step *s* maps to step *s × step_scale* here (the
# "≈ memo step" axis on the figures converts back). Explosions are found by
# `gfn_lib.analysis.detect_explosion`: the smoothed loss (rolling median over ~1% of the run)
# reaches ≥ 10× its running minimum (and +50) and stays there for ≥ 2 windows.

# %%
import warnings

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from gfn_lib import memo

warnings.filterwarnings("ignore", category=UserWarning)

# %% tags=["parameters"]
profile = None  # full | cpu | smoke; None: $GFN_PROFILE, else full with CUDA, cpu without
out_root = None  # outputs folder; None: $GFN_OUTPUTS, else <repo>/outputs

# %%
st = memo.load_study(profile, out_root)
display(Markdown(memo.status_sentence(st)))
for err in st.load_errors:
    display(Markdown(f"⚠️ {err}"))
display(memo.styled(memo.runs_overview(st), "Runs of this profile"))

# %% [markdown]
# ## Published vs ours
# Every figure of the published runs (their logs and notes, beyond the memo) against ours at the
# same memo step, mapped to this profile; median [min … max] over seeds. How our value is read and
# when a figure counts as reproduced:

# %%
display(Markdown(memo.published_rule_text()))
display(Markdown(memo.published_sentence(st)))
display(memo.styled(memo.published_vs_ours_table(st)))

# %%
figs = memo.make_figures(st)  # also written as PNG and SVG to <out_root>/<profile>/figures/
plt.close("all")
display(Markdown(f"Figures saved as PNG and SVG under `{st.figures_dir}`."))

# %% [markdown]
# ## Part 1: what happens at the explosion?
#
# ### Example: `reward-C-improved` run
# Our smoothed metrics at the memo's steps (mapped to this profile), beside the memo's. The
# *What's Happening* phrase is generated from the changes between our rows (reward level and
# change, loss ratio, sequence length, log P_F per action), with the thresholds of
# `gfn_lib.analysis.describe_phase`. `mean_length` (residues) is ours only: the memo does not
# report it, but it is needed to read `mean_log_pf`.

# %%
display(memo.styled(memo.example_table(st)))
display(Markdown(memo.example_sentence(st)))

# %% [markdown]
# ### Loss of every run, explosions marked
# TB loss on a log scale (SubTB for `phase3b-stb`, log-partition variance for `ablation-logvar`),
# smoothed; an **X** marks each detected explosion, the grey band the memo's window (memo steps
# 5000–7000); a band along the bottom in a run's colour, its low-entropy trap (▼ onset, ▲ escape;
# next section).

# %%
display(figs["loss_explosions"])

# %% [markdown]
# ### The low-entropy trap
# The published reward-C run was caught for most of its run in a "DL trap": 30-residue sequences
# of only D and L (the first row of the table quotes it), then escaped while its loss exploded.
# Ours, per seed of each documented run, with the detector's rule:

# %%
display(Markdown(memo.trap_rule_text()))
display(Markdown(memo.trap_sentence(st)))
display(memo.styled(memo.trap_table(st)))

# %% [markdown]
# Composition entropy and letters used per documented run (smoothed). A band along the bottom in a
# run's colour: its trap (▼ onset, ▲ escape); hatched: the published reward-C trap (memo steps
# ≈ 1000–6000); dashed: the detector's entropy threshold; dotted: a 50/50 two-letter sequence (and 2 letters). The same
# bands and marks appear on the loss figure above and on the metric figures below.

# %%
display(figs["composition"])

# %% [markdown]
# ### Explosion timing varies by run
# Our explosion step (this profile's steps, and converted to memo steps) and the trigger from
# `gfn_lib.analysis.classify_trigger`: what changed between the window before the loss started
# rising and the window after it crossed 10× (reward jump, reward climb, flat reward with a
# log_pf drop from length or from per-action log-prob, immediate collapse, or never).

# %%
display(memo.styled(memo.explosion_table(st)))

# %% [markdown]
# ### mean log P_F, mean reward and log Z per run
# Shared step axis; X = detected explosion; bottom band = low-entropy trap (▼ onset, ▲ escape; documented
# runs only: the ablations' traps are drawn one panel per ablation in "What ends the trap?").
# The memo's mechanism predicts a reward rise, a fall of mean log P_F and a log Z that lags behind
# at each explosion.

# %%
display(figs["metrics_documented"])
display(figs["metrics_ablations"])

# %% [markdown]
# ## Part 2: why step ~6000?
#
# ### Training configuration
# From the resolved configs of our runs' records; where runs differ, each value lists its
# runs. Rows below the memo's six are settings the memo does not state.

# %%
cfg_table = memo.config_table(st)
display(memo.styled(cfg_table))
display(Markdown(f"*Source: {cfg_table.attrs['source']}.*"))

# %% [markdown]
# ### "By step 6000, you've done"
# The memo's arithmetic (`gfn_lib.analysis.budget_at_step`) from the config: for the memo's
# configuration at step 6000, for our reward-C run at the mapped step, and for each documented
# run at its observed explosion step. *Σ lr* counts the warmup ramp the memo's rough figure
# ignores; *log_Z can have moved* is the same sum for log Z's learning rate (Adam moves a
# parameter by at most about its learning rate per step), next to how far our log Z moved.

# %%
display(memo.styled(memo.budget_table(st)))

# %% [markdown]
# ### Evidence: it's not always step 6000
# The memo's four runs; our *why different* compares each run's explosion with reward-C's and
# names its trigger and its config difference.

# %%
display(memo.styled(memo.evidence_table(st)))

# %% [markdown]
# ### Factors that determine explosion timing
# For each factor the memo lists, the runs of ours that vary it against the reward-C base.

# %%
display(memo.styled(memo.factors_table(st)))

# %% [markdown]
# ### What would change the timing?
# Each of the memo's predictions against our ablation of reward-C that makes that one change. On the
# published setup the memo's "explosion" is the end of the low-entropy trap: the published run's loss
# exploded as it escaped. So each prediction is judged on the **escape step** (finished seeds that
# trapped; "same" = within 5% of the run's length; a trap held to the end counts as "never"), and
# only with ≥ 3 finished seeds that trapped on both sides; the explosion steps are in the last column for
# comparison. The memo's step numbers are mapped to this profile. Our own predictions (issue 12's
# ablations, "not in the memo") are judged in the next section.

# %%
display(memo.styled(memo.timing_table(st)))
display(Markdown(memo.timing_predictions_sentence(st)))

# %% [markdown]
# ### What ends the trap? Timing models, tested on the ablations
# The memo's answer, `f(search difficulty, lr, capacity, exploration)`, cannot be tested. Before the
# ablations ran we wrote down three one-number models of the escape step (`docs/timing-model.md`):
# **log-Z gap** (the escape comes when log Z's fastest path, log_z_init + Σ lr_Z, has closed the gap to
# the trap's balance b = mean log R′ − mean log P_F down to d\*), **policy clock** (after a fixed number
# of updates, whatever log Z does) and **lr decay** (when the cosine schedule has cut the policy's lr to a
# fraction f\*). After the first ten ablations refuted all three, a fourth was added before the
# remaining nine ran: **policy travel** (when the policy's summed lr Σ lr reaches L\*). Each is fitted on
# the reward-C seeds only, then predicts every seed of every ablation (✓: within 10% of the run, or both
# "never"). A run is evidence for or against a model only if all its seeds **started after the model was
# written down** (run records' `started` against the model's commit time); runs seen before are shown
# apart. A model is supported when it hits ≥ 2 of 3 seeds of every run that tests it, refuted when some
# such run has no seed hit. First, each ablation with the prediction written in its params file before it
# ran, and what happened (the figure: each ablation's composition entropy against reward-C's); then every
# seed against the models.

# %%
display(figs["escape_grid"])
display(memo.styled(memo.ablation_outcomes_table(st)))
display(memo.styled(memo.escape_predictions_table(st)))
display(memo.styled(memo.timing_models_table(st)))

# %% [markdown]
# After the escape, the TB loss is mean(residual²) = (log Z − needed)² + var(residual), with needed =
# mean log R′ − mean log P_F. The prediction (before the runs): log Z's lag, the first term, is at least
# half of the loss just after the escape.

# %%
display(memo.styled(memo.loss_after_escape_table(st)))
display(Markdown(memo.timing_answer(st)))

# %% [markdown]
# ### How much of an escape is the seed's? Nudges the size of rounding
# The same code and seeds gave other escapes on another CPU (README, "Bit for bit"), with the same trap
# onsets. To measure that here, `ablation-init-nudge-1` and `-2` move every nonzero initial weight of
# reward-C one float32 step up or down (`init_nudge`: two draws of the directions), a change the size of
# another CPU's rounding, and nothing else. Their prediction, written before they ran: the onset stays
# (within 300 memo steps) and the escape moves (600 memo steps or more, or escapes in one run only) in at
# least half of the nudged seeds. Each seed of reward-C, then the same seed nudged.

# %%
display(Markdown(memo.rounding_sentence(st)))
display(memo.styled(memo.rounding_table(st)))

# %% [markdown]
# ### Where runs start: the published step 0 among our seeds
# The published reward-C run's first batch had a mean log P_F of −27.9 nats (quoted). Same architecture and init
# rule as ours: where does that fall among our seeds' first batches, and does a run that starts there trap and
# escape differently?
# `gfn-study starts` trains seeds 0..N−1 of reward-C one step each (the trainer's own first step, nothing else)
# and keeps their step-0 rows (`starts/<run>.csv`). `ablation-published-start` is reward-C, unchanged, from the three
# surveyed seeds closest to the published start. Its prediction, written before it ran: trapped in at least 2 of
# 3 seeds, and a median escape inside the span of reward-C's and its nudged runs' (not beyond rounding).

# %%
display(Markdown(memo.starts_sentence(st)))
display(memo.styled(memo.starts_table(st)))
display(figs["starts"])

# %% [markdown]
# ## Beyond the memo: testing its claims
#
# ### Does log P_F fall because the policy becomes confident?
# log P_F of a sequence is a sum of per-action log-probabilities, each ≤ 0; a more confident
# policy moves each term, and so the sum, **towards 0**. We split mean_log_pf exactly into
# mean actions × log P_F per action and attribute each change to the two factors (midpoint
# decomposition, `gfn_lib.analysis.attribute_log_pf_change`).

# %%
display(Markdown(memo.memo_length_bound_sentence()))
display(memo.styled(memo.log_pf_decomposition_table(st)))
display(Markdown(memo.decomposition_sentence(st)))
display(figs["log_pf_decomposition"])

# %% [markdown]
# ### The log Z implied by the memo's own table
# With loss = residual² and residual = log Z + log P_F − log R, the memo's reward-C table
# implies log Z ≈ log R − log P_F − √loss (the root with log Z lagging). We compute the same from
# our smoothed metrics, and show our learned log Z and the log Z that would zero our mean
# residual (mean log R′ − mean log P_F).

# %%
display(memo.styled(memo.implied_log_z_table(st)))

# %% [markdown]
# ### The TB residual and its parts
# Mean residual = log Z + mean log P_F − mean log R′ (black), drawn with its three parts. A
# residual far below 0 means log Z is too small for the sequences the policy samples.

# %%
display(figs["tb_residual"])

# %% [markdown]
# ### Does a faster log Z, or no log Z, remove the explosion?
# GFlowNet libraries give log Z 10–1000× the policy's learning rate. We compare the reward-C
# run with the same run at log Z learning rate 0.1, and with the log-partition-variance loss,
# which has no learned log Z. The table's log_Z lr is the run's own on this profile (a profile may
# scale it, as `cpu` does by 60 for the same log Z travel in 1/60 of the steps).

# %%
display(memo.styled(memo.log_z_fix_table(st)))
display(Markdown(memo.log_z_sentence(st)))

# %% [markdown]
# ### Claims vs evidence
# Each claim of the memo, what would refute it, what our finished runs show (counts over seeds)
# and a verdict: supported / refuted / inconclusive (no data, no explosion to judge, or mixed
# results: between 25% and 75% of seeds agreeing).

# %%
display(memo.styled(memo.claims_table(st)))
display(Markdown(memo.claims_sentence(st)))

# %% [markdown]
# ## Reproduction fidelity
#
# ### Stand-ins and assumptions
# Everything in the documented runs that is not the memo's own statement: each field of the
# shared setup they start from, with where the published code sets it (the setup file's
# `sources`; a run that overrides a field shows its own value); assumptions of our own
# (`assumptions: {field: reason}` in a params file); what stands in for the published rewards'
# parts we cannot have, as each run's reward recorded it (`run.json`, `reward.json`); and this
# profile's overlay (fewer steps, and any change of the policy's size), which stands in for the memo's scale.

# %%
display(Markdown(memo.assumptions_sentence(st)))
display(memo.styled(memo.assumptions_table(st)))

# %% [markdown]
# ### Dropout while scoring: the published sampler and our two
# The published sampler recomputed the whole prefix at every position, with dropout masks of that pass,
# and took each action's log P_F from the pass that drew it (`dropout_scoring: recompute`; a step takes
# about 8 times as long on a CPU). Our runs sample with a KV cache and score in one teacher-forced pass, under
# masks of its own (`fresh`, the default) or under the sampler's (`sampling`: one set of masks for a
# whole trajectory). Reward-C and each ablation of it that changes only this setting, seed by seed,
# beside the published run (quoted): the first step's mean log P_F (the initial policy), its mean over
# the trap's window that the ablations' written predictions judge, its value near the published
# readings, and the trap's onset and escape (the trap table's rule).

# %%
display(Markdown(memo.dropout_scoring_sentence(st)))
display(memo.styled(memo.dropout_scoring_table(st)))

# %% [markdown]
# ### Sensitivity runs
# Runs of group `sensitivity` vary settings the memo leaves open (log Z's initial value and learning
# rate, the reward exponent β, a length term, exploration) on our first reward-C run
# (`sensitivity-stated-assumptions`: our own reward and the settings we guessed before the published
# setup was known; its row says which); the first row is the documented reward-C run itself, on the
# published setup, as the reference. How `mean_log_pf` is computed (sum over actions, STOP
# included) is the other open choice: the decomposition above splits it into length × per-action
# log-probability, so both readings are shown. For each run, three checks of the
# memo's picture (`gfn_lib.memo`): (a) a first phase of short sequences with small, decreasing
# loss; (b) a loss explosion that follows a reward jump; (c) an explosion near memo step 6000
# (memo steps 5000–7000).

# %%
display(Markdown(memo.sensitivity_sentence(st)))
display(memo.styled(memo.sensitivity_table(st)))
display(figs["metrics_sensitivity"])

# %% [markdown]
# ## Analyzed runs
# The memo's run records (ID, name, state, creation date) as stored in our runs' `run.json`,
# next to our own state and the CPU kernels that computed each run (instruction set, processor, threads):
# a run repeats bit for bit only on the same kernels, so runs computed on others differ seed by seed.

# %%
display(memo.styled(memo.analyzed_runs_table(st)))
