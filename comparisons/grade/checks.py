"""The checks a class is graded on: a list in a TOML file, or the default three.

    preset = "assignment"      # optional: the course preset every run check starts from (a name or a .toml)
    module = "starter"         # optional: a one-file submission is copied in as starter.py (default: its own name)

    [[check]]
    name = "derivations"       # unique; names the folder of its record, DIR/submissions/<submission>/checks/<name>/
    kind = "audit"             # audit (lockstep audit) | run (lockstep run)
    points = 2                 # Gradescope's max_score (default 1): all of them if it passes, none if not
    visibility = "visible"     # Gradescope's: visible | hidden | after_due_date | after_published
    seed = 0                   # audit only

    [[check]]
    name = "float64 synced"
    kind = "run"
    dtype = "float64"          # any Config field (lockstep run --help), over the preset's
    mode = "synced"
    epochs = 1

Without --checks: the audit, a one-epoch float64 synced run of the assignment preset and a float32 free run of
it, both stopping at their first failure (fail_fast: the first failure is the grade).
"""
import hashlib
import json
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path

from comparisons.config import Config, check_seed
from comparisons.data import presets
from comparisons.errors import InputError

KINDS = ("audit", "run")
VISIBILITY = ("visible", "hidden", "after_due_date", "after_published")   # Gradescope's values
COMMON = {"name", "kind", "points", "visibility"}
MAX_BYTES = 64 * 1024
DEFAULT_PRESET = "assignment"


@dataclass(frozen=True)
class Check:
    name: str
    kind: str                  # audit | run
    points: float
    visibility: str
    seed: int = 0              # audit
    fields: tuple = ()         # run: (Config field, value) pairs over the preset's

    def config(self, adapter: str, preset: dict) -> Config:
        """The run's Config for a submission, its manual side the course adapter."""
        return Config(**(preset | dict(self.fields) | {"manual": adapter}))


@dataclass(frozen=True)
class Checks:
    checks: tuple[Check, ...]
    preset: dict               # the preset's fields (typed)
    preset_name: str
    module: str                # "" or the module name a one-file submission is copied in as
    source: str                # the file, or "default"

    def digest(self) -> str:
        """A hash of what the checks do (part of each submission's result key): not their points nor their
        visibility, which change a kept result's scores without running it again."""
        work = [{k: v for k, v in c.__dict__.items() if k not in ("points", "visibility")} for c in self.checks]
        text = json.dumps([self.preset, self.module, work], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def data_specs(self, adapter: str) -> list[str]:
        """The datasets the run checks read (each worker loads them once)."""
        return sorted({c.config(adapter, self.preset).data for c in self.checks if c.kind == "run"})


def default_checks(preset: str = DEFAULT_PRESET) -> Checks:
    return Checks((Check("audit", "audit", 1.0, "visible"),
                   Check("float64 synced", "run", 1.0, "visible", fields=(("dtype", "float64"), ("mode", "synced"),
                                                                          ("epochs", 1), ("fail_fast", True))),
                   Check("float32 free", "run", 1.0, "visible", fields=(("dtype", "float32"), ("mode", "free"),
                                                                        ("fail_fast", True)))),
                  presets.load_preset(preset), preset, "", "default")


def load_checks(path: str | None, adapter: str) -> Checks:
    """The checks of ``--checks`` (or the default); InputError, one line, for anything wrong in it."""
    if path is None:
        checks = default_checks()
    else:
        checks = _parse(Path(path))
    for c in checks.checks:                 # every run's config is whole and valid before any work
        if c.kind == "run":
            try:
                c.config(adapter, checks.preset).validate()
            except InputError as e:
                raise InputError(f"checks {checks.source}: check {c.name!r}: {e}") from None
    return checks


def _parse(path: Path) -> Checks:
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise InputError(f"checks {source}: {e.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"checks {source}: larger than {MAX_BYTES // 1024} KiB")
    try:
        top = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError, ValueError) as e:
        raise InputError(f"checks {source}: not valid TOML: {str(e).splitlines()[0][:160]}") from None
    unknown = sorted(set(top) - {"preset", "module", "check"})
    if unknown:
        raise InputError(f"checks {source}: unknown field {unknown[0]!r}; the top level takes preset, module "
                         "and [[check]] tables")
    preset_name = top.get("preset", DEFAULT_PRESET)
    if not isinstance(preset_name, str) or not preset_name:
        raise InputError(f"checks {source}: preset must be a preset name or a .toml file, got {preset_name!r}")
    if preset_name.endswith(".toml") and not Path(preset_name).is_absolute():
        preset_name = str(path.parent / preset_name)     # relative to the checks file
    preset = presets.load_preset(preset_name)
    module = top.get("module", "")
    if not isinstance(module, str) or (module and not module.isidentifier()):
        raise InputError(f"checks {source}: module must be a module name (e.g. \"starter\"), got {module!r}")
    tables = top.get("check")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise InputError(f"checks {source}: no checks: add [[check]] tables (name, kind = \"audit\" or \"run\")")
    checks = tuple(_check(t, i, source) for i, t in enumerate(tables, 1))
    names = [c.name for c in checks]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InputError(f"checks {source}: two checks are named {twice[0]!r}")
    return Checks(checks, preset, preset_name, module, source)


def _check(table: dict, i: int, source: str) -> Check:
    where = f"checks {source}: check {i}"
    name = table.get("name")
    if not isinstance(name, str) or not name.strip() or name.strip() in (".", "..") or "/" in name or "\\" in name:
        raise InputError(f"{where}: name must be a non-empty name without slashes, got {name!r}")
    where = f"checks {source}: check {name!r}"
    kind = table.get("kind")
    if kind not in KINDS:
        raise InputError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    points = table.get("points", 1)
    if isinstance(points, bool) or not isinstance(points, (int, float)) or not 0 <= points < 1e6:
        raise InputError(f"{where}: points must be a number >= 0, got {points!r}")
    visibility = table.get("visibility", "visible")
    if visibility not in VISIBILITY:
        raise InputError(f"{where}: visibility must be one of {', '.join(VISIBILITY)}, got {visibility!r}")
    check = Check(name.strip(), kind, float(points), visibility)
    rest = {k: v for k, v in table.items() if k not in COMMON}
    if kind == "audit":
        unknown = sorted(set(rest) - {"seed"})
        if unknown:
            raise InputError(f"{where}: unknown field {unknown[0]!r}; an audit check takes name, kind, points, "
                             "visibility, seed")
        seed = rest.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise InputError(f"{where}: seed must be an integer, got {seed!r}")
        try:
            check_seed(seed)
        except InputError as e:
            raise InputError(f"{where}: {e}") from None
        return replace(check, seed=seed)
    if "manual" in rest:
        raise InputError(f"{where}: manual is the course adapter (--adapter), not a check's field")
    values = presets.typed(rest, where)
    return replace(check, fields=tuple(sorted(values.items())))
