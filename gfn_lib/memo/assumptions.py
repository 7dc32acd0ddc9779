"""Stand-ins and assumptions: everything in our runs that is not the memo's own statement.

:func:`assumptions_table` lists, for the documented runs:

1. **published setup**: each field of the shared setup a run starts from (``setup:`` in its params
   file, ``params/setups/<name>.yaml``) with the value the runs use and the setup's ``sources``
   (where in the published code it was checked). A run that overrides a field shows its own value.
2. **assumption**: a run's own ``assumptions: {field: reason}`` mapping (settings we chose).
3. **stand-in**: what replaces something we cannot have here (ESM-2 weights, the published
   reward heads), as each run's reward recorded it (``run.json`` ``reward.stand_ins``, else
   ``reward.json``); a run not run yet says so.
4. **profile**: the profile's overlay (fewer steps, a smaller policy), the stand-in for the
   memo's scale.

Identical rows of several runs are merged; ``Runs`` lists them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gfn_lib.config import ConfigError, read_yaml
from gfn_lib.memo.cells import NA, distinct
from gfn_lib.memo.runs import RunGroup, Study
from gfn_lib.study import specs

ASSUMPTION_COLUMNS = ["Kind", "Runs", "Field", "Value", "Source or reason"]


def read_setup(name: str) -> dict[str, Any]:
    """``params/setups/<name>.yaml`` as a mapping (``description``, ``fields``, ``sources``); ``{}``
    if it cannot be read (the params files that name it already failed to load then)."""
    path = Path(specs.SETUPS_DIR) / f"{name}.yaml"
    try:
        return read_yaml(path) if path.exists() else {}
    except ConfigError:
        return {}


def reward_info(g: RunGroup) -> dict[str, Any] | None:
    """The reward's ``describe()`` as the run recorded it: the first seed's ``run.json`` ``reward``
    with more than a name, else its ``reward.json``; None if no seed has started."""
    for s in g.seeds:
        rec = s.record.get("reward")
        if isinstance(rec, dict) and len(rec) > 1:
            return rec
        path = s.folder / "reward.json"
        if path.is_file():
            try:
                return json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue
    return None


def _runs_text(names: list[str], all_names: list[str]) -> str:
    if len(names) == len(all_names) > 1:
        return f"all {len(names)} documented runs"
    return ", ".join(names)


def _setup_rows(runs: list[RunGroup]) -> list[dict[str, Any]]:
    rows = []
    for setup in dict.fromkeys(g.meta["setup"] for g in runs if g.meta.get("setup")):
        data = read_setup(setup)
        users = [g for g in runs if g.meta.get("setup") == setup]
        sources = data.get("sources") or {}
        for fld, default in (data.get("fields") or {}).items():
            values = {g.short_name: g.fields.get(fld, default) for g in users}
            rows.append({"Kind": "published setup" if setup == "published" else f"setup {setup}",
                         "Runs": _runs_text(list(values), [g.short_name for g in runs]), "Field": fld,
                         "Value": distinct(values),
                         "Source or reason": sources.get(fld, f"params/setups/{setup}.yaml (no source named)")})
        for i, text in enumerate(data.get("differences") or [], 1):  # what our re-run does otherwise
            rows.append({"Kind": "difference from the published code", "Runs": _runs_text(
                [g.short_name for g in users], [g.short_name for g in runs]), "Field": f"difference {i}",
                "Value": str(text), "Source or reason": f"params/setups/{setup}.yaml"})  # fmt: skip
    return rows


def _stand_in_rows(runs: list[RunGroup]) -> list[dict[str, Any]]:
    merged: dict[tuple[str, str, str], list[str]] = {}
    for g in runs:
        info = reward_info(g)
        reward = g.config.reward
        if info is None:
            key = (reward, NA, "not run yet: a run records its reward's stand-ins (reward.json) when it starts")
        elif not info.get("stand_ins"):
            key = (reward, "none listed", "none: the reward is as published" if "stand_ins" in info else
                   "the reward records no stand-in list" if "published_as" in info else
                   "our own reward design (docs/rewards.md): the whole reward stands in for the memo's")
        else:
            for text in info["stand_ins"]:
                merged.setdefault((reward, str(text), info.get("published_as", "")), []).append(g.short_name)
            continue
        merged.setdefault(key, []).append(g.short_name)
    return [{"Kind": "stand-in", "Runs": ", ".join(names), "Field": f"reward {reward}", "Value": value,
             "Source or reason": source or "the published reward"} for (reward, value, source), names in merged.items()]


def _profile_row(st: Study) -> dict[str, Any]:
    p = st.profile
    parts = [f"{k} × {v:g}" for k, v in p.scale.items()] + [f"{k} = {v}" for k, v in p.set.items()]
    parts += [f"reward {r}: {', '.join(f'{k} {v}' for k, v in opts.items())}" for r, opts in p.reward_options.items()]
    return {"Kind": "profile", "Runs": "every run of this report", "Field": f"profile {p.name}",
            "Value": "; ".join(parts) or "none: the memo's scale",
            "Source or reason": p.description or NA}


def assumptions_table(st: Study, groups: Sequence[str] = ("documented",)) -> pd.DataFrame:
    """Stand-ins and assumptions of the runs of ``groups`` (module docstring): kind, runs, field,
    value, source or reason. The profile row is always there, so the table is never empty."""
    runs = st.groups(groups)
    rows = _setup_rows(runs)
    for g in runs:
        for fld, reason in (g.meta.get("assumptions") or {}).items():
            rows.append({"Kind": "assumption", "Runs": g.short_name, "Field": fld,
                         "Value": g.fields.get(fld, NA), "Source or reason": reason})
    rows += _stand_in_rows(runs)
    rows.append(_profile_row(st))
    return pd.DataFrame(rows, columns=ASSUMPTION_COLUMNS)
