"""Load 28x28 glyph datasets from disk into a ``Dataset`` (NumPy only).

``load(path)`` recognises the format by content, not by extension:

* **npz, the assignment's layout** (zip magic ``PK``): arrays ``images``
  (N, 28, 28) uint8 (any integer dtype holding 0..255 is accepted) and
  ``labels`` (N,) integers 0..9 (an (N, 1) column is flattened). Split as the course's
  own loader does: shuffle with seed 521 (``np.random.RandomState(521)``, the
  same stream as ``np.random.seed(521); np.random.shuffle``, global state left
  alone), then train = first 10000, valid = next 6000, test = the rest.
* **MNIST IDX**, raw or gzip-compressed (magic ``1f 8b``): an images file
  (magic 2051: count, rows, cols, then uint8 pixels) and its labels file
  (magic 2049: count, then uint8 labels). ``path`` is the images file
  (``*-images-idx3-ubyte[.gz]``; labels are found beside it by replacing
  ``images-idx3`` with ``labels-idx1`` in the name, with or without ``.gz``)
  or a directory holding exactly one such images file. Split by
  ``balanced_split``: class-balanced 60/20/20 drawn from ``split_seed``
  (per class of k: k // 5 valid, k // 5 test, the rest, remainder included, train).

Features come out as float64 pixels / 255, shape (n, 784); labels as int64,
shape (n,). Any bad input raises ``InputError`` with one line naming the file.

Every read is bounded: ``path`` must be a regular file or a directory (a FIFO would block
forever, /dev/zero never ends), no file is read beyond MAX_BYTES, and neither a gzip stream
nor an npz's members may decompress beyond it (a gzip or zip bomb is bad input).
"""
import gzip
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np

from comparisons.data.dataset import N_CLASSES, SIDE, Dataset, Split, validate
from comparisons.errors import InputError

NPZ_SEED = 521               # the course loader's np.random.seed
NPZ_TRAIN, NPZ_VALID = 10000, 6000
IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC = 2051, 2049
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")   # a zip with members / an empty zip
NPY_MAGIC = b"\x93NUMPY"
IDX_TYPE_CODES = {0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E}  # IDX element types, byte 3 of the magic
IMAGES_NAME = re.compile(r"images-idx3-ubyte(\.gz)?$")
# The most bytes read from one file, and the most one file may decompress to. The largest file
# of these formats lockstep is meant for is MNIST's train-images-idx3-ubyte: 47,040,016 bytes
# raw (60000 x 784 + 16); the assignment's notMNIST.npz holds 18724 images (14.7 MB). 256 MiB is
# 5.7x MNIST and ~342k images, whose float64 features already take 2.1 GB.
MAX_BYTES = 256 * 2**20


def load(path: str | os.PathLike, split_seed: int = 0) -> Dataset:
    """Load an assignment npz, an IDX images file, or a directory with one.

    Returns a validated Dataset: x (n, 784) float64 in [0, 1], y (n,) int64
    in [0, 10). ``split_seed`` drives the IDX split only; the npz split is
    fixed by the course (seed 521). Raises InputError on any bad input.
    """
    p = Path(path)
    if p.is_dir():
        images_file = _images_file_in(p)
    elif p.is_file():
        images_file = p
    elif p.exists():
        raise InputError(f"{p}: not a regular file or a directory (a FIFO, device or socket); "
                         "expected an npz, an IDX images file or a directory holding one")
    else:
        raise InputError(f"{p}: file or directory not found")

    raw = _read(images_file)
    if raw[:4] in ZIP_MAGICS:
        data = _load_npz(images_file, raw)
    else:
        data = _load_idx(images_file, raw, split_seed)
    validate(data)
    return data


# --- npz ---------------------------------------------------------------------

def _load_npz(path: Path, raw: bytes) -> Dataset:
    """The assignment's notMNIST.npz (file bytes ``raw``): images (N, 28, 28) uint8, labels (N,)."""
    try:
        _check_zip_sizes(path, raw)
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            keys = list(npz.keys())
            missing = [k for k in ("images", "labels") if k not in keys]
            if missing:
                raise InputError(f"{path}: npz missing key {missing[0]!r} "
                                 f"(has {', '.join(map(repr, keys)) or 'no arrays'}); "
                                 f"expected 'images' (N, {SIDE}, {SIDE}) and 'labels' (N,)")
            images = _npz_array(path, npz, "images")
            labels = _npz_array(path, npz, "labels")
    except InputError:
        raise
    except Exception as e:  # noqa: BLE001 - np.load's parsers raise many types (e.g. tokenize.TokenError on a bad header)
        raise InputError(f"{path}: unreadable npz: {_one_line(e)}") from None

    if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE):
        raise InputError(f"{path}: images have shape {images.shape}, expected (N, {SIDE}, {SIDE})")
    if not np.issubdtype(images.dtype, np.integer):
        raise InputError(f"{path}: images have dtype {images.dtype}, expected uint8 pixels 0..255")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise InputError(f"{path}: image pixels out of range 0..255")
    n = len(images)
    if labels.ndim == 2 and labels.shape[1] == 1:       # tolerate a (N, 1) column
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(f"{path}: labels have shape {labels.shape}, expected ({n},)")
    if len(labels) != n:
        raise InputError(f"{path}: count mismatch: {n} images but {len(labels)} labels")
    _check_labels(path, labels)
    if n <= NPZ_TRAIN + NPZ_VALID:
        raise InputError(f"{path}: too few images ({n}); the assignment's split needs more than "
                         f"{NPZ_TRAIN + NPZ_VALID} ({NPZ_TRAIN} train, {NPZ_VALID} valid, rest test)")

    idx = np.arange(n)
    np.random.RandomState(NPZ_SEED).shuffle(idx)        # == np.random.seed(521); np.random.shuffle(idx)
    x = images[idx].reshape(n, SIDE * SIDE) / 255.0
    y = labels[idx].astype(np.int64)
    a, b = NPZ_TRAIN, NPZ_TRAIN + NPZ_VALID
    return Dataset(path.name, Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]))


def _check_zip_sizes(path: Path, raw: bytes) -> None:
    """Refuse an npz whose members decompress beyond MAX_BYTES in all. zipfile never returns more
    than a member's declared size (and checks its CRC), so the declared sizes bound the reads."""
    with zipfile.ZipFile(io.BytesIO(raw)) as z:
        total = sum(member.file_size for member in z.infolist())
    if total > MAX_BYTES:
        raise InputError(f"{path}: npz members decompress to {total} bytes, more than "
                         f"{MAX_BYTES // 2**20} MiB; not an assignment notMNIST.npz")


def _npz_array(path: Path, npz, key: str) -> np.ndarray:
    try:
        return npz[key]
    except ValueError as e:
        if "pickle" in str(e):
            raise InputError(f"{path}: npz array {key!r} needs pickle (object array); "
                             f"refusing to load it (allow_pickle=False)") from None
        raise


# --- IDX ---------------------------------------------------------------------

def _images_file_in(directory: Path) -> Path:
    """The single ``*images-idx3-ubyte[.gz]`` file in ``directory``."""
    try:
        found = sorted(f for f in directory.iterdir() if IMAGES_NAME.search(f.name) and f.is_file())
    except OSError as e:
        raise InputError(f"{directory}: cannot list directory: {_one_line(e)}") from None
    if not found:
        raise InputError(f"{directory}: no *-images-idx3-ubyte[.gz] file in directory")
    if len(found) > 1:
        raise InputError(f"{directory}: several images files in directory "
                         f"({', '.join(f.name for f in found)}); pass one of them")
    return found[0]


def _labels_file_for(images_file: Path) -> Path:
    """``x-images-idx3-ubyte[.gz]`` -> ``x-labels-idx1-ubyte[.gz]`` (then the other .gz form)."""
    name = images_file.name
    if "images-idx3" not in name:
        raise InputError(f"{images_file}: cannot find its labels file: the name lacks 'images-idx3' "
                         f"(expected *-images-idx3-ubyte[.gz] with *-labels-idx1-ubyte[.gz] beside it)")
    wanted = name.replace("images-idx3", "labels-idx1")
    other = wanted[:-3] if wanted.endswith(".gz") else wanted + ".gz"
    for candidate in (wanted, other):
        if (images_file.parent / candidate).is_file():
            return images_file.parent / candidate
    raise InputError(f"{images_file}: labels file {wanted} not found beside it")


def _load_idx(images_file: Path, raw: bytes, split_seed: int) -> Dataset:
    """IDX images + labels: x (n, 784) float64, y (n,) int64, split by ``balanced_split``."""
    body = _gunzip(images_file, raw)
    magic = _idx_magic(images_file, body)
    if magic == IDX_LABELS_MAGIC:
        raise InputError(f"{images_file}: is an IDX labels file (magic {IDX_LABELS_MAGIC}); "
                         f"pass the images file (*-images-idx3-ubyte[.gz]) or its directory")
    if magic != IDX_IMAGES_MAGIC:
        raise InputError(f"{images_file}: wrong IDX magic number {magic}, expected {IDX_IMAGES_MAGIC} (images)")
    n, rows, cols = _idx_header(images_file, body, 3)
    if (rows, cols) != (SIDE, SIDE):
        raise InputError(f"{images_file}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    pixels = _idx_body(images_file, body, 16, n * rows * cols)

    labels_file = _labels_file_for(images_file)
    lbody = _gunzip(labels_file, _read(labels_file))
    if len(lbody) < 4:
        raise InputError(f"{labels_file}: truncated IDX header ({len(lbody)} bytes, expected 8)")
    lmagic = struct.unpack(">i", lbody[:4])[0]
    if lmagic != IDX_LABELS_MAGIC:
        raise InputError(f"{labels_file}: wrong IDX magic number {lmagic}, expected {IDX_LABELS_MAGIC} (labels)")
    (n_labels,) = _idx_header(labels_file, lbody, 1)
    if n_labels != n:
        raise InputError(f"{labels_file}: count mismatch: {n_labels} labels but "
                         f"{images_file.name} has {n} images")
    labels = _idx_body(labels_file, lbody, 8, n)
    _check_labels(labels_file, labels)
    if n == 0:
        raise InputError(f"{images_file}: contains no images")

    x = pixels.reshape(n, rows * cols)
    y = labels.astype(np.int64)
    parts = balanced_split(y, split_seed)
    splits = [Split(x[i] / 255.0, y[i]) for i in parts]
    return Dataset(images_file.name, *splits)


def balanced_split(y: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train, valid, test) of a class-balanced 60/20/20 split of labels ``y`` (n,).

    With ``rng = np.random.default_rng(seed)``: for each class c = 0, 1, ...
    present in ``y``, in increasing order, its indices are permuted by ``rng``
    and a class of k samples gives k // 5 to valid, k // 5 to test and the
    remaining k - 2 * (k // 5) to train (exactly 60/20/20 when 5 divides k;
    otherwise the remainder, 1 to 4 samples, goes to train). Then train,
    valid and test are each shuffled by ``rng``, in that order. 1000 per class
    gives 600/200/200 per class and 6000/2000/2000 in all for 10 classes.
    """
    rng = np.random.default_rng(seed)
    train, valid, test = [], [], []
    for c in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == c))
        fifth = len(members) // 5
        valid.append(members[:fifth])
        test.append(members[fifth:2 * fifth])
        train.append(members[2 * fifth:])
    return tuple(rng.permutation(np.concatenate(part)) for part in (train, valid, test))


def _gunzip(path: Path, raw: bytes) -> bytes:
    """``raw`` decompressed if it starts with the gzip magic, else unchanged."""
    if raw[:2] != GZIP_MAGIC:
        return raw
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            body = f.read(MAX_BYTES + 1)     # no more than that is ever decompressed
    except EOFError:
        raise InputError(f"{path}: truncated gzip (stream ends before its end marker)") from None
    except (gzip.BadGzipFile, zlib.error, OSError, ValueError) as e:
        raise InputError(f"{path}: corrupt gzip: {_one_line(e)}") from None
    if len(body) > MAX_BYTES:
        raise InputError(f"{path}: decompresses to more than {MAX_BYTES // 2**20} MiB; not an MNIST IDX file")
    return body


def _idx_magic(path: Path, body: bytes) -> int:
    """The big-endian magic number, after checking the bytes look like IDX at all."""
    if len(body) < 4 or body[0] != 0 or body[1] != 0 or body[2] not in IDX_TYPE_CODES:
        if body[:len(NPY_MAGIC)] == NPY_MAGIC:
            what = "a .npy array"
        elif body[:4] in ZIP_MAGICS:
            what = "a gzip-compressed zip"
        else:
            what = "unrecognised content"
        raise InputError(f"{path}: neither an npz nor an MNIST IDX file ({what}); "
                         f"expected an npz with 'images' and 'labels' or *-images-idx3-ubyte[.gz]")
    return struct.unpack(">i", body[:4])[0]


def _idx_header(path: Path, body: bytes, ndim: int) -> tuple[int, ...]:
    """The ``ndim`` big-endian int32 sizes after the magic."""
    end = 4 + 4 * ndim
    if len(body) < end:
        raise InputError(f"{path}: truncated IDX header ({len(body)} bytes, expected {end})")
    dims = struct.unpack(f">{ndim}i", body[4:end])
    if min(dims) < 0:
        raise InputError(f"{path}: negative size in IDX header {dims}")
    return dims


def _idx_body(path: Path, body: bytes, offset: int, count: int) -> np.ndarray:
    """``count`` uint8 values at ``offset``; the file must hold exactly that many."""
    have = len(body) - offset
    if have < count:
        raise InputError(f"{path}: truncated IDX body: header promises {count} bytes of data, found {have}")
    if have > count:
        raise InputError(f"{path}: IDX body has {have - count} unexpected bytes after the {count} "
                         f"the header promises")
    return np.frombuffer(body, dtype=np.uint8, count=count, offset=offset)


# --- shared ------------------------------------------------------------------

def _read(path: Path) -> bytes:
    """At most MAX_BYTES of a regular file. Opened without blocking and checked on the open
    descriptor, so a FIFO or device put in the file's place after load() looked is refused too."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror or _one_line(e)}") from None
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise InputError(f"{path}: is a directory, expected a file")
        if not stat.S_ISREG(mode):
            raise InputError(f"{path}: not a regular file (a FIFO, device or socket)")
        try:
            raw = f.read(MAX_BYTES + 1)
        except OSError as e:
            raise InputError(f"{path}: cannot read: {e.strerror or _one_line(e)}") from None
    if len(raw) > MAX_BYTES:
        raise InputError(f"{path}: larger than {MAX_BYTES // 2**20} MiB; not an npz or IDX file lockstep reads")
    return raw


def _check_labels(path: Path, labels: np.ndarray) -> None:
    if not np.issubdtype(labels.dtype, np.integer):
        raise InputError(f"{path}: labels have dtype {labels.dtype}, expected integers 0..{N_CLASSES - 1}")
    bad = np.flatnonzero((labels < 0) | (labels >= N_CLASSES))
    if bad.size:
        raise InputError(f"{path}: labels out of range 0..{N_CLASSES - 1}: "
                         f"{labels[bad[0]]} at index {bad[0]} ({bad.size} bad in all)")


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
