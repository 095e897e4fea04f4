"""``first_failure.npz``: the two arrays of the first failed tensor comparison, written beside steps.csv.

steps.csv keeps one row per tensor and step (norms of the difference); where in the tensor the sides
differ is gone by then. When a run's first failure is a tensor (``out``, ``dx``, ``grad``, ``update``,
``state``, ``buffer``, ``init``), the run keeps that step's two arrays, in torch's layout (weights
``(out, in)``): ``manual``, and ``reference``, what the row was judged against (``against``: ``torch``,
or ``float64 referee`` when the referee decided the row). Beside them: ``step``, ``quantity``, ``name``.

The report draws it as a heat map (comparisons.report.figures). It is read with ``allow_pickle=False``:
only plain arrays, never objects, so opening a run directory from elsewhere runs no code.
"""
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from comparisons.errors import InputError

if TYPE_CHECKING:      # numpy loads when a file is written or read: the CLI's parent imports FILE only
    import numpy as np

FILE = "first_failure.npz"
# At most this many elements per array (8 MiB each in float64; compressed, random float64 shrinks ~5%):
# the 784x1000 weight of the default MLP fits; a larger tensor is not kept (the report has no heat map).
MAX_ELEMENTS = 2**20
FIELDS = ("manual", "reference", "step", "quantity", "name", "against")


@dataclass(frozen=True)
class FailureArrays:
    manual: "np.ndarray"
    reference: "np.ndarray"
    step: int
    quantity: str
    name: str
    against: str          # torch | float64 referee


def encode(step: int, quantity: str, name: str, manual, reference, against: str) -> bytes | None:
    """The npz's bytes, or None when the tensor is a scalar, the sides' shapes differ or it is too large."""
    import numpy as np
    m, r = np.asarray(manual), np.asarray(reference)
    if m.ndim == 0 or m.shape != r.shape or m.size > MAX_ELEMENTS or m.dtype.kind != "f" or r.dtype.kind != "f":
        return None
    buf = io.BytesIO()
    np.savez_compressed(buf, manual=m, reference=r, step=np.int64(step), quantity=np.str_(quantity),
                        name=np.str_(name), against=np.str_(against))
    return buf.getvalue()


def load(run_dir: str | Path) -> FailureArrays | None:
    """``run_dir/first_failure.npz``, or None when the run has none; InputError (one line) when it is not
    one lockstep wrote (unreadable, an object array, a field missing, shapes that differ)."""
    import numpy as np
    path = Path(run_dir) / FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [f for f in FIELDS if f not in npz.files]
            if missing:
                raise InputError(f"{path}: no {', '.join(missing)}; not a lockstep first_failure.npz")
            fields = {f: npz[f] for f in FIELDS}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:   # ValueError: pickled objects refused
        raise InputError(f"{path}: unreadable ({' '.join(str(e).split()) or type(e).__name__})") from None
    m, r = fields["manual"], fields["reference"]
    if m.shape != r.shape or m.ndim == 0 or m.dtype.kind != "f" or r.dtype.kind != "f":
        raise InputError(f"{path}: manual {m.dtype}{m.shape} and reference {r.dtype}{r.shape} are not two float "
                         "arrays of one shape")
    step, words = fields["step"], [fields[f] for f in ("quantity", "name", "against")]
    if step.shape != () or step.dtype.kind not in "iu" or any(w.shape != () or w.dtype.kind != "U" for w in words):
        raise InputError(f"{path}: step is not one integer, or quantity, name, against not one string each; "
                         "not a lockstep first_failure.npz")
    return FailureArrays(m, r, int(step), *(str(w) for w in words))
