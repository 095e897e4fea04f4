"""``lockstep report``: one run as a self-contained HTML page and a Markdown twin for CI job summaries.

Files written (each atomically) into the run directory, or ``out``:
  report-NAME.png   the figures (comparisons.report.figures), beside the Markdown
  report.md         verdict, tables, links to the figures
  report.html       the same tables with the figures embedded: one file to open or publish
"""
import base64
import html
from dataclasses import dataclass
from pathlib import Path

from comparisons.report import figures, sections as report_tables
from comparisons.record.atomic import write_atomic
from comparisons.errors import InputError
from comparisons.record.recorder import REPORT_FIGURES, REPORT_FILES
from comparisons.record.rundir import RunDir, load_run
from comparisons.report.tables import to_html, to_markdown

HTML, MARKDOWN = REPORT_FILES
FIGURE_FILE = REPORT_FIGURES.replace("*", "{}")
STYLE = """body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;
vertical-align:top;font-size:.9em}th{background:#f3f3f3}.passed{color:#176617}.failed,.interrupted{color:#b00}
figure{display:inline-block;margin:.5em}figcaption{font-size:.85em;color:#555}code{font-size:.9em}"""


@dataclass(frozen=True)
class Report:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Report:
    """Read ``run_dir`` (InputError if it is not a complete run), draw, write; return the paths."""
    run = load_run(run_dir)
    out = Path(out) if out is not None else run.path
    if out.exists() and not out.is_dir():
        raise InputError(f"report directory {out}: not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)       # `report RUN --out DIR` makes DIR, as `run --out` does
    except OSError as e:
        raise InputError(f"report directory {out}: cannot be made ({e.strerror})") from None
    charts = figures.render(run)
    pngs = tuple(write_atomic(out / FIGURE_FILE.format(c.name), c.png) for c in charts)
    markdown = write_atomic(out / MARKDOWN, render_markdown(run, charts))
    page = write_atomic(out / HTML, render_html(run, charts))
    return Report(page, markdown, pngs)


def _title(run: RunDir) -> str:
    return f"lockstep report: {run.path}"


def render_markdown(run: RunDir, charts) -> str:
    s = run.summary
    parts = [f"# {_title(run)}\n"] + [f"**{text}**\n" if strong else f"{text}\n"
                                       for _, text, strong in report_tables.head(s)]
    parts += [to_markdown(t) for t in report_tables.tables(s)]
    if charts:
        links = " · ".join(f"[{c.name}]({FIGURE_FILE.format(c.name)})" for c in charts)
        parts.append(f"## Figures\n\n{links} (embedded in [{HTML}]({HTML}))\n")
    parts.append(f"Record: `{run.steps_csv}`, `{run.summary_json}`\n")
    return "\n".join(parts)


COLOURS = {"passed": "#176617", "failed": "#b00", "interrupted": "#b00"}


def head_html(summary: dict) -> str:
    """The verdict (coloured inline too, for a notebook, where the page's style is absent), the cause and
    the next step, as the report's page and RunResult._repr_html_ show them."""
    out = []
    for kind, text, strong in report_tables.head(summary):
        cls = summary["status"] if kind == "verdict" else kind
        style = f' style="color:{COLOURS.get(cls, "#222")}"' if kind == "verdict" else ""
        inner = f"<strong>{html.escape(text)}</strong>" if strong else html.escape(text)
        out.append(f'<p class="{html.escape(cls)}"{style}>{inner}</p>')
    return "\n".join(out)


def figure_html(chart) -> str:
    """One figure, its PNG embedded (nothing to fetch), at its own size or the page's width if narrower."""
    data = base64.b64encode(chart.png).decode("ascii")
    return (f'<figure id="fig-{chart.name}"><img src="data:image/png;base64,{data}" alt="{html.escape(chart.title)}" '
            f'width="{figures.FIGSIZE[0] * figures.DPI:.0f}" style="max-width:100%;height:auto">'
            f"<figcaption>{html.escape(chart.title)}</figcaption></figure>")


def figures_html(run_dir: str | Path) -> str:
    """The figures of the run in ``run_dir`` as HTML (RunResult._repr_html_), or "" if it cannot be read back."""
    try:
        run = load_run(run_dir)
    except InputError:
        return ""
    return "".join(figure_html(c) for c in figures.render(run))


def render_html(run: RunDir, charts) -> str:
    s = run.summary
    body = [f"<h1>{html.escape(_title(run))}</h1>",
            head_html(s)]
    body += [to_html(t) for t in report_tables.tables(s)]
    if charts:
        body.append("<h2>Figures</h2>")
        body += [figure_html(c) for c in charts]
    body.append(f"<p>Record: <code>{html.escape(str(run.steps_csv))}</code>, "
                f"<code>{html.escape(str(run.summary_json))}</code></p>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(_title(run))}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
