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
# # Train one run of the step-6000 study
#
# One notebook per documented run, executed by papermill (`gfn-study run`, or by hand:
# `papermill notebooks/train.ipynb out.ipynb -f params/<run>.yaml`). Every cell only calls
# into `gfn_lib`; the run's folder (`outputs/<profile>/runs/<run>/seed-<N>/`) receives the
# resolved config, `metrics.csv`, `samples.csv`, checkpoints, the wandb log and, last, `FINISHED`.
# Re-running resumes from the last checkpoint.

# %%
from gfn_lib import study
from gfn_lib.plots import plot_run
from gfn_lib.study import notebook

_names_before = set(globals())

# %% tags=["parameters"]
run = "gflownet-baseline-10k"  # a run in params/; papermill -f params/<run>.yaml may also set every field
profile = None  # full | cpu | smoke; None: $GFN_PROFILE, else full with CUDA, cpu without
seed = None  # seeds model init and sampling; None: the run's first seed (its params file's `seeds`)
overrides = None  # {field: value} applied after the profile (gfn-study --set); a field given with -p does the same

# %% [markdown]
# ## Configuration
# The memo's training configuration, the run's documented difference, the profile's scaling.

# %%
setup = notebook.setup_run(notebook.notebook_parameters(globals(), _names_before))
print(f"{setup.spec.name} | profile {setup.profile.name} | seed {setup.seed} -> {setup.folder}")
notebook.describe_setup(setup)

# %% [markdown]
# ## Training
# `trainer.train()` runs `Trainer.train_step` (`gfn_lib/trainer.py`) once per update.

# %%
trainer = notebook.make_trainer(setup)
metrics = trainer.train()
metrics.tail()

# %% [markdown]
# ## Curves
# Light: every step; dark: rolling median.

# %%
fig = plot_run(metrics, title=f"{setup.spec.name} ({setup.profile.name} profile, seed {setup.seed})")

# %% [markdown]
# ## Top sequences (last record)

# %%
samples = study.read_samples(setup.folder)
samples[samples.step == samples.step.max()] if len(samples) else samples

# %%
notebook.finish_run(setup, trainer)
