"""Named configurations shipped with the package, as TOML files of Config fields.

``lockstep run --preset NAME`` (a file in this folder) or ``--preset path.toml``;
flags given on the command line override the preset's values.

A preset file is validated before use: a regular file (not a directory, FIFO or device) of at
most MAX_BYTES, UTF-8, valid TOML, known field names, each value of its Config field's type.
Ranges (epochs >= 1, ...) are checked on the final Config, once the flags are applied.
"""
import tomllib
from importlib import resources
from pathlib import Path

from comparisons.config import Config, check_type
from comparisons.errors import InputError

# A preset is ~15 short lines (assignment.toml: 700 bytes); 64 KiB leaves room for long comments
# and refuses a huge or endless file (e.g. a symlink to a log) before it is read into memory.
MAX_BYTES = 64 * 1024
# How TOML spells the tuple fields, for error messages.
TOML_FORMS = {"hidden": "an array of integers, e.g. hidden = [1000]",
              "tol": "a table of numbers, e.g. [tol] grad = 1e-3"}


def names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str) -> dict:
    """The preset's fields, typed as Config wants them (arrays become tuples, a [tol] table pairs)."""
    if name_or_path in names():
        source, raw = name_or_path, resources.files(__package__).joinpath(f"{name_or_path}.toml").read_bytes()
    else:
        source, raw = name_or_path, _read(Path(name_or_path))
    try:
        values = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"preset {source}: not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"preset {source}: not valid TOML: {e}") from None
    except RecursionError:                      # arrays or tables nested ~1000 deep
        raise InputError(f"preset {source}: not usable TOML: nested too deeply") from None
    except ValueError as e:                     # an integer of more than 4300 digits
        raise InputError(f"preset {source}: not usable TOML: {str(e).split(';')[0][:120]}") from None
    return typed(values, f"preset {source}")


def typed(values: dict, source: str) -> dict:
    """``values`` (a TOML table of Config fields) typed as Config wants them; InputError naming ``source``
    (e.g. "preset x.toml") and the first unknown field or wrong type. ``lockstep grade``'s checks use it too."""
    if isinstance(values.get("model"), dict):
        values["model"] = _model_table(values["model"], source)
    unknown = sorted(set(values) - set(Config.field_names()))
    if unknown:
        raise InputError(f"{source}: unknown field {unknown[0]!r}; fields are {', '.join(Config.field_names())}")
    for key, value in values.items():
        values[key] = converted = _as_config_type(key, value)
        try:
            check_type(key, converted)
        except InputError as e:
            if key not in TOML_FORMS:
                raise InputError(f"{source}: {e}") from None
            shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
            raise InputError(f"{source}: {key} must be {TOML_FORMS[key]}, got {shown}") from None
    return values


def _model_table(table: dict, source: str) -> str:
    """``[model] layers = ["linear:100", "relu", "linear"]`` -> the spec ``linear:100,relu,linear``."""
    extra = sorted(set(table) - {"layers"})
    if extra:
        raise InputError(f"{source}: [model] takes only layers = [...], got key {extra[0]!r}")
    layers = table.get("layers")
    if not (isinstance(layers, list) and layers
            and all(isinstance(t, str) and t.strip() and "," not in t for t in layers)):
        raise InputError(f"{source}: [model] layers must be a non-empty array of layer tokens, "
                         f'e.g. layers = ["linear:100", "relu", "linear"]')
    return ",".join(t.strip() for t in layers)


def _read(path: Path) -> bytes:
    """The bytes of a preset file: a regular file of at most MAX_BYTES (checked before reading)."""
    if path.suffix != ".toml":
        raise InputError(f"unknown preset {str(path)!r}; choose from {', '.join(names())} or give a .toml file")
    try:
        if not path.is_file():
            what = "is a directory" if path.is_dir() else \
                "not a regular file (a FIFO, device or socket)" if path.exists() else "No such file or directory"
            raise InputError(f"preset {path}: {what}")
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise InputError(f"preset {path}: {e.strerror or e}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"preset {path}: larger than {MAX_BYTES // 1024} KiB; a preset is a few lines of TOML")
    return raw


def _as_config_type(key: str, value):
    """TOML's arrays as tuples (recursively), a [tol] table as (quantity, value) pairs, an integer
    given for a float field as a float. Anything else is left as it is, for check_type to judge."""
    if isinstance(value, dict) and key == "tol":
        return tuple((q, _as_config_type("", v)) for q, v in value.items())
    if isinstance(value, list):
        return tuple(_as_config_type("", v) for v in value)
    if isinstance(getattr(Config(), key, None), float) and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:        # beyond float range: left an int, refused as not finite
            return value
    return value
