"""The report's figures as PNG bytes, drawn on matplotlib's Agg canvas (no pyplot, no global state).

loss, accuracy     both sides' curves: training batches (thin, grey) and epoch-end evaluations
layers             which layer differs: per quantity, each layer's worst share of its allowance per step
first-failure      where in the tensor the first failure sits: |manual - reference| per element, drawn
                   from first_failure.npz (comparisons/record/failure_array.py) when the run wrote one
out, dx, grad, update, state
                   each tensor's gated difference per step (manual vs torch, or vs the referee where
                   it decided), log axis, the tolerance where the quantity is gated, the first failure
param (drift)      free mode: each parameter's distance between the two trajectories (not gated)
disagreements      share of samples whose predicted class differs, per phase, with its allowance

The first failure is a black dash-dotted vertical line (no data line is black); legends sit outside
the axes, to the right, so they never cover data.
"""
import io
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from comparisons.report.sections import failure_place

FIGSIZE = (9.6, 4.0)     # inches; with DPI, a 960 x 400 px image: the page's width (write.STYLE)
DPI = 100
MAX_POINTS = 2000        # per line: a longer series is reduced per bin (mean for curves, max for
                         # differences, so peaks survive); a 30,000-step run renders in 1.7 s, as a 600-step one
MARGINS = dict(left=0.08, right=0.76, top=0.9, bottom=0.13)   # fixed: a third faster than constrained layout;
                                                                # right of 0.76: the legend
PHASE_COLORS = {"step": "0.55", "train": "C0", "valid": "C1", "test": "C2"}
SIDE_STYLES = (("manual", "manual", "-"), ("torch", "reference", "--"))   # (label, column, line style)
TENSOR_QUANTITIES = ("out", "dx", "grad", "update", "state")
FAILURE_STYLE = dict(color="k", linestyle="-.", linewidth=1.3)   # black: no data line is (tab10, greys)
TOLERANCE_STYLE = dict(color="k", linestyle=":", linewidth=1.2)


@dataclass(frozen=True)
class Chart:
    name: str      # file stem: report-NAME.png
    title: str
    png: bytes


def render(run) -> list["Chart"]:
    """Every figure a RunDir has data for, in report order."""
    charts = [_curves(run, "loss"), _curves(run, "accuracy"), _per_layer(run), _failure_heatmap(run),
              *(_differences(run, q) for q in TENSOR_QUANTITIES), _differences(run, "param", track="drift"),
              _disagreements(run)]
    return [c for c in charts if c is not None]


def _figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    fig.subplots_adjust(**MARGINS)
    FigureCanvasAgg(fig)
    return fig


def _axes():
    fig = _figure()
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


def _mark_failure(ax, run, quantity: str | None = None, rows=None, label: bool = True):
    """A black dash-dotted vertical line at the first failure's step (returned, for legends); a cross on
    the failing value if it is plotted here."""
    failure = run.summary.get("first_failure")
    if not failure or not isinstance(failure.get("step"), int):
        return None
    step = failure["step"]
    line = ax.axvline(step, **FAILURE_STYLE, label=_wrap(f"first failure: {failure_place(failure)}") if label else None)
    if rows is not None and failure.get("quantity") == quantity:
        hit = rows.loc[(rows["step"] == step) & (rows["name"] == failure.get("name", "")), "value"]
        if len(hit) and math.isfinite(hit.iloc[0]) and hit.iloc[0] > 0:
            ax.plot([step], [hit.iloc[0]], marker="x", color="k", markersize=9, markeredgewidth=2)
    return line


def _wrap(text: str, width: int = 34) -> str:
    """A legend entry on lines of at most ``width`` characters (the legend's column is ~a quarter of the figure)."""
    import textwrap
    return "\n".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _legend(ax, **kw) -> None:
    """The legend outside the axes, right of them (MARGINS leaves the room): it never covers data."""
    kw.setdefault("ncol", 1)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False, **kw)


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
    _legend(ax, handles=handles)
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
                 & (frame["step"] > 0) & (frame["metric"] != "abs_l2")]   # (a distance: not on this axis)
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
    segments = _tolerance_segments(rows)     # drawn only where the quantity is gated (a finite tolerance)
    gated_everywhere = sum(b - a + 1 for a, b, _ in segments) == rows["step"].nunique()
    for i, (first, last, value) in enumerate(segments):
        label = None if i else ("tolerance" if gated_everywhere else "tolerance (gated steps only;\nnot gated elsewhere)")
        if first == last:
            ax.plot([first], [value], marker="_", markersize=14, markeredgewidth=2, color="k", label=label)
        else:
            ax.hlines(value, first, last, colors=TOLERANCE_STYLE["color"], linestyles=TOLERANCE_STYLE["linestyle"],
                      linewidth=TOLERANCE_STYLE["linewidth"], label=label)
    if not segments:                          # a legend entry only: no line where nothing is gated
        ax.plot([], [], **TOLERANCE_STYLE, label="tolerance: not gated")
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
    ax.set_title(title, fontsize=10)
    _legend(ax)
    return Chart(quantity if track == "judged" else f"{quantity}-drift", title, _png(fig))


def _disagreements(run):
    """Percent of samples predicted differently: each evaluation per phase (a line), each training batch
    where some differed (a grey dot: a lone batch is a point, not a spike), the allowance where it is not 0
    (a short dash: near ties the float64 referee explained; 0 elsewhere)."""
    frame = run.frame
    rows = frame[(frame["quantity"] == "disagreements") & (frame["track"] == "judged")]
    if rows.empty:
        return None
    fig, ax = _axes()
    allowance_labelled = False
    for phase, group in rows.groupby("phase", observed=True, sort=False):
        phase, batches = str(phase), str(phase) == "step"
        x = group["step"].to_numpy()
        share = 100 * group["rel_diff"].to_numpy(dtype=float)
        allowed = 100 * (group["tolerance"] / group["reference"]).to_numpy(dtype=float)
        color = PHASE_COLORS.get(phase)
        if batches:
            some = share > 0
            ax.plot(x[some], share[some], linestyle="none", marker="o", markersize=2.5, color=color,
                    label="training batch (where any differ)")
        else:
            ax.plot(x, share, color=color, linewidth=1.4, marker="o", markersize=2.5, label=phase)
        some = allowed > 0
        if some.any():
            ax.plot(x[some], allowed[some], linestyle="none", marker="_", markersize=10, markeredgewidth=1.5,
                    color=color, label=None if allowance_labelled else "allowed (near ties)")
            allowance_labelled = True
    _mark_failure(ax, run)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("% of samples")
    title = "Predictions that differ, % of samples (allowed: 0 unless near ties explain them)"
    ax.set_title(title, fontsize=10)
    _legend(ax)
    return Chart("disagreements", title, _png(fig))


def _layer(name: str) -> str:
    """The layer a row's name belongs to: ``fc1`` of fc1.weight and fc1.weight.exp_avg; ``loss``, ``lr``."""
    return name.split(".", 1)[0]


def _per_layer(run):
    """Which layer differs: per tensor quantity, each layer's worst share of its allowance per step (gated
    rows only: value / tolerance, above 1 fails), one colour per layer across the panels."""
    frame = run.frame
    rows = frame[frame["quantity"].isin(TENSOR_QUANTITIES + ("buffer",)) & (frame["phase"] == "step")
                 & (frame["track"] == "judged") & (frame["step"] > 0)]
    tolerance = rows["tolerance"].to_numpy(dtype=float)
    rows = rows[np.isfinite(tolerance) & (tolerance > 0)]
    if rows.empty:
        return None
    rows = rows.assign(share=rows["value"].to_numpy(dtype=float) / rows["tolerance"].to_numpy(dtype=float),
                       layer=rows["name"].astype(str).map(_layer))
    quantities = [q for q in (*TENSOR_QUANTITIES, "buffer") if (rows["quantity"] == q).any()]
    forward = frame.loc[frame["quantity"] == "out", "name"].astype(str).map(_layer).unique().tolist()
    layers = forward + [layer for layer in rows["layer"].unique() if layer not in forward]
    colors = {layer: f"C{i % 10}" for i, layer in enumerate(layers)}
    fig = _figure()
    fig.subplots_adjust(top=0.84, wspace=0.12)       # room for the figure's title above the panels'
    axes = fig.subplots(1, len(quantities), sharey=True, squeeze=False)[0]
    positive = False
    for ax, quantity in zip(axes, quantities):
        part = rows[rows["quantity"] == quantity]
        worst = part.groupby(["layer", "step"], sort=False)["share"].max()
        for layer in [layer for layer in layers if layer in worst.index.get_level_values(0)]:
            series = worst.loc[layer]
            y = series.to_numpy(dtype=float)
            xs, ys = _thin(series.index.to_numpy(), np.where(y > 0, y, np.nan), "max")
            ax.plot(xs, ys, linewidth=0.9, color=colors[layer])
            positive |= bool(np.isfinite(ys).any())
        ax.axhline(1.0, **TOLERANCE_STYLE)
        _mark_failure(ax, run, label=False)
        ax.set_title(quantity, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    if positive:
        axes[0].set_yscale("log")
    axes[0].set_ylabel("share of the allowance (1 = tolerance)")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=colors[layer], label=layer) for layer in layers if layer in set(rows["layer"])]
    handles.append(Line2D([], [], **TOLERANCE_STYLE, label="allowance (above: fails)"))
    failure = run.summary.get("first_failure")
    if failure and isinstance(failure.get("step"), int):
        handles.append(Line2D([], [], **FAILURE_STYLE, label=_wrap(f"first failure: {failure_place(failure)}")))
    _legend(axes[-1], handles=handles, title="layer")
    title = "Per layer: the worst difference per step, as a share of its allowance (gated rows)"
    fig.suptitle(title, fontsize=10)
    return Chart("layers", title, _png(fig))


def _as_matrix(a: np.ndarray) -> np.ndarray:
    """A tensor as rows x columns for a heat map: a vector as one row, (N, ...) as N rows."""
    return a.reshape(1, -1) if a.ndim == 1 else a.reshape(a.shape[0], -1)


def _failure_heatmap(run):
    """Where in the tensor the first failure sits: |manual - reference| per element (first_failure.npz)."""
    from comparisons.record.failure_array import load
    arrays = load(run.path)
    if arrays is None:
        return None
    manual = _as_matrix(arrays.manual.astype(np.float64))
    reference = _as_matrix(arrays.reference.astype(np.float64))
    diff = np.abs(manual - reference)
    fig = _figure()
    fig.subplots_adjust(right=0.95)                  # no legend: the colour bar takes the room
    ax = fig.add_subplot()
    image = ax.imshow(diff, aspect="auto", interpolation="nearest", cmap="magma")
    weight = arrays.quantity in ("grad", "update", "state", "init") and arrays.name.split(".")[1:2] == ["weight"]
    activations = arrays.quantity in ("out", "dx")
    rows, columns = (("output unit", "input unit") if weight else ("sample", "feature") if activations
                     else ("row", "element"))
    shape = "x".join(map(str, arrays.manual.shape))
    ax.set_ylabel(f"{rows} (index 0)")
    ax.set_xlabel(f"{columns} (the other indices, flattened)" if arrays.manual.ndim > 2 else f"{columns} (index 1)"
                  if arrays.manual.ndim == 2 else "index")
    colorbar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02)
    colorbar.set_label("|manual - reference|")
    differ = int(np.count_nonzero(diff))
    title = (f"First failure, step {arrays.step} > {arrays.quantity} > {arrays.name} ({shape}): "
             f"|manual - {arrays.against}| per element, {differ}/{diff.size} differ")
    ax.set_title(title, fontsize=10)
    return Chart("first-failure", title, _png(fig))
