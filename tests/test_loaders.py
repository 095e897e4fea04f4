"""comparisons.data.loaders: the assignment's npz layout, MNIST IDX (raw and gzip), bad input.

Fixtures are written here in tmp_path; one test reads the real notMNIST sample
from ../shared/data/notmnist-small-10k/ beside the checkout, skipped if absent.
"""
import gzip
import hashlib
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from comparisons.errors import InputError
from comparisons.data.loaders import balanced_split, load

NPZ_N = 16000 + 50


# --- writers -------------------------------------------------------------------

def write_idx_images(path: Path, images: np.ndarray, magic: int = 2051) -> Path:
    """images (n, rows, cols) uint8 -> IDX; gzip-compressed when the name ends .gz."""
    n, rows, cols = images.shape
    blob = struct.pack(">iiii", magic, n, rows, cols) + images.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


def write_idx_labels(path: Path, labels: np.ndarray, magic: int = 2049) -> Path:
    blob = struct.pack(">ii", magic, len(labels)) + np.asarray(labels, dtype=np.uint8).tobytes()
    path.write_bytes(gzip.compress(blob) if path.name.endswith(".gz") else blob)
    return path


def tagged_images(n: int, rows: int = 28, cols: int = 28, seed: int = 0) -> np.ndarray:
    """Random uint8 images whose pixel [0, 0] is the sample index (n <= 256)."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)
    return images


def idx_pair(directory: Path, per_class: int = 10, gz: bool = True, prefix: str = "t10k") -> tuple[Path, np.ndarray, np.ndarray]:
    """An images + labels IDX pair in ``directory``: 10 classes x ``per_class`` tagged images."""
    directory.mkdir(parents=True, exist_ok=True)
    n = 10 * per_class
    images = tagged_images(n)
    labels = np.arange(n) % 10
    suffix = ".gz" if gz else ""
    path = write_idx_images(directory / f"{prefix}-images-idx3-ubyte{suffix}", images)
    write_idx_labels(directory / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
    return path, images, labels


@pytest.fixture(scope="module")
def npz_file(tmp_path_factory):
    """The assignment's layout: images (N, 28, 28) uint8, labels (N,) ints, N = 16050."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(NPZ_N, 28, 28), dtype=np.uint8)
    images[0, 0, 0], images[1, 0, 0] = 0, 255
    labels = rng.integers(0, 10, size=NPZ_N).astype(np.uint8)
    path = tmp_path_factory.mktemp("npz") / "notMNIST.npz"
    np.savez(path, images=images, labels=labels)
    return path, images, labels


def course_reference(images: np.ndarray, labels: np.ndarray):
    """The course's loader verbatim (global seed 521), global RNG state restored after."""
    state = np.random.get_state()
    try:
        np.random.seed(521)
        idx = np.arange(len(images))
        np.random.shuffle(idx)
    finally:
        np.random.set_state(state)
    data, target = images[idx] / 255., labels[idx]
    return idx, data, target


# --- npz -----------------------------------------------------------------------

def test_randomstate_521_equals_global_seed_shuffle():
    state = np.random.get_state()
    try:
        for n in (1, 17, NPZ_N):
            np.random.seed(521)
            expected = np.arange(n)
            np.random.shuffle(expected)
            got = np.arange(n)
            np.random.RandomState(521).shuffle(got)
            np.testing.assert_array_equal(got, expected)
    finally:
        np.random.set_state(state)


def test_npz_matches_course_split(npz_file):
    path, images, labels = npz_file
    before = np.random.get_state()
    data = load(path)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:], \
        "load must not touch the global NumPy RNG"

    assert data.name == "notMNIST.npz"
    assert (len(data.train.y), len(data.valid.y), len(data.test.y)) == (10000, 6000, NPZ_N - 16000)
    _, ref_x, ref_y = course_reference(images, labels)
    ref_x = ref_x.reshape(NPZ_N, 784)
    for split, lo, hi in ((data.train, 0, 10000), (data.valid, 10000, 16000), (data.test, 16000, NPZ_N)):
        assert np.array_equal(split.x, ref_x[lo:hi]) and np.array_equal(split.y, ref_y[lo:hi])


def test_npz_scaling_and_dtypes(npz_file):
    path, images, labels = npz_file
    data = load(path)
    idx, _, _ = course_reference(images, labels)
    for s in data.splits().values():
        assert s.x.dtype == np.float64 and s.y.dtype == np.int64
        assert s.x.shape[1] == 784 and s.x.min() >= 0.0 and s.x.max() <= 1.0
    all_x = np.concatenate([s.x for s in data.splits().values()])
    assert np.array_equal(all_x * 255.0, images[idx].reshape(NPZ_N, 784))
    where0, where255 = np.flatnonzero(idx == 0)[0], np.flatnonzero(idx == 1)[0]
    assert all_x[where0, 0] == 0.0 and all_x[where255, 0] == 1.0


def test_npz_detected_by_content_not_extension(npz_file, tmp_path):
    path, _, _ = npz_file
    renamed = tmp_path / "assignment.bin"
    renamed.write_bytes(path.read_bytes())
    a, b = load(path), load(renamed)
    assert b.name == "assignment.bin"
    assert np.array_equal(a.test.x, b.test.x)


# --- IDX -----------------------------------------------------------------------

def test_idx_gzip_and_raw_identical(tmp_path):
    gz_path, _, _ = idx_pair(tmp_path / "gz", gz=True)
    raw_path, _, _ = idx_pair(tmp_path / "raw", gz=False)
    assert gz_path.read_bytes()[:2] == b"\x1f\x8b" and raw_path.read_bytes()[:4] == struct.pack(">i", 2051)
    a, b = load(gz_path, split_seed=3), load(raw_path, split_seed=3)
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.splits()[name].x, b.splits()[name].x)
        np.testing.assert_array_equal(a.splits()[name].y, b.splits()[name].y)


@pytest.mark.parametrize("gz", [True, False], ids=["gzip", "raw"])
def test_idx_features_labels_and_dtypes(tmp_path, gz):
    path, images, labels = idx_pair(tmp_path, gz=gz)
    data = load(path)
    assert data.name == path.name
    seen = []
    for s in data.splits().values():
        assert s.x.dtype == np.float64 and s.y.dtype == np.int64 and s.x.shape[1] == 784
        orig = np.rint(s.x[:, 0] * 255).astype(int)         # pixel [0, 0] tags the source index
        np.testing.assert_array_equal(s.x * 255.0, images[orig].reshape(len(orig), 784).astype(np.float64))
        np.testing.assert_array_equal(s.y, labels[orig])
        seen.append(orig)
    assert sorted(np.concatenate(seen).tolist()) == list(range(len(images)))


def test_directory_path_equals_file_path(tmp_path):
    path, _, _ = idx_pair(tmp_path)
    a, b = load(tmp_path, split_seed=5), load(path, split_seed=5)
    assert a.name == b.name == "t10k-images-idx3-ubyte.gz"
    for name in ("train", "valid", "test"):
        np.testing.assert_array_equal(a.splits()[name].x, b.splits()[name].x)


def test_labels_found_with_other_gzip_form(tmp_path):
    images = tagged_images(50)
    path = write_idx_images(tmp_path / "x-images-idx3-ubyte.gz", images)
    write_idx_labels(tmp_path / "x-labels-idx1-ubyte", np.arange(50) % 10)     # raw beside gzip
    assert sum(len(s.y) for s in load(path).splits().values()) == 50


@pytest.mark.parametrize("per_class, sizes",
                         [(10, (6, 2, 2)), (1000, (600, 200, 200)), (7, (5, 1, 1)), (13, (9, 2, 2))],
                         ids=["10-per-class", "1000-per-class", "7-remainder-to-train", "13-remainder-to-train"])
def test_default_split_is_class_balanced(tmp_path, per_class, sizes):
    path, _, _ = idx_pair(tmp_path, per_class=per_class, gz=per_class < 100)
    data = load(path)
    for s, k in zip(data.splits().values(), sizes):
        np.testing.assert_array_equal(np.bincount(s.y, minlength=10), np.full(10, k))


def test_balanced_split_600_200_200_per_class():
    y = np.repeat(np.arange(10), 1000)
    train, valid, test = balanced_split(y, seed=0)
    for part, k in ((train, 600), (valid, 200), (test, 200)):
        np.testing.assert_array_equal(np.bincount(y[part], minlength=10), np.full(10, k))
    assert np.array_equal(np.sort(np.concatenate([train, valid, test])), np.arange(10000))
    assert not np.array_equal(y[train][:20], np.sort(y[train])[:20]), "each split's order is shuffled"


def test_split_deterministic_in_seed(tmp_path):
    path, _, _ = idx_pair(tmp_path, per_class=20)
    a, b, c = load(path, split_seed=7), load(path, split_seed=7), load(path, split_seed=8)
    np.testing.assert_array_equal(a.train.x, b.train.x)
    np.testing.assert_array_equal(a.test.y, b.test.y)
    assert not np.array_equal(a.train.x, c.train.x)


# --- bad input -----------------------------------------------------------------
# Each builder makes one bad input under tmp and returns (path to load, file name
# the message must name); the regex is the problem the message must state.

def _gz_truncated(tmp):
    path, _, _ = idx_pair(tmp)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    return path, path.name


def _gz_bad_crc(tmp):
    path, _, _ = idx_pair(tmp)
    blob = bytearray(path.read_bytes())
    blob[-8] ^= 0xFF
    path.write_bytes(bytes(blob))
    return path, path.name


def _idx_body_truncated(tmp):
    path, _, _ = idx_pair(tmp, gz=False)
    path.write_bytes(path.read_bytes()[:-100])
    return path, path.name


def _idx_body_trailing(tmp):
    path, _, _ = idx_pair(tmp, gz=False)
    path.write_bytes(path.read_bytes() + b"\0" * 3)
    return path, path.name


def _idx_header_truncated(tmp):
    path = tmp / "a-images-idx3-ubyte"
    path.write_bytes(struct.pack(">ii", 2051, 10))
    return path, path.name


def _labels_body_truncated(tmp):
    path, _, _ = idx_pair(tmp, gz=False)
    labels = tmp / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-1])
    return path, labels.name


def _images_wrong_magic(tmp):
    path = write_idx_images(tmp / "a-images-idx3-ubyte.gz", tagged_images(20), magic=2052)
    write_idx_labels(tmp / "a-labels-idx1-ubyte.gz", np.arange(20) % 10)
    return path, path.name


def _labels_wrong_magic(tmp):
    path = write_idx_images(tmp / "a-images-idx3-ubyte.gz", tagged_images(20))
    write_idx_labels(tmp / "a-labels-idx1-ubyte.gz", np.arange(20) % 10, magic=2051)
    return path, "a-labels-idx1-ubyte.gz"


def _labels_file_given(tmp):
    idx_pair(tmp)
    return tmp / "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"


def _count_mismatch(tmp):
    path = write_idx_images(tmp / "a-images-idx3-ubyte.gz", tagged_images(20))
    write_idx_labels(tmp / "a-labels-idx1-ubyte.gz", np.arange(19) % 10)
    return path, "a-labels-idx1-ubyte.gz"


def _idx_label_out_of_range(tmp):
    path = write_idx_images(tmp / "a-images-idx3-ubyte.gz", tagged_images(20))
    write_idx_labels(tmp / "a-labels-idx1-ubyte.gz", np.r_[np.arange(19) % 10, 10])
    return path, "a-labels-idx1-ubyte.gz"


def _idx_wrong_size(tmp):
    path = write_idx_images(tmp / "a-images-idx3-ubyte.gz", tagged_images(20, 28, 27))
    write_idx_labels(tmp / "a-labels-idx1-ubyte.gz", np.arange(20) % 10)
    return path, path.name


def _missing_file(tmp):
    return tmp / "nowhere-images-idx3-ubyte.gz", "nowhere-images-idx3-ubyte.gz"


def _missing_dir(tmp):
    return tmp / "no-such-dir", "no-such-dir"


def _dir_without_images(tmp):
    d = tmp / "empty-data"
    d.mkdir()
    (d / "README.md").write_text("nothing here\n")
    return d, "empty-data"


def _dir_with_two_images(tmp):
    d = tmp / "two-sets"
    idx_pair(d, prefix="train")
    idx_pair(d, prefix="t10k")
    return d, "two-sets"


def _labels_missing(tmp):
    path, _, _ = idx_pair(tmp)
    (tmp / "t10k-labels-idx1-ubyte.gz").unlink()
    return path, path.name


def _labels_unlocatable(tmp):
    path = write_idx_images(tmp / "glyphs.idx.gz", tagged_images(20))
    return path, path.name


def _neither_text(tmp):
    path = tmp / "notes.txt"
    path.write_text("hello, world\n")
    return path, path.name


def _neither_empty(tmp):
    path = tmp / "empty.npz"
    path.write_bytes(b"")
    return path, path.name


def _neither_npy(tmp):
    path = tmp / "images.npy"
    np.save(path, np.zeros((3, 28, 28), dtype=np.uint8))
    return path, path.name


def _npz(tmp, name="bad.npz", **arrays):
    path = tmp / name
    np.savez(path, **arrays)
    return path, path.name


def _npz_missing_labels(tmp):
    return _npz(tmp, images=np.zeros((20, 28, 28), np.uint8))


def _npz_missing_images(tmp):
    return _npz(tmp, labels=np.zeros(20, np.int64))


def _npz_wrong_size(tmp):
    return _npz(tmp, images=np.zeros((20, 27, 28), np.uint8), labels=np.zeros(20, np.int64))


def _npz_count_mismatch(tmp):
    return _npz(tmp, images=np.zeros((20, 28, 28), np.uint8), labels=np.zeros(21, np.int64))


def _npz_label_out_of_range(tmp):
    return _npz(tmp, images=np.zeros((20, 28, 28), np.uint8), labels=np.r_[np.zeros(19, np.int64), -1])


def _npz_pickle(tmp):
    images = np.empty(20, dtype=object)
    images[:] = [np.zeros((28, 28), np.uint8)] * 20
    return _npz(tmp, images=images, labels=np.zeros(20, np.int64))


def _npz_float_images(tmp):
    return _npz(tmp, images=np.zeros((20, 28, 28)), labels=np.zeros(20, np.int64))


def _npz_too_few(tmp):
    return _npz(tmp, images=np.zeros((20, 28, 28), np.uint8), labels=np.zeros(20, np.int64))


def _npz_corrupt_zip(tmp):
    path = tmp / "broken.npz"
    path.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 10)
    return path, path.name


BAD_INPUTS = [
    ("missing-file", _missing_file, r"not found"),
    ("missing-dir", _missing_dir, r"not found"),
    ("dir-without-images", _dir_without_images, r"no \*-images-idx3-ubyte"),
    ("dir-with-two-images", _dir_with_two_images, r"several images files"),
    ("labels-missing", _labels_missing, r"labels file t10k-labels-idx1-ubyte\.gz not found"),
    ("labels-unlocatable", _labels_unlocatable, r"cannot find its labels file"),
    ("gzip-truncated", _gz_truncated, r"truncated gzip"),
    ("gzip-bad-crc", _gz_bad_crc, r"corrupt gzip"),
    ("idx-body-truncated", _idx_body_truncated, r"truncated IDX body"),
    ("idx-body-trailing", _idx_body_trailing, r"unexpected bytes"),
    ("idx-header-truncated", _idx_header_truncated, r"truncated IDX header"),
    ("labels-body-truncated", _labels_body_truncated, r"truncated IDX body"),
    ("images-wrong-magic", _images_wrong_magic, r"wrong IDX magic number 2052"),
    ("labels-wrong-magic", _labels_wrong_magic, r"wrong IDX magic number 2051"),
    ("labels-file-given", _labels_file_given, r"is an IDX labels file"),
    ("idx-count-mismatch", _count_mismatch, r"count mismatch"),
    ("idx-label-out-of-range", _idx_label_out_of_range, r"labels out of range"),
    ("idx-wrong-size", _idx_wrong_size, r"28x27, expected 28x28"),
    ("neither-text", _neither_text, r"neither an npz nor an MNIST IDX"),
    ("neither-empty", _neither_empty, r"neither an npz nor an MNIST IDX"),
    ("neither-npy", _neither_npy, r"neither an npz nor an MNIST IDX file \(a \.npy array\)"),
    ("npz-missing-labels", _npz_missing_labels, r"missing key 'labels'"),
    ("npz-missing-images", _npz_missing_images, r"missing key 'images'"),
    ("npz-wrong-size", _npz_wrong_size, r"shape \(20, 27, 28\), expected \(N, 28, 28\)"),
    ("npz-count-mismatch", _npz_count_mismatch, r"count mismatch"),
    ("npz-label-out-of-range", _npz_label_out_of_range, r"labels out of range"),
    ("npz-needs-pickle", _npz_pickle, r"needs pickle"),
    ("npz-float-images", _npz_float_images, r"expected uint8"),
    ("npz-too-few", _npz_too_few, r"too few images"),
    ("npz-corrupt-zip", _npz_corrupt_zip, r"unreadable npz"),
]


@pytest.mark.parametrize("build, problem", [c[1:] for c in BAD_INPUTS], ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_raises_one_line_input_error(tmp_path, build, problem):
    path, file_name = build(tmp_path)
    with pytest.raises(InputError, match=re.escape(file_name) + ".*" + problem) as info:
        load(path)
    assert "\n" not in str(info.value)


# --- the real sample -------------------------------------------------------------

REAL = Path(__file__).resolve().parents[2] / "shared/data/notmnist-small-10k"
REAL_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "70ae9e06201f2827e5b0a3781a3169d735dd2efc69996b9eeaee7f10ed4044d7",
    "t10k-labels-idx1-ubyte.gz": "1fa03836e01c862542f8eb83463bb951bebec6fcb3efa28dad748c6b38a9021b",
}


def test_real_notmnist_sample():
    if not all((REAL / name).is_file() for name in REAL_SHA256):
        pytest.skip(f"notMNIST sample not found at {REAL}; it lives in ../shared/data/ beside the checkout "
                    f"and is not part of the repository")
    for name, digest in REAL_SHA256.items():
        assert hashlib.sha256((REAL / name).read_bytes()).hexdigest() == digest, f"{name} changed"
    data = load(REAL)
    for s, n in zip(data.splits().values(), (6000, 2000, 2000)):
        assert s.x.shape == (n, 784) and s.x.dtype == np.float64 and s.y.dtype == np.int64
        assert 0.0 <= s.x.min() and s.x.max() <= 1.0
        np.testing.assert_array_equal(np.bincount(s.y, minlength=10), np.full(10, n // 10))
