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


def test_documented_runs_start_from_the_published_setup_and_differ_as_published():
    specs = {s.name: s for s in study.list_runs("documented")}
    setup = study.load_setup("published", "test")
    assert all(s.meta["setup"] == "published" for s in specs.values())  # nothing tuned per run
    own = {n: {k: v for k, v in s.fields.items() if setup.get(k) != v} for n, s in specs.items()}
    assert own["gflownet-baseline-10k"] == {"reward": "baseline-published"}
    assert own["gflownet-reward-A-trained-10k"] == {"reward": "trained-published"}
    assert own["gflownet-reward-B-esm2pll-10k"] == {"reward": "esm2pll-published"}
    assert own["gflownet-reward-C-improved-10k"] == {"reward": "improved-published"}
    phase3b = {"reward": "improved-published", "log_z_lr": 9e-4, "entropy_term": "log-pf-penalty"}
    assert own["phase3b-stb-validation-10k"] == {**phase3b, "entropy_weight": 0.01}  # TB + the published term
    assert own["phase3b-entropy-0.00-10k"] == phase3b  # weight 0 = the setup's
    assert specs["gflownet-reward-C-improved-10k"].meta["seeds"] == [42, 43, 44]
    assert all(s.meta["seeds"][0] == 42 for s in specs.values())  # the published seed first


def test_a_setup_is_a_starting_point_the_run_overrides(tmp_path):
    spec = study.spec_from_mapping({**TINY, "setup": "published", "lr": 1e-3}, "x.yaml")
    assert spec.fields["lr"] == 1e-3 and spec.fields["optimizer"] == "adamw"
    with pytest.raises(ConfigError, match="x.yaml: field 'setup': unknown setup 'nope'"):
        study.spec_from_mapping({**TINY, "setup": "nope"}, "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: field 'seeds'"):
        study.spec_from_mapping({**TINY, "seeds": []}, "x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: field 'base': unknown run 'nope'"):  # a label, but a checked one
        study.spec_from_mapping({**TINY, "base": "nope"}, "x.yaml")
    labelled = study.spec_from_mapping({**TINY, "base": "gflownet-baseline-10k"}, "x.yaml")
    assert labelled.fields == study.spec_from_mapping(TINY, "x.yaml").fields  # nothing of the base's inherited
    assert study.run_seeds(spec) == [0] and study.run_seeds(study.load_run("gflownet-baseline-10k"), 3) == [42, 43, 44]


def test_ablations_change_the_published_reward_c_run_as_documented():
    abl = {s.name: s for s in study.list_runs("ablation")}
    base = study.load_run("gflownet-reward-C-improved-10k").fields
    diffs = {}
    for name, s in abl.items():
        assert s.meta["base"] == "gflownet-reward-C-improved-10k" and s.meta["memo_prediction"]
        diffs[name] = {k: v for k, v in s.fields.items() if base.get(k) != v}
    assert diffs["ablation-lr-1e-3"] == {"lr": 1e-3, "log_z_lr": 1e-2}  # log Z keeps its 10 x
    assert diffs["ablation-lr-1e-4"] == {"lr": 1e-4, "log_z_lr": 1e-3}
    assert diffs["ablation-entropy-0.1"] == {"entropy_term": "log-pf-penalty", "entropy_weight": 0.1}
    assert diffs["ablation-entropy-bonus-0.1"] == {"entropy_term": "entropy-bonus", "entropy_weight": 0.1}
    assert diffs["ablation-8-layers"] == {"n_layers": 8} and diffs["ablation-batch-16"] == {"batch_size": 16}
    assert diffs["ablation-log-z-lr-0.1"] == {"log_z_lr": 0.1} and diffs["ablation-logvar"] == {"loss": "logvar"}
    assert diffs["ablation-subtb"] == {"loss": "subtb", "subtb_lambda": 0.9}
    assert diffs["ablation-published-start"] == {}  # only its seeds differ (those whose step 0 is the published one's)


def test_our_first_assumptions_are_a_sensitivity_run():
    first = study.load_run("sensitivity-stated-assumptions")
    assert first.group == "sensitivity" and first.meta["setup"] == "stated-assumptions"
    assert (first.fields["log_z_init"], first.fields["length_penalty"], first.fields["reward_exponent"]) == (-20.0, 3.5, 8.0)
    assert all(s.meta["base"] == "sensitivity-stated-assumptions" for s in study.list_runs("sensitivity") if s is not first
               and s.name != first.name)  # fmt: skip


def test_profiles_are_overlays_that_keep_each_runs_difference(tmp_path, monkeypatch):
    cpu, smoke, full = (study.load_profile(p) for p in ("cpu", "smoke", "full"))
    base = study.resolve_config(study.load_run("gflownet-baseline-10k"), cpu)
    assert (base.n_steps, base.warmup_steps, base.n_layers, base.d_model, base.n_heads) == (167, 17, 4, 256, 8)
    assert base.log_z_lr == pytest.approx(60 * 3e-3)  # log Z's travel kept: steps / 60, lr_Z x 60
    assert study.memo_to_run_step(6000, cpu.step_scale) == 100 and full.step_scale == 1.0
    deep = study.resolve_config(study.load_run("ablation-8-layers"), smoke)
    assert deep.n_layers == 2 * study.resolve_config(study.load_run("gflownet-reward-C-improved-10k"), smoke).n_layers
    assert study.resolve_config(study.load_run("ablation-lr-1e-3"), cpu).lr == 1e-3
    legacy = study.resolve_config(study.load_run("sensitivity-as-stated"), cpu)
    assert legacy.log_z_lr == pytest.approx(60 * legacy.lr, rel=1e-5)  # "same as lr": scaled as the lr it stands for
    memo = study.resolve_config(study.load_run("gflownet-baseline-10k"), full)
    assert memo.model_dump() == TrainConfig(**study.load_run("gflownet-baseline-10k").fields).model_dump()
    assert study.resolve_config(study.load_run("gflownet-baseline-10k"), smoke).n_steps == 40
    bad = tmp_path / "fast.yaml"
    bad.write_text(yaml.safe_dump({"scale": {"n_steps": 0.1, "log_z_lr": 1}}))
    monkeypatch.setattr(study.specs, "PROFILES_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"fast.yaml: field 'scale.log_z_lr': must be 1 / scale.n_steps \(10\)"):
        study.load_profile("fast")


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
        (lambda d: ["run", "gflownet-baseline-10k", "--profile", "smoke", "--set", "min_len=40"],
         "(profile smoke; overridden: min_len): field 'min_len'"),
        (lambda d: ["run", str(_tiny_yaml(d, base="no-such-run")), "--profile", "smoke"], "tiny.yaml: field 'base': unknown run"),
        (lambda d: ["run", str(_empty_yaml(d)), "--profile", "smoke"], "empty.yaml: empty file"),
        (lambda d: ["run", "--profile", "smoke", "--seeds", "0"], "--seeds"),
        (lambda d: ["starts", "no-such-run", "--profile", "smoke"], "unknown run 'no-such-run'"),
        (lambda d: ["starts", "--profile", "smoke", "--seeds", "0"], "--seeds: must be >= 1, got 0"),
        (lambda d: ["starts", "--profile", "smoke", "--stack", "0"], "--stack: must be >= 1, got 0"),
        (lambda d: ["starts", "--profile", "smoke", "--set", "min_len=40"], "(profile smoke; overridden: min_len): field 'min_len'"),
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


def _empty_yaml(d: Path) -> Path:
    (d / "empty.yaml").write_text("# nothing yet\n")  # would otherwise run every default under the name "empty"
    return d / "empty.yaml"


def test_malformed_params_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("run: bad\nlr: [0.1\n")
    res = _cli(tmp_path / "o", "run", str(bad), "--profile", "smoke")
    assert res.returncode == 2 and f"{bad}: malformed YAML at line" in res.stderr
    assert not (tmp_path / "o").exists()


def test_help_everywhere(tmp_path):
    for cmd in ([], ["run"], ["list"], ["report"], ["sweep"], ["train"], ["starts"]):
        res = _cli(tmp_path, *cmd, "--help")
        assert res.returncode == 0 and "usage: gfn-study" in res.stdout


def test_help_and_bad_input_import_only_what_they_need(tmp_path):
    """``--help`` loads neither torch nor papermill, and a bad input is refused before papermill is imported
    (each ~2 s; a bad-input error took 7 s)."""
    heavy = ("torch", "papermill", "jupyter_client")
    code = ("import sys; from gfn_lib.cli import main\n"
            "try:\n    code = main(sys.argv[1:])\nexcept SystemExit as e:\n    code = e.code\n"
            f"print(code, [m for m in {heavy!r} if m in sys.modules], file=sys.stderr)")  # fmt: skip
    bad = _tiny_yaml(tmp_path, lr=-1.0)
    for args, loaded in ((["--help"], []), (["run", "--help"], []), (["run", str(bad), "--profile", "smoke"], ["torch"])):
        res = subprocess.run([sys.executable, "-c", code, *args], env=_env(tmp_path / "o"), cwd=REPO,
                             capture_output=True, text=True)  # fmt: skip
        assert res.stderr.splitlines()[-1] == f"{2 if loaded else 0} {loaded}", (args, res.stderr)
    assert not (tmp_path / "o").exists()


# ---- CLI: execution ------------------------------------------------------------------------
def test_starts_writes_the_survey_of_the_first_steps(tmp_path):
    out = tmp_path / "outputs"
    res = _cli(out, "starts", str(_tiny_yaml(tmp_path)), "--profile", "smoke", "--seeds", "3", "--stack", "2")
    assert res.returncode == 0, res.stderr
    survey = pd.read_csv(out / "smoke" / "starts" / "tiny.csv")
    assert survey["seed"].tolist() == [0, 1, 2] and set(survey["run"]) == {"tiny"}
    assert "tiny, profile smoke: step-0 mean log P_F of 3 seeds" in res.stdout and "published" not in res.stdout


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


def test_wandb_mode_disabled_in_the_environment_turns_logging_off(tmp_path, monkeypatch):
    """wandb.init(mode="offline") would override WANDB_MODE=disabled (and cost ~3 s to start); the switch
    is read before wandb is touched, so a run configured offline makes no tracker and no wandb folder."""
    from gfn_lib.study import notebook
    from gfn_lib.tracking import mode_in_effect

    monkeypatch.setenv("WANDB_MODE", "disabled")
    setup = notebook.setup_run({**TINY, "wandb_mode": "offline", "profile": "smoke", "out_root": str(tmp_path)})
    assert setup.cfg.wandb_mode == "offline" and notebook.make_trainer(setup).tracker is None
    assert not (setup.folder / "wandb").exists()
    assert json.loads((setup.folder / "run.json").read_text())["wandb"] == "disabled"  # the record says what logged
    monkeypatch.setenv("WANDB_MODE", "offline")
    assert mode_in_effect("offline") == "offline" and mode_in_effect("disabled") == "disabled"
    monkeypatch.delenv("WANDB_MODE")
    assert mode_in_effect("online") == "online"


def test_the_run_record_names_the_cpu_kernels_that_computed_it(tmp_path, monkeypatch):
    """The same code and seed give the same numbers only on the same CPU kernels (instruction set, threads):
    run.json says which, with any setting that forces them."""
    import torch

    from gfn_lib.study import notebook

    monkeypatch.setenv("MKL_CBWR", "AVX2")
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    setup = notebook.setup_run({**TINY, "wandb_mode": "disabled", "profile": "smoke", "out_root": str(tmp_path)})
    notebook.make_trainer(setup)
    cpu = json.loads((setup.folder / "run.json").read_text())["cpu"]
    assert cpu["kernels"] == torch.backends.cpu.get_cpu_capability() and cpu["threads"] == torch.get_num_threads()
    assert cpu["env"] == {"MKL_CBWR": "AVX2"} and cpu["processor"]


@pytest.mark.slow
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

    # the same two runs as one stack on one worker (notebooks/train_group.ipynb): the same metrics
    out2 = tmp_path / "stacked"
    stacked = [execution.Task(spec, "smoke", seed, out_root=str(out2), threads=1) for seed in (0, 1)]
    assert len(execution.stack_tasks(stacked, 2)) == 1
    results = run_sweep(stacked, n_workers=1, stack=2)
    assert [(r.run, r.seed, r.status) for r in results] == [("tiny", 0, "finished"), ("tiny", 1, "finished")]
    for seed, alone in ((0, a), (1, b)):
        folder = study.run_dir("smoke", "tiny", seed, out2)
        assert (folder / "train_group.ipynb").exists() and (folder / "FINISHED").exists()
        together = pd.read_csv(folder / "metrics.csv")
        cols = [c for c in alone.columns if c not in TIMING_COLUMNS]
        pd.testing.assert_frame_equal(together[cols], alone[cols], rtol=1e-4, atol=1e-5)


def test_a_sweep_stacks_runs_on_gpus_only(monkeypatch):
    """Without ``--stack``: the runs shared out evenly among the GPUs (at most 18 a stack), one run per unit on CPUs."""
    from gfn_lib import sweep

    for gpus, n_tasks, stack in ((0, 8, 1), (1, 8, 8), (1, 69, 18), (4, 8, 2), (3, 8, 3)):
        monkeypatch.setattr(sweep, "_gpu_count", lambda gpus=gpus: gpus)
        assert sweep.default_stack(n_tasks) == stack


def test_sweeps_start_the_costliest_runs_first():
    tasks = execution.plan([], "cpu")  # the profile's runs
    cost = {t.spec.name: t.cost for t in tasks}
    assert cost["phase3b-stb-validation-10k"] == cost["gflownet-reward-C-improved-10k"]  # exactly TB, as published
    subtb, deep, legacy = (execution.plan([n], "cpu")[0].cost for n in ("ablation-subtb", "ablation-8-layers",
                                                                          "sensitivity-stated-assumptions"))  # fmt: skip
    assert subtb > cost["gflownet-reward-C-improved-10k"]  # SubTB's flow head and sub-trajectories
    assert deep == pytest.approx(2 * cost["gflownet-reward-C-improved-10k"])  # twice the profile's layers
    assert legacy > execution.plan(["sensitivity-stated-assumptions"], "cpu", overrides={"reward": "baseline"})[0].cost
    assert len({t.cost for t in tasks if t.spec.name == "gflownet-reward-C-improved-10k"}) == 1  # seeds cost alike


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


# ---- overrides apply last, the same way everywhere -----------------------------------------
def _resolved(folder: Path) -> dict:
    return yaml.safe_load((folder / "config.yaml").read_text())


@pytest.mark.slow
def test_overrides_apply_last_for_set_papermill_and_a_yaml_file(tmp_path):
    """`--set`, `papermill -p` and a user's YAML file: the run folder's config.yaml is what the
    planner resolved, the user's values unscaled by the profile (smoke scales n_steps by 0.004
    and sets checkpoint_every 10)."""
    out = tmp_path / "outputs"
    spec = _tiny_yaml(tmp_path, n_steps=5000)  # the file's own field: scaled by the profile (20 steps)
    res = _cli(out, "run", str(spec), "--profile", "smoke", "--set", "n_steps=30", "checkpoint_every=7")
    assert res.returncode == 0, res.stderr
    planned = study.resolve_config(study.load_run(spec), study.load_profile("smoke"), 0, n_steps=30, checkpoint_every=7)
    folder = study.run_dir("smoke", "tiny", 0, out)
    assert _resolved(folder) == planned.model_dump()
    assert (planned.n_steps, planned.checkpoint_every) == (30, 7) and len(pd.read_csv(folder / "metrics.csv")) == 30

    own = study.run_dir("smoke", "own", 0, out)
    res = _cli(out, "run", str(_tiny_yaml(tmp_path, "own", n_steps=5000)), "--profile", "smoke")
    assert res.returncode == 0, res.stderr
    assert _resolved(own)["n_steps"] == 20  # a file's field is the run's own: the profile scales it

    # papermill -f params/<run>.yaml -p field value: a field that differs from the params file is an override
    tiny = {k: v for k, v in TINY.items() if k != "run"}
    pm.execute_notebook(
        str(REPO / "notebooks" / "train.ipynb"), str(tmp_path / "pm.ipynb"), kernel_name="python3",
        parameters={**study.load_run("gflownet-baseline-10k").parameters(), **tiny, "profile": "smoke",
                    "out_root": str(out), "n_steps": 30, "checkpoint_every": 7},
        progress_bar=False, cwd=str(REPO),
    )  # fmt: skip
    overrides = {**tiny, "n_steps": 30, "checkpoint_every": 7}
    planned = study.resolve_config(study.load_run("gflownet-baseline-10k"), study.load_profile("smoke"), 42, **overrides)
    folder = study.run_dir("smoke", "gflownet-baseline-10k", 42, out)  # seed: the run's first (published 42)
    assert _resolved(folder) == planned.model_dump() and planned.n_steps == 30
    assert json.loads((folder / "run.json").read_text())["overrides"]["n_steps"] == 30


def test_profiles_name_the_runs_they_run():
    for name in study.available_profiles():
        runs = study.load_profile(name).default_runs()
        assert set(runs) == {s.name for s in study.list_runs("documented")}, name
        assert runs["gflownet-reward-C-improved-10k"] == [42, 43, 44] and runs["gflownet-baseline-10k"] == [42]
    tasks = execution.plan([], "smoke")
    assert len(tasks) == 8 and {t.seed for t in tasks} == {42, 43, 44}
    assert [t.seed for t in execution.plan(["gflownet-baseline-10k"], "smoke", seeds=2)] == [42, 43]
    assert len(execution.plan([], "smoke", all_runs=True)) >= len(study.list_runs())
