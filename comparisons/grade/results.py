"""Each submission's results, written atomically as soon as it is graded.

DIR/submissions/<submission>/result.json     lockstep's record: the key, each check's verdict, message, diagnosis, time
DIR/submissions/<submission>/results.json    Gradescope's autograder format (tests[]: name, score, max_score, output,
                                 visibility, status)
DIR/submissions/<submission>/output.txt      for the student: each check's verdict and message, then their code's output
DIR/submissions/<submission>/checks/<check>/ each run's record (steps.csv, summary.json), the audit's table

A submission's key hashes its content, what the checks do (not their points nor visibility) and the adapter:
``grade`` keeps a submission whose result.json has the key it would get (its scores recomputed from the checks'
points), and redoes one whose key changed, whose worker was lost, or which timed out or ran out of memory under
other --timeout or --memory limits.
"""
import hashlib
import json
from pathlib import Path

from comparisons.errors import InputError
from comparisons.record.atomic import write_atomic
from comparisons.record.outdir import LOCK

RESULT, GRADESCOPE, OUTPUT_TXT = "result.json", "results.json", "output.txt"
SUBMISSIONS = "submissions"   # DIR/submissions/<submission>/: apart from the class's own files in DIR (grade.json,
                              # class.csv, ..., the lock), so that no submission's name can collide with them


def folder(out: Path, name: str) -> Path:
    """A submission's folder under the output folder ``out``."""
    return out / SUBMISSIONS / name
SCHEMA = 1


def key(submission_digest: str, checks_digest: str, adapter_digest: str) -> str:
    return hashlib.sha256(f"{SCHEMA}\0{submission_digest}\0{checks_digest}\0{adapter_digest}".encode()).hexdigest()


def load(folder: Path) -> dict | None:
    """A submission's result.json, or None if it has none (or not a whole one)."""
    try:
        result = json.loads((folder / RESULT).read_text())
    except (OSError, ValueError):
        return None
    return result if isinstance(result, dict) and result.get("schema") == SCHEMA else None


def build(job: dict, outcome: dict, adapter_spec: str) -> dict:
    """result.json's content from the job and what the worker returned."""
    checks = []
    lost = outcome.get("lost")
    for i, c in enumerate(job["checks"]):
        got = ({"verdict": "crashed",
                "message": f"the worker running it was lost: {lost} (the next grade tries it again)"} if lost and i == 0 else
               {"verdict": "not run", "message": "the worker running the submission was lost"} if lost else
               outcome["checks"][i])
        message = _plain(got.get("message", ""), adapter_spec)
        passed = got["verdict"] == "passed"
        checks.append({"name": c["name"], "kind": c["kind"], "verdict": got["verdict"], "message": message,
                       "diagnosis": got.get("diagnosis", ""), "first_divergence": got.get("first_divergence", ""),
                       "quantity": got.get("quantity", ""), "layer": got.get("name", ""),
                       "derivations": got.get("derivations", {}), "seconds": got.get("seconds"),
                       "score": c["points"] if passed else 0.0, "max_score": c["points"],
                       "visibility": c["visibility"]})
    worst = overall([c["verdict"] for c in checks])
    return {"schema": SCHEMA, "name": job["name"], "who": job["who"], "layout": job["layout"], "key": job["key"],
            "limits": {"timeout": job["timeout"], "memory_mb": job["memory_mb"]}, "lost": bool(lost),
            "verdict": worst, "score": sum(c["score"] for c in checks), "max_score": sum(c["max_score"] for c in checks),
            "seconds": outcome.get("seconds"), "checks": checks, "output": outcome.get("output", "")}


LIMITED = ("timed out", "out of memory")    # verdicts that --timeout and --memory decide


def redo(result: dict, timeout: float, memory_mb: float) -> bool:
    """Whether a kept result (its key unchanged) must be graded again: its worker was lost, or a check timed out
    or ran out of memory under other limits than these."""
    if result.get("lost"):
        return True
    limited = any(c.get("verdict") in LIMITED for c in result.get("checks", []))
    return limited and result.get("limits") != {"timeout": timeout, "memory_mb": memory_mb}


def rescore(result: dict, check_jobs: list[dict]) -> dict:
    """A kept result with the scores and visibility of the checks as they are now (points are not in the key)."""
    checks = [c | {"score": j["points"] if c["verdict"] == "passed" else 0.0, "max_score": j["points"],
                   "visibility": j["visibility"]} for c, j in zip(result["checks"], check_jobs)]
    return result | {"checks": checks, "score": sum(c["score"] for c in checks),
                     "max_score": sum(c["max_score"] for c in checks)}


SEVERITY = ("passed", "failed", "not run", "error", "out of memory", "timed out", "crashed")   # least to most


def overall(verdicts: list[str]) -> str:
    """The submission's verdict: its checks' most severe (a check not run alone is an error, never a pass)."""
    worst = max(verdicts, key=SEVERITY.index, default="error")
    return "error" if worst == "not run" else worst


def _plain(message: str, adapter_spec: str) -> str:
    """The message without lockstep's CLI framing of the adapter (``--manual /abs/adapter.py:Adapter: ``)."""
    path = adapter_spec.rpartition(":")[0]
    return message.replace(f"--manual {adapter_spec}: ", "").replace(path, Path(path).name)


def write(folder: Path, result: dict) -> None:
    """result.json, results.json and output.txt of one submission, each atomically; result.json last (its
    presence with the key marks the submission done). Whatever is in the way (a folder a submission made
    under one of these names) is removed first."""
    from comparisons.grade.sandbox import clear
    if not folder.is_dir() or folder.is_symlink():
        clear(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in ((GRADESCOPE, json.dumps(gradescope(result), indent=2) + "\n"), (OUTPUT_TXT, text(result)),
                          (RESULT, json.dumps(result, indent=2, default=str) + "\n")):
        if (folder / name).is_dir() and not (folder / name).is_symlink():
            clear(folder / name)
        write_atomic(folder / name, content)


def record(folder: Path, job: dict, outcome: dict, adapter_spec: str) -> dict:
    """Build and write one submission's result; a failure to write it makes the result an error (written if
    it can be), never an error of the class."""
    result = build(job, outcome, adapter_spec)
    try:
        write(folder, result)
    except (OSError, InputError) as e:      # RecordWriteError is an InputError
        result |= {"verdict": "error", "score": 0.0,
                   "checks": [c | {"verdict": "error", "score": 0.0, "message": f"lockstep could not write the "
                                   f"submission's results: {e}"} for c in result["checks"]]}
        try:
            write(folder, result)
        except (OSError, InputError):
            pass
    return result


def _line(c: dict) -> str:
    detail = f": {c['message']}" if c["message"] else ""
    return f"{c['name']}: {c['verdict']}{detail}" + (f"\n  diagnosis: {c['diagnosis']}" if c["diagnosis"] else "")


def text(result: dict) -> str:
    lines = [f"{result['name']}: {result['verdict']} ({result['score']:g}/{result['max_score']:g})", ""]
    lines += [_line(c) for c in result["checks"]]
    if result.get("output"):
        lines += ["", "output of the submission's code (the end of it):", result["output"]]
    return "\n".join(lines) + "\n"


def gradescope(result: dict) -> dict:
    """Gradescope's results.json: one test per check; its output the verdict, message and diagnosis."""
    tests = [{"name": c["name"], "score": c["score"], "max_score": c["max_score"], "output": _line(c),
              "visibility": c["visibility"], "status": "passed" if c["verdict"] == "passed" else "failed"}
             for c in result["checks"]]
    return {"score": result["score"], "execution_time": round(result["seconds"] or 0.0, 3),
            "output": f"lockstep grade: {result['verdict']}", "stdout_visibility": "hidden", "tests": tests}


MARKER = "grade.json"


def claim(out: Path, submissions: Path, adapter: str) -> None:
    """Make ``out`` this class's output folder, or refuse it (InputError) if it holds something else:
    another class's results, or files that are not a grade's."""
    marker = out / MARKER
    mine = {"kind": "lockstep grade", "submissions": str(submissions.resolve())}
    if marker.exists():
        try:
            theirs = json.loads(marker.read_text())
        except (OSError, ValueError):
            raise InputError(f"--out {out}: {MARKER} is unreadable; not a grade's output folder") from None
        if not isinstance(theirs, dict) or theirs.get("kind") != "lockstep grade":
            raise InputError(f"--out {out}: {MARKER} is not lockstep grade's")
        if theirs.get("submissions") != mine["submissions"]:
            raise InputError(f"--out {out} holds the results of another class ({theirs.get('submissions')}); "
                             "choose another folder")
        return
    others = [p.name for p in out.iterdir() if p.name != LOCK] if out.is_dir() else []
    if others:
        raise InputError(f"--out {out} is not empty and holds no {MARKER} (e.g. {sorted(others)[0]}); choose a new "
                         "or empty folder")
    write_atomic(marker, json.dumps(mine | {"adapter": adapter}, indent=2) + "\n")
