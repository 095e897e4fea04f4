"""The class's report: DIR/class.csv, DIR/class.md and DIR/class.html, from every result.json.

class.csv   one row per submission x check: verdict, score, first failure, diagnosis, time
class.md    (and class.html, the same tables) verdicts per check; pass rate per derivation (the audit's
            rows: each parameter's gradient; the runs' rows: forward, backward, the optimizer step)
            and where runs first failed (stage > layer > tensor); the most common diagnoses and errors with how many submissions
            share each; the slowest submissions; the ones that crashed, hung or ran out of memory;
            one row per submission.
"""
import csv
import html
import io
from collections import Counter
from pathlib import Path

from comparisons.grade.sandbox import VERDICTS
from comparisons.record.atomic import write_atomic
from comparisons.report.tables import Table, to_html, to_markdown

CSV, MARKDOWN, HTML = "class.csv", "class.md", "class.html"
COLUMNS = ("submission", "who", "check", "kind", "verdict", "score", "max_score", "first_failure", "diagnosis",
           "seconds")
TOP = 10                 # diagnoses and errors listed
BROKEN = ("error", "out of memory", "crashed", "timed out")


def rows(results: list[dict]) -> list[dict]:
    return [{"submission": r["name"], "who": r["who"], "check": c["name"], "kind": c["kind"],
             "verdict": c["verdict"], "score": c["score"], "max_score": c["max_score"], "first_failure": c["message"],
             "diagnosis": c["diagnosis"], "seconds": "" if c["seconds"] is None else f"{c['seconds']:.2f}"}
            for r in results for c in r["checks"]]


def write(out: Path, results: list[dict]) -> list[Path]:
    """The three files, each atomically; their paths."""
    buffer = io.StringIO()
    w = csv.DictWriter(buffer, COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows(results))
    tables = class_tables(results)
    title = f"lockstep grade: {len(results)} submissions"
    md = f"# {title}\n\n{headline(results)}\n\n" + "\n".join(to_markdown(t) for t in tables)
    from comparisons.report.write import STYLE
    page = (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n"
            f"<p>{html.escape(headline(results))}</p>\n" + "\n".join(to_html(t) for t in tables) + "</body></html>\n")
    return [write_atomic(out / CSV, buffer.getvalue()), write_atomic(out / MARKDOWN, md), write_atomic(out / HTML, page)]


def headline(results: list[dict]) -> str:
    counts = Counter(r["verdict"] for r in results)
    return ", ".join(f"{v} {counts[v]}" for v in VERDICTS if counts[v])


def rate(ok: int, n: int) -> str:
    return f"{ok}/{n} ({100 * ok / n:.0f}%)" if n else "-"


def class_tables(results: list[dict]) -> list[Table]:
    checks = list(dict.fromkeys(c["name"] for r in results for c in r["checks"]))
    by_check = {name: Counter(c["verdict"] for r in results for c in r["checks"] if c["name"] == name)
                for name in checks}
    used = [v for v in VERDICTS if any(by_check[n][v] for n in checks)]
    tables = [Table("Verdicts per check", ("check", "passed", *[v for v in used if v != "passed"]),
                    tuple((n, rate(by_check[n]["passed"], sum(by_check[n].values())),
                           *[str(by_check[n][v]) for v in used if v != "passed"]) for n in checks))]
    derivations: dict[str, Counter] = {}
    for r in results:
        for c in r["checks"]:
            for name, verdict in (c.get("derivations") or {}).items():
                derivations.setdefault(name, Counter())[verdict] += 1
    derivations |= _stages(results)
    if derivations:
        tables.append(Table("Pass rate per derivation (the audit's rows: each parameter's gradient against autograd; "
                            "the runs' rows: each stage of a training step, up to a run's first failure)",
                            ("derivation", "holds", "FAIL", "unchecked"),
                            tuple((d, rate(n["ok"] + n["convention"], n["ok"] + n["convention"] + n["FAIL"]),
                                   str(n["FAIL"]), str(n["unchecked"])) for d, n in derivations.items())))
    stages = Counter()
    for r in results:
        for c in r["checks"]:
            if c["kind"] == "run" and c["verdict"] == "failed":
                stages[c["first_divergence"] or " > ".join(filter(None, (c["quantity"], c["layer"])))] += 1
    if stages:
        ran = sum(1 for r in results for c in r["checks"] if c["kind"] == "run" and c["verdict"] in ("passed", "failed"))
        tables.append(Table("Where the runs first failed (stage > layer > tensor)", ("first failure", "runs", "share"),
                            tuple((s, str(n), rate(n, ran)) for s, n in stages.most_common(TOP))))
    tables.append(_shared("Most common diagnoses", [(r, c["diagnosis"]) for r in results for c in r["checks"]
                                                    if c["diagnosis"]]))
    tables.append(_shared("Most common errors", [(r, f"{c['verdict']}: {c['message']}") for r in results
                                                 for c in r["checks"] if c["verdict"] in BROKEN]))
    timed = sorted((r for r in results if r.get("seconds") is not None), key=lambda r: -r["seconds"])[:5]
    tables.append(Table("Slowest submissions", ("submission", "seconds", "verdict"),
                        tuple((r["name"], f"{r['seconds']:.1f}", r["verdict"]) for r in timed)))
    broken = [r for r in results if r["verdict"] in BROKEN]
    tables.append(Table("Crashed, hung, out of memory or in error", ("submission", "verdict", "message"),
                        tuple((r["name"], r["verdict"], next((c["message"] for c in r["checks"]
                                                              if c["verdict"] == r["verdict"]), ""))
                              for r in broken)))
    tables.append(Table("Submissions", ("submission", "who", "verdict", "score", *checks, "seconds"),
                        tuple((r["name"], r["who"], r["verdict"], f"{r['score']:g}/{r['max_score']:g}",
                               *[next((c["verdict"] for c in r["checks"] if c["name"] == n), "") for n in checks],
                               "" if r.get("seconds") is None else f"{r['seconds']:.1f}") for r in results)))
    return [t for t in tables if t.rows]


STAGES = {"forward": "forward (runs: activations and loss)", "backward": "backward (runs: the gradients)",
          "update": "update (runs: the optimizer step and its state)"}   # in the order a step meets them


def _stages(results: list[dict]) -> dict[str, Counter]:
    """{stage row: Counter(ok, FAIL, unchecked)} over the run checks that passed or failed: a passed run holds
    every stage; a failed one holds the stages before its first failure's, fails that one, and leaves the later
    ones (and all, if it failed elsewhere: at init) unchecked."""
    order = list(STAGES)
    counts = {row: Counter() for row in STAGES.values()}
    ran = False
    for r in results:
        for c in r["checks"]:
            if c["kind"] != "run" or c["verdict"] not in ("passed", "failed"):
                continue
            ran = True
            stage = (c["first_divergence"] or c["quantity"] or "").split(" > ")[0]
            at = order.index(stage) if c["verdict"] == "failed" and stage in order else None
            for i, s in enumerate(order):
                held = c["verdict"] == "passed" or (at is not None and i < at)
                counts[STAGES[s]]["ok" if held else "FAIL" if i == at else "unchecked"] += 1
    return counts if ran else {}


def _shared(title: str, found: list[tuple[dict, str]]) -> Table:
    """Each distinct text, with how many submissions share it and a few of their names."""
    who: dict[str, list[str]] = {}
    for r, text in found:
        names = who.setdefault(text, [])
        if r["name"] not in names:
            names.append(r["name"])
    ranked = sorted(who.items(), key=lambda kv: -len(kv[1]))[:TOP]
    return Table(title, ("text", "submissions", "e.g."),
                 tuple((t, str(len(n)), ", ".join(n[:3]) + (", ..." if len(n) > 3 else "")) for t, n in ranked))
