"""The benchmarks' yardstick and entry point (`make bench`): the plain single-run reference does the
work a run does, and the stack benchmark prints its table. Timing itself is never asserted."""

import subprocess
import sys
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import reference_step  # noqa: E402


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
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "bench_multirun.py"), "--shapes", "small", "--runs", "1", "2",
         "--steps", "1", "--warmup", "0"],
        capture_output=True, text=True, check=True, cwd=BENCHMARKS.parent,
    ).stdout  # fmt: skip
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == ["small"]]
    assert [r[1] for r in rows] == ["ref", "1", "2"]
    shape, r, *numbers, vs_one, rounds, vs_ref = rows[2]
    assert vs_one.endswith("x") and vs_ref.endswith("x") and "-" in rounds  # speed-ups over R = 1 (range) and ref
    assert float(numbers[3]) > 0  # run-steps/s


def test_profile_stack_prints_where_a_stacked_step_goes():
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "profile_stack.py"), "--shape", "small", "--runs", "2", "--steps", "1",
         "--warmup", "0", "--top", "3"],
        capture_output=True, text=True, check=True, cwd=BENCHMARKS.parent,
    ).stdout  # fmt: skip
    head = out.splitlines()[0]
    assert head.startswith("small R=2") and "ms/step wall" in head and "device busy 0.0 ms/step" in head  # CPU: no kernels
    assert "aten::" in out  # the operators' table
