"""The study pipeline: params files, profiles, the gfn-study CLI (bad input, skip, resume
after kill, failures), papermill execution, wandb offline logs and the Dask sweep."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import papermill as pm
import pytest
import yaml

from gfn_lib import study
from gfn_lib.config import ConfigError, TrainConfig
from gfn_lib.study import execution
from gfn_lib.trainer import TIMING_COLUMNS

REPO = Path(__file__).resolve().parents[1]
MEMO_RUNS = {
    "gflownet-baseline-10k": ("8rflp7l6", "finished", "2025-12-26"),
    "gflownet-reward-C-improved-10k": ("zcb95gyl", "finished", "2025-12-26"),
    "gflownet-reward-B-esm2pll-10k": ("3fr3yzn0", "finished", "2025-12-26"),
    "gflownet-reward-A-trained-10k": ("6qsqq6wz", "finished", "2025-12-26"),
    "phase3b-stb-validation-10k": ("nodeps9c", "finished", "2025-12-27"),
    "phase3b-entropy-0.00-10k": ("zv30wmny", "running", "2025-12-27"),
}
TINY = {"run": "tiny", "reward": "table", "alphabet": "ABC", "min_len": 1, "max_len": 4, "wandb_mode": "disabled"}


def _env(out: Path) -> dict[str, str]:
    return {**os.environ, "GFN_OUTPUTS": str(out), "OMP_NUM_THREADS": "1", "WANDB_MODE": "disabled"}


def _cli(out: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gfn_lib.cli", *args], env=_env(out), cwd=REPO, capture_output=True, text=True, **kw
    )


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def _tiny_yaml(tmp_path: Path, name: str = "tiny", **fields) -> Path:
    f = tmp_path / f"{name}.yaml"
    f.write_text(yaml.safe_dump({**TINY, "run": name, **fields}))
    return f


# ---- params and profiles -------------------------------------------------------------------
def test_documented_runs_are_the_memos_six_with_their_records():
    specs = {s.name: s for s in study.list_runs("documented")}
    assert set(specs) == set(MEMO_RUNS)
    for name, (memo_id, state, created) in MEMO_RUNS.items():
        meta = specs[name].meta
        assert (meta["memo_id"], meta["memo_state"], str(meta["memo_created"])) == (memo_id, state, created)


def test_documented_runs_share_one_set_of_assumptions_and_differ_as_documented():
    specs = {s.name: s for s in study.list_runs("documented")}
    assumed = [{k: s.fields[k] for k in s.meta.get("assumptions", {})} for s in specs.values()]
    assert all(a == assumed[0] for a in assumed)  # nothing tuned per run
    own = {n: {k: v for k, v in s.fields.items() if k not in assumed[0]} for n, s in specs.items()}
    assert own["gflownet-baseline-10k"] == {"reward": "baseline"}
    assert own["gflownet-reward-A-trained-10k"] == {"reward": "trained"}
    assert own["gflownet-reward-B-esm2pll-10k"] == {"reward": "esm2pll"}
    assert own["gflownet-reward-C-improved-10k"] == {"reward": "improved"}
    assert own["phase3b-stb-validation-10k"] == {"reward": "improved", "loss": "subtb"}
    assert own["phase3b-entropy-0.00-10k"] == {"reward": "improved", "entropy_weight": 0.0}


def test_ablations_cover_the_memo_table_and_the_mechanism_checks():
    abl = {s.name: s for s in study.list_runs("ablation")}
    base = study.load_run("gflownet-reward-C-improved-10k").fields
    changed = {}
    for name, s in abl.items():
        assert s.meta["base"] == "gflownet-reward-C-improved-10k" and s.meta["memo_prediction"]
        diff = {k: v for k, v in s.fields.items() if base.get(k) != v}
        assert len(diff) == 1, (name, diff)
        changed.update(diff)
    assert changed == {"lr": 1e-3, "n_layers": 8, "entropy_weight": 0.1, "batch_size": 16, "log_z_lr": 0.1, "loss": "logvar"} | {
        "lr": changed["lr"]
    }
    lrs = sorted(s.fields["lr"] for s in abl.values() if "lr" in s.fields and s.fields["lr"] != base.get("lr"))
    assert lrs == [1e-4, 1e-3]


def test_profiles_are_overlays_that_keep_each_runs_difference():
    cpu, smoke, full = (study.load_profile(p) for p in ("cpu", "smoke", "full"))
    base = study.resolve_config(study.load_run("gflownet-baseline-10k"), cpu)
    assert (base.n_steps, base.warmup_steps, base.n_layers, base.d_model, base.n_heads) == (2000, 200, 2, 64, 4)
    assert cpu.step_scale == 0.2 and full.step_scale == 1.0
    deep = study.resolve_config(study.load_run("ablation-8-layers"), cpu)
    assert deep.n_layers == 4  # still twice the profile's baseline depth
    assert study.resolve_config(study.load_run("ablation-lr-1e-3"), cpu).lr == 1e-3
    memo = study.resolve_config(study.load_run("gflownet-baseline-10k"), full)
    assert memo.model_dump() == TrainConfig(**study.load_run("gflownet-baseline-10k").fields).model_dump()
    assert study.resolve_config(study.load_run("gflownet-baseline-10k"), smoke).n_steps == 40


def test_unknown_profile_and_run_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown profile 'huge' \\(available: cpu, full, smoke\\)"):
        study.load_profile("huge")
    with pytest.raises(ConfigError, match="unknown run 'nope'"):
        study.load_run("nope")


# ---- CLI: bad input ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make_args", "words"),
    [
        (lambda d: ["run", "no-such-run", "--profile", "smoke"], "unknown run 'no-such-run'"),
        (lambda d: ["run", str(d / "missing.yaml"), "--profile", "smoke"], "missing.yaml: file not found"),
        (lambda d: ["run", "gflownet-baseline-10k", "--profile", "huge"], "unknown profile 'huge'"),
        (lambda d: ["run", str(_tiny_yaml(d, lr=0)), "--profile", "smoke"], "tiny.yaml: field 'lr'"),
        (lambda d: ["run", str(_tiny_yaml(d, colour="red")), "--profile", "smoke"], "tiny.yaml: field 'colour': unknown field"),
        (lambda d: ["run", str(_tiny_yaml(d, batch_size=-1)), "--profile", "smoke"], "field 'batch_size'"),
        (lambda d: ["run", "gflownet-baseline-10k", "--profile", "smoke", "--set", "min_len=40"], "field 'min_len'"),
        (lambda d: ["run", "--profile", "smoke", "--seeds", "0"], "--seeds"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, make_args, words):
    out = tmp_path / "outputs"
    (out / "smoke" / "runs" / "keep").mkdir(parents=True)
    (out / "smoke" / "runs" / "keep" / "metrics.csv").write_text("step,loss\n1,2.0\n")
    before = _snapshot(out)
    args = make_args(tmp_path)
    res = _cli(out, *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], res.stderr
    assert _snapshot(out) == before


def test_malformed_params_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: bad\nlr: [0.1\n")
    res = _cli(tmp_path / "o", "run", str(bad), "--profile", "smoke")
    assert res.returncode == 2 and f"{bad}: malformed YAML at line" in res.stderr
    assert not (tmp_path / "o").exists()


def test_help_everywhere(tmp_path):
    for cmd in ([], ["run"], ["list"], ["report"], ["sweep"], ["train"]):
        res = _cli(tmp_path, *cmd, "--help")
        assert res.returncode == 0 and "usage: gfn-study" in res.stdout


# ---- CLI: execution ------------------------------------------------------------------------
def test_run_then_skip_then_force(tmp_path):
    out = tmp_path / "outputs"
    spec = _tiny_yaml(tmp_path)
    res = _cli(out, "run", str(spec), "--profile", "smoke")
    assert res.returncode == 0, res.stderr
    folder = study.run_dir("smoke", "tiny", 0, out)
    for name in ("train.ipynb", "config.yaml", "run.json", "metrics.csv", "samples.csv", "checkpoint.pt", "FINISHED"):
        assert (folder / name).exists(), name
    assert study.run_status(folder) == "finished"
    assert len(pd.read_csv(folder / "metrics.csv")) == 40
    nb = json.loads((folder / "train.ipynb").read_text())
    assert nb["metadata"]["papermill"]["parameters"]["profile"] == "smoke"
    record = json.loads((folder / "run.json").read_text())
    assert record["reward"]["name"] == "table" and record["config"]["n_steps"] == 40

    marker = (folder / "FINISHED").stat().st_mtime_ns
    res = _cli(out, "run", str(spec), "--profile", "smoke")
    assert res.returncode == 0 and "skipped" in res.stdout
    assert (folder / "FINISHED").stat().st_mtime_ns == marker

    res = _cli(out, "run", str(spec), "--profile", "smoke", "--force")
    assert res.returncode == 0 and "finished" in res.stdout
    assert (folder / "FINISHED").stat().st_mtime_ns != marker

    listing = _cli(out, "list", "--profile", "smoke")
    assert listing.returncode == 0 and "gflownet-baseline-10k" in listing.stdout and "missing" in listing.stdout


def test_failing_run_keeps_its_notebook_and_the_others_go_on(tmp_path):
    out = tmp_path / "outputs"
    broken = _tiny_yaml(tmp_path, "broken", reward_options={"table": {"AB": 5.0}})  # R > 1: fails at run time
    fine = _tiny_yaml(tmp_path, "fine")
    res = _cli(out, "run", str(broken), str(fine), "--profile", "smoke")
    assert res.returncode == 1
    bad_dir, ok_dir = study.run_dir("smoke", "broken", 0, out), study.run_dir("smoke", "fine", 0, out)
    assert study.run_status(bad_dir) == "failed" and "outside (0, 1]" in (bad_dir / "FAILED").read_text()
    nb = json.loads((bad_dir / "train.ipynb").read_text())
    assert nb["metadata"]["papermill"]["exception"] is True
    assert study.run_status(ok_dir) == "finished"


def test_unknown_notebook_parameter_is_an_error_naming_it(tmp_path):
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(
            str(REPO / "notebooks" / "train.ipynb"), str(tmp_path / "out.ipynb"), kernel_name="python3",
            parameters={**TINY, "profile": "smoke", "out_root": str(tmp_path), "learning_rate": 0.1},
            progress_bar=False, cwd=str(REPO),
        )  # fmt: skip
    assert "learning_rate" in err.value.evalue and "unknown field" in err.value.evalue


def test_killed_study_resumes_and_matches_an_uninterrupted_run(tmp_path):
    """SIGKILL the whole `gfn-study run` process group mid-training; `gfn-study run` again
    resumes from the checkpoint and ends with the metrics of an uninterrupted run."""
    fields = {"n_steps": 150_000, "checkpoint_every": 10, "metrics_every": 5}  # 600 steps under smoke
    spec = _tiny_yaml(tmp_path, **fields)
    out_a, out_b = tmp_path / "a", tmp_path / "b"
    folder = study.run_dir("smoke", "tiny", 0, out_a)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gfn_lib.cli", "run", str(spec), "--profile", "smoke", "--set", "checkpoint_every=10"],
        env=_env(out_a), cwd=REPO, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline:
        m = folder / "metrics.csv"
        if m.exists() and len(m.read_text().splitlines()) > 150:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert study.run_status(folder) == "incomplete"
    res = _cli(out_a, "run", str(spec), "--profile", "smoke", "--set", "checkpoint_every=10")
    assert res.returncode == 0, res.stderr
    res = _cli(out_b, "run", str(spec), "--profile", "smoke", "--set", "checkpoint_every=10")
    assert res.returncode == 0, res.stderr
    got = pd.read_csv(folder / "metrics.csv").drop(columns=TIMING_COLUMNS)
    want = pd.read_csv(study.run_dir("smoke", "tiny", 0, out_b) / "metrics.csv").drop(columns=TIMING_COLUMNS)
    assert len(got) == 600
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_wandb_offline_logs_with_a_deterministic_id(tmp_path):
    from gfn_lib.tracking import wandb_run_id

    out = tmp_path / "outputs"
    spec = _tiny_yaml(tmp_path, wandb_mode="offline")
    env = {**_env(out), "WANDB_MODE": "offline"}
    res = subprocess.run(
        [sys.executable, "-m", "gfn_lib.cli", "run", str(spec), "--profile", "smoke", "--wandb", "offline"],
        env=env, cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    run_id = wandb_run_id("smoke", "tiny", 0)
    files = list((study.run_dir("smoke", "tiny", 0, out) / "wandb").glob(f"offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 1 and files[0].stat().st_size > 1000
    assert wandb_run_id("smoke", "tiny", 0) == run_id != wandb_run_id("smoke", "tiny", 1)


def test_sweep_on_a_local_two_worker_dask_cluster(tmp_path, monkeypatch):
    from gfn_lib.sweep import run_sweep

    out = tmp_path / "outputs"
    monkeypatch.setenv("GFN_OUTPUTS", str(out))
    spec = study.spec_from_mapping(TINY, "tiny")
    tasks = [execution.Task(spec, "smoke", seed, out_root=str(out), threads=1) for seed in (0, 1)]
    results = run_sweep(tasks, n_workers=2)
    assert [(r.run, r.seed, r.status) for r in results] == [("tiny", 0, "finished"), ("tiny", 1, "finished")]
    a, b = (pd.read_csv(study.run_dir("smoke", "tiny", s, out) / "metrics.csv") for s in (0, 1))
    assert len(a) == len(b) == 40 and not a.loss.equals(b.loss)  # seeds honoured
    env = json.loads((study.run_dir("smoke", "tiny", 0, out) / "run.json").read_text())["env"]
    # one thread per run, and not Dask's MALLOC_TRIM_THRESHOLD_ (2x slower torch steps)
    assert env["OMP_NUM_THREADS"] == "1" and env["MALLOC_TRIM_THRESHOLD_"] is None


def test_sweeps_start_the_costliest_runs_first():
    tasks = execution.plan([], "cpu")  # the six documented runs
    cost = {t.spec.name: t.cost for t in tasks}
    # SubTB with the PLL-based reward C > TB with reward C > TB with the cheap baseline reward
    assert cost["phase3b-stb-validation-10k"] > cost["gflownet-reward-C-improved-10k"] > cost["gflownet-baseline-10k"]
    assert cost["gflownet-reward-B-esm2pll-10k"] == cost["gflownet-reward-C-improved-10k"]
    eight = execution.plan(["ablation-8-layers"], "cpu")[0].cost
    assert eight == pytest.approx(2 * cost["gflownet-reward-C-improved-10k"])  # 4 layers vs the profile's 2
    assert execution.plan([], "cpu", seeds=2)[1].cost == tasks[0].cost  # seeds cost alike


def test_sweep_builds_each_reward_once_before_the_runs():
    from distributed import Client, LocalCluster

    from gfn_lib.sweep import warm_rewards

    spec = study.spec_from_mapping(TINY, "tiny")
    base = {k: v for k, v in TINY.items() if k not in ("alphabet", "min_len", "max_len")}
    other = study.spec_from_mapping({**base, "run": "tiny-baseline", "reward": "baseline"}, "tiny")
    tasks = [execution.Task(spec, "smoke", s) for s in (0, 1)] + [execution.Task(other, "smoke", 0)]
    with LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, Client(cluster) as client:
        built = warm_rewards(client, tasks, list(client.scheduler_info()["workers"]))
    assert sorted(built) == ["baseline", "table"]  # one build per distinct (reward, options)
