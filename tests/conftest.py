"""Shared fixtures. Tiny models run fastest single-threaded, and one thread keeps
results independent of the machine's core count. ``make test`` runs the tests on one pytest-xdist
worker per core; each worker writes under its own ``$GFN_OUTPUTS/<worker>`` (the notebooks nbmake
executes inherit it), so no test sees another's runs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "disabled")
if os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get("GFN_OUTPUTS"):  # make test: one outputs folder per worker
    os.environ["GFN_OUTPUTS"] = os.path.join(os.environ["GFN_OUTPUTS"], os.environ["PYTEST_XDIST_WORKER"])
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(1)

from gfn_lib.config import TrainConfig, make_config  # noqa: E402


@pytest.fixture
def tiny_config() -> TrainConfig:
    """A 3-letter, length 1-4 problem with a tiny policy: a training step costs ~5 ms."""
    return make_config(
        dict(
            alphabet="ABC", min_len=1, max_len=4, n_layers=1, d_model=32, n_heads=2,
            reward="table", batch_size=32, warmup_steps=5, n_steps=40, lr=3e-3, log_z_lr=0.1,
            metrics_every=5, checkpoint_every=10, top_k=3, top_k_every=10, wandb_mode="disabled",
        )
    )  # fmt: skip


@pytest.fixture
def count_backbone_calls(monkeypatch):
    """``start(backbone)`` -> the list of the rows of each forward of the published rewards' ``backbone`` from
    then on, to the end of the test."""

    def start(backbone) -> list[int]:
        calls, forward = [], backbone._forward
        monkeypatch.setattr(backbone, "_forward", lambda actions, lengths: calls.append(len(actions)) or forward(actions, lengths))
        return calls

    return start
