#!/usr/bin/env bash
# The `full` profile on one GPU inside a fixed time budget (what a lent device machine allows):
#   1. ms/step at the memo configuration (fp32, bf16) and at the cpu profile's policy;
#   2. the eight runs of the full profile (six documented, reward-C x 3 seeds) as one stack on the GPU, stopped
#      after BUDGET seconds (a stopped run is "incomplete": it resumes from its checkpoint);
#   3. everything but checkpoints packed into OUT/full_runs.tgz (unpack into outputs/ to report).
#      (reward-C with its three seeds, 42 43 44, as the full profile lists)
# usage: benchmarks/gpu_session.sh OUT [BUDGET_SECONDS]     (PYTHON=python3 by default)
set -u
out=${1:?usage: gpu_session.sh OUT [BUDGET_SECONDS]}
budget=${2:-420}
py=${PYTHON:-python3}
device=${GFN_DEVICE:-cuda}
export GFN_OUTPUTS=${GFN_OUTPUTS:-$PWD/outputs} WANDB_MODE=disabled PYTHONUNBUFFERED=1
logs=$GFN_OUTPUTS/full/logs
mkdir -p "$out" "$logs"

(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; nproc; $py -c "import torch; print('torch', torch.__version__)") > "$logs/machine.txt" 2>&1
# reward models: trained once on the CPU (1 thread each) and cached, while the benchmark runs
$py -c "from gfn_lib import rewards; rewards.load('trained')" > "$logs/prep-trained.log" 2>&1 &
$py -c "from gfn_lib import rewards; rewards.load('esm2pll')" > "$logs/prep-esm2pll.log" 2>&1 &
{
  $py benchmarks/bench_step.py --steps 30 --set device=$device
  $py benchmarks/bench_step.py --steps 30 --set device=$device bf16=true
  $py benchmarks/bench_step.py --steps 30 --set device=$device n_layers=2 d_model=64 n_heads=4
  # many runs per device (issue 13): R = 1, 6, 18 stacked, early-stopping and static-shape sampler
  $py benchmarks/bench_multirun.py --runs 1 6 18 --steps 10 --set device=$device
  $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 10 --set device=$device static_shapes=true
} > "$logs/bench.txt" 2>&1
cp "$logs/bench.txt" "$out/bench.txt"
(nvidia-smi dmon -s u -d 15 > "$logs/dmon.txt" 2>&1 &) || true
start=$(date +%s)
# the eight runs of the full profile as one stack (they share the policy shape: TrainConfig.stack_key)
members="gflownet-reward-C-improved-10k:42 gflownet-reward-C-improved-10k:43 gflownet-reward-C-improved-10k:44"
for r in gflownet-baseline-10k gflownet-reward-A-trained-10k gflownet-reward-B-esm2pll-10k phase3b-stb-validation-10k phase3b-entropy-0.00-10k; do
  members="$members $r"
done
timeout -s TERM "$budget" $py benchmarks/direct_run.py $members --profile full --wandb disabled > "$logs/stack.log" 2>&1
wait
echo "runs: $(( $(date +%s) - start )) s" >> "$logs/machine.txt"
pkill -f "nvidia-smi dmon" || true
tar czf "$out/full_runs.tgz" --exclude=checkpoint.pt -C "$GFN_OUTPUTS" full
ls -la "$out"
