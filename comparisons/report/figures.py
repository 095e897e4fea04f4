"""The report's figures as PNG bytes, drawn on matplotlib's Agg canvas (no pyplot, no global state).

loss, accuracy     both sides' curves: training batches (thin, grey) and epoch-end evaluations
out, dx, grad, update, state
                   each tensor's gated difference per step (manual vs torch, or vs the referee where
                   it decided), log axis, the allowance, the first failure
param (drift)      free mode: each parameter's distance between the two trajectories (not gated)
disagreements      share of samples whose predicted class differs, per phase, with its allowance
"""
import io
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparisons.report.sections import failure_place

FIGSIZE = (6.0, 3.5)     # inches; with DPI, a 600 x 350 px image
DPI = 100
MAX_POINTS = 2000        # per line: a longer series is reduced per bin (mean for curves, max for
                         # differences, so peaks survive); a 30,000-step run renders in 1.7 s, as a 600-step one
MARGINS = dict(left=0.12, right=0.98, top=0.92, bottom=0.13)   # fixed: a third faster than constrained layout
PHASE_COLORS = {"step": "0.55", "train": "C0", "valid": "C1", "test": "C2"}
SIDE_STYLES = (("manual", "manual", "-"), ("torch", "reference", "--"))   # (label, column, line style)
TENSOR_QUANTITIES = ("out", "dx", "grad", "update", "state")
FAILURE_COLOR = "red"


@dataclass(frozen=True)
class Chart:
    name: str      # file stem: report-NAME.png
    title: str
    png: bytes


def render(run) -> list["Chart"]:
    """Every figure a RunDir has data for, in report order."""
    charts = [_curves(run, "loss"), _curves(run, "accuracy"),
              *(_differences(run, q) for q in TENSOR_QUANTITIES), _differences(run, "param", track="drift"),
              _disagreements(run)]
    return [c for c in charts if c is not None]


def _axes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(**MARGINS)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xlabel("step")
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    return fig, ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _thin(x: np.ndarray, y: np.ndarray, how: str) -> tuple[np.ndarray, np.ndarray]:
    """At most MAX_POINTS points: per consecutive bin, the mean or the max (NaN-ignoring) of y."""
    n = len(x)
    if n <= MAX_POINTS:
        return x, y
    starts = np.arange(0, n, math.ceil(n / MAX_POINTS))
    if how == "max":
        return x[starts], np.fmax.reduceat(y, starts)
    return x[starts], np.add.reduceat(y, starts) / np.diff(np.append(starts, n))


def _mark_failure(ax, run, quantity: str | None = None, rows=None):
    """A red vertical line at the first failure's step (returned, for legends); a cross on the
    failing value if it is plotted here."""
    failure = run.summary.get("first_failure")
    if not failure or not isinstance(failure.get("step"), int):
        return None
    step = failure["step"]
    line = ax.axvline(step, color=FAILURE_COLOR, linewidth=1, alpha=0.8,
                      label=f"first failure: {failure_place(failure)}")
    if rows is not None and failure.get("quantity") == quantity:
        hit = rows.loc[(rows["step"] == step) & (rows["name"] == failure.get("name", "")), "rel_diff"]
        if len(hit) and math.isfinite(hit.iloc[0]) and hit.iloc[0] > 0:
            ax.plot([step], [hit.iloc[0]], marker="x", color=FAILURE_COLOR, markersize=9, markeredgewidth=2)
    return line


def _legend(ax, **kw) -> None:
    ax.legend(fontsize=7, framealpha=0.8, **kw)


def _curves(run, quantity: str):
    """Loss or accuracy of both sides; a summed training loss is shown per sample to share the axis."""
    frame = run.frame
    free = run.summary["config"].get("mode") == "free"
    judged = frame[frame["track"] == "judged"]
    rows = judged[judged["quantity"] == quantity].copy()
    if rows.empty:
        return None
    if free:     # torch's curve is its own trajectory: the drift twin's
        drift = frame[(frame["track"] == "drift") & (frame["quantity"] == quantity)]
        rows["reference"] = drift.set_index(["step", "phase"])["reference"].reindex(
            pd.MultiIndex.from_frame(rows[["step", "phase"]])).to_numpy()
    if quantity == "accuracy":   # counts of correct predictions -> fractions of the samples
        sizes = judged[judged["quantity"] == "disagreements"].set_index(["step", "phase"])["reference"]
        n = sizes.reindex(pd.MultiIndex.from_frame(rows[["step", "phase"]])).to_numpy(dtype=float)
        rows["manual"], rows["reference"] = rows["manual"] / n, rows["reference"] / n
    from matplotlib.lines import Line2D
    per_sample = quantity == "loss" and run.summary["config"].get("reduction") == "sum"
    batch_sizes = None
    if per_sample:
        counts = judged[(judged["quantity"] == "disagreements") & (judged["phase"] == "step")]
        batch_sizes = counts.set_index("step")["reference"]
    fig, ax = _axes()
    phases = []
    for phase, group in rows.groupby("phase", observed=True, sort=False):
        phase, batches = str(phase), str(phase) == "step"
        phases.append(phase)
        x = group["step"].to_numpy()
        for _, column, style in SIDE_STYLES:
            y = group[column].to_numpy(dtype=float)
            if batches and per_sample:
                y = y / batch_sizes.reindex(group["step"]).to_numpy(dtype=float)
            if batches:
                xs, ys = _thin(x, y, "mean")
                ax.plot(xs, ys, style, color=PHASE_COLORS.get(phase), linewidth=0.7, alpha=0.7)
            else:
                ax.plot(x, y, style, color=PHASE_COLORS.get(phase), linewidth=1.4, marker="o", markersize=2.5)
    failure = _mark_failure(ax, run)
    handles = [Line2D([], [], color=PHASE_COLORS.get(p), label="training batch" if p == "step" else p)
               for p in phases]
    handles += [Line2D([], [], color="k", linestyle=style, label=label) for label, _, style in SIDE_STYLES]
    handles += [failure] if failure is not None else []
    _legend(ax, handles=handles, ncol=2)
    label = "loss" + (" (training batches: per sample)" if per_sample else "")
    ax.set_ylabel(label if quantity == "loss" else "accuracy")
    title = f"{quantity.capitalize()}: manual (solid) and torch (dashed)"
    ax.set_title(title, fontsize=10)
    return Chart(quantity, title, _png(fig))


def _tolerance_segments(rows) -> list[tuple[int, int, float]]:
    """(first step, last step, tolerance) for each run of steps with one finite tolerance."""
    tol = rows.groupby("step")["tolerance"].max()
    steps, values = tol.index.to_numpy(), tol.to_numpy(dtype=float)
    segments, start = [], 0
    for i in range(1, len(values) + 1):
        if i == len(values) or values[i] != values[start]:
            if math.isfinite(values[start]):
                segments.append((int(steps[start]), int(steps[i - 1]), float(values[start])))
            start = i
    return segments


def _differences(run, quantity: str, track: str = "judged"):
    """Each tensor's gated difference per step on a log axis; exact zeros leave gaps."""
    frame = run.frame
    rows = frame[(frame["quantity"] == quantity) & (frame["phase"] == "step") & (frame["track"] == track)
                 & (frame["step"] > 0)]
    if rows.empty:
        return None
    fig, ax = _axes()
    plotted = False
    for name, group in rows.groupby("name", observed=True, sort=False):
        y = group["value"].to_numpy(dtype=float)
        y = np.where(y > 0, y, np.nan)          # log axis: exact agreement (0) cannot be drawn
        xs, ys = _thin(group["step"].to_numpy(), y, "max")
        ax.plot(xs, ys, linewidth=0.9, label=str(name))
        plotted |= bool(np.isfinite(ys).any())
    segments = _tolerance_segments(rows)
    gated_everywhere = sum(b - a + 1 for a, b, _ in segments) == rows["step"].nunique()
    for i, (first, last, value) in enumerate(segments):
        label = None if i else ("tolerance" if gated_everywhere else "tolerance (where gated)")
        if first == last:
            ax.plot([first], [value], marker="_", markersize=14, markeredgewidth=2, color="k", label=label)
        else:
            ax.hlines(value, first, last, colors="k", linestyles=":", linewidth=1.2, label=label)
    _mark_failure(ax, run, quantity, rows)
    if plotted:
        ax.set_yscale("log")
    else:        # a log axis without a positive value has no range
        ax.set_ylim(bottom=0)
        ax.text(0.5, 0.3, "every difference is exactly 0", transform=ax.transAxes, ha="center")
    ax.set_ylabel("relative L2 difference")
    if track == "drift":
        title = f"{quantity} (drift): ||manual - torch|| / ||torch|| of the two trajectories (not gated)"
    else:
        title = f"{quantity}: relative L2 difference per tensor (vs torch; vs the referee where it decided)"
    ax.set_title(title, fontsize=9)
    _legend(ax, ncol=2)
    return Chart(quantity if track == "judged" else f"{quantity}-drift", title, _png(fig))


def _disagreements(run):
    """Percent of samples predicted differently, per phase, with each phase's allowance dotted."""
    frame = run.frame
    rows = frame[(frame["quantity"] == "disagreements") & (frame["track"] == "judged")]
    if rows.empty:
        return None
    fig, ax = _axes()
    for phase, group in rows.groupby("phase", observed=True, sort=False):
        phase, batches = str(phase), str(phase) == "step"
        x = group["step"].to_numpy()
        share = 100 * group["rel_diff"].to_numpy(dtype=float)
        allowed = 100 * (group["tolerance"] / group["reference"]).to_numpy(dtype=float)
        if batches:
            allowed = _thin(x, allowed, "max")[1]
            x, share = _thin(x, share, "max")
        color = PHASE_COLORS.get(phase)
        ax.plot(x, share, color=color, linewidth=0.8 if batches else 1.4,
                marker=None if batches else "o", markersize=2.5,
                label="training batch" if batches else phase)
        ax.plot(x, allowed, color=color, linestyle=":", linewidth=0.9, drawstyle="steps-post")
    _mark_failure(ax, run)
    ax.set_ylabel("% of samples")
    title = "Predictions that differ (dotted: allowed)"
    ax.set_title(title, fontsize=10)
    _legend(ax, ncol=2)
    return Chart("disagreements", title, _png(fig))
