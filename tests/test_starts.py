"""Where runs start (``gfn_lib.study.starts``, ``gfn-study starts``): the survey's row of a seed is the first
metrics row its run logs, the seeds are chosen and ranked by rules that can be checked by hand, and the file is
written whole or not at all."""

from __future__ import annotations

import os

import pandas as pd
import pytest

from gfn_lib.storage import read_metrics
from gfn_lib.study import load_profile, resolve_config, spec_from_mapping, starts
from gfn_lib.trainer import Trainer

TINY = {"run": "tiny-start", "reward": "table", "alphabet": "ABC", "min_len": 1, "max_len": 6, "n_steps": 20,
        "metrics_every": 5, "wandb_mode": "disabled"}  # fmt: skip


def test_each_seeds_survey_row_is_the_first_row_its_run_logs(tmp_path):
    spec, profile = spec_from_mapping(TINY, source="test"), load_profile("smoke")
    table = starts.starting_points(spec, profile, [3, 4, 5], stack=2)  # a stack of 2, then one alone
    assert table["seed"].tolist() == [3, 4, 5] and list(table.columns[3:]) == list(starts.START_COLUMNS)
    assert table["mean_log_pf"].nunique() == 3  # the seeds start differently
    for seed in (4, 5):
        Trainer(resolve_config(spec, profile, seed, wandb_mode="disabled"), tmp_path / str(seed)).train(progress=False)
        logged = read_metrics(tmp_path / str(seed) / "metrics.csv").iloc[0]
        row = table.set_index("seed").loc[seed]
        for column in starts.START_COLUMNS:
            assert row[column] == pytest.approx(logged[column], rel=1e-6, abs=1e-9), (seed, column)


def test_closest_seeds_and_the_share_at_or_above_a_value():
    table = pd.DataFrame({"seed": [0, 1, 2, 3, 4], "mean_log_pf": [-60.0, -30.0, -26.0, -28.0, -20.0]})
    assert starts.closest_seeds(table, -28.0, 3) == [3, 1, 2]  # distances 0, 2, 2: the tie goes to the smaller seed
    assert starts.share_at_or_above(table, -28.0) == pytest.approx(3 / 5)  # -28 itself counts
    assert starts.share_at_or_above(table, -10.0) == 0.0


def test_the_survey_file_round_trips_and_a_failed_write_keeps_the_last(tmp_path, monkeypatch):
    path = starts.starts_path(tmp_path / "cpu", "r")
    assert path == tmp_path / "cpu" / "starts" / "r.csv"  # one file per run: another run's survey never replaces it
    assert starts.read_starts(path) is None
    old = pd.DataFrame({"run": "r", "profile": "cpu", "seed": [0, 1], "mean_log_pf": [-60.5, -30.25]})
    starts.write_starts(old, path)
    pd.testing.assert_frame_equal(starts.read_starts(path), old)

    def broken(fd):  # the new survey is written, then the disk fails before it replaces the old one
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        starts.write_starts(old.assign(seed=[5, 6]), path)
    monkeypatch.undo()
    pd.testing.assert_frame_equal(starts.read_starts(path), old)
    assert [p.name for p in path.parent.iterdir()] == ["r.csv"]  # no temporary file left
