"""Write a file so that readers see the old content or the new, never half of it."""
import os
import tempfile
from pathlib import Path

from comparisons.errors import RecordWriteError

FILE_MODE = 0o644   # reports are meant to be shared (CI artifacts); mkstemp alone gives 0600


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it over ``path``.

    A failure (unwritable directory, disk full) raises RecordWriteError (an InputError) naming the
    file; no temporary file is left behind, and ``path`` keeps its old content.
    """
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as e:
        raise RecordWriteError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise RecordWriteError(f"cannot write {path}: {e.strerror}") from None
        raise
    return path
