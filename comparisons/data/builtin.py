"""The built-in dataset: no download. 10 classes of notMNIST-like 28x28 glyphs
generated from a seed (shifted, blended with another class's glyph, noisy),
so a 784-1000-10 MLP learns it visibly but not instantly.
"""
import numpy as np

from comparisons.data.dataset import N_CLASSES, SIDE, Dataset, Split


def _glyph(rng: np.random.Generator) -> np.ndarray:
    """A SIDE x SIDE image of 3 thick random strokes, values in [0, 1]."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE]
    img = np.zeros((SIDE, SIDE))
    for _ in range(3):
        (y0, x0), (y1, x1) = rng.uniform(5, SIDE - 5, size=(2, 2))
        t = np.linspace(0, 1, 40)[:, None, None]
        dist2 = (yy - (y0 + t * (y1 - y0))) ** 2 + (xx - (x0 + t * (x1 - x0))) ** 2
        img = np.maximum(img, np.exp(-dist2.min(axis=0) / 3.0))
    return img


def synthetic(seed: int = 0, sizes=(6000, 2000, 2000), noise: float = 0.25, blend: float = 0.6,
              task: str = "class") -> Dataset:
    """The built-in dataset: deterministic in ``seed``. Float64 features in [0, 1].

    Each sample is its class glyph shifted by up to 3 pixels, mixed with a
    random other class's glyph (weight up to ``blend``), plus Gaussian noise.
    The same images serve three tasks:
      class       the glyph's class, 10 classes
      binary      whether the class is one of the first five (A-E against F-J)
      regression  the glyph's shift, (dy, dx) / 3 in [-1, 1], and the other glyph's weight / blend
                  in [0, 1]: 3 outputs
    (``task="sequence"``: the sequence set instead, ``sequences``.)
    """
    if task == "sequence":
        return sequences(seed, sizes)
    rng = np.random.default_rng(seed)
    glyphs = np.stack([_glyph(rng) for _ in range(N_CLASSES)])
    pad = 3
    padded = np.pad(glyphs, ((0, 0), (pad, pad), (pad, pad)))
    n = sum(sizes)
    y = rng.integers(0, N_CLASSES, size=n)
    other = (y + rng.integers(1, N_CLASSES, size=n)) % N_CLASSES
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    rows = dy[:, None, None] + np.arange(SIDE)[None, :, None]
    cols = dx[:, None, None] + np.arange(SIDE)[None, None, :]
    shifted = padded[y[:, None, None], rows, cols]
    mix = rng.uniform(0, blend, size=(n, 1, 1))
    x = (1 - mix) * shifted + mix * glyphs[other] + rng.normal(0, noise, size=(n, SIDE, SIDE))
    x = np.clip(x, 0, 1).reshape(n, SIDE * SIDE)
    a, b = sizes[0], sizes[0] + sizes[1]
    if task == "binary":
        y, n_classes = (y < N_CLASSES // 2).astype(np.int64), 2
    elif task == "regression":
        y, n_classes = np.stack([(dy - pad) / pad, (dx - pad) / pad, mix[:, 0, 0] / blend], axis=1), 0
    elif task == "class":
        n_classes = N_CLASSES
    else:
        raise ValueError(f"unknown task {task!r}")
    name = "builtin" if task == "class" else f"builtin:{task}"
    return Dataset(name, Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]),
                   n_classes=n_classes, target="class" if task == "class" else task)


VOCAB = 10          # token ids of builtin:sequence: 0 the end/padding token, 1 the start token, 2..9 letters
LETTERS = VOCAB - 2
SEQ_LEN = 12        # time steps per sample


def sequences(seed: int = 0, sizes=(6000, 2000, 2000), length: int = SEQ_LEN, slip: float = 0.1,
              onehot: bool = False) -> Dataset:
    """The built-in next-token task (``builtin:sequence``): deterministic in ``seed``, no download.

    The grammar: a sentence is the start token 1, then a run of letters (ids 2..9) that counts around the
    8 letters with a stride of 1, 2 or 3 (drawn per sentence) from a random first letter, each letter
    replaced by a random one with probability ``slip``, then the end token 0; its length (letters) is
    drawn in [length // 3, length - 1]. x is the sentence without its last token, y the sentence shifted
    by one (the next token at every step); a shorter sentence is padded: x with 0 and y with
    SEQUENCE_PAD (-1), the masked steps of temporal_cross_entropy. x (N, length) int64 ids in [0, 10),
    y (N, length) in [-1, 10). A network learns it visibly but not instantly: the first letter and the
    stride are unpredictable, the rest follows from the two previous letters, the length is random.
    ``onehot`` (``builtin:sequence:onehot``, the Deep Learning Specialization's input): x as one-hot
    float vectors (N, length, 10) instead of ids, for a recurrent first layer; y unchanged.
    """
    from manual.conventions import SEQUENCE_PAD
    rng = np.random.default_rng(seed)
    n = sum(sizes)
    n_letters = rng.integers(length // 3, length, size=n)
    first = rng.integers(0, LETTERS, size=n)
    stride = rng.integers(1, 4, size=n)
    letters = (first[:, None] + stride[:, None] * np.arange(length)[None, :]) % LETTERS
    slipped = rng.random((n, length)) < slip
    letters = np.where(slipped, rng.integers(0, LETTERS, size=(n, length)), letters) + 2
    steps = np.arange(length + 1)[None, :]
    sentence = np.where(steps == 0, 1, np.where(steps <= n_letters[:, None], np.pad(letters, ((0, 0), (1, 0))), 0))
    x = sentence[:, :-1].astype(np.int64)
    y = np.where(steps[:, 1:] <= n_letters[:, None] + 1, sentence[:, 1:], SEQUENCE_PAD).astype(np.int64)
    x = np.where(steps[:, :-1] <= n_letters[:, None], x, 0)
    if onehot:
        x = np.eye(VOCAB)[x]
    a, b = sizes[0], sizes[0] + sizes[1]
    name = "builtin:sequence:onehot" if onehot else "builtin:sequence"
    return Dataset(name, Split(x[:a], y[:a]), Split(x[a:b], y[a:b]), Split(x[b:], y[b:]), n_classes=VOCAB,
                   target="sequence")
def images(seed: int = 0, sizes=(6000, 2000, 2000)) -> Dataset:
    """``builtin:images``: the built-in class task's samples, unchanged, as images (N, 1, SIDE, SIDE)
    (channels first, as torch's Conv2d and cs231n take them), for conv nets."""
    flat = synthetic(seed, sizes)
    shaped = {k: Split(s.x.reshape(len(s.x), 1, SIDE, SIDE), s.y) for k, s in flat.splits().items()}
    return Dataset("builtin:images", **shaped, n_classes=flat.n_classes, target=flat.target)
