#!/usr/bin/env bash
# Every GPU measurement in one script, inside a fixed time budget (what a lent device machine allows):
#   1. the CUDA tests: the sampler's CUDA graph (tests/test_graphs.py) and stacked == alone (tests/test_multirun.py);
#   2. many runs per device (issue 13): R = 1, 6, 18 stacked at the memo shape and the small one, with the
#      decode loop as a CUDA graph (the default), eager (early stop, cuda_graph=false) and static shapes;
#      one run's sampling / training split (bench_step.py); where an R = 6 step's time goes (profile_stack.py);
#   3. the eight runs of the full profile (six documented, reward-C x 3 seeds) as one stack (the sampler as
#      a CUDA graph, the default on CUDA), stopped when the budget is spent (a stopped run is "incomplete":
#      it resumes from its checkpoint);
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
step "memo, CUDA graph (the default on CUDA)" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 10 --set device=$device
step "memo, eager (early stop) + plain reference" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 10 --set device=$device cuda_graph=false
step "small, CUDA graph" $py benchmarks/bench_multirun.py --shapes small --runs 1 6 18 --steps 10 --set device=$device
step "memo, static shapes eager" $py benchmarks/bench_multirun.py --shapes memo --runs 1 6 --steps 10 --set device=$device cuda_graph=false static_shapes=true --no-reference
step "small, eager + plain reference" $py benchmarks/bench_multirun.py --shapes small --runs 1 6 18 --steps 10 --set device=$device cuda_graph=false
step "one run, memo config (default setup), CUDA graph" $py benchmarks/bench_step.py --steps 20 --set device=$device
step "where an R = 6 memo step's time goes" $py benchmarks/profile_stack.py --shape memo --runs 6 --set device=$device
echo "benchmarks done at $(( $(date +%s) - start )) s" >> "$out/machine.txt"

# the eight runs of the full profile as one stack (they share the policy shape: TrainConfig.stack_key)
members="gflownet-reward-C-improved-10k:42 gflownet-reward-C-improved-10k:43 gflownet-reward-C-improved-10k:44"
for r in gflownet-baseline-10k gflownet-reward-A-trained-10k gflownet-reward-B-esm2pll-10k phase3b-stb-validation-10k phase3b-entropy-0.00-10k; do
  members="$members $r"
done
while [ -n "$(jobs -r)" ] && [ "$(left)" -gt 60 ]; do sleep 2; done  # the reward models (a run trains one not cached)
runs_s=$(( $(left) - 25 ))
echo "stack of eight: ${runs_s} s from $(( $(date +%s) - start )) s" >> "$out/machine.txt"
if [ "$runs_s" -gt 20 ]; then
  timeout -s TERM "$runs_s" $py benchmarks/direct_run.py $members --profile full --wandb disabled > "$logs/stack.log" 2>&1
  echo "stack rc=$?" >> "$out/machine.txt"
fi
cp "$logs/stack.log" "$out/stack.log" 2>/dev/null
tar czf "$out/full_runs.tgz" --exclude=checkpoint.pt -C "$GFN_OUTPUTS" full
echo "total $(( $(date +%s) - start )) s" >> "$out/machine.txt"
ls -la "$out"
