"""Find the submissions of a class: a plain layout or Gradescope's.

plain        SUBMISSIONS/<name>/ (a folder: the student's files) or SUBMISSIONS/<name>.py (one file,
             copied into a folder of its own under its own file name)
gradescope   SUBMISSIONS/<name>/submission/ (the student's files) with, beside it, Gradescope's
             submission_metadata.json (its ``users[].email`` name the submission in the reports)

Hidden entries, __pycache__ and anything else (a README, a .zip) are not submissions.
"""
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from comparisons.errors import InputError

SKIP = {"__pycache__", ".ipynb_checkpoints"}
MAX_BYTES = 64 * 2**20   # a submission larger than this is hashed by name and size only beyond it (a data file
                         # students left in: the checks read the course's data, not theirs)


@dataclass(frozen=True)
class Submission:
    name: str            # the folder name under DIR (unique, filesystem-safe)
    path: str            # the folder to copy and put first on sys.path (absolute)
    file: str | None     # plain layout, one .py file: its path (the folder is then its parent's copy of it)
    layout: str          # plain | gradescope
    who: str             # for people: Gradescope's users' emails, or the name

    def files(self) -> list[Path]:
        """The submission's files, sorted (what is copied and hashed)."""
        if self.file is not None:
            return [Path(self.file)]
        root = Path(self.path)
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP and not d.startswith("."))
            found += [Path(dirpath, f) for f in sorted(filenames) if not f.endswith((".pyc", ".pyo"))]
        return found

    def digest(self) -> str:
        """A hash of the submission's content: file names (relative) and bytes."""
        h = hashlib.sha256()
        base = Path(self.file).parent if self.file is not None else Path(self.path)
        budget = MAX_BYTES
        for f in self.files():
            h.update(str(f.relative_to(base)).encode() + b"\0")
            try:
                size = f.stat().st_size
                if size <= budget:
                    h.update(f.read_bytes())
                    budget -= size
                else:
                    h.update(str(size).encode())
            except OSError as e:     # unreadable: the content is that fact (the grade records the error)
                h.update(f"unreadable {e.strerror}".encode())
            h.update(b"\0")
        return h.hexdigest()


def discover(root: str | Path) -> tuple[str, list[Submission]]:
    """(layout, submissions sorted by name); InputError for a folder that is missing, empty or holds none."""
    root = Path(root)
    if not root.exists():
        raise InputError(f"no submissions folder {root}")
    if not root.is_dir():
        raise InputError(f"{root} is not a folder of submissions (one folder or .py file each)")
    try:
        entries = sorted(e for e in root.iterdir() if not e.name.startswith(".") and e.name not in SKIP)
    except OSError as e:
        raise InputError(f"cannot read {root}: {e.strerror}") from None
    graded = [e for e in entries if (e / "submission").is_dir()]
    if graded:
        return "gradescope", [_gradescope(e) for e in graded]
    found = [Submission(e.name, str(e.resolve()), None, "plain", e.name) for e in entries if e.is_dir()]
    found += [Submission(e.stem, str(e.parent.resolve()), str(e.resolve()), "plain", e.stem)
              for e in entries if e.is_file() and e.suffix == ".py"]
    if not found:
        raise InputError(f"{root} holds no submissions (one folder or .py file each, or Gradescope's "
                         "<name>/submission/ folders)")
    names = [s.name for s in found]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise InputError(f"{root}: {clash[0]} is both a folder and a .py file; rename one")
    return "plain", sorted(found, key=lambda s: s.name)


def _gradescope(entry: Path) -> Submission:
    who = entry.name
    meta = entry / "submission_metadata.json"
    try:
        users = json.loads(meta.read_text()).get("users") or []
        emails = [u.get("email") or u.get("name") for u in users if isinstance(u, dict)]
        who = ", ".join(e for e in emails if e) or who
    except (OSError, ValueError, AttributeError):
        pass             # no metadata (or not Gradescope's): the folder name stands
    return Submission(entry.name, str((entry / "submission").resolve()), None, "gradescope", who)
