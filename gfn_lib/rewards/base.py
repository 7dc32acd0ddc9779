"""The reward interface and its registry.

A reward maps a batch of terminal peptides to R(x) in (0, 1] (finite log). The
trainer calls :meth:`Reward.log_reward` on token tensors (no string round trip
on the hot path); people and tests call the reward on strings.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import torch

from gfn_lib.env import PeptideEnv

_REGISTRY: dict[str, Callable[..., Reward]] = {}

REWARD_FLOOR = 1e-6
"""Rewards are clamped to [REWARD_FLOOR, 1] so log R stays finite."""


def register(name: str) -> Callable[[Callable[..., Reward]], Callable[..., Reward]]:
    """Class/factory decorator: make a reward available under ``name``."""

    def deco(factory: Callable[..., Reward]) -> Callable[..., Reward]:
        if name in _REGISTRY:
            raise ValueError(f"reward {name!r} registered twice")
        _REGISTRY[name] = factory
        return factory

    return deco


def available() -> list[str]:
    """Names accepted by :func:`load` (and by the ``reward`` config field)."""
    return sorted(_REGISTRY)


def load(name: str, env: PeptideEnv | None = None, device: torch.device | str = "cpu", **options: Any) -> Reward:
    """Build the reward registered as ``name`` on ``device``."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown reward {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](env=env or PeptideEnv(), device=torch.device(device), **options)


class SharedModel(Protocol):
    """A model that several runs' rewards call on their own batches (the published rewards' backbone):
    :meth:`sharing` runs it once on every run's batch, and each reward's call on run r's batch then
    returns run r's part (to float tolerance what a call on that batch alone returns)."""

    def sharing(self, actions: torch.Tensor, lengths: torch.Tensor, runs: Sequence[int]) -> contextlib.AbstractContextManager[None]:
        """While open, calls on ``(actions[r], lengths[r])`` for ``r`` in ``runs`` (of ``actions [R, B, T]``,
        ``lengths [R, B]``) are answered from one computation over all of them."""


@contextlib.contextmanager
def shared_forwards(rewards: Sequence[Reward], actions: torch.Tensor, lengths: torch.Tensor) -> Iterator[None]:
    """Scoring R runs' batches ``actions [R, B, T]``, ``lengths [R, B]`` (run r's with ``rewards[r]``): every
    model that two or more of the rewards call (:meth:`Reward.shared_model`) runs once on all their
    batches while this is open, instead of once per run. The rewards are then called as usual, each on
    its own ``(actions[r], lengths[r])``; what is not shared (heads, gates, running state) stays per run."""
    groups: dict[int, tuple[SharedModel, list[int]]] = {}
    for r, reward in enumerate(rewards):
        model = reward.shared_model()
        if model is not None:
            groups.setdefault(id(model), (model, []))[1].append(r)
    with contextlib.ExitStack() as stack:
        for model, runs in groups.values():
            if len(runs) > 1:
                stack.enter_context(model.sharing(actions, lengths, runs))
        yield


class Reward(abc.ABC):
    """Base class: subclasses implement :meth:`score_tokens`."""

    name: str = "reward"

    def __init__(self, env: PeptideEnv, device: torch.device) -> None:
        self.env = env
        self.device = device

    @abc.abstractmethod
    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """``actions [B, L]`` (residue ids, STOP/padding after ``lengths [B]``) -> R ``[B]`` in (0, 1]."""

    def score(self, actions: torch.Tensor, lengths: torch.Tensor, update: bool = False) -> torch.Tensor:
        """R ``[B]``, not yet clamped. ``update=True`` marks a training batch: a stateful reward
        (running min-max) first folds the batch into its state; stateless rewards ignore it."""
        return self.score_tokens(actions, lengths)

    def log_reward(self, actions: torch.Tensor, lengths: torch.Tensor, eps: float | None = None,
                   update: bool = False) -> torch.Tensor:  # fmt: skip
        """log R ``[B]``.

        ``eps=None``: R clamped to ``[REWARD_FLOOR, 1]``, then log (finite; today's behaviour).
        ``eps`` given: ``log(R.clamp(0, 1) + eps)``, the published ``log(R + 1e-8)`` (R may be 0).
        ``update=True``: a training batch (see :meth:`score`); ``False`` leaves any state alone.
        """
        r = self.score(actions, lengths, update=update).float()
        if eps is None:
            return r.clamp(REWARD_FLOOR, 1.0).log()
        return (r.clamp(0.0, 1.0) + eps).log()

    def shared_model(self) -> SharedModel | None:
        """The model this reward may share with other runs' rewards in one stack (:func:`shared_forwards`);
        ``None``: nothing to share."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """State that changes during a run (checkpointed with it); stateless rewards have none."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (resume); stateless rewards have nothing to restore."""

    def __call__(self, sequences: Sequence[str] | torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Score strings (any length) or ``(actions, lengths)`` tensors; returns R ``[B]``."""
        if isinstance(sequences, torch.Tensor):
            if lengths is None:
                raise ValueError("token input needs lengths")
            actions = sequences.to(self.device)
            lengths = lengths.to(self.device)
        else:
            actions, lengths = self.env.encode(list(sequences), device=self.device, check_length=False)
        with torch.no_grad():
            return self.score_tokens(actions, lengths).float().clamp(REWARD_FLOOR, 1.0)

    def describe(self) -> dict[str, Any]:
        """Provenance recorded in each run's metadata (model, data, transform)."""
        return {"name": self.name}


@register("table")
class TableReward(Reward):
    """R(x) from a fixed ``{sequence: reward}`` table (tests on enumerable spaces).

    Sequences missing from the table get ``default``.
    """

    name = "table"

    def __init__(self, env: PeptideEnv, device: torch.device, table: dict[str, float] | None = None, default: float = 1.0):
        super().__init__(env, device)
        self.table = dict(table or {})
        self.default = float(default)
        for seq, r in self.table.items():
            if not 0.0 < r <= 1.0:
                raise ValueError(f"table reward for {seq!r} is {r}, outside (0, 1]")

    def score_tokens(self, actions: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        seqs = self.env.decode(actions, lengths)
        return torch.tensor([self.table.get(s, self.default) for s in seqs], device=self.device)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "entries": len(self.table), "default": self.default}
