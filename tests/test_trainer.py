import math
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
import yaml

from gfn_lib.trainer import METRIC_COLUMNS, TIMING_COLUMNS, Trainer, get_lr

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _metrics(df: pd.DataFrame) -> pd.DataFrame:
    return df.drop(columns=TIMING_COLUMNS).reset_index(drop=True)


def test_get_lr_linear_warmup():
    assert get_lr(0, 1.0, 4) == 0.25
    assert get_lr(3, 1.0, 4) == 1.0
    assert get_lr(100, 3e-4, 4) == 3e-4
    assert get_lr(0, 3e-4, 0) == 3e-4


def test_log_z_has_its_own_parameter_group_and_lr(tiny_config):
    tr = Trainer(tiny_config)
    names = [g["name"] for g in tr.optimizer.param_groups]
    assert names == ["policy", "log_z"]
    assert tr.optimizer.param_groups[1]["params"] == [tr.objective.log_z]
    row = tr.train_step()
    assert row["lr"] == pytest.approx(3e-3 / 5) and row["log_z_lr"] == pytest.approx(0.1 / 5)
    assert not any(p is tr.objective.log_z for p in tr.optimizer.param_groups[0]["params"])


def test_logvar_has_no_log_z_group(tiny_config):
    tr = Trainer(tiny_config.model_copy(update={"loss": "logvar"}))
    assert [g["name"] for g in tr.optimizer.param_groups] == ["policy"]
    assert math.isnan(tr.train_step()["log_z_lr"])


def test_every_metric_is_logged_and_finite(tiny_config, tmp_path):
    df = Trainer(tiny_config, tmp_path).train(progress=False)
    assert list(df.columns) == METRIC_COLUMNS
    assert df.step.tolist() == list(range(1, 41))
    assert df.notna().all().all() and (df.select_dtypes("number").abs() < 1e9).all().all()
    assert (df.mean_log_pf <= 0).all() and (df.mean_length.between(1, 4)).all()
    assert (df.mean_actions == df.mean_length + 1).all()
    assert ((df.unique_frac > 0) & (df.unique_frac <= 1)).all()
    # residual mean = log_z + mean_log_pf - mean target log R (same batch)
    assert (df.residual_mean - (df.log_z + df.mean_log_pf - df.mean_target_log_reward)).abs().max() < 1e-4
    samples = pd.read_csv(tmp_path / "samples.csv")
    assert sorted(samples.step.unique()) == [10, 20, 30, 40] and samples["rank"].max() == 3
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["alphabet"] == "ABC"


def test_grad_clip_bounds_the_update(tiny_config):
    cfg = tiny_config.model_copy(update={"grad_clip": 1e-3, "log_z_init": 20.0})
    tr = Trainer(cfg)
    before = [p.detach().clone() for p in tr.policy.parameters()]
    row = tr.train_step()
    assert row["grad_norm"] > 1e-3  # reported norm is the pre-clip norm
    grads = torch.cat([p.grad.flatten() for p in tr.policy.parameters() if p.grad is not None])
    assert grads.norm().item() == pytest.approx(1e-3, rel=1e-3)
    assert any(not torch.equal(a, b) for a, b in zip(before, tr.policy.parameters()))


def test_same_config_and_seed_give_identical_metrics(tiny_config):
    a = _metrics(Trainer(tiny_config).train(progress=False))
    b = _metrics(Trainer(tiny_config).train(progress=False))
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    c = _metrics(Trainer(tiny_config.model_copy(update={"seed": 1})).train(progress=False))
    assert not a.loss.equals(c.loss)


def test_the_multi_tensor_optimiser_gives_the_per_tensor_loops_numbers(tiny_config):
    """The trainer's foreach AdamW (and Adam) against torch's CPU default, the per-tensor loop: bit for bit."""
    for optimizer in ("adamw", "adam"):
        cfg = tiny_config.model_copy(update={"optimizer": optimizer, "weight_decay": 0.01, "n_steps": 15})
        fast, loop = Trainer(cfg), Trainer(cfg)
        assert all(g["foreach"] for g in fast.optimizer.param_groups)
        for group in loop.optimizer.param_groups:
            group["foreach"] = False
        fast_metrics = _metrics(fast.train(progress=False))
        pd.testing.assert_frame_equal(fast_metrics, _metrics(loop.train(progress=False)), check_exact=True)
        for part in ("policy", "objective"):  # the policy's parameters and log Z
            for a, b in zip(getattr(fast, part).parameters(), getattr(loop, part).parameters(), strict=True):
                assert torch.equal(a, b)


def test_resume_in_process_matches_uninterrupted(tiny_config, tmp_path):
    full = _metrics(Trainer(tiny_config, tmp_path / "full").train(progress=False))
    half = tiny_config.model_copy(update={"n_steps": 25})  # checkpoints at 10, 20, final 25
    Trainer(half, tmp_path / "split").train(progress=False)
    resumed = Trainer(tiny_config, tmp_path / "split")
    assert resumed.step == 25
    pd.testing.assert_frame_equal(_metrics(resumed.train(progress=False)), full, check_exact=True)


def test_a_nudged_init_is_another_run_that_resumes_exactly(tiny_config, tmp_path):
    nudged = tiny_config.model_copy(update={"init_nudge": 1})
    plain, first = Trainer(tiny_config), Trainer(nudged)
    assert any(not torch.equal(a, b) for a, b in zip(plain.policy.parameters(), first.policy.parameters()))
    full = _metrics(Trainer(nudged, tmp_path / "full").train(progress=False))
    assert not full.loss.equals(_metrics(plain.train(progress=False)).loss)
    Trainer(nudged.model_copy(update={"n_steps": 25}), tmp_path / "split").train(progress=False)
    resumed = Trainer(nudged, tmp_path / "split")  # the checkpoint's weights, not nudged a second time
    pd.testing.assert_frame_equal(_metrics(resumed.train(progress=False)), full, check_exact=True)


def test_resume_refuses_a_different_config(tiny_config, tmp_path):
    Trainer(tiny_config.model_copy(update={"n_steps": 10}), tmp_path).train(progress=False)
    with pytest.raises(ValueError, match="different config.*lr"):
        Trainer(tiny_config.model_copy(update={"lr": 1e-2}), tmp_path)


def test_sigkill_then_resume_gives_the_uninterrupted_metrics(tiny_config, tmp_path):
    """Kill a real training process with SIGKILL mid-run; resuming must reproduce the
    metrics of an uninterrupted run exactly, losing at most checkpoint_every steps."""
    cfg = tiny_config.model_copy(update={"n_steps": 400, "checkpoint_every": 10, "metrics_every": 3})
    cfg_file = tmp_path / "cfg.yaml"
    cfg_file.write_text(yaml.safe_dump(cfg.model_dump()))
    run = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": REPO}
    code = "import torch, sys; torch.set_num_threads(1); from gfn_lib.cli import main; sys.exit(main())"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "train", "--config", str(cfg_file), "--out", str(run), "--quiet"], env=env
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        if (run / "metrics.csv").exists() and len((run / "metrics.csv").read_text().splitlines()) > 60:
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert 0 < state["step"] < 400, "the process should have been killed mid-run"
    rows_on_disk = len(pd.read_csv(run / "metrics.csv", on_bad_lines="skip"))
    assert rows_on_disk - state["step"] <= cfg.checkpoint_every + cfg.metrics_every  # little is lost

    resumed = Trainer(cfg, run)
    assert resumed.step == state["step"]
    got = _metrics(resumed.train(progress=False))
    want = _metrics(Trainer(cfg, tmp_path / "clean").train(progress=False))
    pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_atomic_writes_replace_whole_files_with_ordinary_permissions(tmp_path):
    from gfn_lib.storage import atomic_write_text

    target = tmp_path / "run.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temp file left behind
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600


def test_a_background_write_saves_the_state_as_it_was_when_asked(tmp_path):
    """The writer thread is held busy while the caller changes the saved tensors in place (as the next
    optimiser steps do): the file still holds the values of the moment of the call."""
    import threading

    from gfn_lib import storage

    release = threading.Event()
    busy = storage._WRITER.submit(release.wait)
    weights = {"policy": {"w": torch.zeros(3)}, "moments": [torch.ones(2)], "step": 7}
    write = storage.atomic_torch_save_soon(weights, tmp_path / "checkpoint.pt")
    weights["policy"]["w"].add_(1.0)
    weights["moments"][0].mul_(5.0)
    assert not (tmp_path / "checkpoint.pt").exists()  # not written yet: the thread is busy
    release.set()
    busy.result()
    write.result()
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert saved["policy"]["w"].tolist() == [0.0] * 3 and saved["moments"][0].tolist() == [1.0, 1.0]
    assert saved["step"] == 7


def test_periodic_checkpoints_are_written_in_the_background_and_their_errors_raised(tiny_config, tmp_path, monkeypatch):
    """The checkpoint of every ``checkpoint_every`` steps goes to the writer thread (the step does not wait);
    a failed write is raised by the run's next checkpoint, and the last good checkpoint stays whole."""
    from concurrent.futures import Future

    from gfn_lib import trainer as trainer_module

    cfg = tiny_config.model_copy(update={"n_steps": 20, "checkpoint_every": 10})
    asked, original = [], trainer_module.atomic_torch_save_soon

    def failing(obj, path):
        asked.append(obj["step"])
        if obj["step"] == 20:  # the second periodic write fails
            failed: Future[None] = Future()
            failed.set_exception(OSError("disk full"))
            return failed
        return original(obj, path)

    monkeypatch.setattr(trainer_module, "atomic_torch_save_soon", failing)
    run = Trainer(cfg, tmp_path)
    with pytest.raises(OSError, match="disk full"):
        run.train(progress=False)  # the final checkpoint finds the failed write first
    assert asked == [10, 20]
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["step"] == 10


def test_dropout_scoring_changes_the_scores_not_the_samples(tiny_config):
    """``dropout_scoring``: the scoring pass's masks are its own (``fresh``) or the sampler's (``sampling``);
    either way the same seed samples the same trajectories, only log P_F (and what follows) differs."""
    cfg = tiny_config.model_copy(update={"dropout": 0.3})
    fresh = Trainer(cfg).train_step()
    again = Trainer(cfg).train_step()
    sampling = Trainer(cfg.model_copy(update={"dropout_scoring": "sampling"})).train_step()
    assert fresh["mean_log_pf"] == again["mean_log_pf"]  # seeded: the same masks every time
    for key in ("mean_length", "mean_reward", "unique_frac", "composition_entropy"):
        assert fresh[key] == sampling[key], key
    assert fresh["mean_log_pf"] != sampling["mean_log_pf"]
