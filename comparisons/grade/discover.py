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
import stat
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
        """The submission's files, sorted (what is copied and hashed); a link to a folder is one entry (not
        followed)."""
        if self.file is not None:
            return [Path(self.file)]
        root = Path(self.path)
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP and not d.startswith(".") and d not in links)
            found += [Path(dirpath, f) for f in sorted(filenames + links) if not f.endswith((".pyc", ".pyo"))]
        return found

    def digest(self) -> str:
        """A hash of the submission's content: file names (relative, as bytes: any encoding) and bytes. A link
        is hashed by its target's path, not followed; a FIFO or a device is not read (it could block forever)."""
        h = hashlib.sha256()
        base = Path(self.file).parent if self.file is not None else Path(self.path)
        budget = MAX_BYTES
        for f in self.files():
            h.update(os.fsencode(f.relative_to(base)) + b"\0")
            try:
                budget -= _content(f, budget, h)
            except OSError as e:     # unreadable: the content is that fact (the grade records the error)
                h.update(f"unreadable {e.strerror}".encode())
            h.update(b"\0")
        return h.hexdigest()


def _content(path: Path, budget: int, h) -> int:
    """Hash what ``path`` is into ``h``: a regular file's bytes (its size alone beyond ``budget``), a link's
    target path, a special file's kind; the bytes read."""
    mode = os.lstat(path).st_mode
    if stat.S_ISLNK(mode):
        h.update(b"link " + os.fsencode(os.readlink(path)))
        return 0
    if not stat.S_ISREG(mode):
        h.update(b"special file")
        return 0
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):     # swapped for something else since the lstat
            h.update(b"special file")
            return 0
        size = os.fstat(fd).st_size
        if size > budget:
            h.update(str(size).encode())
            return 0
        h.update(f.read(size))
        return size


def regular_or_link(path: str) -> bool:
    """Whether ``path`` is a file, a folder or a link (what a submission's copy takes), not a FIFO, a socket
    or a device."""
    mode = os.lstat(path).st_mode
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)


def discover(root: str | Path) -> tuple[str, list[Submission]]:
    """(layout, submissions sorted by name); InputError for a folder that is missing, empty or holds none."""
    if not str(root).strip():            # Path("") is the working directory: never what was meant
        raise InputError("SUBMISSIONS is empty: name the folder of submissions")
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
