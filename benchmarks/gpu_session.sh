#!/usr/bin/env bash
# Every GPU measurement in one script, inside a fixed time budget (what a lent device machine allows):
#   1. the CUDA tests: both CUDA graphs (tests/test_graphs.py) and stacked == alone (tests/test_multirun.py);
#   2. many runs per device (issue 13): R = 1, 6, 18 stacked at the memo shape with the whole step as CUDA graphs
#      (the default), with the decode loop alone as a graph (cuda_graph_training=false), and eager (early stop);
#      the small shape; one run's sampling / training split (bench_step.py);
#   3. the memo's six documented runs of the full profile as one stack (both graphs, the default on CUDA),
#      stopped when the budget is spent (a stopped run is "incomplete": it resumes from its checkpoint);
#      then where an R = 6 step's time goes (profile_stack.py);
#   4. everything but checkpoints packed into OUT/full_runs.tgz (unpack into outputs/ to report).
# usage: benchmarks/gpu_session.sh OUT [BUDGET_SECONDS]     (PYTHON=python3 by default; the repo root as cwd)
set -u
out=${1:?usage: gpu_session.sh OUT [BUDGET_SECONDS]}
budget=${2:-400}
py=${PYTHON:-python3}
device=${GFN_DEVICE:-cuda}
start=$(date +%s)
left() { echo $(( budget - ($(date +%s) - start) )); }
export GFN_OUTPUTS=${GFN_OUTPUTS:-$PWD/outputs} WANDB_MODE=disabled PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
logs=$GFN_OUTPUTS/full/logs
mkdir -p "$out" "$logs"
bench=$out/bench.txt

(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true; nproc; $py -c "import torch; print('torch', torch.__version__)") > "$out/machine.txt" 2>&1
# reward models: trained once on the CPU (1 thread each) and cached, while the tests and benchmarks run
OMP_NUM_THREADS=1 $py -c "from gfn_lib import rewards; rewards.load('trained')" > "$logs/prep-trained.log" 2>&1 &
OMP_NUM_THREADS=1 $py -c "from gfn_lib import rewards; rewards.load('esm2pll')" > "$logs/prep-esm2pll.log" 2>&1 &

timeout 120 $py -m pytest -q -p no:cacheprovider tests/test_graphs.py tests/test_multirun.py > "$out/tests.txt" 2>&1
echo "tests rc=$? at $(( $(date +%s) - start )) s" >> "$out/machine.txt"

step() {  # label, then the command; each bounded so that one hang cannot eat the budget
  echo "## $1  (at $(( $(date +%s) - start )) s)" >> "$bench"
  shift
  timeout 100 "$@" >> "$bench" 2>&1 || echo "(exit $?)" >> "$bench"
}
step "memo, whole step as CUDA graphs (the default on CUDA)" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 10 --warmup 4 --set device=$device
step "memo, decode loop alone as a CUDA graph" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 10 --warmup 4 --set device=$device cuda_graph_training=false --no-reference
step "small, whole step as CUDA graphs" $py benchmarks/bench_multirun.py --shapes small --runs 1 6 --steps 6 --warmup 4 --set device=$device
step "one run, memo config (default setup), both graphs" $py benchmarks/bench_step.py --steps 20 --warmup 4 --set device=$device
step "memo, eager (early stop) + plain reference" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 --steps 4 --set device=$device cuda_graph=false
echo "benchmarks done at $(( $(date +%s) - start )) s" >> "$out/machine.txt"

# the memo's six documented runs (full profile) as one stack (they share the policy shape: TrainConfig.stack_key)
while [ -n "$(jobs -r)" ] && [ "$(left)" -gt 60 ]; do sleep 2; done  # the reward models (a run trains one not cached)
runs_s=$(( $(left) - 70 ))
echo "stack of six: ${runs_s} s from $(( $(date +%s) - start )) s" >> "$out/machine.txt"
if [ "$runs_s" -gt 20 ]; then
  timeout -s TERM "$runs_s" $py benchmarks/direct_run.py --profile full --wandb disabled > "$logs/stack.log" 2>&1
  echo "stack rc=$?" >> "$out/machine.txt"
fi
cp "$logs/stack.log" "$out/stack.log" 2>/dev/null
echo "## where an R = 6 memo step's time goes, both graphs  (at $(( $(date +%s) - start )) s)" >> "$bench"
timeout 45 $py benchmarks/profile_stack.py --shape memo --runs 6 --warmup 4 --set device=$device >> "$bench" 2>&1 || echo "(exit $?)" >> "$bench"
tar czf "$out/full_runs.tgz" --exclude=checkpoint.pt -C "$GFN_OUTPUTS" full
echo "total $(( $(date +%s) - start )) s" >> "$out/machine.txt"
ls -la "$out"
