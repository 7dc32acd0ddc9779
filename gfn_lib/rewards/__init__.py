"""Reward functions R(x) in (0, 1] behind one registry.

>>> from gfn_lib import rewards
>>> rewards.available()          # names for the ``reward`` config field
>>> r = rewards.load("baseline")  # a :class:`Reward`
>>> r(["GIGKFLHSAKKFGKAFVGEIMNS"])
"""

from gfn_lib.rewards.base import REWARD_FLOOR, Reward, TableReward, available, load, register

__all__ = ["REWARD_FLOOR", "Reward", "TableReward", "available", "load", "register"]
