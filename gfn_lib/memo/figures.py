"""The report's figures: which runs go in which figure (the drawing is :mod:`gfn_lib.plots`)."""

from __future__ import annotations

from typing import Any

from gfn_lib import plots
from gfn_lib.memo.quotes import EXAMPLE_RUN, MEMO_WINDOW
from gfn_lib.memo.runs import RunGroup, SeedRun, Study, short_name
from gfn_lib.memo.starts import published_start, start_marks
from gfn_lib.memo.traps import PUBLISHED_TRAP_ESCAPE, PUBLISHED_TRAP_ONSET
from gfn_lib.memo.verdicts import sensitivity_runs


def seed_curve(s: SeedRun) -> plots.SeedCurve:
    """A seed as the plots draw it: metrics, explosion step, trap (onset, escape) if it has one."""
    trap = (s.trap.onset_step, s.trap.escape_step) if s.trap is not None and s.trap.trapped else None
    return plots.SeedCurve(s.seed, s.metrics, s.explosion_step, trap)


def make_figures(st: Study, save: bool = True) -> dict[str, Any]:
    """Every figure of the report, saved as PNG and SVG under ``<out_root>/<profile>/figures/``
    when ``save``; returns {name: Figure}."""
    curves = {g.name: [seed_curve(s) for s in g.with_data] for g in st.runs.values()}

    def label(g: RunGroup) -> str:  # unfinished runs say so in the legend
        return g.short_name if len(g.finished) == len(g.seeds) or not g.with_data \
            else f"{g.short_name} [{g.status_text}]"

    docs = {label(g): curves[g.name] for g in st.group("documented")}
    abl = {label(g): curves[g.name] for g in
           [st.get(EXAMPLE_RUN), *st.group("ablation")] if g is not None}
    sens = {label(g): curves[g.name] for g in sensitivity_runs(st)}
    docs_and_abl = {**docs, **{k: v for k, v in abl.items() if k not in docs}}
    window = tuple(st.to_run_step(m) for m in MEMO_WINDOW)
    name = st.profile.name
    figs = {
        "loss_explosions": plots.plot_loss_explosions(
            {"documented runs": docs, "ablations of reward-C (with the base)": abl},
            step_scale=st.step_scale, memo_window=window, title=f"TB loss per run ({name} profile)"),
        "metrics_documented": plots.plot_metric_panels(
            docs, step_scale=st.step_scale, title=f"Documented runs ({name} profile)"),
        "metrics_ablations": plots.plot_metric_panels(
            abl, step_scale=st.step_scale, mark_trap=False,
            title=f"Ablations of reward-C ({name} profile; each one's trap and escape: the escape grid)"),
        "metrics_sensitivity": plots.plot_metric_panels(
            sens, step_scale=st.step_scale, title=f"Sensitivity runs: unstated settings varied ({name} profile)"),
        "tb_residual": plots.plot_tb_residual(
            docs_and_abl, step_scale=st.step_scale,
            title=f"TB residual = log Z + log P_F − log R′ and its parts ({name} profile)"),
        "log_pf_decomposition": plots.plot_log_pf_decomposition(
            docs_and_abl, step_scale=st.step_scale,
            title=f"mean log P_F = mean actions × log P_F per action ({name} profile)"),
        "escape_grid": plots.plot_escape_grid(
            (short_name(EXAMPLE_RUN), curves.get(EXAMPLE_RUN, [])),
            {g.short_name: curves[g.name] for g in st.group("ablation")}, step_scale=st.step_scale,
            title=f"The trap and its escape in each ablation of reward-C ({name} profile)"),
        "composition": plots.plot_composition(
            docs, step_scale=st.step_scale,
            published_trap=(st.to_run_step(PUBLISHED_TRAP_ONSET), st.to_run_step(PUBLISHED_TRAP_ESCAPE[0])),
            title=f"Composition entropy and letters used: the low-entropy trap ({name} profile)"),
        "starts": plots.plot_starts(
            None if st.start_survey is None else st.start_survey["mean_log_pf"], published_start(), start_marks(st),
            title=f"Where runs start: the first batch's mean log P_F over seeds ({name} profile)"),
    }  # fmt: skip
    if save:
        for fig_name, fig in figs.items():
            plots.save_figure(fig, st.figures_dir, fig_name)
    return figs
