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
# # Train several runs as one stack
#
# What `train.ipynb` does for one run, for several runs that share the policy's shape (seeds, or
# settings such as log Z's learning rate): one policy computation serves them all
# (`gfn_lib.trainer.train_together`), and each run still gets its own folder, config, metrics,
# checkpoints, wandb log and `FINISHED`, with the numbers it would get alone. `gfn-study sweep --stack N`
# executes this notebook with papermill; each member's folder receives a copy of the executed notebook.

# %%
from gfn_lib import study
from gfn_lib.plots import plot_run
from gfn_lib.study import notebook

# %% tags=["parameters"]
runs = [{"run": "gflownet-reward-C-improved-10k", "seed": 42}]  # members: a run in params/ (or its fields) and a seed
profile = None  # full | cpu | smoke; None: $GFN_PROFILE, else full with CUDA, cpu without
overrides = None  # {field: value} applied after the profile, to every member
out_root = None  # outputs folder; None: $GFN_OUTPUTS, else outputs/

# %%
setups = notebook.setup_runs(runs, {"profile": profile, "overrides": overrides, "out_root": out_root})
for s in setups:
    print(f"{s.spec.name} | profile {s.profile.name} | seed {s.seed} -> {s.folder}")

# %% [markdown]
# ## Training (one stack)

# %%
trainers = notebook.train_group(setups)

# %% [markdown]
# ## Curves

# %%
for s, t in zip(setups, trainers):
    plot_run(t.metrics_frame(), title=f"{s.spec.name} ({s.profile.name} profile, seed {s.seed})")

# %%
[notebook.finish_run(s, t) for s, t in zip(setups, trainers)]
