"""How the report writes a cell: numbers, spreads over seeds, lists of runs, and the table style.

Every table of the report formats through these, so a value reads the same everywhere:
``—`` for nothing, ``median [min … max]`` over seeds, explosion steps with ``never``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd

NA = "—"


def fmt_num(value: float | None, spec: str = ".3g") -> str:
    """One number (``—`` for None/NaN); ``spec="int"``: rounded, with thousands separators."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    if spec == "int":
        return f"{int(round(value)):,}"
    return format(value, spec)


def approx_step(memo_step: float | None, absent: str = NA) -> str:
    """A step on the memo's axis, as every table writes it: ``≈ 4,800`` (``absent`` for None)."""
    return absent if memo_step is None else f"≈ {fmt_num(memo_step, 'int')}"


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def median(values: Iterable[float | None]) -> float | None:
    """Median of the finite values (None/NaN dropped); None if there are none."""
    vals = _finite(values)
    return float(np.median(vals)) if vals else None


def spread(values: Iterable[float | None], spec: str = ".3g") -> str:
    """``x`` for one value (or several that print alike), ``median [min … max]`` for several
    (None/NaN dropped), ``—`` for none."""
    vals = _finite(values)
    if not vals:
        return NA
    lo, hi = fmt_num(min(vals), spec), fmt_num(max(vals), spec)
    if len(vals) == 1 or lo == hi:
        return lo
    return f"{fmt_num(float(np.median(vals)), spec)} [{lo} … {hi}]"


def step_spread(steps: Sequence[int | None], spec: str = "int") -> str:
    """Explosion steps over seeds: ``never``, ``1,200``, ``1,200 [1,100 … 1,300]``, ``1,200; never in 1/3 seeds``."""
    if not steps:
        return NA
    hit = [s for s in steps if s is not None]
    if not hit:
        return "never" if len(steps) == 1 else f"never ({len(steps)}/{len(steps)} seeds)"
    text = spread(hit, spec)
    n_never = len(steps) - len(hit)
    return f"{text}; never in {n_never}/{len(steps)} seeds" if n_never else text


def seed_note(seeds: Sequence[Any]) -> str:
    """``1 seed``, ``3 seeds``."""
    return f"{len(seeds)} seed" + ("s" if len(seeds) != 1 else "")


def distinct(values: dict[str, Any]) -> str:
    """One value if all runs agree, else ``v1 (runs…); v2 (runs…)``."""
    by_value: dict[str, list[str]] = {}
    for run, v in values.items():
        by_value.setdefault(str(v), []).append(run)
    if len(by_value) <= 1:
        return next(iter(by_value), NA)
    return "; ".join(f"{v} ({', '.join(runs)})" for v, runs in by_value.items())


VERDICT_COLOURS = {"supported": "#d8f0d8", "consistent": "#d8f0d8", "explosion removed": "#d8f0d8",
                   "supports": "#d8f0d8", "refuted": "#f6d5d5", "contradicted": "#f6d5d5",
                   "against": "#f6d5d5", "still explodes": "#f6d5d5", "inconclusive": "#eeeeee",
                   "reproduced": "#d8f0d8", "missed": "#f6d5d5", "not reached": "#eeeeee", "not logged": "#eeeeee"}


def styled(df: pd.DataFrame, caption: str | None = None) -> Any:
    """A pandas Styler for the report: no index, left-aligned wrapped text, verdict cells
    coloured (green supported/consistent/reproduced, red refuted/contradicted/missed, grey
    inconclusive/not reached/not logged)."""

    def colour(v: Any) -> str:
        text = str(v).lower()
        for key, c in VERDICT_COLOURS.items():
            if text.startswith(key):
                return f"background-color: {c}"
        return ""

    sty = df.style.hide(axis="index").set_properties(**{"text-align": "left", "vertical-align": "top"})
    sty = sty.set_table_styles([
        {"selector": "th", "props": "text-align: left; vertical-align: bottom; background: #f3f3f3;"},
        {"selector": "td, th", "props": "padding: 3px 8px; border-bottom: 1px solid #ddd; font-size: 0.92em;"},
        {"selector": "caption", "props": "caption-side: top; text-align: left; font-weight: bold;"},
    ])  # fmt: skip
    cols = [c for c in df.columns if str(c).startswith("Verdict") or c == "Observed"]
    if cols and len(df):
        sty = sty.map(colour, subset=cols)
    if caption:
        sty = sty.set_caption(caption)
    return sty
