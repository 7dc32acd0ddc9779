"""Reward functions R(x) in (0, 1] behind one registry.

>>> from gfn_lib import rewards
>>> rewards.available()          # names for the ``reward`` config field
>>> r = rewards.load("baseline")  # a :class:`Reward`
>>> r(["GIGKFLHSAKKFGKAFVGEIMNS"])
"""

from gfn_lib.rewards.base import REWARD_FLOOR, Reward, TableReward, available, load, register, shared_forwards

# importing a reward module registers it (see docs/rewards.md for the formulas)
from gfn_lib.rewards.baseline import BaselineReward  # noqa: E402  (registers "baseline")
from gfn_lib.rewards.esm2pll import ESM2PLLReward  # noqa: E402  (registers "esm2pll")
from gfn_lib.rewards.improved import ImprovedReward  # noqa: E402  (registers "improved")
from gfn_lib.rewards.published import (  # noqa: E402  (registers the four "*-published", as the memo ran them)
    BaselinePublishedReward,
    ESM2PLLPublishedReward,
    ImprovedPublishedReward,
    TrainedPublishedReward,
)
from gfn_lib.rewards.trained import TrainedReward  # noqa: E402  (registers "trained")

__all__ = [
    "REWARD_FLOOR",
    "BaselinePublishedReward",
    "BaselineReward",
    "ESM2PLLPublishedReward",
    "ESM2PLLReward",
    "ImprovedPublishedReward",
    "ImprovedReward",
    "Reward",
    "TableReward",
    "TrainedPublishedReward",
    "TrainedReward",
    "available",
    "load",
    "register",
    "shared_forwards",
]
