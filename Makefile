# The two commands a newcomer needs:  make study   |   make test
# Both create (or reuse) .venv and install what they need first.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?=
# seeds of reward-C whose first step the report's "Where runs start" surveys (gfn-study starts; ~130 s on 2 cores)
START_SEEDS ?= 192
# pytest-xdist workers for make test (auto: one per core; 1: the tests in one process)
TEST_WORKERS ?= auto

.PHONY: study study-all study-timing test bench lab clean-venv

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	@# torch first and pinned: on a machine without a GPU this takes the CPU wheel, never a multi-GB CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## make study: the profile's runs (the six documented runs, reward-C x 3 seeds), the survey of where runs start, + the report (profile: full with CUDA, cpu without; PROFILE=smoke|cpu|full)
study: $(STAMP)
	$(VENV)/bin/gfn-study sweep $(if $(PROFILE),--profile $(PROFILE))
	$(VENV)/bin/gfn-study starts --seeds $(START_SEEDS) $(if $(PROFILE),--profile $(PROFILE))
	$(VENV)/bin/gfn-study report $(if $(PROFILE),--profile $(PROFILE))

## make study-all: every run in params/ (documented, ablations, sensitivity), then the report
study-all: $(STAMP)
	$(VENV)/bin/gfn-study sweep --all $(if $(PROFILE),--profile $(PROFILE))
	$(VENV)/bin/gfn-study starts --seeds $(START_SEEDS) $(if $(PROFILE),--profile $(PROFILE))
	$(VENV)/bin/gfn-study report $(if $(PROFILE),--profile $(PROFILE))

## make study-timing: what the report's timing verdicts need (issue 12): reward-C, phase3b-entropy-0.00 and every
## ablation in params/, 3 seeds each (81 runs: ~3 h estimated on a 2-core CPU at the cpu profile: ~3.5 min a run,
## two at a time, and ~25 min for each of the three runs of ablation-dropout-scoring-recompute), then the report
TIMING_RUNS := gflownet-reward-C-improved-10k phase3b-entropy-0.00-10k $(sort $(basename $(notdir $(wildcard params/ablation-*.yaml))))
study-timing: $(STAMP)
	$(VENV)/bin/gfn-study sweep --seeds 3 $(if $(PROFILE),--profile $(PROFILE)) $(TIMING_RUNS)
	$(VENV)/bin/gfn-study starts --seeds $(START_SEEDS) $(if $(PROFILE),--profile $(PROFILE))
	$(VENV)/bin/gfn-study report $(if $(PROFILE),--profile $(PROFILE))

## make test: every test (unit, convergence, resume-after-kill, CLI, sweep, pipeline) + the notebooks via nbmake (smoke)
test: $(STAMP)
	GFN_OUTPUTS=$$(mktemp -d) GFN_PROFILE=smoke WANDB_MODE=disabled OMP_NUM_THREADS=1 $(PY) -m pytest -n $(TEST_WORKERS) --dist worksteal tests notebooks/train.ipynb notebooks/memo.ipynb --nbmake

## make bench: ms/step at the memo configuration on this machine's device, then R = 1, 6, 18 runs stacked vs one at a time,
## then layouts of six small runs on the cores (processes x runs per stack x threads), then the phases of a stacked step
bench: $(STAMP)
	$(PY) benchmarks/bench_step.py
	$(PY) benchmarks/bench_multirun.py --shapes small --runs 1 6 18 --steps 10
	$(PY) benchmarks/bench_multirun.py --shapes memo --runs 1 6 18 --steps 3 --warmup 1
	$(PY) benchmarks/bench_layouts.py --layouts 2x1x1 2x3x1 1x6x2 1x1x2
	$(PY) benchmarks/bench_phases.py --shape small --runs 1 6 --steps 10

## make lab: open the notebooks in JupyterLab
lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-venv:
	rm -rf $(VENV)
