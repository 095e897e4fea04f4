"""The run configuration: one frozen dataclass; the CLI maps a flag onto each field."""
import math
from dataclasses import asdict, dataclass, fields

from comparisons.errors import InputError

DTYPES = ("float32", "float64")
REDUCTIONS = ("mean", "sum")
MODES = ("free", "synced")
QUANTITIES = ("loss", "out", "dx", "grad", "update", "state", "buffer")   # --tol overrides


@dataclass(frozen=True)
class Config:
    model: str = ""                     # layer spec, e.g. linear:100,relu,linear (README "Models"); "" = the MLP of hidden
    hidden: tuple[int, ...] = (1000,)   # hidden widths of the default MLP; with 784 inputs, 10 classes: 784-1000-10
    loss: str = "cross_entropy"         # the loss on the network's output (README "Models")
    init: str = "xavier_normal"         # the weights' initialisation scheme, shared by both sides and expected
                                        # of a bring-your-own class (manual/init.py: he_normal, normal:0.01, ...)
    init_bias: str = "zeros"            # the biases' scheme
    epochs: int = 10                    # passes over the training split
    batch_size: int = 100               # samples per step; 0 = the whole training split (full batch)
    lr: float = 0.01                    # alpha in v <- gamma v + alpha g (torch's lr)
    momentum: float = 0.9               # gamma (torch's momentum); the assignment uses 0.99
    init_velocity: float = 0.0          # every velocity element before step 1; the assignment uses 1e-5
    reduction: str = "mean"             # training loss over the batch: mean, or sum (the assignment's gradient)
    dtype: str = "float32"              # float32 | float64, both sides
    seed: int = 0                       # seeds the initial weights and the per-epoch batch order
    mode: str = "free"                  # free: both sides evolve alone; synced: torch reset to manual after each step
    data: str = "builtin"               # builtin (generated, no download), or a notMNIST .npz / IDX file or directory
    manual: str = "builtin"             # the manual side: builtin (manual/), seed (the assignment's code), or pkg.module:Class
    tol: tuple[tuple[str, float], ...] = ()   # overrides of the tolerance table: (("grad", 1e-3), ...)
    fail_fast: bool = False             # stop at the first failed check instead of recording the whole run

    def validate(self) -> None:
        """Raise InputError naming the first bad field; called before any work starts."""
        from comparisons.registry import LOSSES
        if self.loss not in LOSSES:
            raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        from manual.init import parse_scheme
        for name in ("init", "init_bias"):
            try:
                parse_scheme(getattr(self, name))
            except (ValueError, TypeError) as e:
                raise InputError(f"{name}: {e}") from None
        if not isinstance(self.model, str):
            raise InputError(f"model must be a string of layer tokens, got {self.model!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise InputError(f"hidden must be positive integers, got {self.hidden}")
        if self.epochs < 1:
            raise InputError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 0:
            raise InputError(f"batch_size must be >= 0 (0 = full batch), got {self.batch_size}")
        for name in ("lr", "momentum", "init_velocity"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(f"{name} must be finite, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise InputError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.dtype not in DTYPES:
            raise InputError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.reduction not in REDUCTIONS:
            raise InputError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {self.reduction!r}")
        if self.mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if not self.data:
            raise InputError("data must be 'builtin' or a path")
        if not self.manual:
            raise InputError("manual must be 'builtin', 'seed' or pkg.module:Class")
        quantities = [q for q, _ in self.tol]
        repeated = sorted({q for q in quantities if quantities.count(q) > 1})
        if repeated:
            raise InputError(f"tolerance for {repeated[0]} given more than once")
        for quantity, value in self.tol:
            if quantity not in QUANTITIES:
                raise InputError(f"unknown tolerance {quantity!r}; choose from {', '.join(QUANTITIES)}")
            if not (value >= 0 and math.isfinite(value)):
                raise InputError(f"tolerance for {quantity} must be a finite number >= 0, got {value}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"], d["tol"] = list(self.hidden), dict(self.tol)
        return d

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]
