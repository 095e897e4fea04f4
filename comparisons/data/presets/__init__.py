"""Named configurations shipped with the package, as TOML files of Config fields.

``lockstep run --preset NAME`` (a file in this folder) or ``--preset path.toml``;
flags given on the command line override the preset's values.
"""
import tomllib
from importlib import resources
from pathlib import Path

from comparisons.config import Config
from comparisons.errors import InputError


def names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files(__package__).iterdir() if p.name.endswith(".toml"))


def load_preset(name_or_path: str) -> dict:
    """The preset's fields, typed as Config wants them (lists become tuples)."""
    if name_or_path in names():
        source, text = name_or_path, resources.files(__package__).joinpath(f"{name_or_path}.toml").read_text()
    else:
        path = Path(name_or_path)
        if path.suffix != ".toml":
            raise InputError(f"unknown preset {name_or_path!r}; choose from {', '.join(names())} or give a .toml file")
        try:
            source, text = str(path), path.read_text()
        except OSError as e:
            raise InputError(f"preset {path}: {e.strerror}") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise InputError(f"preset {source}: not valid TOML: {e}") from None
    unknown = sorted(set(values) - set(Config.field_names()))
    if unknown:
        raise InputError(f"preset {source}: unknown field {unknown[0]!r}; fields are {', '.join(Config.field_names())}")
    defaults = Config()
    for key, value in values.items():
        expected = type(getattr(defaults, key))
        if expected is tuple:
            values[key] = tuple(value.items()) if isinstance(value, dict) else tuple(value) \
                if isinstance(value, list) else value
        elif expected is float and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
        if type(values[key]) is not expected:
            raise InputError(f"preset {source}: {key} must be {expected.__name__}, got {value!r}")
    return values
