"""``lockstep layers FILE.py --out DIR``'s report: layers.html and layers.md beside layers.csv.

One row per layer (pass / FAIL / convention / not checked, the localised difference or the worst
agreement, its functions), the failing values one row each, and the pairs not checked listed by name:
the command's lines as a page to open and a Markdown twin for a CI job summary. Each file is written
atomically; the tables are the run report's (comparisons/report/tables.py, write.py's style).
"""
import html
from pathlib import Path

from comparisons.record.atomic import write_atomic
from comparisons.report.tables import Table, to_html, to_markdown
from comparisons.report.write import STYLE

HTML, MARKDOWN = "layers.html", "layers.md"


def verdict(layers: list) -> str:
    """The command's closing line: the failed layers, or how many passed and how many were not checked."""
    failed = [layer.name for layer in layers if layer.verdict == "FAIL"]
    if failed:
        return f"FAILED: {', '.join(failed)}"
    checked = sum(layer.verdict != "not checked" for layer in layers)
    unchecked = len(layers) - checked
    return f"PASSED: {checked} layers" + (f"; {unchecked} not checked" if unchecked else "")


def tables(layers: list) -> list[Table]:
    rows = tuple((layer.name, layer.verdict, layer.text, layer.functions) for layer in layers)
    out = [Table("Layers", ("layer", "verdict", "difference (first failing value, localised) or agreement",
                            "functions"), rows)]
    failing = tuple((c.layer, c.backward or c.forward, c.output, c.case, c.dtype, f"{c.rel_l2:.1e}",
                     f"{c.tolerance:.1e}", c.finding)
                    for layer in layers for c in layer.checks if c.verdict == "FAIL")
    if failing:
        out.append(Table("Failing values", ("layer", "function", "value", "case", "dtype", "rel_l2", "allowed",
                                            "finding"), failing))
    unchecked = tuple((layer.name, layer.functions, layer.text) for layer in layers if layer.verdict == "not checked")
    if unchecked:
        out.append(Table("Not checked", ("name", "functions", "why"), unchecked))
    return out


def write(layers: list, file: str, out: str) -> tuple[Path, Path]:
    """Write DIR/layers.html and DIR/layers.md (the directory exists: layers_file.prepare_out)."""
    title, line = f"lockstep layers: {file}", verdict(layers)
    ok = "failed" if line.startswith("FAILED") else "passed"
    parts = tables(layers)
    markdown = "\n".join([f"# {title}\n", f"**{line}**\n", *(to_markdown(t) for t in parts),
                          "Rows: `layers.csv` (one per compared value)\n"])
    body = [f"<h1>{html.escape(title)}</h1>", f'<p class="{ok}"><strong>{html.escape(line)}</strong></p>',
            *(to_html(t) for t in parts), "<p>Rows: <code>layers.csv</code> (one per compared value)</p>"]
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n")
    return write_atomic(Path(out) / HTML, page), write_atomic(Path(out) / MARKDOWN, markdown)
