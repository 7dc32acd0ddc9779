"""The benchmarks' yardstick and entry point (`make bench`): the plain single-run reference does the
work a run does, and the stack benchmark prints its table. Timing itself is never asserted."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import reference_step  # noqa: E402


def _run_benchmark(script: str, *args: str) -> str:
    """What ``benchmarks/<script> args`` prints (it must exit 0), run from the repository root."""
    return subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, check=True,
                          cwd=BENCHMARKS.parent).stdout  # fmt: skip


def test_reference_run_samples_legal_trajectories_and_trains():
    torch.manual_seed(0)
    run = reference_step.ReferenceRun(layers=1, d=16, heads=2, batch=32)
    env = run.env
    actions, lengths = run.policy.sample(32)  # [B, T], [B]
    assert actions.shape == (32, env.horizon)
    assert ((lengths >= env.min_len) & (lengths <= env.max_len)).all()
    residues = torch.arange(env.horizon) < lengths.unsqueeze(1)
    assert (actions[residues] < env.stop).all() and (actions[~residues] == env.stop).all()
    log_pf = run.policy.log_pf(actions, lengths)
    assert log_pf.shape == (32,) and torch.isfinite(log_pf).all() and (log_pf < 0).all()
    before = run.log_z.item()
    loss = run.step()
    assert loss > 0 and run.log_z.item() != before  # a real update of log Z (and the policy)


def test_bench_multirun_prints_the_reference_and_the_stack():
    out = _run_benchmark("bench_multirun.py", "--shapes", "small", "--runs", "1", "2", "--steps", "1", "--warmup", "0")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["small"] and "model:" not in line]
    assert [r[1] for r in rows] == ["ref", "1", "2"]
    shape, r, *numbers, vs_one, rounds, vs_ref = rows[2]
    assert vs_one.endswith("x") and vs_ref.endswith("x") and "-" in rounds  # speed-ups over R = 1 (range) and ref
    assert float(numbers[3]) > 0  # run-steps/s
    model = [line for line in out.splitlines() if line.split()[:2] == ["small", "model:"]]
    assert len(model) == 1 and "ms shared" in model[0]  # which of the two forms depends on the sitting's timings


def test_profile_stack_prints_where_a_stacked_step_goes():
    out = _run_benchmark("profile_stack.py", "--shape", "small", "--runs", "2", "--steps", "1", "--warmup", "0", "--top", "3")
    head = out.splitlines()[0]
    assert head.startswith("small R=2") and "ms/step wall" in head and "device busy 0.0 ms/step" in head  # CPU: no kernels
    assert "aten::" in out  # the operators' table


def test_stack_model_splits_a_stacked_step_into_shared_and_per_run_time():
    from bench_multirun import stack_model

    shared, per_run = stack_model({1: 0.110, 6: 0.360, 18: 0.960})  # exactly 60 ms shared + 50 ms per run
    assert abs(shared - 0.060) < 1e-12 and abs(per_run - 0.050) < 1e-12
    shared, per_run = stack_model({1: 0.136, 6: 0.449, 18: 1.270})  # issue 13's small rows: least squares
    assert 0.055 < shared < 0.065 and 0.066 < per_run < 0.068
    # what it allows: 6 runs stacked beat six single runs by 6 (s + p) / (s + 6 p), under 2x here
    assert 6 * (shared + per_run) / (shared + 6 * per_run) < 2
    with pytest.raises(ValueError, match="at least two"):
        stack_model({6: 0.4})


def test_the_model_line_says_what_stacking_allows_or_that_no_line_fits():
    from bench_multirun import describe_stack_model

    line = describe_stack_model({1: 0.110, 6: 0.360, 18: 0.960})  # 60 ms shared + 50 ms per run
    assert "60.0 ms shared + 50.0 ms per run" in line and "per run / shared = 0.83" in line
    assert "limit for large R: 2.20x" in line  # (60 + 50) / 50
    memory_bound = describe_stack_model({1: 0.881, 6: 5.286, 18: 26.2})  # make bench's memo rows, 04:08 UTC
    assert memory_bound.startswith("no shared part") and "grows with R" in memory_bound


def test_bench_layouts_times_processes_stacks_and_threads_side_by_side():
    out = _run_benchmark("bench_layouts.py", "--layouts", "2x1x1", "1x2x1", "--steps", "1", "--warmup", "0", "--rounds", "1")
    rows = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert list(rows) == ["2x1x1", "1x2x1"]
    assert rows["2x1x1"][1] == "2" and rows["1x2x1"][1] == "2"  # runs in the layout
    assert float(rows["2x1x1"][2]) > 0 and rows["2x1x1"][-1] == "1.00x"  # run-steps/s; the first layout is the yardstick


def test_a_layout_is_processes_by_runs_by_threads():
    import argparse

    from bench_layouts import layout_name, parse_layout

    assert parse_layout("2x3x1") == (2, 3, 1) and layout_name((2, 3, 1)) == "2x3x1"
    for bad in ("2x3", "2x0x1", "axbxc"):
        with pytest.raises(argparse.ArgumentTypeError, match="PxRxT"):
            parse_layout(bad)


def test_bench_subnormals_trains_a_run_then_times_both_settings(tmp_path):
    run = tmp_path / "tiny-collapse.yaml"
    run.write_text("run: tiny-collapse\ndescription: a tiny run\nreward: table\nalphabet: ABC\nmin_len: 1\nmax_len: 4\n"
                   "n_layers: 1\nd_model: 16\nn_heads: 2\nbatch_size: 8\n")  # fmt: skip
    out = _run_benchmark("bench_subnormals.py", "--run", str(run), "--profile", "full", "--seed", "0",
                         "--train", "2", "--rounds", "1")  # fmt: skip
    assert "tiny-collapse seed 0 after 2 steps: letters" in out
    assert "subnormals kept" in out and "ms/step, flushed" in out


def test_bench_rewards_times_the_six_runs_rewards_both_ways():
    out = _run_benchmark("bench_rewards.py", "--stack", "--iters", "1", "--batch", "8")
    lines = [line for line in out.splitlines() if "ms per stacked step" in line]
    assert len(lines) == 2 and "one forward per run" in lines[0] and "one shared forward" in lines[1]


def test_metrics_hash_prints_a_fingerprint_of_the_stacked_trainers_numbers():
    from metrics_hash import metrics_hash

    out = _run_benchmark("metrics_hash.py", "--scoring", "sampling").strip()
    assert len(out) == 16 and int(out, 16) >= 0
    assert metrics_hash(["sampling"]) == out  # the same numbers in another process


def test_bench_phases_splits_a_stacked_step_and_states_the_bound():
    out = _run_benchmark("bench_phases.py", "--runs", "1", "2", "--steps", "1", "--warmup", "0")
    rows = {line[:18].strip(): line[18:].split() for line in out.splitlines()[2:] if line.startswith(" ")}
    assert list(rows) == ["dropout masks", "decode loop", "rewards", "scoring pass", "losses", "backward",
                          "clip + optimiser", "batch metrics", "other", "step"]  # fmt: skip
    assert all(float(cells[0]) >= 0 for name, cells in rows.items() if name != "other")  # R = 1's ms
    phases = sum(float(cells[2]) for name, cells in rows.items() if name != "step")  # R = 2's ms, "other" included
    assert abs(phases - float(rows["step"][2])) < 0.5  # the phases and the rest add up to the step
    assert "R = 2:" in out and "if the decode loop of 2 runs cost what one run's does" in out


def test_direct_run_without_names_trains_the_profiles_runs_as_one_stack(tmp_path):
    """What ``gpu_six_runs.sh`` and ``gpu_session.sh`` run: no names = the profile's runs, one seed each."""
    from gfn_lib import study

    env = {**os.environ, "GFN_OUTPUTS": str(tmp_path), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, str(BENCHMARKS / "direct_run.py"), "--profile", "smoke", "--wandb", "disabled",
                    "--set", "n_steps=6"], capture_output=True, text=True, check=True, cwd=BENCHMARKS.parent, env=env)  # fmt: skip
    finished = {p.parent.parent.name for p in (tmp_path / "smoke" / "runs").glob("*/seed-42/FINISHED")}
    assert finished == set(study.load_profile("smoke").runs) and len(finished) == 6
