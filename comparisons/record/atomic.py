"""Write a file so that readers see the old content or the new, never half of it."""
import os
import tempfile
from pathlib import Path

from comparisons.errors import InputError

FILE_MODE = 0o644   # reports are meant to be shared (CI artifacts); mkstemp alone gives 0600


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    An unwritable directory raises InputError naming it; no temporary file is left behind.
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        os.unlink(tmp)
        if isinstance(e, OSError):
            raise InputError(f"cannot write {path}: {e.strerror}") from None
        raise
    return path
