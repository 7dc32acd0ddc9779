#!/usr/bin/env bash
# The issue-13 GPU target end to end: the memo's six documented runs at the full profile (memo policy, 10,000 steps,
# real rewards with their stand-ins) trained as one stack with the whole step as CUDA graphs (the default on CUDA),
# timed by the wall clock and stopped at a budget (a stopped run is "incomplete" and resumes from its checkpoint).
# Then the published rewards' cost on the GPU (bench_rewards.py, each alone and the six as one stacked step) and the
# CUDA tests of the graphs and of stacked runs, while time is left.
# usage: benchmarks/gpu_six_runs.sh OUT [BUDGET_SECONDS]    (PYTHON=python3 by default; the repo root as cwd)
# Reward models come from the model cache (outputs/cache: carry it) or are trained first (not timed apart).
set -u
out=${1:?usage: gpu_six_runs.sh OUT [BUDGET_SECONDS]}
budget=${2:-540}
py=${PYTHON:-python3}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
export GFN_OUTPUTS=${GFN_OUTPUTS:-$PWD/outputs} WANDB_MODE=disabled PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$out"
log=$out/machine.txt
(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; $py -c "import torch; print('torch', torch.__version__)") > "$log" 2>&1

runs_s=$(( $(left) - 40 ))
echo "stack of six: up to ${runs_s} s, started $(date -u +%T)" >> "$log"
t0=$(date +%s)
timeout -s TERM "$runs_s" $py benchmarks/direct_run.py --profile full --wandb disabled > "$out/stack.log" 2>&1
rc=$?
echo "stack rc=$rc after $(( $(date +%s) - t0 )) s wall (direct_run: rewards loaded, six trainers built, 10,000 steps)" >> "$log"

if [ "$(left)" -gt 35 ]; then
  timeout $(( $(left) - 25 )) $py benchmarks/bench_rewards.py --device cuda --iters 20 \
    --only baseline-published trained-published esm2pll-published improved-published > "$out/rewards.txt" 2>&1
  # the six runs' rewards as one stacked step: one backbone forward per run against one for all six
  timeout $(( $(left) - 25 )) $py benchmarks/bench_rewards.py --device cuda --iters 30 --stack >> "$out/rewards.txt" 2>&1
fi
if [ "$(left)" -gt 25 ]; then
  timeout $(( $(left) - 5 )) $py -m pytest -q -p no:cacheprovider tests/test_graphs.py tests/test_multirun.py \
    > "$out/tests.txt" 2>&1
  echo "tests rc=$?" >> "$log"
fi
tar czf "$out/full_runs.tgz" --exclude=checkpoint.pt -C "$GFN_OUTPUTS" full
echo "total $(( $(date +%s) - start )) s" >> "$log"
